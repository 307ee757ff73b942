"""The widefield scattering microscope of seed 004: CMOS camera, 740 nm LED, 980 nm focus lock.

The camera runs free on its own clock (it is a flyer): ``kickoff`` starts it, ``complete`` finishes
when it has stored NumImages frames (or was stopped), ``collect_asset_docs`` announces its HDF5
file and every stored frame since the last call. Every per-frame value (image, frame number, time
stamp, cell time, exposure) comes from the file, as an areaDetector HDF5 plugin with NDAttributes
writes them, so frames and their tags cannot drift apart.
"""
from __future__ import annotations

import uuid
from pathlib import Path

from ophyd import Component as Cpt, Device, EpicsSignal, EpicsSignalRO
from ophyd.status import DeviceStatus, SubscriptionStatus

from .apd import new_frame_file
from .units import UnitsInDescribe

# Per stored frame, beside the image: (dataset under /entry/instrument, units, dtype_numpy).
FRAME_RECORDS = {
    "frame_number": ("", "<f8"), "first_raw_frame": ("", "<f8"), "timestamp": ("s", "<f8"),
    "cell_time_s": ("s", "<f8"), "exposure_s": ("s", "<f8"), "n_summed": ("", "<f8"),
    "led_level": ("", "<f8"), "focus_error_nm": ("nm", "<f8"),
}
MAX_FRAME_RATE_HZ = 100.0
SENSOR_PIXELS = (1920, 1200)     # columns, rows (unbinned; FLIR Grasshopper3 GS3-U3-23S6M)
BINNING_RANGE = (1, 4)
EXPOSURE_RANGE_S = (1e-5, 1.0)

# Fixed optics (seed 004 Methods): 100x 1.4 NA oil objective, 166.7x overall onto 5.86 um pixels.
OPTICS = {"numerical_aperture": 1.4, "magnification": 166.7, "sensor_pixel_um": 5.86,
          "wavelength_nm": 740.0, "field_diameter_um": 35.0}


class WidefieldCamera(UnitsInDescribe, Device):
    acquire = Cpt(EpicsSignal, "Acquire", kind="omitted")
    acquiring = Cpt(EpicsSignalRO, "Acquire_RBV", auto_monitor=True, kind="omitted")
    num_images = Cpt(EpicsSignal, "NumImages", put_complete=True, kind="config")
    exposure_s = Cpt(EpicsSignal, "AcquireTime", put_complete=True, kind="config")
    period_s = Cpt(EpicsSignal, "AcquirePeriod", put_complete=True, kind="config")
    binning = Cpt(EpicsSignal, "Bin", put_complete=True, kind="config")
    min_x = Cpt(EpicsSignal, "MinX", put_complete=True, kind="config")
    min_y = Cpt(EpicsSignal, "MinY", put_complete=True, kind="config")
    size_x = Cpt(EpicsSignal, "SizeX", put_complete=True, kind="config")
    size_y = Cpt(EpicsSignal, "SizeY", put_complete=True, kind="config")
    num_filter = Cpt(EpicsSignal, "NumFilter", put_complete=True, kind="config")
    array_size_x = Cpt(EpicsSignalRO, "ArraySizeX_RBV", kind="omitted")
    array_size_y = Cpt(EpicsSignalRO, "ArraySizeY_RBV", kind="omitted")
    pixel_size_um = Cpt(EpicsSignalRO, "PixelSize_RBV", kind="config")
    file_path = Cpt(EpicsSignal, "FilePath", string=True, put_complete=True, kind="omitted")
    file_name = Cpt(EpicsSignal, "FileName", string=True, put_complete=True, kind="omitted")
    min_free_bytes = Cpt(EpicsSignal, "MinFreeBytes", put_complete=True, kind="config")
    full_file_name = Cpt(EpicsSignalRO, "FullFileName_RBV", string=True, kind="omitted")
    array_counter = Cpt(EpicsSignalRO, "ArrayCounter_RBV", kind="omitted")
    raw_counter = Cpt(EpicsSignalRO, "RawCounter_RBV", kind="omitted")
    dropped_frames = Cpt(EpicsSignalRO, "DroppedFrames_RBV", kind="omitted")
    frame_rate_hz = Cpt(EpicsSignalRO, "FrameRate_RBV", kind="omitted")
    status_message = Cpt(EpicsSignalRO, "Status_RBV", string=True, kind="omitted")

    def __init__(self, *args, data_directory=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_directory = data_directory
        self._file: Path | None = None
        self._resources: dict[str, dict] = {}
        self._emitted = 0

    def frame_shape(self) -> tuple[int, int]:
        return int(self.array_size_y.get(use_monitor=False)), int(self.array_size_x.get(use_monitor=False))

    def stage(self):
        self._file = new_frame_file(self, float(self.min_free_bytes.get(use_monitor=False)))
        self._resources = {}
        self._emitted = 0
        self.file_path.set(str(self._file.parent)).wait(5)
        self.file_name.set(self._file.name).wait(5)
        return super().stage()

    def unstage(self):
        self.acquire.put(0)
        return super().unstage()

    # --- flyer ------------------------------------------------------------------------------
    def kickoff(self):
        """Start the camera; done once it reports acquiring."""
        status = SubscriptionStatus(self.acquiring, lambda value, **kw: int(value) == 1, run=False, timeout=10)
        self.acquire.put(1)
        return status

    def complete(self):
        """Done when the camera has stopped (NumImages stored, or Acquire=0)."""
        result = DeviceStatus(self)

        def stopped(value=None, **kwargs):
            if int(value) == 0:
                message = self.status_message.get(use_monitor=False)
                if message.startswith("error"):
                    result.set_exception(RuntimeError(f"{self.name}: {message}"))
                else:
                    result.set_finished()
                return True
            return False

        SubscriptionStatus(self.acquiring, stopped, run=True)
        return result

    def data_key(self, record: str = "image") -> str:
        return f"{self.name}_{record}"

    def describe_collect(self):
        ny, nx = self.frame_shape()
        keys = {self.data_key(): {"source": f"{self.prefix}image", "dtype": "array", "dtype_numpy": "<u2",
                                  "shape": [ny, nx], "external": "STREAM:", "units": "counts"}}
        for record, (units, dtype) in FRAME_RECORDS.items():
            keys[self.data_key(record)] = {"source": f"{self.prefix}{record}", "dtype": "number",
                                           "dtype_numpy": dtype, "shape": [], "external": "STREAM:",
                                           "units": units}
        return keys

    def get_index(self) -> int:
        return int(self.array_counter.get(use_monitor=False))

    def collect_asset_docs(self, index: int | None = None):
        """StreamResource per data key once per file, then StreamDatum for frames not yet announced."""
        frames = self.get_index() if index is None else min(index, self.get_index())
        if frames <= self._emitted:
            return
        ny, nx = self.frame_shape()
        datasets = {self.data_key(): ("/entry/image/data", [1, ny, nx])}
        datasets.update({self.data_key(r): (f"/entry/instrument/{r}", [1]) for r in FRAME_RECORDS})
        for key, (dataset, chunks) in datasets.items():
            if key not in self._resources:
                resource = {"uid": str(uuid.uuid4()), "data_key": key, "mimetype": "application/x-hdf5",
                            "uri": f"file://localhost{self._file}",
                            "parameters": {"dataset": dataset, "chunk_shape": chunks}}
                self._resources[key] = resource
                yield "stream_resource", resource
        for key in datasets:
            resource = self._resources[key]
            yield "stream_datum", {"uid": f"{resource['uid']}/{self._emitted}", "stream_resource": resource["uid"],
                                   "descriptor": "", "indices": {"start": self._emitted, "stop": frames},
                                   "seq_nums": {"start": 0, "stop": 0}}
        self._emitted = frames

    def stop(self, *, success=False):
        self.acquire.put(0)
        super().stop(success=success)


class Led(UnitsInDescribe, Device):
    """740 nm LED: power (W) and output on/off; puts complete when settled."""
    power_w = Cpt(EpicsSignal, "Power_RBV", write_pv="Power", put_complete=True, kind="config")
    output = Cpt(EpicsSignal, "Output_RBV", write_pv="Output", put_complete=True, string=True, kind="config")
    max_power_w = Cpt(EpicsSignalRO, "MaxPower_RBV", kind="config")
    wavelength_nm = Cpt(EpicsSignalRO, "Wavelength_RBV", kind="config")

    def unstage(self):
        """A plan that staged the LED leaves it off, however it ends."""
        self.output.set("Off").wait(5)
        return super().unstage()


class FocusLock(UnitsInDescribe, Device):
    """980 nm focus stabilisation: lock on/off, error (nm), simulated drift rate (nm/s)."""
    lock = Cpt(EpicsSignal, "Lock_RBV", write_pv="Lock", put_complete=True, string=True, kind="config")
    error_nm = Cpt(EpicsSignalRO, "Error_RBV", kind="normal")
    drift_rate_nm_s = Cpt(EpicsSignal, "DriftRate", put_complete=True, kind="config")


class WidefieldMicroscope(Device):
    camera = Cpt(WidefieldCamera, "CAM:")
    led = Cpt(Led, "LED:")
    focus = Cpt(FocusLock, "FOCUS:")

    optics = OPTICS
    controller_names = ("camera", "led", "focus")    # one IOC each (engine.suspenders)

    def __init__(self, prefix="OPR:", *, name="widefield", data_directory=None, **kwargs):
        super().__init__(prefix, name=name, **kwargs)
        self.camera.data_directory = data_directory


def connect_widefield(prefix: str = "OPR:", name: str = "widefield", data_directory=None,
                      timeout: float = 10.0) -> WidefieldMicroscope:
    """Create the microscope and wait until every PV is connected."""
    scope = WidefieldMicroscope(prefix, name=name, data_directory=data_directory)
    scope.wait_for_connection(timeout=timeout)
    return scope
