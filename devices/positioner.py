"""Positioners that are done when the controller's DMOV returns to 1 (objective piezo, stage axes).

Done is taken from the DMOV monitor, not from the put callback: caproto sends monitor
updates through a queue that a put reply can overtake, so on a put callback the
readback could still show a position on the way. DMOV and the readback share that
queue, so DMOV=1 arrives after the final readback.
"""
from ophyd import Component as Cpt, EpicsSignal, EpicsSignalRO
from ophyd.pv_positioner import PVPositioner

from .units import UnitsInDescribe


class DmovPositioner(UnitsInDescribe, PVPositioner):
    """Readback in um under the device's own name; ``limits`` are the controller's soft limits.
    Subclasses declare ``setpoint`` and ``readback``."""

    done = Cpt(EpicsSignalRO, "DMOV", kind="omitted", auto_monitor=True)
    done_value = 1
    stop_signal = Cpt(EpicsSignal, "Stop", kind="omitted")
    stop_value = 1
    velocity_um_s = Cpt(EpicsSignal, "Velocity", kind="config")
    settle_time_s = Cpt(EpicsSignal, "SettleTime", kind="config")
    low_limit_um = Cpt(EpicsSignal, "LLM", kind="config")
    high_limit_um = Cpt(EpicsSignal, "HLM", kind="config")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.readback.name = self.name   # the position's data key is the device name

    @property
    def limits(self):
        return (float(self.low_limit_um.get()), float(self.high_limit_um.get()))

    @property
    def egu(self):
        return "um"
