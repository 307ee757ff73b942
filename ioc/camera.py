"""Simulated widefield CMOS camera (areaDetector-like: cam + HDF5 file plugin + frame averaging) that
images the virtual NWO electrode under the LED, at the focus the focus lock holds.

Acquire=1 starts NumImages stored frames (0: until Acquire=0); the camera exposes one raw frame
every AcquirePeriod (s) on a fixed schedule, averages NumFilter consecutive raw frames into one
stored frame (like NDPluginProcess), and appends it to FilePath/FileName with, per stored frame,
its number, the first raw frame's number, the mid-exposure time stamp (s since the epoch) and
cell time (s), the exposure and how many raw frames it holds. Raw frames wait for the simulation
in a host buffer of BUFFER_BYTES (areaDetector's NDArray pool); a raw frame that would overflow it
is dropped and counted (DroppedFrames_RBV), never silently lost.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from pathlib import Path

import numpy as np
from caproto.asyncio.client import Context
from caproto.server import PVGroup, pvproperty

from .cell.rod_state import RodCellState, unpack_rod_state
from .cell.rod_truth import append_rod_truths, rod_electrode_truth
from .cell.rods import build_rod_electrode
from .cell.truth import STATE_TRUTH_SUFFIX, TRUTH_SUFFIX, write_truth
from .cell.widefield import SENSOR_SHAPE, CameraGrid, WidefieldSample
from .common import ioc_arguments, ranged, serve, text
from .frame_writer import DEFAULT_MIN_FREE_BYTES, FrameFileWriter

log = logging.getLogger(__name__)

BUFFER_BYTES = 256 * 2**20   # frames waiting to be taken (an NDArray pool's maxMemory); beyond it, dropped
FLUSH_EVERY_S = 0.2     # stored frames reach the file (and ArrayCounter) in batches, like a file plugin
CONDITIONS_EVERY_S = 0.02
CHANNEL = "image"


def buffer_overflows(lag_s: float, period_s: float, frame_bytes: int, buffer_bytes: int = BUFFER_BYTES) -> bool:
    """True when raw frames due over lag_s (s) at period_s (s) no longer fit in buffer_bytes."""
    return lag_s / period_s * frame_bytes > buffer_bytes


class CameraIOC(PVGroup):
    """Widefield camera: exposure, period, binning, ROI, frame averaging; frames to HDF5."""

    acquire = pvproperty(value=0, name="Acquire", doc="1: start; 0: stop after the current frame")
    acquire_rbv = pvproperty(value=0, name="Acquire_RBV", read_only=True, doc="1 while acquiring")
    num_images = ranged(10, 0, 10_000_000, "", "Stored frames per acquisition (0: until stopped)",
                        name="NumImages")
    acquire_time = ranged(0.008, 1e-5, 1.0, "s", "Exposure", name="AcquireTime", precision=5)
    acquire_period = ranged(0.5, 0.01, 100.0, "s", "Raw frame period (100 Hz at most)", name="AcquirePeriod",
                            precision=5)
    binning = ranged(2, 1, 4, "", "Binning (x and y)", name="Bin")
    min_x = ranged(0, 0, SENSOR_SHAPE[1] - 16, "", "ROI origin, unbinned columns", name="MinX")
    min_y = ranged(0, 0, SENSOR_SHAPE[0] - 16, "", "ROI origin, unbinned rows", name="MinY")
    size_x = ranged(SENSOR_SHAPE[1], 16, SENSOR_SHAPE[1], "", "ROI width, unbinned", name="SizeX")
    size_y = ranged(SENSOR_SHAPE[0], 16, SENSOR_SHAPE[0], "", "ROI height, unbinned", name="SizeY")
    num_filter = ranged(1, 1, 1000, "", "Raw frames averaged into one stored frame", name="NumFilter")
    array_size_x = pvproperty(value=SENSOR_SHAPE[1] // 2, name="ArraySizeX_RBV", read_only=True)
    array_size_y = pvproperty(value=SENSOR_SHAPE[0] // 2, name="ArraySizeY_RBV", read_only=True)
    pixel_size = pvproperty(value=0.0, name="PixelSize_RBV", read_only=True, units="um", precision=5,
                            doc="Binned pixel in the sample plane")
    file_path = text("/tmp", "Directory for frame files", name="FilePath")
    file_name = text("frames.h5", "Frame file name", name="FileName")
    full_file_name = text("", "File being written", name="FullFileName_RBV", read_only=True)
    array_counter = pvproperty(value=0, name="ArrayCounter_RBV", read_only=True, doc="Stored frames in the file")
    raw_counter = pvproperty(value=0, name="RawCounter_RBV", read_only=True, doc="Raw frames exposed")
    dropped = pvproperty(value=0, name="DroppedFrames_RBV", read_only=True, doc="Raw frames dropped (late)")
    frame_rate = pvproperty(value=0.0, name="FrameRate_RBV", read_only=True, units="Hz", precision=2)
    status = text("idle", "Last status or error", name="Status_RBV", read_only=True, max_length=256)
    min_free = ranged(float(DEFAULT_MIN_FREE_BYTES), 0.0, 1e15, "B", "Frames are refused when the data disk would "
                      "keep less free space than this", name="MinFreeBytes", precision=0)
    seed = pvproperty(value=0, name="SampleSeed_RBV", read_only=True)

    def __init__(self, *args, sample: WidefieldSample, led_prefix: str, focus_prefix: str,
                 cell_state_pv: str | None = None, noise_seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.sample = sample
        self.rng = np.random.default_rng(noise_seed)
        self._remote = {"led_power": led_prefix + "Power_RBV", "led_on": led_prefix + "Output_RBV",
                        "led_max": led_prefix + "MaxPower_RBV", "focus_error": focus_prefix + "Error_RBV"}
        self.cell_state_pv = cell_state_pv
        self._pvs = {}
        self._state = RodCellState(float("nan"), float("nan"), {})
        self._task = None
        self._stop = False
        self._writer: FrameFileWriter | None = None

    @seed.startup
    async def seed(self, instance, async_lib):
        await instance.write(int(self.sample.electrode.seed))
        self._ctx = Context()
        pvs = await self._ctx.get_pvs(*self._remote.values(), timeout=5.0)
        self._pvs = dict(zip(self._remote, pvs))
        await self._update_shape()

    def _grid(self, **change) -> CameraGrid:
        values = {"min_x": self.min_x.value, "min_y": self.min_y.value, "size_x": self.size_x.value,
                  "size_y": self.size_y.value, "binning": self.binning.value, **change}
        return CameraGrid(**{k: int(v) for k, v in values.items()})

    async def _update_shape(self, **change):
        g = self._grid(**change)
        await self.array_size_y.write(g.shape[0])
        await self.array_size_x.write(g.shape[1])
        await self.pixel_size.write(g.pixel_um)

    async def _read(self, key):
        return (await self._pvs[key].read(data_type="native", timeout=2.0)).data[0]

    async def _conditions(self):
        """LED power (fraction of full) and focus error (nm) now; the cell state (last one seen if the
        potentiostat does not answer)."""
        power, on, full, focus = await asyncio.gather(*(self._read(k) for k in
                                                         ("led_power", "led_on", "led_max", "focus_error")))
        if self.cell_state_pv:
            try:
                if "cell" not in self._pvs:
                    (self._pvs["cell"],) = await self._ctx.get_pvs(self.cell_state_pv, timeout=0.5)
                self._state = unpack_rod_state((await self._pvs["cell"].read(timeout=0.5)).data)
            except Exception as exc:
                log.warning("cell state unavailable (%s); using the last one", exc)
        level = float(power) / float(full) if int(on) == 1 else 0.0
        return level, float(focus), self._state

    def _writer_for(self, grid: CameraGrid) -> FrameFileWriter:
        path = Path(self.file_path.value) / self.file_name.value
        if self._writer is None or self._writer.path != path:
            self._writer = FrameFileWriter(path)
            write_truth(path.with_name(path.name + TRUTH_SUFFIX),
                        rod_electrode_truth(self.sample.electrode, grid.pixel_um))
        return self._writer

    def _store(self, grid, pending):
        """Append stored frames [(image, records, state)] to the file in one go (a worker thread)."""
        writer = self._writer_for(grid)
        writer.min_free_bytes = self.min_free.value
        first = writer.frames_written
        writer.append_many([({CHANNEL: image}, records) for image, records, _ in pending])
        append_rod_truths(writer.path.with_name(writer.path.name + STATE_TRUTH_SUFFIX),
                          [(first + k, state) for k, (_, _, state) in enumerate(pending)], self.sample.electrode)
        return writer.frames_written

    async def _flush(self, loop, grid, pending, t0, raw):
        count = await loop.run_in_executor(None, functools.partial(self._store, grid, list(pending)))
        pending.clear()
        await self.full_file_name.write(str(self._writer.path))
        await self.array_counter.write(count)
        await self.raw_counter.write(raw)
        await self.frame_rate.write(raw / max(time.monotonic() - t0, 1e-9))

    async def _acquire(self):
        loop = asyncio.get_running_loop()
        grid = self._grid()
        n_store = int(self.num_images.value)
        m = int(self.num_filter.value)
        period = float(self.acquire_period.value)
        exposure = min(float(self.acquire_time.value), period)
        await self._update_shape()
        frame_bytes = 2 * grid.shape[0] * grid.shape[1]
        raw = dropped = stored = 0
        t0 = time.monotonic()
        epoch0 = time.time() - t0
        group, group_t, group_cell, group_first = [], [], [], 0
        pending, last_flush, conditions, conditions_t = [], time.monotonic(), None, -1.0
        try:
            while not self._stop and (n_store == 0 or stored < n_store):
                slot = t0 + raw * period
                wait = slot - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif buffer_overflows(-wait, period, frame_bytes):    # the buffer is full: this frame is lost
                    raw += 1
                    dropped += 1
                    await self.dropped.write(dropped)
                    continue
                if time.monotonic() - conditions_t >= CONDITIONS_EVERY_S:    # LED, focus, cell at <= 50 Hz
                    conditions, conditions_t = await self._conditions(), time.monotonic()
                level, focus, state = conditions
                frame = self.sample.frame(grid, state, exposure, level, self.rng, focus)
                if not group:
                    group_first = raw
                group.append(frame)
                group_t.append(epoch0 + slot + 0.5 * exposure)
                group_cell.append(state.time_s)
                raw += 1
                if len(group) == m:
                    records = {"frame_number": stored, "first_raw_frame": group_first,
                               "timestamp": float(np.mean(group_t)), "cell_time_s": float(np.mean(group_cell)),
                               "exposure_s": exposure, "n_summed": m, "led_level": level, "focus_error_nm": focus}
                    image = group[0] if m == 1 else np.rint(np.mean(group, axis=0)).astype(np.uint16)
                    pending.append((image, records, state))
                    stored += 1
                    group, group_t, group_cell = [], [], []
                if pending and time.monotonic() - last_flush >= FLUSH_EVERY_S:
                    await self._flush(loop, grid, pending, t0, raw)
                    last_flush = time.monotonic()
            if pending:
                await self._flush(loop, grid, pending, t0, raw)
            await self.status.write(f"acquired {stored} frame(s) from {raw} raw, {dropped} dropped")
        except Exception as exc:
            log.exception("acquisition failed")
            await self.status.write(f"error: {exc}"[:255])
        finally:
            await self.acquire_rbv.write(0)
            self._task = None

    @acquire.putter
    async def acquire(self, instance, value):
        if value and self._task is None:
            self._stop = False
            await self.acquire_rbv.write(1)
            await self.status.write("acquiring")
            await self.dropped.write(0)
            self._task = asyncio.get_running_loop().create_task(self._acquire())
        elif not value:
            self._stop = True
        return value

    @file_name.putter
    async def file_name(self, instance, value):
        if self._task is not None:
            raise RuntimeError("acquiring: FileName refused")
        await self.array_counter.write(0)
        return value

    async def _geometry_put(self, key, value):
        if self._task is not None:
            raise RuntimeError(f"acquiring: {key} refused")
        await self._update_shape(**{key: value})
        return value

    @binning.putter
    async def binning(self, instance, value):
        return await self._geometry_put("binning", value)

    @size_x.putter
    async def size_x(self, instance, value):
        return await self._geometry_put("size_x", value)

    @size_y.putter
    async def size_y(self, instance, value):
        return await self._geometry_put("size_y", value)

    @min_x.putter
    async def min_x(self, instance, value):
        return await self._geometry_put("min_x", value)

    @min_y.putter
    async def min_y(self, instance, value):
        return await self._geometry_put("min_y", value)


def main(argv=None):
    parser = ioc_arguments(CameraIOC.__doc__, "OPR:CAM:")
    parser.add_argument("--led-prefix", default="OPR:LED:")
    parser.add_argument("--focus-prefix", default="OPR:FOCUS:")
    parser.add_argument("--seed", type=int, default=1, help="electrode seed (rod placement)")
    parser.add_argument("--cell-state-pv", default=None,
                        help="potentiostat PV publishing the rod-cell state (ioc.cell.rod_state)")
    args = parser.parse_args(argv)
    sample = WidefieldSample(build_rod_electrode(args.seed), seed=args.seed)
    ioc = CameraIOC(prefix=args.prefix, sample=sample, led_prefix=args.led_prefix, focus_prefix=args.focus_prefix,
                    cell_state_pv=args.cell_state_pv, noise_seed=args.seed + 3000)
    serve(ioc, args.interface, args.verbose)


if __name__ == "__main__":
    main()
