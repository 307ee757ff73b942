"""Simulated objective z piezo: 0-100 um travel, finite velocity, settling, soft limits."""
from __future__ import annotations

from caproto.server import PVGroup, pvproperty

from .common import ioc_arguments, ranged, serve
from .motion import travel

TRAVEL_UM = (0.0, 100.0)


class PiezoIOC(PVGroup):
    """A put to Z completes when the stage has moved and settled (put-callback motion).

    DMOV is 1 when done; puts outside the soft limits (LLM, HLM) are refused with an alarm.
    """

    z = ranged(10.0, *TRAVEL_UM, "um", "Objective position setpoint", name="Z", precision=4)
    z_rbv = pvproperty(value=10.0, name="Z_RBV", read_only=True, units="um", precision=4)
    dmov = pvproperty(value=1, name="DMOV", read_only=True, doc="1 when the move is done")
    velocity = ranged(2000.0, 1.0, 20000.0, "um/s", "Travel velocity", name="Velocity", precision=1)
    settle = ranged(0.005, 0.0, 1.0, "s", "Settling time after a move", name="SettleTime", precision=4)
    llm = ranged(0.0, *TRAVEL_UM, "um", "Low soft limit", name="LLM", precision=3)
    hlm = ranged(100.0, *TRAVEL_UM, "um", "High soft limit", name="HLM", precision=3)
    stop = pvproperty(value=0, name="Stop", doc="Write 1 to stop a move")

    _stop_requested = False

    @z.putter
    async def z(self, instance, value):
        return await travel(self, instance, value, self.z_rbv, self.dmov, self.velocity.value,
                            self.settle.value, (self.llm.value, self.hlm.value), "Z")

    @stop.putter
    async def stop(self, instance, value):
        if value:
            self._stop_requested = True
        return 0


def main(argv=None):
    args = ioc_arguments(PiezoIOC.__doc__, "OPR:PZ:").parse_args(argv)
    serve(PiezoIOC(prefix=args.prefix), args.interface, args.verbose)


if __name__ == "__main__":
    main()
