"""Operando cycling with interleaved z-stacks: the potentiostat runs its protocol on board while
the microscope records stacks at one or several stage positions."""
from __future__ import annotations

import getpass

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from operando.devices.soft import StackSummary, StackTag

from .cycling import cell_limits, cell_settings, during_protocol, monitor_while_running
from .positions import move_to, validate_positions
from .metadata import SIMULATED_SAMPLE, start_metadata
from .protocol import parse_protocol, to_technique
from .validation import PlanParameterError, check_integer, check_number
from .zstack import _soft_limits, configure_confocal, stack_planes, validate_zstack

CELL_KEYS = ("cell_time_s", "voltage_v", "current_a", "charge_c")


def read_cell(pstat):
    """The cell now: {cell_time_s, voltage_v, current_a, charge_c} (s, V, A, C)."""
    values = {}
    for key in CELL_KEYS:
        values[key] = float((yield from bps.rd(getattr(pstat, key))))
    return values


def stack_with_cell(scope, pstat, position: dict, stack, index: int, tag, summary, while_running: bool = False):
    """A z-stack at a position with the cell's state at its start and end in the "stacks" stream.
    With ``while_running``, no stack when the potentiostat's technique is no longer running once
    the cell's state at the start has been read (the state is read after it, so a stack that is
    taken started inside the technique); returns whether a stack was taken."""
    yield from move_to(scope, position, tag, index)
    start = yield from read_cell(pstat)
    if while_running and (yield from bps.rd(pstat.state)) != "Running":
        return False
    yield from stack_planes(scope, stack.z_positions_um, readables=[scope.xy, pstat, tag])
    end = yield from read_cell(pstat)
    values = {"index": index, "position_name": position["name"], "label": position["label"],
              "n_planes": len(stack.z_positions_um)}
    values.update({f"start_{k.replace('cell_', '')}": v for k, v in start.items()})
    values.update({f"end_{k.replace('cell_', '')}": v for k, v in end.items()})
    yield from bps.mv(*[x for k, v in values.items() for x in (getattr(summary, k), v)])
    yield from bps.trigger_and_read([summary], name="stacks")
    return True


def validate_acquisition(scope, positions, z_start_um, z_stop_um, z_step_um, channels, pixel_dwell_s, pixels,
                         pixel_size_um, wavelength_nm, power_w, pulsed):
    """Positions and one validated z-stack per position (nothing touched)."""
    positions = validate_positions(positions, (z_start_um, z_stop_um))
    limits = _soft_limits(scope)
    stacks = [validate_zstack(p["z_start_um"], p["z_stop_um"], z_step_um, channels, pixel_dwell_s, pixels,
                              pixel_size_um, wavelength_nm, power_w, pulsed, z_limits_um=limits) for p in positions]
    return positions, stacks


def operando_metadata(plan_name, scope, pstat, positions, stacks, *, protocol, technique, sample, operator, accel,
                      sample_rate_hz, extra, md) -> dict:
    """Start document of a cycling + imaging run (docs/metadata.md), with the user's ``md`` on top."""
    s = stacks[0]
    acquisition = {"detectors": [scope.apd.name, pstat.name], "motors": [scope.piezo.name, scope.xy.name],
                   "positions": positions, "z_step_um": s.z_step_um, "channels": list(s.channels),
                   "pixels": list(s.pixels), "pixel_size_um": s.pixel_size_um, "pixel_dwell_s": s.pixel_dwell_s,
                   "wavelength_nm": s.wavelength_nm, "power_w": s.power_w, "pulsed": s.pulsed,
                   "optics": dict(scope.optics), "hints": {"dimensions": [([scope.piezo.name], "primary")]}}
    _md = start_metadata(plan_name, sample=sample or SIMULATED_SAMPLE,
                         operator=operator if operator is not None else getpass.getuser(),
                         protocol=protocol, technique=technique,
                         instrument={"optics": dict(scope.optics), "accel": accel, "sample_rate_hz": sample_rate_hz},
                         extra={**acquisition, **extra})
    taken = sorted(set(md or {}) & set(_md))
    if taken:                         # e.g. md={"sample": "S1"} would replace the sample description
        raise PlanParameterError(f"md: {', '.join(taken)} set by the plan from its parameters and the instrument "
                                 f"(give the sample as sample={{...}}, the operator as operator=); use other keys")
    _md.update(md or {})
    return _md


def cycling_zstack(scope, pstat, protocol: str, positions, *, z_start_um=10.0, z_stop_um=18.0, z_step_um=0.5,
                   channels=("reflection",), pixel_dwell_s=5e-6, pixels=(128, 128), pixel_size_um=0.2,
                   wavelength_nm=820.0, power_w=1e-3, pulsed=False, interval_s=None, max_cycles=None,
                   max_cell_time_s=None, accel=None, sample_rate_hz=None, sample=None, operator=None, md=None):
    """Cycle the cell with ``protocol`` while recording z-stacks at ``positions`` until it ends.

    protocol: PyBaMM-style text (plans.protocol); positions: [{"name", "x_um", "y_um", optional
    "z_start_um", "z_stop_um" (objective, um), "label"}]; z_step_um, pixel_size_um (um);
    pixel_dwell_s (s); wavelength_nm; power_w (W). Stacks follow each other back to back, or start
    every interval_s of cell time (s). Stops at the protocol's end, after max_cycles cycles or
    max_cell_time_s (s) of cell time, whichever comes first. accel: cell s per wall s (simulator);
    sample_rate_hz: telemetry rate. Streams: "primary" (one event per plane, tagged with stack
    index, position, label and the cell's readings), "stacks" (one per stack: cell time, voltage,
    current, charge at start and end), "potentiostat" (every telemetry sample, collected after
    each round of stacks) and "pstat_voltage_v_monitor" (live voltage). Everything is checked
    before the first message; the cell is at open circuit and the shutter closed however it ends.
    """
    technique = to_technique(parse_protocol(protocol), cell_limits(pstat))
    positions, stacks = validate_acquisition(scope, positions, z_start_um, z_stop_um, z_step_um, channels,
                                             pixel_dwell_s, pixels, pixel_size_um, wavelength_nm, power_w, pulsed)
    if interval_s is not None:
        interval_s = check_number("interval_s", interval_s, 0.0, 1e7, "s")
    if max_cycles is not None:
        max_cycles = check_integer("max_cycles", max_cycles, 1, 100000)
    if max_cell_time_s is not None:
        max_cell_time_s = check_number("max_cell_time_s", max_cell_time_s, 1.0, 1e8, "s")
    settings = cell_settings(pstat, accel, sample_rate_hz)
    _md = operando_metadata("cycling_zstack", scope, pstat, positions, stacks, protocol=protocol, technique=technique,
                            sample=sample, operator=operator, accel=accel, sample_rate_hz=sample_rate_hz,
                            extra={"interval_s": interval_s, "max_cycles": max_cycles,
                                   "max_cell_time_s": max_cell_time_s}, md=md)
    tag = StackTag(name="stack")
    summary = StackSummary(name="stack_summary")

    index = 0

    def one_round(done):
        nonlocal index
        for position, stack in zip(positions, stacks):
            if done.done:                    # no new stack once the protocol has ended
                return False
            if not (yield from stack_with_cell(scope, pstat, position, stack, index, tag, summary, while_running=True)):
                return False
            index += 1
        return True

    @bpp.stage_decorator([pstat, scope.laser, scope.apd])
    @bpp.run_decorator(md=_md)
    def _run():
        yield from monitor_while_running([pstat.voltage_v])
        yield from bps.mv(scope.laser.shutter, "Open")
        yield from during_protocol(pstat, technique, one_round, settings=settings, interval_s=interval_s,
                                   max_cycles=max_cycles, max_cell_time_s=max_cell_time_s)
        yield from bps.mv(scope.laser.shutter, "Closed")

    yield from configure_confocal(scope, stacks[0])
    return (yield from _run())
