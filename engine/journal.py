"""A write-ahead journal of every run: each document appended, as the RunEngine emits it, to
``<backup>/<container>/<uid8>.jsonl`` before it is queued for Tiled.

The journal of a run is removed once Tiled holds the whole run (its stop document stored). It
stays when Tiled failed on one of the run's documents (server down, disk full) or when the session
died before the run was stored (a crash, SIGKILL): ``operando sync`` then stores it. While the
session records, ``<uid8>.owner`` holds its pid, so sync leaves a run being recorded alone.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np

OWNER_SUFFIX = ".owner"

# Which key of a document names its run, or the document (descriptor, resource) that does.
_RUN_KEY = {"start": "uid", "stop": "run_start", "descriptor": "run_start", "resource": "run_start",
            "stream_resource": "run_start"}
_PARENT_KEY = {"event": "descriptor", "event_page": "descriptor", "stream_datum": "descriptor",
               "datum": "resource", "datum_page": "resource"}


def jsonable(value):
    """numpy scalars and arrays as plain JSON values (json.dumps ``default``); anything else as its
    text: the journal never stops an acquisition over a value it cannot encode."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def journal_name(run_uid: str) -> str:
    return f"{run_uid.split('-')[0]}.jsonl"


class RunJournal:
    """Appends each run's documents to its own JSONL file in ``directory`` (call on the RunEngine's
    thread: a document is on disk before anything else sees it). Returns the run's uid."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, object] = {}
        self._parents: dict[str, str] = {}      # descriptor / resource uid -> run uid

    def run_of(self, name: str, doc: dict) -> str | None:
        if name in _RUN_KEY:
            run = doc.get(_RUN_KEY[name])
            if name in ("descriptor", "resource"):
                self._parents[doc["uid"]] = run
            return run
        return self._parents.get(doc.get(_PARENT_KEY.get(name, ""), ""))

    def __call__(self, name: str, doc: dict) -> str | None:
        run = self.run_of(name, doc)
        if run is None:
            return None
        if name == "start":
            path = self.directory / journal_name(run)
            (path.with_suffix(OWNER_SUFFIX)).write_text(f"{os.getpid()} {socket.gethostname()}\n")
            self._files[run] = open(path, "a", buffering=1)     # line-buffered: each document one write
        f = self._files.get(run)
        if f is not None:
            f.write(json.dumps({"name": name, "doc": doc}, default=jsonable) + "\n")
            if name == "stop":
                f.close()
                del self._files[run]
                self._parents = {k: v for k, v in self._parents.items() if v != run}   # the run is closed
                (self.directory / journal_name(run)).with_suffix(OWNER_SUFFIX).unlink(missing_ok=True)
        return run

    def discard(self, run: str) -> None:
        """Tiled holds the whole run: its journal is no longer needed."""
        (self.directory / journal_name(run)).unlink(missing_ok=True)


def owner_alive(journal: Path) -> int | None:
    """The pid of the live process on this host still recording the journal's run, else None."""
    owner = Path(journal).with_suffix(OWNER_SUFFIX)
    try:
        pid_text, host = owner.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if host != socket.gethostname():
        return pid          # another host's session: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid
