"""Tunable Ti:sapphire laser: wavelength (nm), power at the sample (W), shutter, CW/pulsed."""
from ophyd import Component as Cpt, Device, EpicsSignal

from .restore import RestoresSettings
from .units import UnitsInDescribe

WAVELENGTH_RANGE_NM = (680.0, 1080.0)
POWER_RANGE_W = (0.0, 0.05)


class Laser(RestoresSettings, UnitsInDescribe, Device):
    """Puts complete when the laser has tuned; out-of-range puts are refused by the IOC."""

    settings_to_restore = ("wavelength_nm", "power_w", "mode", "shutter")

    wavelength_nm = Cpt(EpicsSignal, "Wavelength_RBV", write_pv="Wavelength", put_complete=True,
                        kind="config")
    power_w = Cpt(EpicsSignal, "Power_RBV", write_pv="Power", put_complete=True, kind="config")
    shutter = Cpt(EpicsSignal, "Shutter_RBV", write_pv="Shutter", put_complete=True, string=True,
                  kind="config")
    mode = Cpt(EpicsSignal, "Mode_RBV", write_pv="Mode", put_complete=True, string=True, kind="config")

    def unstage(self):
        """A plan that staged the laser leaves the shutter closed, however it ends."""
        self.shutter.set("Closed").wait(5)
        return super().unstage()
