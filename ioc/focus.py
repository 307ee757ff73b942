"""Simulated external focus stabilisation (seed 004 Methods): a 980 nm reference line reflected off
the coverslip, its position on a line camera calibrated against defocus; the loop holds the focus
within +-4 nm and reports its error. Drift of the sample can be injected (``DriftRate``); with the
lock off it accumulates."""
from __future__ import annotations

import asyncio
import time

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from .common import ioc_arguments, ranged, serve

LOCK_NOISE_NM = 1.5       # residual of the loop (1 sigma)
LOCK_LIMIT_NM = 4.0       # what the loop holds (seed: within 4 nm)
UPDATE_S = 0.02


class FocusLockIOC(PVGroup):
    """Lock on/off, focus error (nm, + = sample further from the objective), injected drift (nm/s)."""

    lock = pvproperty(value="Off", enum_strings=["Off", "On"], dtype=ChannelType.ENUM, name="Lock",
                      doc="Focus lock on/off")
    lock_rbv = pvproperty(value="Off", enum_strings=["Off", "On"], dtype=ChannelType.ENUM, name="Lock_RBV",
                          read_only=True)
    error = pvproperty(value=0.0, name="Error_RBV", read_only=True, units="nm", precision=2)
    drift_rate = ranged(0.0, -100.0, 100.0, "nm/s", "Simulated sample drift along the optical axis",
                        name="DriftRate", precision=3)
    wavelength = pvproperty(value=980.0, name="Wavelength_RBV", read_only=True, units="nm", precision=1)

    def __init__(self, *args, seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.rng = np.random.default_rng(seed)
        self._defocus_nm = 0.0

    @error.startup
    async def error(self, instance, async_lib):
        last = time.monotonic()
        while True:
            await asyncio.sleep(UPDATE_S)
            now = time.monotonic()
            self._defocus_nm += self.drift_rate.value * (now - last)
            last = now
            if self.lock_rbv.value == "On":
                # The loop moves the objective to cancel the drift; what remains is its residual.
                self._defocus_nm = float(np.clip(self.rng.normal(0.0, LOCK_NOISE_NM), -LOCK_LIMIT_NM, LOCK_LIMIT_NM))
            await self.error.write(self._defocus_nm)

    @lock.putter
    async def lock(self, instance, value):
        await self.lock_rbv.write(value)
        return value


def main(argv=None):
    parser = ioc_arguments(FocusLockIOC.__doc__, "OPR:FOCUS:")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    serve(FocusLockIOC(prefix=args.prefix, seed=args.seed + 2000), args.interface, args.verbose)


if __name__ == "__main__":
    main()
