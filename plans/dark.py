"""Dark frames: the detectors with the shutter closed, for background subtraction."""
from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from .validation import check_integer
from .zstack import _soft_limits, configure_confocal, validate_zstack


def dark_frames(scope, n_frames=10, *, channels=("reflection",), pixel_dwell_s=10e-6, pixels=(256, 256),
                pixel_size_um=0.1, md=None):
    """n_frames (1-1000) frames per enabled channel with the shutter closed (dark counts of the APDs),
    at the scan settings of the stacks they will correct (s, um). One event per frame in "primary"."""
    n_frames = check_integer("n_frames", n_frames, 1, 1000)
    z = _soft_limits(scope)[0]          # the objective does not move; only the scan settings matter
    settings = validate_zstack(z, z, 0.1, channels, pixel_dwell_s, pixels, pixel_size_um, 820.0, 1e-3, False,
                               z_limits_um=_soft_limits(scope))
    _md = {"plan_name": "dark_frames", "detectors": [scope.apd.name], "num_points": n_frames,
           "shutter": "Closed", "optics": dict(scope.optics)}
    _md.update(md or {})

    @bpp.stage_decorator([scope.apd])
    @bpp.run_decorator(md=_md)
    def _run():
        yield from bps.mv(scope.laser.shutter, "Closed")
        for _ in range(n_frames):
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([scope.apd, scope.laser.shutter])

    yield from configure_confocal(scope, settings)
    return (yield from _run())
