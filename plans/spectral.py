"""Reflectivity at a list of wavelengths with the focus on an agglomerate's surface and in its
interior (seed 000, Fig. 1b): one sweep, or sweeps repeated while the potentiostat runs a protocol."""
from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from operando.devices.apd import CHANNEL_BANDS_NM
from operando.devices.laser import WAVELENGTH_RANGE_NM
from operando.devices.soft import UnitSignal

from .cycling import cell_limits, cell_settings, during_protocol
from .positions import STAGE_TRAVEL_UM
from .protocol import parse_protocol, to_technique
from .validation import PlanParameterError, check_number
from .zstack import _soft_limits, configure_confocal, validate_zstack

MAX_WAVELENGTHS = 200


def spectral_reflectivity(scope, wavelengths_nm, *, z_surface_um, z_interior_um, pixel_dwell_s=10e-6,
                          pixels=(128, 128), pixel_size_um=0.1, power_w=1e-3, position=None, pstat=None,
                          protocol=None, interval_s=None, accel=None, sample_rate_hz=None, md=None):
    """For each wavelength (nm), one reflection frame at the surface focus and one at the interior
    focus (objective positions z_surface_um, z_interior_um, um): a sweep. Events in "primary" carry
    the wavelength, the focus ("surface"/"interior"), the sweep index and the frame; the laser is
    re-tuned (put completion = tuned) between wavelengths, each a checkpoint.

    position: {"x_um", "y_um"} to centre the field on first (the stage's frame, um). With ``pstat``
    and ``protocol`` (PyBaMM-style text) the potentiostat runs the protocol and sweeps repeat, back
    to back or every ``interval_s`` (s) of cell time, until it ends; every event then carries the
    cell's readings, the telemetry lands in "potentiostat", accel and sample_rate_hz as for
    cycling_zstack. Everything is checked before the first message; the shutter is closed and the
    cell at open circuit however it ends.
    """
    if isinstance(wavelengths_nm, (int, float, str)) or not len(wavelengths_nm):
        raise PlanParameterError("wavelengths_nm must be a non-empty list of wavelengths (nm)")
    if len(wavelengths_nm) > MAX_WAVELENGTHS:
        raise PlanParameterError(f"wavelengths_nm: at most {MAX_WAVELENGTHS} wavelengths, got {len(wavelengths_nm)}")
    lo = max(WAVELENGTH_RANGE_NM[0], CHANNEL_BANDS_NM["reflection"][0])
    hi = min(WAVELENGTH_RANGE_NM[1], CHANNEL_BANDS_NM["reflection"][1])
    wavelengths = [check_number(f"wavelengths_nm[{k}]", w, lo, hi, "nm") for k, w in enumerate(wavelengths_nm)]
    limits = _soft_limits(scope)
    settings = validate_zstack(z_surface_um, z_interior_um, 0.1, ("reflection",), pixel_dwell_s, pixels,
                               pixel_size_um, wavelengths[0], power_w, False, z_limits_um=limits)
    if position is not None:
        if not isinstance(position, dict) or set(position) - {"x_um", "y_um"}:
            raise PlanParameterError(f"position must be a dict with 'x_um' and 'y_um' (um), got {position!r}")
        position = {k: check_number(f"position['{k}']", position.get(k), *STAGE_TRAVEL_UM, "um") for k in ("x_um", "y_um")}
    if (pstat is None) != (protocol is None):
        raise PlanParameterError("pstat and protocol go together: give both to sweep while cycling, or neither")
    cycling = pstat is not None
    if cycling:
        technique = to_technique(parse_protocol(protocol), cell_limits(pstat))
        cell = cell_settings(pstat, accel, sample_rate_hz)
        if interval_s is not None:
            interval_s = check_number("interval_s", interval_s, 0.0, 1e7, "s")
    elif interval_s is not None or accel is not None or sample_rate_hz is not None:
        raise PlanParameterError("interval_s, accel and sample_rate_hz need pstat and protocol")
    focus = UnitSignal(name="focus", value="")
    sweep = UnitSignal(name="sweep", value=0)
    readables = [scope.apd, scope.piezo, scope.laser.wavelength_nm, focus, sweep] + ([pstat] if cycling else [])
    _md = {"plan_name": "spectral_reflectivity", "detectors": [scope.apd.name] + ([pstat.name] if cycling else []),
           "motors": [scope.laser.wavelength_nm.name, scope.piezo.name], "wavelengths_nm": wavelengths,
           "z_surface_um": settings.z_start_um, "z_interior_um": settings.z_stop_um,
           "pixel_dwell_s": settings.pixel_dwell_s, "pixel_size_um": settings.pixel_size_um,
           "position": position, "optics": dict(scope.optics),
           "hints": {"dimensions": [([scope.laser.wavelength_nm.name], "primary")]}}
    if cycling:
        _md.update({"protocol": protocol, "technique": technique, "interval_s": interval_s, "accel": accel})
    else:
        _md["num_points"] = 2 * len(wavelengths)
    _md.update(md or {})
    count = 0

    def one_sweep(done=None):
        nonlocal count
        yield from bps.mv(sweep, count)
        for w in wavelengths:
            yield from bps.checkpoint()
            yield from bps.mv(scope.laser.wavelength_nm, w)
            for name, z in (("surface", settings.z_start_um), ("interior", settings.z_stop_um)):
                yield from bps.mv(scope.piezo, z, focus, name)
                yield from bps.trigger_and_read(readables)
        count += 1
        return True

    @bpp.stage_decorator([scope.apd] + ([pstat] if cycling else []))
    @bpp.run_decorator(md=_md)
    def _run():
        if position is not None:
            yield from bps.mv(scope.xy.x, position["x_um"], scope.xy.y, position["y_um"])
        yield from bps.mv(scope.laser.shutter, "Open")
        if cycling:
            yield from during_protocol(pstat, technique, one_sweep, settings=cell, interval_s=interval_s)
        else:
            yield from one_sweep()
        yield from bps.mv(scope.laser.shutter, "Closed")

    yield from configure_confocal(scope, settings)
    return (yield from _run())
