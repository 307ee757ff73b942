"""Reflectivity at a list of wavelengths with the focus on an agglomerate's surface and in its
interior (seed 000, Fig. 1b)."""
from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from operando.devices.apd import CHANNEL_BANDS_NM
from operando.devices.laser import WAVELENGTH_RANGE_NM
from operando.devices.soft import UnitSignal

from .validation import PlanParameterError, check_number
from .zstack import _soft_limits, configure_confocal, validate_zstack

MAX_WAVELENGTHS = 200


def spectral_reflectivity(scope, wavelengths_nm, *, z_surface_um, z_interior_um, pixel_dwell_s=10e-6,
                          pixels=(128, 128), pixel_size_um=0.1, power_w=1e-3, md=None):
    """For each wavelength (nm), one reflection frame at the surface focus and one at the interior
    focus (objective positions z_surface_um, z_interior_um, um). Events in "primary" carry the
    wavelength, the focus ("surface"/"interior") and the frame; the laser is re-tuned (put
    completion = tuned) between wavelengths, each a checkpoint. Shutter closed on every exit.
    """
    if isinstance(wavelengths_nm, (int, float)) or not len(wavelengths_nm):
        raise PlanParameterError("wavelengths_nm must be a non-empty list of wavelengths (nm)")
    if len(wavelengths_nm) > MAX_WAVELENGTHS:
        raise PlanParameterError(f"wavelengths_nm: at most {MAX_WAVELENGTHS} wavelengths, got {len(wavelengths_nm)}")
    lo = max(WAVELENGTH_RANGE_NM[0], CHANNEL_BANDS_NM["reflection"][0])
    hi = min(WAVELENGTH_RANGE_NM[1], CHANNEL_BANDS_NM["reflection"][1])
    wavelengths = [check_number(f"wavelengths_nm[{k}]", w, lo, hi, "nm") for k, w in enumerate(wavelengths_nm)]
    limits = _soft_limits(scope)
    settings = validate_zstack(z_surface_um, z_interior_um, 0.1, ("reflection",), pixel_dwell_s, pixels,
                               pixel_size_um, wavelengths[0], power_w, False, z_limits_um=limits)
    focus = UnitSignal(name="focus", value="")
    _md = {"plan_name": "spectral_reflectivity", "detectors": [scope.apd.name],
           "motors": [scope.laser.wavelength_nm.name, scope.piezo.name], "wavelengths_nm": wavelengths,
           "z_surface_um": settings.z_start_um, "z_interior_um": settings.z_stop_um,
           "num_points": 2 * len(wavelengths), "optics": dict(scope.optics),
           "hints": {"dimensions": [([scope.laser.wavelength_nm.name], "primary")]}}
    _md.update(md or {})

    @bpp.stage_decorator([scope.apd])
    @bpp.run_decorator(md=_md)
    def _run():
        yield from bps.mv(scope.laser.shutter, "Open")
        for w in wavelengths:
            yield from bps.checkpoint()
            yield from bps.mv(scope.laser.wavelength_nm, w)
            for name, z in (("surface", settings.z_start_um), ("interior", settings.z_stop_um)):
                yield from bps.mv(scope.piezo, z, focus, name)
                yield from bps.trigger_and_read([scope.apd, scope.piezo, scope.laser.wavelength_nm, focus])
        yield from bps.mv(scope.laser.shutter, "Closed")

    yield from configure_confocal(scope, settings)
    return (yield from _run())
