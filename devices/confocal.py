"""The laser-scanning confocal microscope of seed 000 as one composite device."""
from ophyd import Component as Cpt, Device

from .apd import ApdController
from .laser import Laser
from .piezo import ObjectivePiezo
from .scanner import Scanner
from .stage import XYStage

# Fixed optics of the instrument (seed 000 Methods): 1.4 NA oil objective, 0.7 AU pinhole; and the
# APDs' dead time (single-photon counting module data sheet), which the analysis corrects counts for.
OPTICS = {"numerical_aperture": 1.4, "n_immersion": 1.518, "pinhole_au": 0.7, "apd_dead_time_s": 22e-9}


class ConfocalMicroscope(Device):
    laser = Cpt(Laser, "LASER:")
    scanner = Cpt(Scanner, "SCAN:")
    piezo = Cpt(ObjectivePiezo, "PZ:")
    apd = Cpt(ApdController, "APD:")
    xy = Cpt(XYStage, "STAGE:")

    optics = OPTICS
    controller_names = ("laser", "scanner", "piezo", "apd", "xy")   # one IOC each (engine.suspenders)

    def __init__(self, prefix="OPR:", *, name="confocal", data_directory=None, **kwargs):
        super().__init__(prefix, name=name, **kwargs)
        self.apd.scanner = self.scanner
        self.apd.data_directory = data_directory


def connect_confocal(prefix: str = "OPR:", name: str = "confocal", data_directory=None,
                     timeout: float = 10.0) -> ConfocalMicroscope:
    """Create the microscope and wait until every PV is connected."""
    scope = ConfocalMicroscope(prefix, name=name, data_directory=data_directory)
    scope.wait_for_connection(timeout=timeout)
    return scope
