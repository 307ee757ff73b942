"""Open-circuit relaxation and GITT, with z-stacks of the relaxed cell."""
from __future__ import annotations

import json

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from operando.devices.soft import StackSummary, StackTag

from .cycling import cell_limits, run_protocol
from .cycling import cell_settings
from .cycling_zstack import cycling_zstack, operando_metadata, stack_with_cell, validate_acquisition
from .protocol import parse_protocol, to_technique
from .validation import PlanParameterError, check_integer, check_number
from .zstack import configure_confocal

MAX_DURATION_S = 1e7


def ocv_relax(pstat, duration_s, *, scope=None, positions=None, interval_s=None, accel=None, sample_rate_hz=None,
              md=None, **stack):
    """Leave the cell at open circuit for duration_s (s of cell time) and record how it relaxes:
    telemetry in "potentiostat"; with ``scope`` and ``positions`` also z-stacks (every interval_s,
    or back to back; ``stack``: the z-stack settings of cycling_zstack)."""
    duration_s = check_number("duration_s", duration_s, 1.0, MAX_DURATION_S, "s")
    protocol = f"Rest for {duration_s:g} seconds"
    _md = {"plan_name": "ocv_relax", "duration_s": duration_s}
    _md.update(md or {})
    if scope is None or positions is None:
        if stack:
            raise PlanParameterError(f"ocv_relax: stack settings {sorted(stack)} need scope and positions")
        return (yield from run_protocol(pstat, protocol, accel=accel, sample_rate_hz=sample_rate_hz, md=_md))
    return (yield from cycling_zstack(scope, pstat, protocol, positions, interval_s=interval_s, accel=accel,
                                      sample_rate_hz=sample_rate_hz, md=_md, **stack))


def gitt(scope, pstat, positions, *, pulse="Charge at C/10", pulse_s=600.0, rest_s=1800.0, pulses=10,
         cut_off_v=None, z_start_um=10.0, z_stop_um=18.0, z_step_um=0.5, channels=("reflection",),
         pixel_dwell_s=5e-6, pixels=(128, 128), pixel_size_um=0.2, wavelength_nm=820.0, power_w=1e-3,
         pulsed=False, accel=None, sample_rate_hz=None, sample=None, operator=None, md=None):
    """Galvanostatic intermittent titration with a z-stack of the relaxed cell after every rest.

    Each of ``pulses`` (1-1000) titration steps is one on-board technique: ``pulse`` (e.g. "Charge at
    C/10") for pulse_s (s), ending early at cut_off_v (V) if given, then rest_s (s) at open circuit;
    when it is done the cell stays at open circuit while a stack is recorded at every position
    (um, s, nm, W as for cycling_zstack). Streams as cycling_zstack: "primary", "stacks",
    "potentiostat". A pause never repeats a pulse: it resumes the stack or the wait.
    """
    pulse_s = check_number("pulse_s", pulse_s, 1.0, MAX_DURATION_S, "s")
    rest_s = check_number("rest_s", rest_s, 1.0, MAX_DURATION_S, "s")
    pulses = check_integer("pulses", pulses, 1, 1000)
    if not isinstance(pulse, str) or not pulse.strip().lower().startswith(("charge at", "discharge at")):
        raise PlanParameterError(f"pulse must read like 'Charge at C/10' or 'Discharge at 0.1 mA', got {pulse!r}")
    cut = ""
    if cut_off_v is not None:
        cut = f"until {check_number('cut_off_v', cut_off_v, 0.0, 10.0, 'V'):g} V or "
    step_text = f"{pulse.strip()} {cut or 'for '}{pulse_s:g} seconds\nRest for {rest_s:g} seconds"
    technique = to_technique(parse_protocol(step_text), cell_limits(pstat))
    positions, stacks = validate_acquisition(scope, positions, z_start_um, z_stop_um, z_step_um, channels,
                                             pixel_dwell_s, pixels, pixel_size_um, wavelength_nm, power_w, pulsed)
    settings = cell_settings(pstat, accel, sample_rate_hz)
    protocol = f"Repeat {pulses} times {{\n    " + step_text.replace("\n", "\n    ") + "\n}"
    _md = operando_metadata("gitt", scope, pstat, positions, stacks, protocol=protocol, technique=technique,
                            sample=sample, operator=operator, accel=accel, sample_rate_hz=sample_rate_hz,
                            extra={"pulses": pulses, "pulse_s": pulse_s, "rest_s": rest_s}, md=md)
    tag = StackTag(name="stack")
    summary = StackSummary(name="stack_summary")

    @bpp.stage_decorator([pstat, scope.apd])
    @bpp.run_decorator(md=_md)
    def _run():
        if settings:
            yield from bps.mv(*settings)
        index = 0
        for _ in range(pulses):
            yield from bps.mv(pstat.technique, json.dumps(technique))
            yield from bps.kickoff(pstat, wait=True)
            yield from bps.checkpoint()          # from here a pause waits for this pulse, never restarts it
            yield from bps.complete(pstat, wait=True)
            yield from bps.collect(pstat)
            yield from bps.mv(scope.laser.shutter, "Open")
            for position, stack in zip(positions, stacks):
                yield from stack_with_cell(scope, pstat, position, stack, index, tag, summary)
                index += 1
            yield from bps.mv(scope.laser.shutter, "Closed")

    yield from configure_confocal(scope, stacks[0])
    return (yield from _run())
