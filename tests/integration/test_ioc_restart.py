"""An IOC killed (SIGKILL) mid-run and started again: the disconnect suspenders pause the run, the
control layer (pyepics/libca) reconnects the same device objects, the settings the restarted
controller lost are put back, and the run completes with exit_status success: every plane once,
in order, none dark, the frame file holding exactly the stored frames; the potentiostat's
telemetry contiguous across the outage. Without the suspenders the run fails (checked)."""
import threading
import time

import h5py
import numpy as np
import pytest

from operando.engine.processes import power_cycle_potentiostat, restart_ioc
from operando.engine.suspenders import controllers, install_disconnect_suspenders
from operando.plans.cycling_zstack import cycling_zstack
from operando.plans.zstack import zstack

pytestmark = pytest.mark.integration

Z = dict(z_start_um=10.0, z_stop_um=14.5, z_step_um=0.5)          # 10 planes
SMALL = dict(pixels=(64, 64), pixel_size_um=0.25, pixel_dwell_s=1e-5)   # ~10^4 counts per plane
DOWN_S = 2.0                                                        # the IOC stays dead this long


def kill_at_event(instrument, part, at_event: int, stream="primary", down_s: float = DOWN_S, before_kill=None):
    """A callback that, at the ``at_event``-th event of ``stream``, SIGKILLs the IOC of ``part``
    and starts it again ``down_s`` s later (in a thread); ``.state["times"]`` gets the kill/back
    times, ``.state["before_kill"]`` what ``before_kill()`` returned just before the kill."""
    config, procs = instrument["config"], instrument["procs"]

    def restart(state):
        (proc,) = [p for p in procs if p.name == f"ioc-{part}"]
        if before_kill is not None:
            state["before_kill"] = before_kill()
        state["times"]["killed"] = time.monotonic()
        proc.kill()
        time.sleep(down_s)
        try:
            restart_ioc(config, procs, part)
        except Exception as exc:
            state["error"] = f"{exc} (exit code {proc.popen.returncode})"
            raise
        state["times"]["answering"] = time.monotonic()
    return at_event_do(at_event, restart, stream)


def at_event_do(at_event: int, action, stream="primary"):
    """A callback that runs ``action(state)`` in a thread at the ``at_event``-th event of ``stream``."""
    state = {"events": 0, "descriptors": set(), "thread": None, "times": {}}

    def callback(name, doc):
        if name == "descriptor" and doc["name"] == stream:
            state["descriptors"].add(doc["uid"])
        elif name == "event" and doc["descriptor"] in state["descriptors"]:
            state["events"] += 1
            if state["events"] == at_event and state["thread"] is None:
                state["thread"] = threading.Thread(target=action, args=(state,), daemon=True)
                state["thread"].start()
    callback.state = state
    return callback


@pytest.fixture
def suspended_re(instrument, pstat):
    RE, scope = instrument["RE"], instrument["scope"]
    suspenders = install_disconnect_suspenders(RE, controllers(scope, pstat))
    RE.record_interruptions = True
    yield RE, suspenders
    RE.clear_suspenders()
    RE.record_interruptions = False
    scope.apd.timing_mode.set("fast").wait(5)          # the session's setting, whatever happened


@pytest.fixture(scope="module")
def reference_counts(instrument):
    """Counts per plane of the same stack recorded without a fault."""
    (uid,) = instrument["RE"](zstack(instrument["scope"], **Z, **SMALL))
    frames = np.asarray(instrument["client"]["raw"][uid]["primary"]["confocal_apd_reflection"].read())
    return frames.reshape(frames.shape[0], -1).sum(axis=1).astype(float)


def check_planes(instrument, uid, z_um, reference):
    """Every plane once and in order, each with the counts of the fault-free stack (within 6
    sigma of shot noise + 15 %: a plane taken dark or at the wrong place is far outside)."""
    n_planes = len(z_um)
    run = instrument["client"]["raw"][uid]
    assert run.metadata["stop"]["exit_status"] == "success", run.metadata["stop"]
    primary = run["primary"].read()
    assert np.asarray(primary["time"]).size == n_planes
    np.testing.assert_allclose(np.asarray(primary["confocal_piezo"]), z_um, atol=1e-3)
    frames = np.asarray(run["primary"]["confocal_apd_reflection"].read())
    assert frames.shape == (n_planes, 64, 64)
    counts = frames.reshape(n_planes, -1).sum(axis=1).astype(float)
    allowed = 6 * np.sqrt(reference + counts) + 0.15 * reference
    assert (np.abs(counts - reference) < allowed).all(), (counts, reference)
    return run, counts


def interruptions(run) -> list[str]:
    return list(np.asarray(run["interruptions"].read()["interruption"])) if "interruptions" in run else []


@pytest.mark.parametrize("part", ["piezo", "laser", "apd"])
def test_a_killed_ioc_suspends_the_stack_and_it_completes_when_the_ioc_is_back(instrument, reference_counts,
                                                                             suspended_re, part):
    RE, suspenders = suspended_re
    scope = instrument["scope"]
    device = getattr(scope, {"piezo": "piezo", "laser": "laser", "apd": "apd"}[part])
    signal = next(iter(device.walk_signals())).item
    pv_before = signal._read_pv
    killer = kill_at_event(instrument, part, at_event=4)
    t0 = time.monotonic()
    (uid,) = RE(zstack(scope, **Z, **SMALL), killer)
    took = time.monotonic() - t0
    killer.state["thread"].join(30)
    times = killer.state["times"]
    assert "answering" in times, "the IOC was not killed during the run"
    # The control layer reconnected the same channel: same device, same PV object, connected.
    assert signal._read_pv is pv_before and signal.connected
    run, counts = check_planes(instrument, uid, np.arange(10.0, 14.51, 0.5), reference_counts)
    (suspension,) = interruptions(run)              # recorded by the RunEngine: one, naming the device
    assert suspension.startswith(f"{device.name}: its controller is unreachable"), suspension
    print(f"{part}: killed after event 4, IOC answering {times['answering'] - times['killed']:.1f} s later; "
          f"run {took:.1f} s; 10/10 planes, counts/reference {(counts / reference_counts).min():.3f}-"
          f"{(counts / reference_counts).max():.3f}; reference counts {reference_counts.astype(int).tolist()}, "
          f"this run {counts.astype(int).tolist()}")
    if part == "apd":
        path = scope.apd.full_file_name.get(use_monitor=False)
        with h5py.File(path, "r", locking=False) as f:
            assert f["/entry/reflection/data"].shape[0] == 10      # no plane twice in the file


def test_without_the_suspenders_the_same_fault_fails_the_run(instrument):
    """The protection checked above, taken away: the run ends in failure."""
    from bluesky.utils import FailedStatus

    RE, scope = instrument["RE"], instrument["scope"]
    assert not RE.suspenders
    killer = kill_at_event(instrument, "piezo", at_event=4)
    docs = []
    with pytest.raises(FailedStatus) as raised:
        RE(zstack(scope, **Z, **SMALL), [killer, lambda name, doc: docs.append((name, doc))])
    killer.state["thread"].join(30)
    (stop,) = [d for n, d in docs if n == "stop"]
    assert stop["exit_status"] == "fail", stop
    # the move in progress (or the next one) fails 2 s after the loss instead of waiting for ever
    assert "confocal_piezo: its controller became unreachable" in repr(raised.value.__cause__ or raised.value)
    for _ in range(100):          # leave the session's piezo connected for the tests after this one
        if scope.piezo.connected:
            break
        time.sleep(0.1)


CYCLE = "Charge at 1C for 3 minutes\nDischarge at 1C for 3 minutes"     # 24 s of wall time at accel 15


def cycling_plan(scope, pstat, protocol=CYCLE):
    return cycling_zstack(scope, pstat, protocol, [{"name": "A", "x_um": 0.0, "y_um": 0.0}], accel=15,
                          sample_rate_hz=10, z_start_um=10.0, z_stop_um=12.0, z_step_um=0.5, **SMALL)


@pytest.fixture
def watchdog(pstat):
    """Set the potentiostat's watchdog timeout for one test; back to the session's 5 s after."""
    yield lambda seconds: pstat.watchdog_timeout_s.set(seconds).wait(5)
    pstat.watchdog_timeout_s.set(5.0).wait(10)


def test_apd_killed_while_cycling_the_protocol_goes_on_and_no_sample_or_plane_is_lost(instrument, suspended_re, pstat):
    """The detector's IOC dies during a stack while the potentiostat runs its protocol: the run
    suspends (the cell keeps cycling), resumes, and completes; stacks contiguous, every plane of
    every stack once, telemetry contiguous and covering the outage."""
    RE, suspenders = suspended_re
    scope = instrument["scope"]
    killer = kill_at_event(instrument, "apd", at_event=7)
    (uid,) = RE(cycling_plan(scope, pstat), killer)
    killer.state["thread"].join(30)
    assert "answering" in killer.state["times"]
    run = instrument["client"]["raw"][uid]
    assert run.metadata["stop"]["exit_status"] == "success", run.metadata["stop"]
    stacks = run["stacks"].read()
    index = np.asarray(stacks["stack_summary_index"])
    assert list(index) == list(range(index.size)) and index.size >= 3
    primary = run["primary"].read()
    assert np.asarray(primary["time"]).size == 5 * index.size        # 5 planes per stack, none twice
    np.testing.assert_allclose(np.asarray(primary["confocal_piezo"]).reshape(-1, 5),
                               np.tile(np.arange(10.0, 12.01, 0.5), (index.size, 1)), atol=1e-3)
    frames = np.asarray(run["primary"]["confocal_apd_reflection"].read())
    assert frames.shape[0] == 5 * index.size
    seq = np.asarray(run["potentiostat"].read()["pstat_seq_num"])
    assert (np.diff(seq) == 1).all(), "telemetry not contiguous"
    cell_t = np.asarray(run["potentiostat"].read()["pstat_time_s"])
    # the 6-minute protocol sampled from its start to its end, through the outage
    assert cell_t[-1] - cell_t[0] > 300
    (suspension,) = interruptions(run)
    assert suspension.startswith("confocal_apd: its controller is unreachable"), suspension
    print(f"apd while cycling: {index.size} stacks, {frames.shape[0]} planes, {seq.size} samples "
          f"(seq {seq[0]}-{seq[-1]}), cell time {cell_t[0]:.0f}-{cell_t[-1]:.0f} s")


def test_potentiostat_ioc_restarted_while_cycling_the_technique_goes_on_and_no_sample_is_lost(
        instrument, suspended_re, pstat, watchdog):
    """The potentiostat's IOC (its driver) dies mid-protocol; the instrument runs on (its firmware
    is another process, as a real potentiostat's is). The run suspends, the restarted IOC finds the
    technique still running and every sample in the instrument's buffer, the run completes with
    exit_status success: telemetry contiguous in sequence number and in cell time (one sample every
    1.5 s of cell time from the protocol's start to its end, the outage included), stacks
    contiguous. The watchdog is set longer than the outage (a restart takes ~10 s here)."""
    RE, suspenders = suspended_re
    scope = instrument["scope"]
    watchdog(30.0)
    signal = pstat.seq_num
    pv_before = signal._read_pv
    killer = kill_at_event(instrument, "potentiostat", at_event=12,
                           before_kill=lambda: float(pstat.cell_time_s.get(use_monitor=False)))
    (uid,) = RE(cycling_plan(scope, pstat), killer)
    killer.state["thread"].join(30)
    times = killer.state["times"]
    assert "answering" in times, killer.state.get("error")
    assert signal._read_pv is pv_before and signal.connected
    run = instrument["client"]["raw"][uid]
    assert run.metadata["stop"]["exit_status"] == "success", run.metadata["stop"]
    (suspension,) = interruptions(run)
    assert suspension.startswith("pstat: its controller is unreachable"), suspension
    table = run["potentiostat"].read()
    seq, cell_t = np.asarray(table["pstat_seq_num"]), np.asarray(table["pstat_time_s"])
    current, steps = np.asarray(table["pstat_current_a"]), np.asarray(table["pstat_step_index"])
    assert (np.diff(seq) == 1).all(), "telemetry not contiguous"
    assert np.diff(cell_t).max() <= 1.5 + 1e-6 and (np.diff(cell_t) > 0).all(), "a gap or a repeat in cell time"
    killed_at = killer.state["before_kill"]
    assert cell_t[0] < killed_at < cell_t[-1] - 30, "the outage was not inside the protocol"
    assert cell_t[-1] - cell_t[0] == pytest.approx(360.0, abs=1.6)   # the whole protocol, no restart of it
    capacity_a = 1.0 * float(pstat.capacity_ah.get())
    charge, discharge = steps == steps[0], steps == steps[0] + 1
    np.testing.assert_allclose(current[charge][1:], capacity_a, rtol=1e-9)
    np.testing.assert_allclose(current[discharge][1:], -capacity_a, rtol=1e-9)
    index = np.asarray(run["stacks"].read()["stack_summary_index"])
    assert index.size >= 3 and list(index) == list(range(index.size))
    assert np.asarray(run["primary"].read()["time"]).size == 5 * index.size
    print(f"potentiostat IOC restarted: down {times['answering'] - times['killed']:.1f} s (cell time "
          f"{killed_at:.0f} s at the kill); {seq.size} samples (seq {seq[0]}-{seq[-1]}), cell time "
          f"{cell_t[0]:.1f}-{cell_t[-1]:.1f} s, largest step {np.diff(cell_t).max():.3f} s; {index.size} stacks")


def test_potentiostat_ioc_gone_longer_than_the_watchdog_opens_the_circuit_and_the_run_says_so(
        instrument, suspended_re, pstat, watchdog):
    """The potentiostat's IOC dies and stays away longer than the watchdog (1 s): nobody's heartbeat
    reaches the instrument, which opens the circuit by itself within one tick of noticing. When the
    IOC is back the run ends (exit_status fail) with the watchdog's reason; the telemetry up to the
    open circuit is stored, contiguous."""
    from bluesky.utils import FailedStatus

    RE, suspenders = suspended_re
    scope = instrument["scope"]
    watchdog(1.0)
    killer = kill_at_event(instrument, "potentiostat", at_event=12,
                           before_kill=lambda: float(pstat.cell_time_s.get(use_monitor=False)))
    with pytest.raises(FailedStatus) as raised:
        RE(cycling_plan(scope, pstat), killer)
    killer.state["thread"].join(30)
    assert "answering" in killer.state["times"], killer.state.get("error")
    assert "watchdog" in str(raised.value.__cause__), raised.value
    run = instrument["client"]["raw"].values()[-1]
    assert run.metadata["stop"]["exit_status"] == "fail"
    assert "watchdog" in run.metadata["stop"]["reason"], run.metadata["stop"]["reason"]
    table = run["potentiostat"].read()
    seq, cell_t = np.asarray(table["pstat_seq_num"]), np.asarray(table["pstat_time_s"])
    assert (np.diff(seq) == 1).all()
    # The technique's last sample is the open circuit; the kill came just after a heartbeat at the
    # latest (they go every 0.25 s): open circuit at most 1 s (timeout) + 0.1 s (a tick) after it.
    after_kill_s = (cell_t[-1] - killer.state["before_kill"]) / 15
    assert 0.5 < after_kill_s < 1.0 + 0.1 + 0.1, after_kill_s
    assert pstat.state.get(use_monitor=False) == "Aborted" and pstat.current_a.get(use_monitor=False) == 0
    print(f"watchdog: the cell at open circuit {after_kill_s:.2f} s (wall) after the IOC was killed; "
          f"{seq.size} samples stored (seq {seq[0]}-{seq[-1]}); reason: {run.metadata['stop']['reason'][:100]}")


def test_potentiostat_power_cycled_while_cycling_ends_the_run_with_the_reason_and_keeps_what_was_collected(
        instrument, suspended_re, pstat):
    """The instrument itself restarts (power cut): a new cell at open circuit, its technique and the
    samples not yet collected gone. The run ends (exit_status fail) saying so; the telemetry and
    stacks collected before are stored, contiguous. (Before the boot-time check: the plan took the
    new instrument's Idle for the protocol's end and stored the run as a success.)"""
    from bluesky.utils import FailedStatus

    RE, suspenders = suspended_re
    scope = instrument["scope"]
    config, procs = instrument["config"], instrument["procs"]

    def power_cycle(state):
        state["times"]["cut"] = time.monotonic()
        power_cycle_potentiostat(config, procs)
        state["times"]["answering"] = time.monotonic()

    cycler = at_event_do(12, power_cycle)
    t0 = time.monotonic()
    # the technique's completion fails (FailedStatus), or a collect in the outage does (RuntimeError)
    with pytest.raises((FailedStatus, RuntimeError)) as raised:
        RE(cycling_plan(scope, pstat, "Charge at 1C for 10 minutes"), cycler)
    ended = time.monotonic()
    cycler.state["thread"].join(30)
    times = cycler.state["times"]
    assert "answering" in times
    reason = str(raised.value.__cause__ or raised.value)
    assert "restarted during the technique" in reason or "instrument not answering" in reason, reason
    run = instrument["client"]["raw"].values()[-1]
    assert run.metadata["stop"]["exit_status"] == "fail"
    assert run.metadata["stop"]["reason"], run.metadata["stop"]
    index = np.asarray(run["stacks"].read()["stack_summary_index"])
    assert index.size >= 2 and list(index) == list(range(index.size))
    seq = np.asarray(run["potentiostat"].read()["pstat_seq_num"])
    assert seq.size > 0 and (np.diff(seq) == 1).all()
    assert pstat.state.get(use_monitor=False) == "Idle" and abs(pstat.current_a.get(use_monitor=False)) == 0
    print(f"potentiostat power-cycled: run ended {ended - times['cut']:.1f} s after the cut ({ended - t0:.1f} s "
          f"in all); {index.size} stacks, {seq.size} samples (seq {seq[0]}-{seq[-1]}) stored; reason: "
          f"{run.metadata['stop']['reason'][:120]}")
