"""Simulated motorised XY sample stage (um): two axes with finite velocity, settling, soft limits."""
from __future__ import annotations

from caproto.server import PVGroup, SubGroup, pvproperty

from .common import ioc_arguments, ranged, serve
from .motion import travel

TRAVEL_UM = (-5000.0, 5000.0)


class AxisIOC(PVGroup):
    """One stage axis: a put to Val completes when the axis has moved and settled; DMOV is 1 when done."""

    val = ranged(0.0, *TRAVEL_UM, "um", "Position setpoint", name="Val", precision=3)
    rbv = pvproperty(value=0.0, name="RBV", read_only=True, units="um", precision=3)
    dmov = pvproperty(value=1, name="DMOV", read_only=True, doc="1 when the move is done")
    velocity = ranged(1000.0, 1.0, 10000.0, "um/s", "Travel velocity", name="Velocity", precision=1)
    settle = ranged(0.05, 0.0, 2.0, "s", "Settling time after a move", name="SettleTime", precision=3)
    llm = ranged(TRAVEL_UM[0], *TRAVEL_UM, "um", "Low soft limit", name="LLM", precision=3)
    hlm = ranged(TRAVEL_UM[1], *TRAVEL_UM, "um", "High soft limit", name="HLM", precision=3)
    stop = pvproperty(value=0, name="Stop", doc="Write 1 to stop a move")

    _stop_requested = False

    @val.putter
    async def val(self, instance, value):
        return await travel(self, instance, value, self.rbv, self.dmov, self.velocity.value,
                            self.settle.value, (self.llm.value, self.hlm.value), self.prefix + "Val")

    @stop.putter
    async def stop(self, instance, value):
        if value:
            self._stop_requested = True
        return 0


class StageIOC(PVGroup):
    """XY stage carrying the cell: X: and Y: axes (um, sample frame)."""

    x = SubGroup(AxisIOC, prefix="X:")
    y = SubGroup(AxisIOC, prefix="Y:")


def main(argv=None):
    args = ioc_arguments(StageIOC.__doc__, "OPR:STAGE:").parse_args(argv)
    serve(StageIOC(prefix=args.prefix), args.interface, args.verbose)


if __name__ == "__main__":
    main()
