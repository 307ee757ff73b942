"""RunEngine wiring: persistent metadata and a Tiled writer that never blocks the instrument."""
from __future__ import annotations

import atexit
import logging
import queue
import threading
from pathlib import Path

from bluesky import RunEngine
from bluesky.utils import PersistentDict

from .config import Config

log = logging.getLogger(__name__)


class BackgroundTiledWriter:
    """Feeds documents to a TiledWriter from its own thread.

    The RunEngine only enqueues; the writer (~65 ms per event at batch_size=1)
    drains the queue at its own pace. With ``backup_directory`` the writer
    keeps a JSONL copy of any run it fails to store. ``sink(container)`` gives
    another destination (derived runs) drained by the same thread: the
    embedded server's SQLite table storage refuses concurrent appends
    ("database is locked"), so all writes from a session go one at a time.
    """

    def __init__(self, client, backup_directory=None, batch_size: int = 10):
        from bluesky_tiled_plugins import TiledWriter

        kwargs = {"batch_size": batch_size}
        if backup_directory is not None:
            backup_directory.mkdir(parents=True, exist_ok=True)
            kwargs["backup_directory"] = str(backup_directory)
        self.writer = TiledWriter(client, **kwargs)
        self.queue: queue.Queue = queue.Queue()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="tiled-writer", daemon=True)
        self._thread.start()
        atexit.register(self._flush_at_exit)

    def _flush_at_exit(self):
        """A session that ends (IPython exit, end of a script) first hands Tiled what is queued."""
        if self.queue.unfinished_tasks:
            log.warning("storing %d queued documents in Tiled before exit", self.queue.qsize())
            try:
                self.flush(timeout=300)
            except TimeoutError as exc:
                log.error("%s; the writer's backup holds what it could not store", exc)

    def __call__(self, name, doc):
        self.queue.put((self.writer, name, doc))

    def sink(self, container, batch_size: int = 50):
        """A callable(name, doc) writing into another container through this writer's thread."""
        from bluesky_tiled_plugins import TiledWriter

        other = TiledWriter(container, batch_size=batch_size)
        return lambda name, doc: self.queue.put((other, name, doc))

    def _run(self):
        while True:
            writer, name, doc = self.queue.get()
            try:
                writer(name, doc)
            except BaseException as exc:   # keep draining; the backup holds the run
                log.exception("TiledWriter failed on a %s document", name)
                self.errors.append(exc)
            finally:
                self.queue.task_done()

    def flush(self, timeout: float = 120.0) -> None:
        """Block until every queued document has been handed to Tiled."""
        done = threading.Event()
        threading.Thread(target=lambda: (self.queue.join(), done.set()), daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError(f"{self.queue.qsize()} documents still queued for Tiled after {timeout} s")


_METADATA: dict[str, PersistentDict] = {}


def persistent_metadata(directory) -> PersistentDict:
    """The RunEngine metadata kept in ``directory``, one PersistentDict per directory in a process:
    two on the same files (two RunEngines of one session) overwrite each other's files when they
    are flushed (zict keeps one writer per directory)."""
    key = str(Path(directory).resolve())
    if key not in _METADATA:
        _METADATA[key] = PersistentDict(key)
    return _METADATA[key]


def make_run_engine(config: Config, tiled_client=None, batch_size: int = 10, metadata_dir=None):
    """A RunEngine whose metadata persists in ``metadata_dir`` (default ``home/re_md``, shared by the
    sessions of one home, one at a time: the files are not safe for two live processes) and whose
    runs go to Tiled. Returns (RE, writer); writer is None without a client.
    """
    RE = RunEngine({})
    config.home.mkdir(parents=True, exist_ok=True)
    RE.md = persistent_metadata(metadata_dir or config.home / "re_md")
    writer = None
    if tiled_client is not None:
        from .tiled_server import runs_container

        writer = BackgroundTiledWriter(runs_container(tiled_client), config.backup_dir, batch_size)
        RE.subscribe(writer)
    return RE, writer


def analysed_run(RE, writer, client, plan, make_analysis):
    """Run ``plan`` with ``make_analysis(sink)`` subscribed, its derived run going to Tiled's
    'derived'; returns (uid, the stored run, the analysis) once everything is stored."""
    from .analyze import DERIVED_CONTAINER
    from .tiled_server import runs_container

    analysis = make_analysis(writer.sink(runs_container(client, DERIVED_CONTAINER)))
    token = RE.subscribe(analysis)
    try:
        (uid,) = RE(plan)
    finally:
        RE.unsubscribe(token)
    if hasattr(analysis, "wait"):
        analysis.wait()
    writer.flush()
    return uid, client["raw"][uid], analysis
