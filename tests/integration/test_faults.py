"""Faults injected into real processes: the Tiled server killed mid-run, the session that runs a
plan killed mid-run. Each test counts documents, events, samples and frames before and after, and
fails when the protection it checks is taken away (no backup: nothing to sync; no stop document
check: a crashed run would look complete)."""
import copy
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from operando.engine.config import ca_environment
from operando.engine.tiled_server import wait_for_tiled
from operando.plans.cycling_zstack import cycling_zstack

pytestmark = pytest.mark.integration

AT = [{"name": "F", "x_um": 0.0, "y_um": 0.0}]
SMALL_STACK = dict(z_start_um=10.0, z_stop_um=12.0, z_step_um=0.5, pixels=(64, 64), pixel_size_um=0.25,
                   pixel_dwell_s=2e-6)


def operando(config, *args, timeout=300):
    env = dict(os.environ, OPERANDO_TILED_PORT=str(config.tiled_port), **ca_environment(config))
    return subprocess.run([sys.executable, "-m", "operando.engine.cli", "--home", str(config.home), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def rows(stream) -> int:
    """Events stored in a stream: its time column's length (0 for a descriptor without events).
    Only that column is read: a run whose session was killed between an event page and the
    stream datum of its frames can hold columns of different lengths, which no Dataset can hold."""
    if "time" not in stream:
        return 0
    return int(np.asarray(stream.read(variables=["time"])["time"]).size)


def emitted_events(docs):
    """{stream name: {data key: values}} of what the RunEngine emitted."""
    streams = {d["uid"]: d["name"] for n, d in docs if n == "descriptor"}
    out: dict[str, dict[str, list]] = {}
    for name, doc in docs:
        if name in ("event", "event_page"):
            data = out.setdefault(streams[doc["descriptor"]], {})
            for key, value in doc["data"].items():
                data.setdefault(key, []).extend(value if name == "event_page" else [value])
    return out


def test_tiled_killed_mid_run_the_backup_holds_the_run_and_sync_stores_it_whole(instrument, pstat, monkeypatch):
    """Tiled is SIGKILLed 3 s into a cycling + z-stack run and restarted after it ends. The writer
    (retry budget cut to ~1 s) hands the run to its JSONL backup; `operando sync` replaces the
    beginning Tiled held with the whole run: the same events and arrays as the RunEngine emitted."""
    import tiled.client.utils as tiled_utils

    config, RE, writer, client = (instrument[k] for k in ("config", "RE", "writer", "client"))
    (tiled,) = [p for p in instrument["procs"] if p.name == "tiled"]
    monkeypatch.setattr(tiled_utils, "TILED_RETRY_ATTEMPTS", 2)
    monkeypatch.setattr(tiled_utils, "TILED_RETRY_TIMEOUT", 1.0)
    writer.flush()
    emitted = []
    token = RE.subscribe(lambda name, doc: emitted.append((name, copy.deepcopy(doc))))
    killer = threading.Timer(3.0, tiled.kill)
    killer.start()
    try:
        # Charge and discharge alike: the session's cell ends where it began, for the tests after this one.
        (uid,) = RE(cycling_zstack(instrument["scope"], pstat, "Charge at 1C for 4 minutes\nDischarge at 1C for 4 minutes",
                                   AT, accel=60,
                                   sample_rate_hz=100, operator="pytest", **SMALL_STACK))
        writer.flush(timeout=300)
    finally:
        killer.cancel()
        RE.unsubscribe(token)
        if not tiled.alive():
            tiled.restart()
        wait_for_tiled(config, 60, tiled)
    backup = config.backup_dir / "raw" / f"{uid.split('-')[0]}.jsonl"
    assert backup.exists(), "the run is not in the writer's backup"
    assert emitted[-1][0] == "stop" and emitted[-1][1]["exit_status"] == "success"   # the run itself went on
    # Tiled holds no more than the run's beginning.
    held = client["raw"][uid] if uid in client["raw"] else None
    assert held is None or held.metadata.get("stop") is None

    result = operando(config, "sync")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{uid[:8]} -> raw: {len(emitted)} documents" in result.stdout and "complete" in result.stdout
    assert not backup.exists() and (backup.parent / "synced" / backup.name).exists()    # kept, not deleted

    run = client["raw"][uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    expected = emitted_events(emitted)
    counts = {}
    for stream, columns in expected.items():
        table = run[stream].read()
        counts[stream] = len(next(iter(columns.values())))
        for key, values in columns.items():
            np.testing.assert_array_equal(np.asarray(table[key]), np.asarray(values), err_msg=f"{stream}/{key}")
    # Frames: external HDF5 registered again; as many as the RunEngine announced, each readable.
    frames = sum(d["indices"]["stop"] - d["indices"]["start"] for n, d in emitted if n == "stream_datum")
    images = run["primary"]["confocal_apd_reflection"].read()
    assert images.shape[0] == frames == counts["primary"] > 0
    seq = np.asarray(run["potentiostat"].read()["pstat_seq_num"])
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + seq.size))          # no sample lost or doubled
    print(f"Tiled outage: {len(emitted)} documents, events per stream {counts}, {frames} frames, "
          f"{seq.size} telemetry samples; all in Tiled after sync")
    assert not list(backup.parent.glob("*.jsonl")), "journals of runs Tiled stored whole were not removed"


CRASHING_SESSION = textwrap.dedent("""
    import sys
    from pathlib import Path
    from operando.devices.confocal import connect_confocal
    from operando.devices.potentiostat import Potentiostat
    from operando.engine.config import Config
    from operando.engine.instrument import run_data_directory
    from operando.engine.session import make_run_engine
    from operando.engine.tiled_server import connect
    from operando.plans.cycling_zstack import cycling_zstack

    config = Config(home=Path(sys.argv[1]), ca_base_port=int(sys.argv[2]), tiled_port=int(sys.argv[3]),
                    pv_prefix=sys.argv[4])
    scope = connect_confocal(config.pv_prefix, data_directory=run_data_directory(config))
    pstat = Potentiostat(config.pv_prefix + "PSTAT:", name="pstat")
    pstat.wait_for_connection(timeout=10)
    RE, writer = make_run_engine(config, connect(config), metadata_dir=Path(sys.argv[5]))
    seen = []
    def announce(name, doc):
        seen.append(name)
        if seen.count("event") == 20:
            print("recording", flush=True)
    RE.subscribe(announce)
    RE(cycling_zstack(scope, pstat, "Rest for 5 hours", [{"name": "K", "x_um": 0.0, "y_um": 0.0}],
                      accel=20, sample_rate_hz=50, operator="pytest", z_start_um=10.0, z_stop_um=12.0,
                      z_step_um=0.5, pixels=(64, 64), pixel_size_um=0.25, pixel_dwell_s=2e-6))
""")


def test_a_session_killed_mid_run_leaves_a_journal_that_sync_stores_marked_incomplete(instrument, pstat, tmp_path):
    """The session recording a run is SIGKILLed (no clean-up runs, queued documents die with it).
    Its run journal holds every document emitted; while the session lives sync leaves it alone;
    afterwards sync stores it, closed with exit_status 'fail' and a reason, with every event the
    journal holds. The potentiostat's watchdog has opened the circuit meanwhile."""
    from operando.engine.sync import read_backup

    config, client = instrument["config"], instrument["client"]
    env = dict(os.environ, **ca_environment(config))
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_SESSION, str(config.home), str(config.ca_base_port),
                             str(config.tiled_port), config.pv_prefix, str(tmp_path / "re_md")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "recording", line + proc.stdout.read()[-3000:]
        journals = list((config.backup_dir / "raw").glob("*.jsonl"))
        assert len(journals) == 1
        alive = operando(config, "sync")
        assert alive.returncode == 0 and "0 run(s) stored" in alive.stdout      # being recorded: left alone
        time.sleep(2.0)
        proc.kill()
        proc.wait(10)
        killed = time.monotonic()
    finally:
        proc.kill()
    (journal,) = journals
    docs = read_backup(journal)
    uid = docs[0][1]["uid"]
    in_journal = sum(1 if n == "event" else len(d["seq_num"]) for n, d in docs if n in ("event", "event_page"))
    held = client["raw"][uid] if uid in client["raw"] else None
    events_before = sum(rows(held[s]) for s in held) if held is not None else 0
    assert docs[-1][0] != "stop" and in_journal >= 20

    result = operando(config, "sync")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{uid[:8]} -> raw:" in result.stdout and "INCOMPLETE" in result.stdout
    run = client["raw"][uid]
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "fail" and "incomplete" in stop["reason"]
    stored = {s: rows(run[s]) for s in run}
    assert sum(stored.values()) == in_journal >= events_before
    assert sum(stop["num_events"].values()) == in_journal
    # The dead session's technique (a rest) runs on: the watchdog (5 s without a heartbeat) ends it.
    while pstat.state.get(use_monitor=False) == "Running" and time.monotonic() - killed < 10:
        time.sleep(0.1)
    assert pstat.state.get(use_monitor=False) == "Aborted" and "watchdog" in pstat.message.get(use_monitor=False)
    print(f"session killed: {in_journal} events in the journal, {events_before} in Tiled before sync, "
          f"{stored} after; circuit found open by the watchdog {time.monotonic() - killed:.1f} s after the kill (sync ran between)")


def data_files(config):
    return {p for p in config.data_dir.rglob("*.h5")}


def test_a_full_data_disk_refuses_the_run_before_it_starts(instrument):
    """The detector's reserve above the disk's free space (a full disk): staging refuses with the
    free space and the reserve named; no run is started, no frame file created, the shutter closed."""
    from operando.plans import zstack

    config, RE, scope = instrument["config"], instrument["RE"], instrument["scope"]
    files, runs = data_files(config), len(instrument["client"]["raw"])
    reserve = scope.apd.min_free_bytes.get()
    scope.apd.min_free_bytes.set(1e15).wait(5)
    try:
        with pytest.raises(OSError, match=r"MB free, below the detector's reserve of 1000000000 MB"):
            RE(zstack(scope, 10, 12, 0.5, pixels=(64, 64), pixel_dwell_s=2e-6))
    finally:
        scope.apd.min_free_bytes.set(reserve).wait(5)
    instrument["writer"].flush()
    assert data_files(config) == files and len(instrument["client"]["raw"]) == runs
    assert scope.laser.shutter.get(use_monitor=False) == "Closed"


def test_a_disk_that_fills_mid_run_stops_it_cleanly_with_every_frame_before_kept(instrument):
    """The disk 'fills' during a 40-plane stack (the IOC's reserve raised after 8 planes): the next
    plane is refused by the IOC with the reason (raised to the user), the run ends with exit_status 'fail',
    the shutter closes, and every plane recorded before is in Tiled, whole (frames = events)."""
    from operando.plans import zstack

    RE, scope = instrument["RE"], instrument["scope"]
    reserve = scope.apd.min_free_bytes.get()
    planes = []

    def fill_disk(name, doc):
        if name == "event":
            planes.append(doc["seq_num"])
            if len(planes) == 8:
                threading.Thread(target=lambda: scope.apd.min_free_bytes.put(1e15), daemon=True).start()

    token = RE.subscribe(fill_disk)
    try:
        with pytest.raises(Exception) as info:               # FailedStatus, from the IOC's refusal
            RE(zstack(scope, 10, 30, 0.5, pixels=(64, 64), pixel_dwell_s=2e-6))
        assert re.search(r"no frame written \(error: .*MB free; writing", str(info.value.__cause__))
    finally:
        RE.unsubscribe(token)
        scope.apd.min_free_bytes.set(reserve).wait(5)
    instrument["writer"].flush()
    run = instrument["client"]["raw"].values()[-1]
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "fail"        # its reason is the FailedStatus; the IOC says why:
    assert "MB free" in scope.apd.status_message.get(use_monitor=False)
    assert scope.laser.shutter.get(use_monitor=False) == "Closed"
    images = np.asarray(run["primary"]["confocal_apd_reflection"].read())
    assert 8 <= images.shape[0] == len(planes) < 41 and images.shape[1:] == (64, 64)
    assert all(frame.any() for frame in images)                       # no empty (truncated) plane
    print(f"disk full after 8 planes: run stopped at {len(planes)} planes, all {images.shape[0]} frames in Tiled")


def test_a_terminated_script_stops_the_instrument_it_started(test_config, tmp_path):
    """A script (a scenario, the demo, a benchmark) that started the simulated instrument and is
    sent SIGTERM (a batch system's time limit, `kill`) stops its IOCs, the potentiostat and Tiled
    before it exits: they run in their own sessions and would otherwise outlive it (seen: a soak
    script killed with SIGTERM left 8 processes behind). Without the handler the script's
    context manager never runs its clean-up."""
    script = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from operando.engine.config import Config
        from operando.engine.instrument import simulated_instrument
        config = Config(home=Path(sys.argv[1]), ca_base_port=int(sys.argv[2]), tiled_port=int(sys.argv[2]) + 11,
                        pv_prefix="OPT:")
        with simulated_instrument(config) as (scope, client, procs):
            print(" ".join(str(p.pid) for p in procs), flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(test_config.ca_base_port + 700)],
                            stdout=subprocess.PIPE, text=True)
    children = []
    try:
        children += [int(pid) for pid in proc.stdout.readline().split()]
        assert len(children) >= 8, children       # repeater, potentiostat, 6 IOCs, Tiled
        proc.terminate()
        assert proc.wait(60) == 143
        deadline = time.monotonic() + 10
        alive = children
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if os.path.exists(f"/proc/{pid}") and
                     open(f"/proc/{pid}/stat").read().split(") ")[1][0] != "Z"]
            time.sleep(0.1)
        assert not alive, f"left running after SIGTERM: {alive}"
    finally:
        for pid in [proc.pid] + children:        # whatever the outcome, nothing of it stays
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        proc.wait(10)
