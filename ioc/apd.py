"""Simulated scan controller with two APD channels (reflection 700-1100 nm,
fluorescence 550-680 nm) that writes planes or hardware-sequenced z-stacks to HDF5.

It reads the scan geometry, laser state and objective position from the other
IOCs over Channel Access, like a real controller wired to them, and renders
the virtual electrode (``ioc.cell``) for each plane.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from pathlib import Path

import numpy as np
from caproto import ChannelType
from caproto.asyncio.client import Context
from caproto.server import PVGroup, SubGroup, pvproperty

from .cell.confocal import ConfocalSample, Illumination
from .cell.electrode import build_electrode
from .cell.optics import PixelGrid
from .cell.state import CellState, unpack_state
from .cell.truth import (STATE_TRUTH_SUFFIX, TRUTH_SUFFIX, append_state_truth, electrode_truth,
                         truncate_state_truth, write_truth)
from .common import ioc_arguments, ranged, serve, text
from .frame_writer import DEFAULT_MIN_FREE_BYTES, FrameFileWriter

log = logging.getLogger(__name__)


class ApdChannelGroup(PVGroup):
    """One APD channel: enable, last frame's checksum and peak count."""
    enable = pvproperty(value=1, name="Enable", doc="1 to record this channel")
    checksum = text("none", "SHA-256 of the last frame written", max_length=80,
                    name="Checksum_RBV", read_only=True)
    max_count = pvproperty(value=0, name="MaxCount_RBV", read_only=True, units="counts")


class ApdIOC(PVGroup):
    """Acquire=1 records NumPlanes planes; the put completes when they are on disk.

    NumPlanes > 1 runs a hardware-sequenced z-stack: the controller steps the
    piezo from ZStart by ZStep (um) itself. Frames go to FilePath/FileName.
    """

    acquire = pvproperty(value=0, name="Acquire", doc="Write 1 to acquire; completes when done")
    busy = pvproperty(value=0, name="Busy_RBV", read_only=True)
    abort = pvproperty(value=0, name="Abort", doc="Write 1 to abort between planes")
    num_planes = ranged(1, 1, 2000, "planes", "Planes per acquisition", name="NumPlanes")
    z_start = ranged(10.0, 0.0, 100.0, "um", "Hardware stack start", name="ZStart", precision=4)
    z_step = ranged(0.25, -10.0, 10.0, "um", "Hardware stack step", name="ZStep", precision=4)
    timing = pvproperty(value="realistic", enum_strings=["realistic", "fast"], dtype=ChannelType.ENUM,
                        name="TimingMode", doc="realistic: a plane takes the frame time; fast: as fast as possible")
    file_path = text("/tmp", "Directory for frame files", name="FilePath")
    file_name = text("frames.h5", "Frame file name", name="FileName")
    full_file_name = text("", "File being written", name="FullFileName_RBV", read_only=True)
    array_counter = pvproperty(value=0, name="ArrayCounter_RBV", read_only=True,
                               doc="Frames in the current file")
    keep_frames = pvproperty(value=0, name="KeepFrames",
                             doc="Put N: keep only the first N frames of the current file (drop frames no "
                                 "event refers to, e.g. a plane interrupted by a pause and acquired again)")
    last_z = pvproperty(value=0.0, name="LastZ_RBV", read_only=True, units="um", precision=4)
    plane_time = pvproperty(value=0.0, name="PlaneTime_RBV", read_only=True, units="s", precision=4)
    status = text("idle", "Last status or error", name="Status_RBV", read_only=True, max_length=256)
    min_free = ranged(float(DEFAULT_MIN_FREE_BYTES), 0.0, 1e15, "B", "Frames are refused when the data disk would "
                      "keep less free space than this", name="MinFreeBytes", precision=0)
    seed = pvproperty(value=0, name="SampleSeed_RBV", read_only=True)

    reflection = SubGroup(ApdChannelGroup, prefix="Refl:")
    fluorescence = SubGroup(ApdChannelGroup, prefix="Fluo:")

    def __init__(self, *args, sample: ConfocalSample, laser_prefix: str, scanner_prefix: str,
                 piezo_prefix: str, stage_prefix: str | None = None, noise_seed: int = 0,
                 cell_state_pv: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sample = sample
        self.cell_state_pv = cell_state_pv
        self._cell_state = None              # caproto client PV, connected lazily
        self._last_state = CellState(float("nan"), float("nan"), {})
        self.rng = np.random.default_rng(noise_seed)
        self._t0 = time.monotonic()          # the sample's drift runs from the IOC's start
        self._remote = {
            "wavelength": laser_prefix + "Wavelength_RBV", "power": laser_prefix + "Power_RBV",
            "shutter": laser_prefix + "Shutter_RBV", "mode": laser_prefix + "Mode_RBV",
            "nx": scanner_prefix + "PixelsX", "ny": scanner_prefix + "PixelsY",
            "pixel_size": scanner_prefix + "PixelSize", "dwell": scanner_prefix + "Dwell",
            "cx": scanner_prefix + "CenterX", "cy": scanner_prefix + "CenterY",
            "frame_time": scanner_prefix + "FrameTime_RBV",
            "z_rbv": piezo_prefix + "Z_RBV", "z": piezo_prefix + "Z",
        }
        if stage_prefix:
            self._remote.update({"stage_x": stage_prefix + "X:RBV", "stage_y": stage_prefix + "Y:RBV"})
        self._pvs = {}
        self._writer: FrameFileWriter | None = None
        self._abort = False

    @seed.startup
    async def seed(self, instance, async_lib):
        await instance.write(int(self.sample.electrode.seed))
        self._ctx = Context()
        names = list(self._remote.values())
        pvs = await self._ctx.get_pvs(*names, timeout=5.0)
        self._pvs = dict(zip(self._remote, pvs))

    async def _get(self, key):
        response = await self._pvs[key].read(data_type="native", timeout=5.0)
        return response.data[0]

    async def _settings(self):
        keys = ["wavelength", "power", "shutter", "mode", "nx", "ny", "pixel_size", "dwell",
                "cx", "cy", "frame_time"] + [k for k in ("stage_x", "stage_y") if k in self._remote]
        values = dict(zip(keys, await asyncio.gather(*(self._get(k) for k in keys))))
        # The field is centred at the stage position plus the scanner's offset (sample frame, um).
        grid = PixelGrid(int(values["nx"]), int(values["ny"]), float(values["pixel_size"]),
                         float(values["cx"]) + float(values.get("stage_x", 0.0)),
                         float(values["cy"]) + float(values.get("stage_y", 0.0)))
        light = Illumination(float(values["wavelength"]), float(values["power"]),
                             pulsed=int(values["mode"]) == 1, shutter_open=int(values["shutter"]) == 1)
        return grid, light, float(values["dwell"]), float(values["frame_time"])

    async def _lithiation(self) -> CellState:
        """The cell state published by the potentiostat; the last one seen if it is unreachable
        (the cell then sits at open circuit and changes slowly), pristine if never seen."""
        if self.cell_state_pv is None:
            return self._last_state
        try:
            if self._cell_state is None:
                (self._cell_state,) = await self._ctx.get_pvs(self.cell_state_pv, timeout=0.5)
            response = await self._cell_state.read(timeout=0.5)
            self._last_state = unpack_state(response.data)
        except Exception as exc:   # potentiostat down: keep imaging
            log.warning("cell state unavailable (%s); using the last one", exc)
        return self._last_state

    def _current_writer(self) -> FrameFileWriter:
        path = Path(self.file_path.value) / self.file_name.value
        if self._writer is None or self._writer.path != path:
            self._writer = FrameFileWriter(path)
            write_truth(path.with_name(path.name + TRUTH_SUFFIX), electrode_truth(
                self.sample.electrode, self.sample.coverslip_piezo_um, self.sample.optics.depth_scale,
                self.sample.drift_um_per_h))
        return self._writer

    def _record_plane(self, grid, light, dwell, z_um, channels, lithiation: CellState):
        cell_time_s = lithiation.time_s
        drift = self.sample.drift_um(time.monotonic() - self._t0)
        frames = self.sample.acquire(grid, z_um, light, dwell, channels, self.rng, lithiation.agglomerates, drift)
        writer = self._current_writer()
        writer.min_free_bytes = self.min_free.value
        sums = writer.append(frames, {"z_um": z_um, "wavelength_nm": light.wavelength_nm,
                                      "power_w": light.power_w, "dwell_s": dwell,
                                      "timestamp": time.time(), "cell_time_s": cell_time_s})
        append_state_truth(writer.path.with_name(writer.path.name + STATE_TRUTH_SUFFIX),
                           writer.frames_written - 1, lithiation, self.sample.electrode, drift)
        return frames, sums, writer.frames_written

    @acquire.putter
    async def acquire(self, instance, value):
        if not value:
            return 0
        if self.busy.value:
            raise RuntimeError("acquisition already in progress")
        self._abort = False
        await self.busy.write(1)
        loop = asyncio.get_running_loop()
        try:
            grid, light, dwell, frame_time = await self._settings()
            channels = [name for name, grp in (("reflection", self.reflection),
                                               ("fluorescence", self.fluorescence))
                        if grp.enable.value]
            if not channels:
                raise ValueError("no APD channel enabled")
            n = self.num_planes.value
            for k in range(n):
                if self._abort:
                    raise RuntimeError("acquisition aborted")
                if n > 1:
                    await self._pvs["z"].write(self.z_start.value + k * self.z_step.value,
                                               wait=True, timeout=60.0)
                t0 = time.monotonic()
                z_um = float(await self._get("z_rbv"))
                lithiation = await self._lithiation()
                frames, sums, count = await loop.run_in_executor(
                    None, functools.partial(self._record_plane, grid, light, dwell, z_um, channels, lithiation))
                if self.timing.value == "realistic":
                    remaining = frame_time - (time.monotonic() - t0)
                    if remaining > 0:
                        await asyncio.sleep(remaining)
                for name, grp in (("reflection", self.reflection), ("fluorescence", self.fluorescence)):
                    if name in frames:
                        await grp.checksum.write(sums[name])
                        await grp.max_count.write(int(frames[name].max()))
                await self.last_z.write(z_um)
                await self.plane_time.write(time.monotonic() - t0)
                await self.full_file_name.write(str(self._writer.path))
                await self.array_counter.write(count)
            await self.status.write(f"acquired {n} plane(s)")
        except Exception as exc:
            log.exception("acquisition failed")
            await self.status.write(f"error: {exc}"[:255])
            raise
        finally:
            await self.busy.write(0)
        return 0

    @abort.putter
    async def abort(self, instance, value):
        if value:
            self._abort = True
        return 0

    @keep_frames.putter
    async def keep_frames(self, instance, value):
        if self.busy.value:
            raise RuntimeError("acquiring: KeepFrames refused")
        written = self._writer.frames_written if self._writer is not None else 0
        if not 0 <= value <= written:
            raise ValueError(f"KeepFrames={value} outside [0, {written}] (frames in the current file)")
        if value < written:
            self._writer.truncate(value)
            truncate_state_truth(self._writer.path.with_name(self._writer.path.name + STATE_TRUTH_SUFFIX), value)
            await self.array_counter.write(value)
            await self.status.write(f"kept {value} of {written} frames")
        return value

    @file_name.putter
    async def file_name(self, instance, value):
        """A name of an existing frame file continues it (a restarted controller given its run's
        file back): ArrayCounter_RBV then counts the frames already in it."""
        path = Path(self.file_path.value) / value
        frames = 0
        if path.exists():
            if self.busy.value:
                raise RuntimeError("acquiring: FileName refused")
            self._writer = await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(FrameFileWriter, path, continue_existing=True))
            frames = self._writer.frames_written
            await self.full_file_name.write(str(path))
            await self.status.write(f"continuing {path.name} after frame {frames}")
        await self.array_counter.write(frames)
        return value


def main(argv=None):
    parser = ioc_arguments(ApdIOC.__doc__, "OPR:APD:")
    parser.add_argument("--laser-prefix", default="OPR:LASER:")
    parser.add_argument("--scanner-prefix", default="OPR:SCAN:")
    parser.add_argument("--piezo-prefix", default="OPR:PZ:")
    parser.add_argument("--stage-prefix", default=None, help="XY stage (field centred on it); none: fixed at 0, 0")
    parser.add_argument("--material", default="LCO", choices=["LCO", "NMC811"])
    parser.add_argument("--seed", type=int, default=1, help="electrode seed (geometry)")
    parser.add_argument("--n-agglomerates", type=int, default=8)
    parser.add_argument("--drift-um-per-h", default="0,0,0",
                        help="sample drift x,y,z (um per hour of the IOC's time; z away from the objective)")
    parser.add_argument("--cell-state-pv", default=None,
                        help="potentiostat PV publishing the cell state (ioc.cell.state); pristine if absent")
    args = parser.parse_args(argv)
    electrode = build_electrode(seed=args.seed, material=args.material, n_agglomerates=args.n_agglomerates)
    try:
        drift = [float(v) for v in args.drift_um_per_h.split(",")]
        sample = ConfocalSample(electrode, drift_um_per_h=drift)
    except ValueError as exc:
        parser.error(f"--drift-um-per-h: {exc}")
    ioc = ApdIOC(prefix=args.prefix, sample=sample, laser_prefix=args.laser_prefix,
                 scanner_prefix=args.scanner_prefix, piezo_prefix=args.piezo_prefix, stage_prefix=args.stage_prefix,
                 noise_seed=args.seed + 1000, cell_state_pv=args.cell_state_pv)
    serve(ioc, args.interface, args.verbose)


if __name__ == "__main__":
    main()
