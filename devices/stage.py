"""Motorised XY sample stage (um); each axis is done when the controller's DMOV returns to 1
(see devices.piezo for why done comes from the DMOV monitor)."""
from ophyd import Component as Cpt, Device, EpicsSignal, EpicsSignalRO
from ophyd.pv_positioner import PVPositioner

from .units import UnitsInDescribe

TRAVEL_UM = (-5000.0, 5000.0)


class StageAxis(UnitsInDescribe, PVPositioner):
    """Readback in um under the axis' own name; ``limits`` are the controller's soft limits."""

    setpoint = Cpt(EpicsSignal, "Val", kind="normal")
    readback = Cpt(EpicsSignalRO, "RBV", kind="hinted")
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
        self.readback.name = self.name

    @property
    def limits(self):
        return (float(self.low_limit_um.get()), float(self.high_limit_um.get()))

    @property
    def egu(self):
        return "um"


class XYStage(Device):
    """Sample stage: x and y in um (sample frame, the field centre is at stage + scanner offset)."""

    x = Cpt(StageAxis, "X:")
    y = Cpt(StageAxis, "Y:")
