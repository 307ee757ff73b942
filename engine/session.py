"""RunEngine wiring: persistent metadata and a Tiled writer that never blocks the instrument."""
from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from pathlib import Path

from bluesky import RunEngine
from bluesky.utils import PersistentDict

from .config import Config

log = logging.getLogger(__name__)


class BackgroundTiledWriter:
    """Feeds documents to a TiledWriter from its own thread, journaling each run first.

    The RunEngine only appends the document to the run's journal (``engine/journal.py``) and
    enqueues it; the writer (~65 ms per event at batch_size=1) drains the queue at its own pace.
    ``wait_stored`` waits until Tiled holds the runs that ended (``StoringRunEngine`` calls it
    when a plan returns, after its clean-up has closed the shutter and opened the circuit).
    A run whose stop document Tiled stored loses its journal; a run Tiled failed on is not sent
    to Tiled again (a partial run cannot pass for a whole one) and keeps its journal for
    ``operando sync``, as does a run the session died in. ``sink(container)`` gives another
    destination (derived runs) drained by the same thread: the embedded server's SQLite table
    storage refuses concurrent appends ("database is locked"), so all writes go one at a time.
    """

    def __init__(self, client, backup_directory=None, batch_size: int = 10):
        self.backup_directory = backup_directory
        self._stops: list[tuple[str, threading.Event]] = []
        self.queue: queue.Queue = queue.Queue()
        self.errors: list[BaseException] = []
        self.failed_runs: set[str] = set()
        self.writer = self._writer(client, batch_size)
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
                log.error("%s; the run journals in %s hold what was not stored (operando sync)", exc,
                          self.backup_directory)

    def _writer(self, container, batch_size: int):
        """callable(name, doc): journal (with ``backup_directory``) then queue for a TiledWriter."""
        from .journal import RunJournal
        from .paged_writer import PagedTiledWriter

        tiled = PagedTiledWriter(container, batch_size=batch_size)
        journal = (RunJournal(Path(self.backup_directory) / container.item["id"])
                   if self.backup_directory is not None else None)

        def write(name, doc):
            run = journal(name, doc) if journal is not None else None
            stored = threading.Event() if name == "stop" else None
            self.queue.put((tiled, journal, run, name, doc, stored))
            return stored
        return write

    def __call__(self, name, doc):
        stored = self.writer(name, doc)
        if stored is not None:
            self._stops.append((doc["run_start"], stored))

    def wait_stored(self, timeout: float) -> None:
        """Wait (up to ``timeout`` s in all) until Tiled holds every run that ended so far."""
        deadline = time.monotonic() + timeout
        while self._stops:
            uid, stored = self._stops[0]
            if not stored.wait(max(0.0, deadline - time.monotonic())):
                log.warning("run %s is still being stored in Tiled after %.0f s (%d documents queued); "
                            "it appears in the catalog when the writer is done", uid[:8], timeout,
                            self.queue.qsize())
                return
            self._stops.pop(0)

    def sink(self, container, batch_size: int = 50):
        """A callable(name, doc) writing into another container through this writer's thread."""
        return self._writer(container, batch_size)

    def _run(self):
        while True:
            tiled, journal, run, name, doc, stored = self.queue.get()
            try:
                if run in self.failed_runs:
                    continue                 # the journal holds it; operando sync stores the whole run
                tiled(name, doc)
                if name == "stop" and journal is not None:
                    journal.discard(run)
            except BaseException as exc:
                log.exception("Tiled failed on a %s document%s", name,
                              f"; run {run[:8]} stays in its journal for `operando sync`" if run else "")
                self.errors.append(exc)
                if run is not None:
                    self.failed_runs.add(run)
            finally:
                if stored is not None:
                    stored.set()
                self.queue.task_done()

    def flush(self, timeout: float = 120.0) -> None:
        """Block until every queued document has been handed to Tiled."""
        done = threading.Event()
        threading.Thread(target=lambda: (self.queue.join(), done.set()), daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError(f"{self.queue.qsize()} documents still queued for Tiled after {timeout} s")


class StoringRunEngine(RunEngine):
    """A RunEngine whose calls (``RE(plan)``, ``resume``, ``stop``, ``abort``, ``halt``) return once
    Tiled holds the runs they ended (up to ``wait_stored`` s; None: return at once), so that
    ``catalog[uid]`` works on the next line and a long session cannot pile up a backlog."""

    writer: BackgroundTiledWriter | None = None
    wait_stored: float | None = 60.0

    def _stored(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        finally:
            if self.writer is not None and self.wait_stored:
                self.writer.wait_stored(self.wait_stored)

    def __call__(self, *args, **kwargs):
        return self._stored(super().__call__, *args, **kwargs)

    def resume(self):
        return self._stored(super().resume)

    def stop(self):
        return self._stored(super().stop)

    def abort(self, reason=""):
        return self._stored(super().abort, reason)

    def halt(self):
        return self._stored(super().halt)


_METADATA: dict[str, PersistentDict] = {}


def persistent_metadata(directory) -> PersistentDict:
    """The RunEngine metadata kept in ``directory``, one PersistentDict per directory in a process:
    two on the same files (two RunEngines of one session) overwrite each other's files when they
    are flushed (zict keeps one writer per directory)."""
    key = str(Path(directory).resolve())
    if key not in _METADATA:
        _METADATA[key] = PersistentDict(key)
    return _METADATA[key]


def make_run_engine(config: Config, tiled_client=None, batch_size: int = 10, metadata_dir=None,
                    wait_stored: float | None = 60.0):
    """A RunEngine whose metadata persists in ``metadata_dir`` (default ``home/re_md``, shared by the
    sessions of one home, one at a time: the files are not safe for two live processes) and whose
    runs go to Tiled. Returns (RE, writer); writer is None without a client.
    """
    RE = StoringRunEngine({})
    RE.wait_stored = wait_stored
    config.home.mkdir(parents=True, exist_ok=True)
    RE.md = persistent_metadata(metadata_dir or config.home / "re_md")
    writer = None
    if tiled_client is not None:
        from .tiled_server import runs_container

        writer = BackgroundTiledWriter(runs_container(tiled_client), config.backup_dir, batch_size)
        RE.subscribe(writer)
        RE.writer = writer
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
