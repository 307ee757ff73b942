"""Simulated 740 nm LED source (seed 004: Thorlabs SOLIS-740C with a ground-glass diffuser)."""
from __future__ import annotations

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from .common import ioc_arguments, ranged, serve

MAX_POWER_W = 1.6        # SOLIS-740C typical output at full current


class LedIOC(PVGroup):
    """Output power setpoint and on/off, with readbacks; puts complete when the output has settled."""

    power = ranged(0.8, 0.0, MAX_POWER_W, "W", "Optical output power", name="Power", precision=4)
    power_rbv = pvproperty(value=0.8, name="Power_RBV", read_only=True, units="W", precision=4)
    output = pvproperty(value="Off", enum_strings=["Off", "On"], dtype=ChannelType.ENUM, name="Output",
                        doc="Output on/off")
    output_rbv = pvproperty(value="Off", enum_strings=["Off", "On"], dtype=ChannelType.ENUM, name="Output_RBV",
                            read_only=True)
    wavelength = pvproperty(value=740.0, name="Wavelength_RBV", read_only=True, units="nm", precision=1)
    max_power = pvproperty(value=MAX_POWER_W, name="MaxPower_RBV", read_only=True, units="W", precision=3)

    @power.putter
    async def power(self, instance, value):
        await self.power_rbv.write(value)
        return value

    @output.putter
    async def output(self, instance, value):
        await self.output_rbv.write(value)
        return value


def main(argv=None):
    args = ioc_arguments(LedIOC.__doc__, "OPR:LED:").parse_args(argv)
    serve(LedIOC(prefix=args.prefix), args.interface, args.verbose)


if __name__ == "__main__":
    main()
