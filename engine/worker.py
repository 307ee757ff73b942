"""``operando worker``: live analysis in another process, fed by the 0MQ proxy, derived runs into Tiled.

Each confocal run the worker sees from its start is analysed as it streams (``ConfocalAnalysis``:
volumes, fronts and electrolyte in one pass, as a user's live subscription does) and its derived
run written to the ``derived`` container. A run whose start the worker missed (started late,
restarted) is replayed from Tiled once its stop document is there, and on start-up the worker
replays the runs of the last ``catch_up_hours`` that have no derived run, so no stack goes
unanalysed. Frames are read from the files the detector wrote (same host, or a shared
filesystem at the same path).
"""
from __future__ import annotations

import logging
import time

from .analyze import DERIVED_CONTAINER, analyze_run
from .tiled_server import RUNS_CONTAINER, runs_container

log = logging.getLogger(__name__)

ANALYSES = ("volumes", "fronts", "electrolyte")      # computed together by ConfocalAnalysis
STORED_WAIT_S = 600.0                                 # how long a missed run may take to reach Tiled


def is_zstack(start: dict) -> bool:
    """Whether a run's start document describes operando z-stacks (what ConfocalAnalysis takes: the
    stacks' geometry at the top of the start document, as cycling and multi-position runs give it;
    a single ``zstack`` keeps its in plan_args and is analysed by `operando analyze`)."""
    return all(key in start for key in ("z_step_um", "pixel_size_um", "wavelength_nm"))


class AnalysisWorker:
    """callable(name, doc) for a RemoteDispatcher. ``report`` gets one line per analysed stack
    (its lag behind the acquisition) and per finished run."""

    def __init__(self, client, report=print, container: str = DERIVED_CONTAINER):
        self.client = client
        self.container = container
        self.report = report
        self.live = {}                # raw run uid -> ConfocalAnalysis
        self.runs_of = {}             # descriptor uid -> raw run uid
        self.stack_times = {}         # raw run uid -> acquisition times (s) of its stacks

    def __call__(self, name, doc):
        if name == "start":
            self._open(doc)
        elif name == "descriptor":
            self.runs_of[doc["uid"]] = doc["run_start"]
            self._feed(doc["run_start"], name, doc)
        elif name == "stop":
            self._close(doc)
        elif name in ("event", "event_page"):
            uid = self.runs_of.get(doc["descriptor"])
            if uid is not None:
                self._feed(uid, name, doc)
                self._note_stacks(uid, name, doc)
        elif name in ("stream_resource", "stream_datum", "resource", "datum", "datum_page"):
            uid = doc.get("run_start") or self.runs_of.get(doc.get("descriptor"))
            if uid is not None:
                self._feed(uid, name, doc)
            else:
                for analysis in self.live.values():       # a resource of the one run in progress
                    analysis(name, doc)

    def _open(self, doc):
        from bluesky_tiled_plugins import TiledWriter

        from operando.analysis.live import ConfocalAnalysis

        if not is_zstack(doc):
            return                    # widefield runs: `operando analyze`
        sink = TiledWriter(runs_container(self.client, self.container), batch_size=100)
        analysis = ConfocalAnalysis(sink, background=False)
        try:
            analysis("start", doc)
        except ValueError as exc:     # e.g. no optics in the metadata: cannot map stacks to the sample
            self.report(f"run {doc['uid'][:8]}: not analysed: {exc}")
            return
        self.live[doc["uid"]] = analysis
        self.stack_times[doc["uid"]] = []

    def _feed(self, uid, name, doc):
        analysis = self.live.get(uid)
        if analysis is not None:
            analysis(name, doc)

    def _note_stacks(self, uid, name, doc):
        """One report line per stack summary analysed: how far behind the acquisition the worker is."""
        times = doc["time"] if name == "event_page" else [doc["time"]]
        data = doc["data"]
        if "stack_summary_index" not in data:
            return
        now = time.time()
        for t in times:
            self.stack_times[uid].append(t)
            done = self.stack_times[uid]
            interval = (done[-1] - done[0]) / (len(done) - 1) if len(done) > 1 else float("nan")
            lag_s = now - t
            self.report(f"run {uid[:8]} stack {len(done) - 1}: analysed {lag_s:.2f} s after it was taken "
                        f"({lag_s / interval if interval == interval and interval > 0 else 0:.2f} stacks behind)")

    def _close(self, doc):
        uid = doc["run_start"]
        analysis = self.live.pop(uid, None)
        if analysis is None:
            self._replay(uid, "its start came before this worker")
            return
        analysis("stop", doc)
        analysis.wait()
        self.report(f"run {uid[:8]}: derived run stored live, {len(self.stack_times.pop(uid, []))} stacks, "
                    f"{len(analysis.volumes)} volume rows")

    def _replay(self, uid, why):
        """Replay ``uid`` from Tiled once the session's writer has stored it whole (its stop)."""
        runs = runs_container(self.client, RUNS_CONTAINER)
        deadline = time.monotonic() + STORED_WAIT_S
        while uid not in runs or not runs[uid].metadata.get("stop"):
            if time.monotonic() > deadline:
                log.error("run %s not stored whole in Tiled after %.0f s; not analysed", uid, STORED_WAIT_S)
                return
            time.sleep(1.0)
        if not is_zstack(runs[uid].metadata["start"]):
            return
        try:
            analysis = analyze_run(self.client, uid, store=True, container=self.container)
        except Exception as exc:          # one run the analysis cannot take must not end the worker
            log.exception("replaying run %s failed", uid)
            self.report(f"run {uid[:8]}: not analysed: {type(exc).__name__}: {exc}")
            return
        self.report(f"run {uid[:8]}: replayed from Tiled ({why}), {len(analysis.volumes)} volume rows")

    def catch_up(self, hours: float) -> None:
        """Replay the confocal runs of the last ``hours`` that have no derived run yet."""
        from tiled.queries import Key

        runs = runs_container(self.client, RUNS_CONTAINER)     # a new catalog has none yet
        derived = runs_container(self.client, self.container)
        since = time.time() - hours * 3600.0
        for uid in list(runs.search(Key("time") >= since)):
            run = runs[uid]
            start = run.metadata["start"]
            if not run.metadata.get("stop") or not is_zstack(start):
                continue              # still running (its stop brings it), or not a z-stack run
            if len(list(derived.search(Key("raw_uid") == uid))):
                continue
            self._replay(uid, f"finished {time.time() - start['time']:.0f} s ago without a worker")


def serve(config, analyses=ANALYSES, catch_up_hours: float = 24.0, container: str = DERIVED_CONTAINER) -> None:
    """``operando worker``: catch up from Tiled, then analyse what the proxy forwards (blocks)."""
    from .doc_bus import dispatcher
    from .tiled_server import connect

    def report(line):
        print(line, flush=True)

    worker = AnalysisWorker(connect(config), report, container)
    if catch_up_hours > 0:
        worker.catch_up(catch_up_hours)
    bus = dispatcher(config.host, config.proxy_ports[1])
    bus.subscribe(worker)
    report(f"worker ready: {', '.join(analyses)} from {config.host}:{config.proxy_ports[1]} into '{container}'")
    bus.start()
