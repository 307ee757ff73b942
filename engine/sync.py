"""``operando sync``: store in Tiled the runs the writer could not, from their journals.

Every run is journaled (``engine/journal.py``: ``home/backup/<container>/<uid8>.jsonl``) as it is
recorded; the journal stays when Tiled failed on one of the run's documents or the session died
first, and Tiled then holds at most the run's beginning. Sync replaces that beginning with the
whole run: afterwards Tiled has the same documents as if the server had never been away. A run
the session died in (no stop document) is closed with exit_status "fail" and a reason saying so:
marked incomplete, not lost. Journals of runs still being recorded (their session alive) are left
alone. A synced journal moves to ``backup/<container>/synced/`` (kept, never deleted).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class Synced:
    uid: str
    container: str
    documents: int
    events: int
    complete: bool          # the journal holds the run's stop document (else one was added: "fail")
    replaced_partial: bool  # Tiled held the run's beginning, replaced by the whole run
    file: Path


def read_backup(path: Path) -> list[tuple[str, dict]]:
    """The (name, doc) pairs of one backup file; a last line cut short by a crash is left out."""
    docs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s line %d is not complete JSON (cut short?); left out", path, number)
            continue
        docs.append((item["name"], item["doc"]))
    if not docs or docs[0][0] != "start":
        raise ValueError(f"{path}: a backup starts with a run's start document")
    return docs


def pending(backup_dir: Path) -> list[tuple[str, Path]]:
    """(container, file) of every journal not synced yet whose session has ended, oldest first."""
    from .journal import owner_alive

    files = [(f.parent.name, f) for f in Path(backup_dir).glob("*/*.jsonl") if owner_alive(f) is None]
    return sorted(files, key=lambda cf: cf[1].stat().st_mtime)


def closing_stop(docs: list[tuple[str, dict]]) -> dict:
    """A stop document for a run its session never closed: exit_status "fail", with the events
    per stream that were recorded."""
    streams = {d["uid"]: d.get("name", "primary") for n, d in docs if n == "descriptor"}
    counts: dict[str, int] = {}
    for name, doc in docs:
        if name in ("event", "event_page"):
            stream = streams.get(doc["descriptor"], "primary")
            counts[stream] = counts.get(stream, 0) + (1 if name == "event" else len(doc["seq_num"]))
    times = [t for _, d in docs for t in (d["time"] if isinstance(d.get("time"), list) else [d.get("time", 0.0)])]
    last = max(times, default=0.0)
    return {"uid": str(uuid.uuid4()), "run_start": docs[0][1]["uid"], "time": last or time.time(),
            "exit_status": "fail", "num_events": counts,
            "reason": "incomplete: the session recording this run ended without closing it (crash or kill); "
                      "stored from its journal by operando sync"}


def sync_file(client, container: str, path: Path, batch_size: int = 50) -> Synced:
    """Store one backed-up run in ``client[container]`` (replacing what Tiled holds of it)."""
    from .paged_writer import PagedTiledWriter

    from .tiled_server import runs_container

    docs = read_backup(path)
    complete = docs[-1][0] == "stop"
    if not complete:
        docs.append(("stop", closing_stop(docs)))
    uid = docs[0][1]["uid"]
    target = runs_container(client, container)
    replaced = uid in target
    if replaced:
        # Only the run's beginning is there (the writer gave up on it); the backup has all of it.
        target.delete_contents(uid, recursive=True, external_only=False)
    writer = PagedTiledWriter(target, batch_size=batch_size)
    for name, doc in docs:
        writer(name, doc)
    done = path.parent / "synced"
    done.mkdir(exist_ok=True)
    moved = done / path.name
    path.rename(moved)
    path.with_suffix(".owner").unlink(missing_ok=True)
    events = sum(1 if n == "event" else len(d["seq_num"]) for n, d in docs if n in ("event", "event_page"))
    return Synced(uid, container, len(docs), events, complete, replaced, moved)


def sync_backups(client, backup_dir: Path) -> list[Synced]:
    """Sync every pending backup file; a file that fails stays pending (its error is logged)."""
    out = []
    for container, path in pending(backup_dir):
        try:
            out.append(sync_file(client, container, path))
        except Exception:
            log.exception("could not sync %s; it stays in the backup", path)
    return out
