"""Soft (in-process) signals that tag events: which stack, which position, what the cell did."""
from ophyd import Component as Cpt, Device, Signal

from .units import UnitsInDescribe


class UnitSignal(Signal):
    """A soft signal whose descriptor carries units."""

    def __init__(self, *args, units: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._units = units

    def describe(self):
        d = super().describe()
        d[self.name]["units"] = self._units
        return d


class StackTag(UnitsInDescribe, Device):
    """Tags every plane with its stack index, position name and particle label (-1: none)."""
    index = Cpt(UnitSignal, value=0, kind="normal")
    position_name = Cpt(UnitSignal, value="", kind="normal")
    label = Cpt(UnitSignal, value=-1, kind="normal")


class StackSummary(UnitsInDescribe, Device):
    """One event per stack: the cell at the stack's start and end (s, V, A charging positive, C)."""
    index = Cpt(UnitSignal, value=0, kind="hinted")
    position_name = Cpt(UnitSignal, value="", kind="normal")
    label = Cpt(UnitSignal, value=-1, kind="normal")
    n_planes = Cpt(UnitSignal, value=0, kind="normal")
    start_time_s = Cpt(UnitSignal, value=0.0, units="s", kind="hinted")
    end_time_s = Cpt(UnitSignal, value=0.0, units="s", kind="normal")
    start_voltage_v = Cpt(UnitSignal, value=0.0, units="V", kind="hinted")
    end_voltage_v = Cpt(UnitSignal, value=0.0, units="V", kind="normal")
    start_current_a = Cpt(UnitSignal, value=0.0, units="A", kind="normal")
    end_current_a = Cpt(UnitSignal, value=0.0, units="A", kind="normal")
    start_charge_c = Cpt(UnitSignal, value=0.0, units="C", kind="normal")
    end_charge_c = Cpt(UnitSignal, value=0.0, units="C", kind="normal")
