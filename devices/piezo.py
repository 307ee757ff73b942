"""Objective z piezo (um): a move ends on the controller's put completion (see devices.positioner)."""
from ophyd import Component as Cpt, EpicsSignal, EpicsSignalRO

from .positioner import DmovPositioner

TRAVEL_UM = (0.0, 100.0)


class ObjectivePiezo(DmovPositioner):
    """Objective position (um); puts outside the soft limits are refused by the controller."""

    setpoint = Cpt(EpicsSignal, "Z", kind="normal")
    readback = Cpt(EpicsSignalRO, "Z_RBV", kind="hinted")
