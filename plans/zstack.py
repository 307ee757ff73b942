"""Confocal z-stack: one plane per objective position, each plane a checkpoint."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from operando.devices.apd import CHANNEL_BANDS_NM, CHANNEL_NAMES
from operando.devices.laser import POWER_RANGE_W, WAVELENGTH_RANGE_NM
from operando.devices.piezo import TRAVEL_UM
from operando.devices.scanner import DWELL_RANGE_S, PIXEL_SIZE_RANGE_UM, PIXELS_RANGE

from .validation import PlanParameterError, check_choices, check_integer, check_number

MAX_PLANES = 2000


@dataclass(frozen=True)
class ZStackSettings:
    """A validated z-stack request (um, s, nm, W)."""
    z_start_um: float
    z_stop_um: float
    z_step_um: float
    channels: tuple[str, ...]
    pixel_dwell_s: float
    pixels: tuple[int, int]
    pixel_size_um: float
    wavelength_nm: float
    power_w: float
    pulsed: bool

    @property
    def z_positions_um(self) -> list[float]:
        n = int(round(abs(self.z_stop_um - self.z_start_um) / self.z_step_um)) + 1
        sign = 1.0 if self.z_stop_um >= self.z_start_um else -1.0
        return [round(self.z_start_um + sign * k * self.z_step_um, 6) for k in range(n)]

    def stack_time_s(self, flyback_s: float = 2e-4) -> float:
        """Scan time of the whole stack, excluding moves (s)."""
        nx, ny = self.pixels
        return len(self.z_positions_um) * ny * (nx * self.pixel_dwell_s + flyback_s)


def validate_zstack(z_start_um, z_stop_um, z_step_um, channels, pixel_dwell_s, pixels, pixel_size_um,
                    wavelength_nm, power_w, pulsed, z_limits_um=TRAVEL_UM) -> ZStackSettings:
    """Check every z-stack parameter against the instrument's ranges (no hardware touched)."""
    lo, hi = z_limits_um
    z_start_um = check_number("z_start_um", z_start_um, lo, hi, "um")
    z_stop_um = check_number("z_stop_um", z_stop_um, lo, hi, "um")
    z_step_um = check_number("z_step_um", z_step_um, 0.01, 10.0, "um")
    channels = check_choices("channels", channels, CHANNEL_NAMES)
    pixel_dwell_s = check_number("pixel_dwell_s", pixel_dwell_s, *DWELL_RANGE_S, "s")
    if not isinstance(pixels, (tuple, list)) or len(pixels) != 2:
        raise PlanParameterError(f"pixels must be (nx, ny), got {pixels!r}")
    pixels = (check_integer("pixels[0] (nx)", pixels[0], *PIXELS_RANGE),
              check_integer("pixels[1] (ny)", pixels[1], *PIXELS_RANGE))
    pixel_size_um = check_number("pixel_size_um", pixel_size_um, *PIXEL_SIZE_RANGE_UM, "um")
    wavelength_nm = check_number("wavelength_nm", wavelength_nm, *WAVELENGTH_RANGE_NM, "nm")
    power_w = check_number("power_w", power_w, *POWER_RANGE_W, "W")
    if "reflection" in channels and not (CHANNEL_BANDS_NM["reflection"][0] <= wavelength_nm
                                         <= CHANNEL_BANDS_NM["reflection"][1]):
        raise PlanParameterError(
            f"channels: reflection is detected in {CHANNEL_BANDS_NM['reflection']} nm; "
            f"wavelength_nm={wavelength_nm} is outside it")
    settings = ZStackSettings(z_start_um, z_stop_um, z_step_um, channels, pixel_dwell_s, pixels,
                              pixel_size_um, wavelength_nm, power_w, bool(pulsed))
    n = len(settings.z_positions_um)
    if n > MAX_PLANES:
        raise PlanParameterError(f"z range / z_step_um gives {n} planes; at most {MAX_PLANES} allowed")
    return settings


def configure_confocal(scope, s: ZStackSettings):
    """Set laser, scanner and channels (shutter stays closed)."""
    yield from bps.mv(scope.laser.wavelength_nm, s.wavelength_nm, scope.laser.power_w, s.power_w,
                      scope.laser.mode, "Pulsed" if s.pulsed else "CW",
                      scope.scanner.pixels_x, s.pixels[0], scope.scanner.pixels_y, s.pixels[1],
                      scope.scanner.pixel_size_um, s.pixel_size_um, scope.scanner.pixel_dwell_s, s.pixel_dwell_s,
                      scope.apd.reflection.enable, int("reflection" in s.channels),
                      scope.apd.fluorescence.enable, int("fluorescence" in s.channels))


def stack_planes(scope, z_positions_um, readables=(), stream="primary"):
    """One event per plane (APD frame, piezo and ``readables``), a checkpoint before each: a pause
    resumes at the plane it interrupted."""
    for z in z_positions_um:
        yield from bps.checkpoint()
        yield from bps.mv(scope.piezo, z)
        yield from bps.trigger_and_read([scope.apd, scope.piezo, *readables], name=stream)


def close_shutter(scope):
    yield from bps.mv(scope.laser.shutter, "Closed")


def zstack(scope, z_start_um, z_stop_um, z_step_um, *, channels=("reflection",), pixel_dwell_s=10e-6,
           pixels=(512, 512), pixel_size_um=0.08, wavelength_nm=820.0, power_w=1e-3, pulsed=False,
           md=None):
    """Record a confocal z-stack with ``scope`` (a ConfocalMicroscope).

    z_start_um, z_stop_um, z_step_um: objective piezo positions (um);
    channels: "reflection" and/or "fluorescence"; pixel_dwell_s: 1e-6-1e-4 s;
    pixels: (nx, ny); pixel_size_um; wavelength_nm: 680-1080; power_w at the
    sample; pulsed: mode-locked excitation (needed for 2PEF). Every parameter is
    checked before the first message; the shutter is closed on every exit.
    One event per plane in the "primary" stream.
    """
    s = validate_zstack(z_start_um, z_stop_um, z_step_um, channels, pixel_dwell_s, pixels,
                        pixel_size_um, wavelength_nm, power_w, pulsed, z_limits_um=_soft_limits(scope))
    positions = s.z_positions_um
    _md = {
        "plan_name": "zstack",
        "detectors": [scope.apd.name],
        "motors": [scope.piezo.name],
        "num_points": len(positions),
        "num_intervals": len(positions) - 1,
        "plan_args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
        "z_positions_um": positions,
        "optics": dict(scope.optics),
        "hints": {"dimensions": [([scope.piezo.name], "primary")]},
    }
    _md.update(md or {})

    @bpp.stage_decorator([scope.apd])
    @bpp.run_decorator(md=_md)
    def _stack():
        yield from bps.mv(scope.laser.shutter, "Open")
        yield from stack_planes(scope, positions)

    yield from configure_confocal(scope, s)
    return (yield from bpp.finalize_wrapper(_stack(), close_shutter(scope)))


def _soft_limits(scope):
    try:
        lo, hi = scope.piezo.limits
    except Exception:   # not connected: fall back to the travel range
        return TRAVEL_UM
    return (max(lo, TRAVEL_UM[0]), min(hi, TRAVEL_UM[1])) if lo < hi else TRAVEL_UM
