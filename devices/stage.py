"""Motorised XY sample stage (um); each axis's move ends on the controller's put completion
(see devices.positioner)."""
from ophyd import Component as Cpt, Device, EpicsSignal, EpicsSignalRO

from .positioner import DmovPositioner

TRAVEL_UM = (-5000.0, 5000.0)


class StageAxis(DmovPositioner):
    """One stage axis (um)."""

    setpoint = Cpt(EpicsSignal, "Val", kind="normal")
    readback = Cpt(EpicsSignalRO, "RBV", kind="hinted")


class XYStage(Device):
    """Sample stage: x and y in um (sample frame, the field centre is at stage + scanner offset)."""

    x = Cpt(StageAxis, "X:")
    y = Cpt(StageAxis, "Y:")
