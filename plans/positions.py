"""Named stage positions, and z-stacks at several of them in one run."""
from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from operando.devices.soft import StackTag
from operando.devices.stage import TRAVEL_UM as STAGE_TRAVEL_UM

from .validation import PlanParameterError, check_integer, check_number
from .zstack import _soft_limits, configure_confocal, stack_planes, validate_zstack


def validate_positions(positions, default_z, z_limits_um=None) -> list[dict]:
    """Named stage positions: each {"name", "x_um", "y_um"} with optional "z_start_um", "z_stop_um"
    (default: the plan's) and "label" (the particle it looks at, an integer)."""
    if not isinstance(positions, (list, tuple)) or not positions:
        raise PlanParameterError("positions must be a non-empty list of {'name', 'x_um', 'y_um', ...} dicts")
    out, names = [], set()
    for k, p in enumerate(positions):
        where = f"positions[{k}]"
        if not isinstance(p, dict):
            raise PlanParameterError(f"{where} must be a dict with 'name', 'x_um', 'y_um', got {p!r}")
        unknown = set(p) - {"name", "x_um", "y_um", "z_start_um", "z_stop_um", "label"}
        if unknown:
            raise PlanParameterError(f"{where}: unknown keys {sorted(unknown)}")
        name = p.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PlanParameterError(f"{where}['name'] must be a non-empty string")
        if name in names:
            raise PlanParameterError(f"{where}['name']={name!r} is used twice")
        names.add(name)
        label = p.get("label", -1)
        out.append({"name": name,
                    "x_um": check_number(f"{where}['x_um']", p.get("x_um"), *STAGE_TRAVEL_UM, "um"),
                    "y_um": check_number(f"{where}['y_um']", p.get("y_um"), *STAGE_TRAVEL_UM, "um"),
                    "z_start_um": p.get("z_start_um", default_z[0]), "z_stop_um": p.get("z_stop_um", default_z[1]),
                    "label": check_integer(f"{where}['label']", label, -1, 10**9)})
    return out


def move_to(scope, position: dict, tag, index: int):
    """Checkpoint, move the stage to a validated position and tag what follows with it."""
    yield from bps.checkpoint()
    yield from bps.mv(scope.xy.x, position["x_um"], scope.xy.y, position["y_um"])
    yield from bps.mv(tag.index, index, tag.position_name, position["name"], tag.label, position["label"])


def multi_position(scope, positions, *, z_start_um=10.0, z_stop_um=18.0, z_step_um=0.4, channels=("reflection",),
                   pixel_dwell_s=10e-6, pixels=(256, 256), pixel_size_um=0.1, wavelength_nm=820.0, power_w=1e-3,
                   pulsed=False, md=None):
    """One z-stack at each named position, in one run.

    positions: [{"name", "x_um", "y_um", optional "z_start_um", "z_stop_um" (objective, um; default
    the plan's), "label"}]; the rest as for zstack (um, s, nm, W). One event per plane in "primary",
    tagged with stack index, position name and label; the shutter is closed on every exit.
    """
    positions = validate_positions(positions, (z_start_um, z_stop_um))
    limits = _soft_limits(scope)
    stacks = [validate_zstack(p["z_start_um"], p["z_stop_um"], z_step_um, channels, pixel_dwell_s, pixels,
                              pixel_size_um, wavelength_nm, power_w, pulsed, z_limits_um=limits) for p in positions]
    _md = {"plan_name": "multi_position", "detectors": [scope.apd.name], "motors": [scope.piezo.name, scope.xy.name],
           "positions": positions, "num_points": sum(len(s.z_positions_um) for s in stacks),
           "optics": dict(scope.optics), "hints": {"dimensions": [([scope.piezo.name], "primary")]}}
    _md.update(md or {})
    tag = StackTag(name="stack")

    @bpp.stage_decorator([scope.apd])
    @bpp.run_decorator(md=_md)
    def _run():
        yield from bps.mv(scope.laser.shutter, "Open")
        for index, (position, stack) in enumerate(zip(positions, stacks)):
            yield from move_to(scope, position, tag, index)
            yield from stack_planes(scope, stack.z_positions_um, readables=[scope.xy, tag])
        yield from bps.mv(scope.laser.shutter, "Closed")

    yield from configure_confocal(scope, stacks[0])
    return (yield from _run())
