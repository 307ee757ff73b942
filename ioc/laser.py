"""Simulated tunable Ti:sapphire laser (seed 000: Chameleon Ultra II, 680-1080 nm)."""
from __future__ import annotations

import asyncio

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from .common import ioc_arguments, ranged, serve

TUNING_RATE_NM_S = 400.0


def _enum(value, choices, name, doc, read_only=False):
    return pvproperty(value=value, enum_strings=choices, dtype=ChannelType.ENUM, name=name,
                      doc=doc, read_only=read_only)


class LaserIOC(PVGroup):
    """Wavelength, power at the sample, shutter and CW/pulsed mode, with readbacks.

    A wavelength put completes when the laser has tuned (``TUNING_RATE_NM_S``).
    """

    wavelength = ranged(820.0, 680.0, 1080.0, "nm", "Wavelength setpoint", name="Wavelength", precision=1)
    wavelength_rbv = pvproperty(value=820.0, name="Wavelength_RBV", read_only=True, units="nm", precision=1)
    power = ranged(1e-3, 0.0, 0.05, "W", "Power at the sample", name="Power", precision=6)
    power_rbv = pvproperty(value=1e-3, name="Power_RBV", read_only=True, units="W", precision=6)
    shutter = _enum("Closed", ["Closed", "Open"], "Shutter", "Shutter command")
    shutter_rbv = _enum("Closed", ["Closed", "Open"], "Shutter_RBV", "Shutter state", read_only=True)
    mode = _enum("CW", ["CW", "Pulsed"], "Mode", "Continuous wave or mode-locked (pulsed)")
    mode_rbv = _enum("CW", ["CW", "Pulsed"], "Mode_RBV", "Emission mode", read_only=True)

    @wavelength.putter
    async def wavelength(self, instance, value):
        start = self.wavelength_rbv.value
        steps = max(1, int(abs(value - start) / TUNING_RATE_NM_S / 0.02))
        for k in range(1, steps + 1):
            await asyncio.sleep(abs(value - start) / TUNING_RATE_NM_S / steps)
            await self.wavelength_rbv.write(start + (value - start) * k / steps)
        return value

    @power.putter
    async def power(self, instance, value):
        await self.power_rbv.write(value)
        return value

    @shutter.putter
    async def shutter(self, instance, value):
        await asyncio.sleep(0.005)   # mechanical shutter
        await self.shutter_rbv.write(value)
        return value

    @mode.putter
    async def mode(self, instance, value):
        await self.mode_rbv.write(value)
        return value


def main(argv=None):
    args = ioc_arguments(LaserIOC.__doc__, "OPR:LASER:").parse_args(argv)
    serve(LaserIOC(prefix=args.prefix), args.interface, args.verbose)


if __name__ == "__main__":
    main()
