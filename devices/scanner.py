"""Galvo scanner: pixels, pixel size (um), pixel dwell (s), raster; frame time readback (s)."""
from ophyd import Component as Cpt, Device, EpicsSignal, EpicsSignalRO

from .restore import RestoresSettings
from .units import UnitsInDescribe

PIXELS_RANGE = (16, 2048)
PIXEL_SIZE_RANGE_UM = (0.01, 1.0)
DWELL_RANGE_S = (1e-6, 1e-4)


class Scanner(RestoresSettings, UnitsInDescribe, Device):
    settings_to_restore = ("pixels_x", "pixels_y", "pixel_size_um", "pixel_dwell_s", "flyback_s", "center_x_um",
                           "center_y_um", "raster")
    pixels_x = Cpt(EpicsSignal, "PixelsX", put_complete=True, kind="config")
    pixels_y = Cpt(EpicsSignal, "PixelsY", put_complete=True, kind="config")
    pixel_size_um = Cpt(EpicsSignal, "PixelSize", put_complete=True, kind="config")
    pixel_dwell_s = Cpt(EpicsSignal, "Dwell", put_complete=True, kind="config")
    flyback_s = Cpt(EpicsSignal, "Flyback", put_complete=True, kind="config")
    center_x_um = Cpt(EpicsSignal, "CenterX", put_complete=True, kind="config")
    center_y_um = Cpt(EpicsSignal, "CenterY", put_complete=True, kind="config")
    raster = Cpt(EpicsSignal, "Raster", put_complete=True, string=True, kind="config")
    field_x_um = Cpt(EpicsSignalRO, "FieldX_RBV", kind="omitted")
    field_y_um = Cpt(EpicsSignalRO, "FieldY_RBV", kind="omitted")
    frame_time_s = Cpt(EpicsSignalRO, "FrameTime_RBV", kind="config")

    def frame_shape(self) -> tuple[int, int]:
        """(ny, nx) of the next frame."""
        return int(self.pixels_y.get()), int(self.pixels_x.get())
