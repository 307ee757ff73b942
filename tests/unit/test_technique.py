"""The potentiostat's technique runner on the virtual cell (no EPICS)."""
import numpy as np
import pytest

from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.halfcell import HalfCell
from operando.ioc.technique import TechniqueRunner
from operando.plans.protocol import CellLimits, parse_protocol, to_technique

PROTOCOL = """
Repeat 2 times {
    Charge at 2C until 4.1 V
    Hold at 4.1 V until C/5 or 5 minutes
    Rest for 2 minutes
    Discharge at 2C until 3.7 V
}
"""


def run(protocol_text, sample_interval_s=5.0, chunk_s=37.0, max_s=5 * 3600):
    cell = HalfCell(build_electrode(seed=1, material="LCO"))
    limits = CellLimits(3.0, 4.4, 0.05, cell.capacity_ah)
    runner = TechniqueRunner(cell, to_technique(parse_protocol(protocol_text), limits), sample_interval_s)
    samples = []
    while runner.state == "running" and cell.reading.time_s < max_s:
        samples += runner.advance(chunk_s)
    return cell, runner, samples


def test_cut_offs_end_steps_and_counters_never_reset():
    cell, runner, samples = run(PROTOCOL)
    assert runner.state == "done"
    seq = np.array([s.seq_num for s in samples])
    np.testing.assert_array_equal(seq, np.arange(len(samples)))
    steps = np.array([s.step_index for s in samples])
    cycles = np.array([s.cycle for s in samples])
    assert np.all(np.diff(steps) >= 0) and steps.max() == 7
    assert np.all(np.diff(cycles) >= 0) and set(cycles) == {0, 1}
    v = np.array([s.voltage_v for s in samples])
    i = np.array([s.current_a for s in samples])
    cap = cell.capacity_ah
    # charge steps end at their 4.1 V cut-off, within one 5 s sub-step of voltage rise
    for k in (0, 4):
        last = v[steps == k][-1]
        assert 4.1 <= last < 4.12
        assert np.allclose(i[steps == k][1:], 2 * cap)
    # holds keep 4.1 V and end at C/5 or after 5 minutes
    for k in (1, 5):
        sel = steps == k
        assert np.allclose(v[sel][1:], 4.1, atol=1e-6)
        t = np.array([s.time_s for s in samples])[sel]
        assert abs(i[sel][-1]) <= 0.2 * cap + 1e-12 or t[-1] - t[0] >= 300 - 5 - 1e-6
    # rests pass no current; discharges end at 3.7 V
    assert np.all(i[steps == 2][1:] == 0) and v[steps == 3][-1] <= 3.7


def test_samples_are_evenly_spaced_in_cell_time_within_a_step():
    _, _, samples = run("Rest for 10 minutes\nCharge at C/2 for 10 minutes", sample_interval_s=10.0)
    t = np.array([s.time_s for s in samples])
    assert t[0] == 0 and t[-1] == pytest.approx(1200.0)
    dt = np.diff(t)
    assert np.allclose(dt, 10.0)


def test_charge_column_is_the_integral_of_current():
    _, _, samples = run("Charge at C/2 for 20 minutes\nDischarge at 1C for 5 minutes", sample_interval_s=10.0)
    t = np.array([s.time_s for s in samples])
    i = np.array([s.current_a for s in samples])
    q = np.array([s.charge_c for s in samples])
    np.testing.assert_allclose(q[-1], np.sum(i[1:] * np.diff(t)), rtol=1e-9)


def test_steep_end_of_discharge_lands_on_the_cut_off_instead_of_tripping_compliance():
    cell, runner, samples = run("Charge at 2C until 4.1 V\nRest for 2 minutes\nDischarge at 1C until 3.0 V",
                                sample_interval_s=60.0, chunk_s=60.0)
    assert runner.state == "done", runner.message
    # The model's end of discharge is a near-vertical collapse (surfaces full, slow core): the
    # runner undoes overshooting sub-steps down to 10 ms and ends within 0.1 V of the cut-off.
    assert 2.9 <= samples[-1].voltage_v <= 3.0


def test_a_grid_time_a_rounding_error_past_the_reading_does_not_run_ahead_of_the_cell():
    """Seen in the GITT test: the last grid sample of a technique stamped 1e-11 s after the cell's
    time, and the next technique's first sample (at the cell's time) then went back in time."""
    from operando.ioc.cell.halfcell import CellReading

    cell = HalfCell(build_electrode(seed=1, material="LCO"))
    runner = TechniqueRunner(cell, {"voltage_window_v": [3.0, 4.4],
                                    "steps": [{"kind": "ocv", "text": "rest", "duration_s": 100.0}]}, 30.0)
    runner._grid, runner._grid_k = (43235.50513754523, 30.0), 1      # next grid time: anchor + 60 s
    r0 = CellReading(time_s=43265.5, voltage_v=3.9)
    r1 = CellReading(time_s=43295.50513754522, voltage_v=3.9)     # the anchor + 60 s, rounded down
    samples = runner._samples_between(r0, r1)
    assert samples and samples[-1].time_s <= r1.time_s


@pytest.mark.parametrize("chunk_s", [0.4, 3.75, 37.0])
def test_a_step_applies_its_current_from_its_start_whatever_the_tick(chunk_s):
    """Samples after a step's start carry its current exactly, however much cell time one tick of
    the firmware advances (a late tick at accel 15 stands for 3.75 s) and however many samples a
    sub-step holds. Before, the samples inside a step's first sub-step were interpolated from the
    previous step's current (a clean clone's cycling run: 0.91 C for 1 C)."""
    cell, _, samples = run("Rest for 20 seconds\nCharge at 1C for 60 seconds\nDischarge at 1C for 60 seconds",
                           sample_interval_s=0.5, chunk_s=chunk_s)
    steps = np.array([s.step_index for s in samples])
    i = np.array([s.current_a for s in samples])
    for k, current in ((1, cell.capacity_ah), (2, -cell.capacity_ah)):
        np.testing.assert_allclose(i[steps == k][1:], current, rtol=1e-9)
    assert np.all(i[steps == 0] == 0)


def test_a_tick_ended_early_resumes_where_it_stopped():
    """``advance(dt, enough)`` stops after the sub-step at which ``enough()`` holds and says how far
    it got (``advanced_s``); advancing the rest later gives the same samples as one call: a cut-off
    approach and the rest after it, cut into single sub-steps."""
    protocol = "Charge at 2C until 4.1 V\nRest for 2 minutes"
    whole_cell, whole, whole_samples = run(protocol, chunk_s=4000.0, max_s=4000.0)
    cell = HalfCell(build_electrode(seed=1, material="LCO"))
    limits = CellLimits(3.0, 4.4, 0.05, cell.capacity_ah)
    runner = TechniqueRunner(cell, to_technique(parse_protocol(protocol), limits), 5.0)
    samples, calls, left = [], 0, 4000.0
    while runner.state == "running" and left > 1e-9:
        samples += runner.advance(left, enough=lambda: True)
        assert 0 < runner.advanced_s <= runner.max_substep_s
        left -= runner.advanced_s
        calls += 1
    assert whole.state == runner.state == "done" and whole_cell.reading.time_s > 1000.0
    assert calls > whole_cell.reading.time_s / runner.max_substep_s
    assert [s.seq_num for s in samples] == [s.seq_num for s in whole_samples]
    np.testing.assert_array_equal([s.voltage_v for s in samples], [s.voltage_v for s in whole_samples])
    assert cell.reading.time_s == pytest.approx(whole_cell.reading.time_s, abs=1e-9)
