"""Interleaved cycling + z-stacks on the virtual cell, stored in Tiled; pause, resume, abort."""
import threading
import time

import numpy as np
import pytest
from bluesky.utils import RunEngineInterrupted

from operando.plans.cycling_zstack import cycling_zstack

pytestmark = pytest.mark.integration

POSITIONS = [{"name": "A", "x_um": -8.0, "y_um": -8.0, "label": 1}, {"name": "B", "x_um": 8.0, "y_um": 8.0}]
STACK = dict(z_start_um=10.0, z_stop_um=16.0, z_step_um=0.5, pixels=(96, 96), pixel_size_um=0.25,
             pixel_dwell_s=2e-6)


def start_lithiated(RE, pstat):
    from operando.plans.cycling import run_protocol
    RE(run_protocol(pstat, "Discharge at 1C until 3.0 V\nRest for 20 minutes", accel=3000, sample_rate_hz=10))


def test_charge_discharge_with_stacks_at_two_positions(instrument, pstat):
    RE, client = instrument["RE"], instrument["client"]
    start_lithiated(RE, pstat)
    protocol = "Charge at C/2 until 4.2 V\nDischarge at C/2 until 3.6 V"
    (uid,) = RE(cycling_zstack(instrument["scope"], pstat, protocol, POSITIONS, accel=400, sample_rate_hz=10,
                               operator="pytest", **STACK))
    instrument["writer"].flush()
    run = client["raw"][uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    assert {"primary", "stacks", "potentiostat", "pstat_voltage_v_monitor"} <= set(run)
    start = run.metadata["start"]
    assert start["material"] == "LCO" and start["c_rate"] == 0.5 and start["protocol"] == protocol
    from tiled.queries import Key
    found = client["raw"].search(Key("material") == "LCO").search(Key("c_rate") == 0.5)
    assert uid in found.keys() and "pytest" == found[uid].metadata["start"]["operator"]
    # telemetry: contiguous, the whole protocol
    tele = run["potentiostat"].read()
    seq = tele["pstat_seq_num"].values
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    t = tele["pstat_time_s"].values
    steps = tele["pstat_step_index"].values
    assert len(set(steps)) == 2 and np.all(np.diff(t) > 0)
    # stacks: >= 10, alternating positions, inside the protocol's span
    stacks = run["stacks"].read()
    n = len(stacks["stack_summary_index"])
    assert n >= 10
    names = [str(x) for x in stacks["stack_summary_position_name"].values]
    assert names[:4] == ["A", "B", "A", "B"] and set(names[::2]) == {"A"}
    t_start, t_end = stacks["stack_summary_start_time_s"].values, stacks["stack_summary_end_time_s"].values
    assert np.all(t_start >= t[0] - 1e-6) and np.all(t_start <= t[-1]) and np.all(t_end > t_start)
    assert np.all(t_end[:-1] <= t[-1])              # only the last stack may run past the protocol's end
    v_start = stacks["stack_summary_start_voltage_v"].values
    assert v_start.max() > 4.0 and v_start.min() < 3.95          # the cell charged and discharged under the stacks
    # planes: tagged with their stack, taken where the stage was
    primary = run["primary"].read()
    index = primary["stack_index"].values
    assert len(index) == n * 13 and np.all(np.diff(index) >= 0) and set(index) == set(range(n))
    x = primary["confocal_xy_x"].values
    positions = np.array([str(p) for p in primary["stack_position_name"].values])
    np.testing.assert_allclose(x[positions == "A"], -8.0, atol=1e-6)
    np.testing.assert_allclose(x[positions == "B"], 8.0, atol=1e-6)
    for key, d in run["primary"].descriptors[0]["data_keys"].items():
        assert "units" in d, key
    assert pstat.state.get(use_monitor=False) != "Running"
    assert instrument["scope"].laser.shutter.get(use_monitor=False) == "Closed"


def _pause_after(RE, seconds):
    timer = threading.Timer(seconds, RE.request_pause)
    timer.start()
    return timer


def test_pause_resumes_the_stack_not_the_protocol_and_abort_opens_the_circuit(instrument, pstat):
    RE, client = instrument["RE"], instrument["client"]
    scope = instrument["scope"]
    protocol = "Charge at 1C for 40 minutes"
    plan = cycling_zstack(scope, pstat, protocol, POSITIONS[:1], accel=200, sample_rate_hz=10, operator="pytest",
                          **STACK)
    _pause_after(RE, 4.0)
    with pytest.raises(RunEngineInterrupted):
        RE(plan)
    assert RE.state == "paused"
    assert pstat.state.get(use_monitor=False) == "Running"          # the cell keeps cycling while paused
    time.sleep(1.0)
    uids = RE.resume()
    instrument["writer"].flush()
    run = client["raw"][uids[0]]
    assert run.metadata["stop"]["exit_status"] == "success"
    seq = run["potentiostat"].read()["pstat_seq_num"].values
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))   # protocol ran once, not replayed
    assert abs(run["potentiostat"].read()["pstat_time_s"].values[-1]
               - run["potentiostat"].read()["pstat_time_s"].values[0] - 2400) < 1.0
    # abort mid-run: open circuit and shutter closed at once
    plan = cycling_zstack(scope, pstat, "Charge at C/5 until 4.2 V", POSITIONS[:1], accel=50, sample_rate_hz=10,
                          operator="pytest", **STACK)
    _pause_after(RE, 3.0)
    with pytest.raises(RunEngineInterrupted):
        RE(plan)
    assert RE.state == "paused"
    t0 = time.time()
    RE.abort("test")                       # returns once Tiled holds the run
    state, shutter = (s.read()[s.name] for s in (pstat.state, scope.laser.shutter))
    opened_s, closed_s = state["timestamp"] - t0, shutter["timestamp"] - t0     # the IOCs' clocks
    assert state["value"] == "Aborted" and shutter["value"] == "Closed"
    assert 0 < opened_s < 0.5, f"open circuit {opened_s:.2f} s after the abort"     # issue 8: within 0.5 s
    assert closed_s < 0.5, f"shutter closed {closed_s:.2f} s after the abort"
    instrument["writer"].flush()
    aborted = client["raw"].values()[-1]
    assert aborted.metadata["stop"]["exit_status"] == "abort"


def test_halt_still_leaves_the_cell_at_open_circuit_and_the_shutter_closed(instrument, pstat):
    """halt skips the plan's clean-up; the RunEngine still unstages what was staged."""
    RE, scope = instrument["RE"], instrument["scope"]
    plan = cycling_zstack(scope, pstat, "Charge at C/5 until 4.2 V", POSITIONS[:1], accel=50, sample_rate_hz=10,
                          operator="pytest", **STACK)
    _pause_after(RE, 3.0)
    with pytest.raises(RunEngineInterrupted):
        RE(plan)
    assert pstat.state.get(use_monitor=False) == "Running"
    RE.halt()
    assert pstat.state.get(use_monitor=False) != "Running"
    assert scope.laser.shutter.get(use_monitor=False) == "Closed"
