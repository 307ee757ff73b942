"""Scan controller with two APD channels; frames go to HDF5 written by the controller.

Each triggered plane appends one frame per enabled channel to the run's file;
the device announces the file once per channel (StreamResource) and each frame
(StreamDatum), so frames never travel inside documents.
"""
from __future__ import annotations

import datetime
import errno
import os
import uuid
from pathlib import Path

from ophyd import Component as Cpt, Device, EpicsSignal, EpicsSignalRO
from ophyd.device import Staged

from .restore import RestoresSettings, fail_when_unreachable, lost_connection, unreachable_status
from .status import ExplainedStatus
from .units import UnitsInDescribe

CHANNEL_NAMES = ("reflection", "fluorescence")
CHANNEL_BANDS_NM = {"reflection": (700.0, 1100.0), "fluorescence": (550.0, 680.0)}


def default_data_directory() -> Path:
    """Today's folder under $OPERANDO_DATA_DIR (default $OPERANDO_HOME/data, the folder the session's
    Tiled server reads; ~/.operando/data without either)."""
    home = Path(os.environ.get("OPERANDO_HOME", Path.home() / ".operando"))
    root = Path(os.environ.get("OPERANDO_DATA_DIR", home / "data"))
    return root / datetime.date.today().strftime("%Y/%m/%d")


def new_frame_file(device, min_free_bytes: float = 0.0) -> Path:
    """A new frame file (uuid name) in the device's ``data_directory`` (a path, a callable giving
    one, or None: today's default folder), created and checked writable, with more free space
    than the detector's reserve, before anything is written."""
    import shutil

    d = device.data_directory
    d = d() if callable(d) else d
    directory = Path(d) if d is not None else default_data_directory()
    directory.mkdir(parents=True, exist_ok=True)
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"{device.name}: data directory {directory} is not writable")
    free = shutil.disk_usage(directory).free
    if free < min_free_bytes:
        raise OSError(errno.ENOSPC, f"{device.name}: data directory {directory} has {free / 1e6:.0f} MB free, below "
                      f"the detector's reserve of {min_free_bytes / 1e6:.0f} MB (MinFreeBytes): free space or "
                      "choose another data directory; nothing was recorded")
    return directory / f"{uuid.uuid4()}.h5"


class ApdChannel(UnitsInDescribe, Device):
    enable = Cpt(EpicsSignal, "Enable", put_complete=True, kind="config")
    checksum = Cpt(EpicsSignalRO, "Checksum_RBV", string=True, kind="normal")
    max_count = Cpt(EpicsSignalRO, "MaxCount_RBV", kind="normal")


class ApdController(RestoresSettings, UnitsInDescribe, Device):
    """Set ``scanner`` (for the frame shape) and optionally ``data_directory``
    (a path or a callable returning one) before staging. A restarted controller gets its
    settings and the run's frame file back on resume (it continues the file)."""

    settings_to_restore = ("reflection.enable", "fluorescence.enable", "timing_mode", "min_free_bytes",
                           "num_planes", "file_path", "file_name")

    acquire = Cpt(EpicsSignal, "Acquire", put_complete=True, kind="omitted")
    busy = Cpt(EpicsSignalRO, "Busy_RBV", kind="omitted")
    abort = Cpt(EpicsSignal, "Abort", kind="omitted")
    num_planes = Cpt(EpicsSignal, "NumPlanes", put_complete=True, kind="config")
    timing_mode = Cpt(EpicsSignal, "TimingMode", put_complete=True, string=True, kind="config")
    file_path = Cpt(EpicsSignal, "FilePath", string=True, put_complete=True, kind="omitted")
    file_name = Cpt(EpicsSignal, "FileName", string=True, put_complete=True, kind="omitted")
    min_free_bytes = Cpt(EpicsSignal, "MinFreeBytes", put_complete=True, kind="config")
    full_file_name = Cpt(EpicsSignalRO, "FullFileName_RBV", string=True, kind="omitted")
    array_counter = Cpt(EpicsSignalRO, "ArrayCounter_RBV", kind="omitted")
    keep_frames = Cpt(EpicsSignal, "KeepFrames", put_complete=True, kind="omitted")
    last_z_um = Cpt(EpicsSignalRO, "LastZ_RBV", kind="omitted")
    plane_time_s = Cpt(EpicsSignalRO, "PlaneTime_RBV", kind="omitted")
    status_message = Cpt(EpicsSignalRO, "Status_RBV", string=True, kind="omitted")
    reflection = Cpt(ApdChannel, "Refl:")
    fluorescence = Cpt(ApdChannel, "Fluo:")

    def __init__(self, *args, scanner=None, data_directory=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.scanner = scanner
        self.data_directory = data_directory
        self._file: Path | None = None
        self._stream_resources: dict[str, dict] = {}
        self._emitted_index = 0
        self._frame_shape: tuple[int, int] | None = None

    # --- helpers ---------------------------------------------------------------
    def enabled_channels(self) -> list[str]:
        return [c for c in CHANNEL_NAMES if int(getattr(self, c).enable.get())]

    def data_key(self, channel: str) -> str:
        return f"{self.name}_{channel}"

    # --- bluesky protocols ----------------------------------------------------
    def stage(self):
        if self.scanner is None:
            raise RuntimeError(f"{self.name}: no scanner attached; it defines the frame shape")
        self._file = new_frame_file(self, float(self.min_free_bytes.get(use_monitor=False)))
        directory = self._file.parent
        self._stream_resources = {}
        self._emitted_index = 0
        self._frame_shape = self.scanner.frame_shape()
        self.num_planes.set(1).wait(5)
        self.file_path.set(str(directory)).wait(5)
        self.file_name.set(self._file.name).wait(5)
        return super().stage()

    def unstage(self):
        self._stream_resources = {}
        return super().unstage()

    def trigger(self):
        """Acquire one plane; done when the controller's put callback reports it on disk.

        A put callback does not carry the server's verdict, so the frame counter is
        checked: no new frame fails the status with the controller's message. Refused when not
        staged: frames would go on into the previous run's file.
        """
        if self._staged != Staged.yes:
            raise RuntimeError(f"{self.name}: stage the detector before triggering it (bpp.stage_decorator"
                               f"([{self.name}])): staging opens the run's own frame file")
        result = ExplainedStatus(self)

        def check(put_status):
            try:
                if not put_status.success:
                    result.set_exception(put_status.exception() or RuntimeError("acquire put failed"))
                elif int(self.array_counter.get(use_monitor=False)) <= before:
                    message = self.status_message.get(use_monitor=False)
                    result.set_exception(RuntimeError(f"{self.name}: no frame written ({message})"))
                else:
                    result.set_finished()
            except Exception as exc:         # the controller went away after the plane
                result.set_exception(exc)

        try:
            before = self.get_index()
            self.acquire.set(1).add_callback(check)
        except Exception as exc:
            if not lost_connection(self, exc):
                raise
            return unreachable_status(self, "acquire")      # a suspender takes it from here
        return fail_when_unreachable(result, self, self.acquire, "acquire")

    def describe(self):
        description = super().describe()
        ny, nx = self._frame_shape or self.scanner.frame_shape()
        for channel in self.enabled_channels():
            description[self.data_key(channel)] = {
                "source": f"{self.prefix}{'Refl:' if channel == 'reflection' else 'Fluo:'}",
                "dtype": "array", "dtype_numpy": "<u2", "shape": [ny, nx],
                "external": "STREAM:", "units": "counts",
            }
        for channel in CHANNEL_NAMES:
            if channel not in self.enabled_channels():
                for key in [k for k in description if k.startswith(self.data_key(channel) + "_")]:
                    description.pop(key)
        return description

    def read(self):
        reading = super().read()
        enabled = self.enabled_channels()
        return {k: v for k, v in reading.items()
                if not any(k.startswith(self.data_key(c) + "_") for c in CHANNEL_NAMES if c not in enabled)}

    def get_index(self) -> int:
        return int(self.array_counter.get())

    def collect_asset_docs(self, index: int | None = None):
        """StreamResource once per channel per file, then StreamDatum for new frames."""
        frames = self.get_index() if index is None else min(index, self.get_index())
        ny, nx = self._frame_shape
        for channel in self.enabled_channels():
            if channel not in self._stream_resources:
                resource = {
                    "uid": str(uuid.uuid4()), "data_key": self.data_key(channel),
                    "mimetype": "application/x-hdf5", "uri": f"file://localhost{self._file}",
                    "parameters": {"dataset": f"/entry/{channel}/data", "chunk_shape": [1, ny, nx]},
                }
                self._stream_resources[channel] = resource
                yield "stream_resource", resource
        if frames > self._emitted_index:
            for channel in self.enabled_channels():
                resource = self._stream_resources[channel]
                yield "stream_datum", {
                    "uid": f"{resource['uid']}/{self._emitted_index}", "stream_resource": resource["uid"],
                    "descriptor": "", "indices": {"start": self._emitted_index, "stop": frames},
                    "seq_nums": {"start": 0, "stop": 0},
                }
            self._emitted_index = frames

    def resume(self):
        """After a pause the plan re-acquires the interrupted plane: frames that no event refers to
        are dropped from the file first, so file index and event stay one to one. A controller
        restarted meanwhile is given its settings and the run's file back first."""
        super().resume()
        if self._file is not None and int(self.array_counter.get(use_monitor=False)) > self._emitted_index:
            self.keep_frames.set(self._emitted_index).wait(10)

    def stop(self, *, success=False):
        self.abort.put(1)
        super().stop(success=success)
