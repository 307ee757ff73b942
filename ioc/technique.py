"""The potentiostat's on-board technique runner: executes a compiled protocol on the cell.

Pure logic, no EPICS: given a HalfCell and a technique (see
``operando.plans.protocol.to_technique``), ``advance(dt)`` moves cell time forward and
returns the telemetry samples taken every ``sample_interval_s`` of cell time, interpolated
linearly inside a physics sub-step (the cell model needs no 1 ms steps to be sampled at 1 kHz)
and exact at every step end. A step's first sub-step lasts MIN_SUBSTEP_S: the current and the
IR drop change at once when a step starts, and no sample is interpolated across that jump. Counters
(sequence number, cycle, step index) never reset; charge is the net charge passed,
charging positive (Battery Data Format). Cut-offs are checked on every physics sub-step
(at most ``max_substep_s``) and end the step there; compliance outside the technique's
voltage window ends the whole technique at open circuit.
"""
from __future__ import annotations

from dataclasses import dataclass

from .cell.halfcell import CellReading

CUT_OFF_TOLERANCE_V = 0.01   # a step may end at most this far past its voltage cut-off
MIN_SUBSTEP_S = 0.01
SAMPLE_FIELDS = ("seq_num", "time_s", "voltage_v", "current_a", "charge_c", "cycle", "step_index")


@dataclass(frozen=True)
class Sample:
    seq_num: int
    time_s: float
    voltage_v: float
    current_a: float
    charge_c: float
    cycle: int
    step_index: int


def flatten(steps: list, cycle: int | None = None):
    """Yield (cycle, step) in execution order; a cycle is one pass of the outermost loop."""
    for step in steps:
        if step["kind"] == "loop":
            for k in range(step["times"]):
                yield from flatten(step["steps"], k if cycle is None else cycle)
        else:
            yield (cycle or 0), step


class TechniqueRunner:
    """Runs a technique on ``cell``; ``state`` is 'running', 'done' or 'aborted'."""

    def __init__(self, cell, technique: dict, sample_interval_s: float, max_substep_s: float = 2.0,
                 first_seq_num: int = 0, first_step_index: int = 0, first_cycle: int = 0):
        self.cell = cell
        self.technique = technique
        self.sample_interval_s = sample_interval_s
        self.max_substep_s = max_substep_s
        self.window = technique["voltage_window_v"]
        self._steps = list(flatten(technique["steps"]))
        self._k = 0
        self.seq_num = first_seq_num
        self.step_offset = first_step_index
        self.cycle_offset = first_cycle
        self.step_time_s = 0.0
        self.step_charge_c = 0.0
        self.state = "running" if self._steps else "done"
        self.message = ""
        self._last_sample_s = 0.0
        self._grid = (0.0, sample_interval_s)      # (anchor time, interval) of the sampling grid
        self._grid_k = 0
        self._started = False

    @property
    def step(self) -> dict | None:
        return self._steps[self._k][1] if self.state == "running" else None

    @property
    def step_index(self) -> int:
        return self.step_offset + min(self._k, len(self._steps) - 1)

    @property
    def cycle(self) -> int:
        return self.cycle_offset + (self._steps[min(self._k, len(self._steps) - 1)][0] if self._steps else 0)

    def _sample(self, reading=None, on_grid: bool = False) -> Sample:
        r = reading or self.cell.reading
        s = Sample(self.seq_num, r.time_s, r.voltage_v, r.current_a, r.charge_c, self.cycle, self.step_index)
        self.seq_num += 1
        self._last_sample_s = r.time_s
        if on_grid:
            self._grid_k += 1
        else:                       # an exact sample (start, step end) anchors the sampling grid
            self._grid = (r.time_s, self.sample_interval_s)
            self._grid_k = 0
        return s

    def _samples_between(self, r0, r1) -> list[Sample]:
        """Samples due in (r0.time_s, r1.time_s], linearly interpolated between the two readings.
        Sample times are anchor + k * interval (no accumulated rounding over long runs)."""
        if self._grid[1] != self.sample_interval_s:          # the rate changed: re-anchor
            self._grid, self._grid_k = (self._last_sample_s, self.sample_interval_s), 0
        out = []
        span = r1.time_s - r0.time_s
        while span > 0:
            t = self._grid[0] + (self._grid_k + 1) * self._grid[1]
            if t > r1.time_s + 1e-9:
                break
            # A grid time a rounding error past the reading is stamped with the reading's time, so
            # that the next sample (a new technique starts at the reading) never goes back.
            t = min(t, r1.time_s)
            f = min(max((t - r0.time_s) / span, 0.0), 1.0)
            out.append(self._sample(CellReading(time_s=t, voltage_v=r0.voltage_v + f * (r1.voltage_v - r0.voltage_v),
                                                current_a=r0.current_a + f * (r1.current_a - r0.current_a),
                                                charge_c=r0.charge_c + f * (r1.charge_c - r0.charge_c)),
                                    on_grid=True))
        return out

    def _physics(self, step, dt):
        if step["kind"] == "cc":
            self.cell.step_current(step["current_a"], dt)
        elif step["kind"] == "cv":
            self.cell.step_voltage(step["voltage_v"], dt)
        else:
            self.cell.rest(dt)

    def _finished(self, step) -> bool:
        r = self.cell.reading
        limit = step.get("max_duration_s") or step.get("duration_s")
        if limit is not None and self.step_time_s >= limit - 1e-9:
            return True
        if step["kind"] == "cc":
            v = step.get("until_voltage_v")
            if v is not None and (r.voltage_v >= v if step["current_a"] > 0 else r.voltage_v <= v):
                return True
            cap = step.get("max_capacity_ah")
            return cap is not None and abs(self.step_charge_c) >= cap * 3600.0
        if step["kind"] == "cv":
            floor = step.get("current_floor_a")
            return floor is not None and self.step_time_s > 0 and abs(r.current_a) <= floor
        return False

    _dv_dt = 0.0

    _retry_dt = float("inf")

    def _time_to_cut_off(self, step) -> float:
        """Approach a voltage cut-off in shrinking steps (half the extrapolated time to it,
        at least MIN_SUBSTEP_S, and shorter after an overshoot was undone)."""
        v_cut = step.get("until_voltage_v") if step["kind"] == "cc" else None
        if v_cut is None:
            return float("inf")
        limit = self._retry_dt
        gap = v_cut - self.cell.reading.voltage_v
        if self._dv_dt != 0.0 and gap * self._dv_dt > 0:
            limit = min(limit, max(0.5 * gap / self._dv_dt, MIN_SUBSTEP_S))
        return limit

    def _overshoot_v(self, step) -> float:
        """How far (V) the voltage went past the step's cut-off (<= 0 if not reached)."""
        v_cut = step.get("until_voltage_v") if step["kind"] == "cc" else None
        if v_cut is None:
            return 0.0
        v = self.cell.reading.voltage_v
        return v - v_cut if step["current_a"] > 0 else v_cut - v

    def abort(self, message: str) -> None:
        self.state = "aborted"
        self.message = message

    def advance(self, dt_s: float, enough=None) -> list[Sample]:
        """Run dt_s of cell time, or less when ``enough()`` (asked after every sub-step) says so
        (``advanced_s`` then tells how much); return the samples due in it (the first at the start,
        one every sample interval, one at every step end)."""
        self.advanced_s = 0.0
        samples = []
        if not self._started:
            self._started = True
            samples.append(self._sample())
        remaining = dt_s
        while remaining > 1e-12 and self.state == "running":
            step = self.step
            dt = min(remaining, self.max_substep_s if self.step_time_s > 0 else MIN_SUBSTEP_S)
            limit = step.get("max_duration_s") or step.get("duration_s")
            if limit is not None:
                dt = min(dt, limit - self.step_time_s)
            dt = max(min(dt, self._time_to_cut_off(step)), 1e-9)
            r = self.cell.reading
            before = CellReading(time_s=r.time_s, current_a=r.current_a, voltage_v=r.voltage_v, charge_c=r.charge_c)
            v_before = before.voltage_v
            snap = self.cell.snapshot()
            self._physics(step, dt)
            if self._overshoot_v(step) > CUT_OFF_TOLERANCE_V and dt > MIN_SUBSTEP_S:
                # Landed too far past the cut-off: undo, and approach it in shorter steps.
                self.cell.restore(snap)
                self._retry_dt = dt / 4
                continue
            self._retry_dt = float("inf")
            self._dv_dt = (self.cell.reading.voltage_v - v_before) / dt
            remaining -= dt
            self.advanced_s += dt
            self.step_time_s += dt
            self.step_charge_c += self.cell.reading.current_a * dt
            v = self.cell.reading.voltage_v
            samples += self._samples_between(before, self.cell.reading)
            if not self.window[0] - 0.5 <= v <= self.window[1] + 0.5:
                if self._last_sample_s < self.cell.reading.time_s - 1e-9:
                    samples.append(self._sample())
                self.abort(f"compliance: {v:.3f} V outside the window {self.window} +- 0.5 V")
                break
            end = self._finished(step)
            if end and self._last_sample_s < self.cell.reading.time_s - 1e-9:
                samples.append(self._sample())
            if end:
                self._dv_dt = 0.0
                self._k += 1
                self.step_time_s = 0.0
                self.step_charge_c = 0.0
                if self._k >= len(self._steps):
                    self.state = "done"
            if enough is not None and enough():
                break
        return samples
