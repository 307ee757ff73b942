"""``operando export UID``: a stored run's data in files other tools open.

Potentiostat telemetry becomes BDF-style CSV (analysis/battery_data.py). Image data (confocal
planes, camera frames) becomes OME-TIFF (axes TZYX for the stacks of one position, ZYX for a
single stack, TYX for a camera series; physical pixel sizes in um) or one HDF5 file with a
dataset per data key (``units`` attribute) and the start document as JSON. Frames are read
through Tiled one stack at a time, so a long run does not have to fit in memory.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from operando.analysis.battery_data import write_bdf_csv

FORMATS = ("ome-tiff", "hdf5")


def export_run(run, out_dir: Path, image_format: str = "ome-tiff") -> list[Path]:
    """Write the run's potentiostat CSV and its images into ``out_dir``; returns the files written."""
    if image_format not in FORMATS:
        raise ValueError(f"format: one of {', '.join(FORMATS)}, got {image_format!r}")
    start = run.metadata["start"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = f"scan{start.get('scan_id', 0)}_{start['uid'][:8]}"
    written = []
    if "potentiostat" in run:
        table = run["potentiostat"].read()
        columns = {k: np.asarray(table[k]) for k in table.keys()}
        written.append(write_bdf_csv(out_dir / f"{base}_potentiostat.csv", columns, prefix="pstat_"))
    series = list(image_series(run))
    if image_format == "hdf5" and series:
        written.append(_write_hdf5(out_dir / f"{base}.h5", start, series))
    elif series:
        for s in series:
            written.append(_write_ome_tiff(out_dir / f"{base}_{s.label}.ome.tif", s))
    return written


class ImageSeries:
    """The frames of one data key, grouped: ``groups`` is a list of (t index, slice of events)."""

    def __init__(self, run, stream: str, key: str, label: str, axes: str, slices: list[slice], units: str,
                 pixel_size_um: float | None, z_step_um: float | None):
        self.run, self.stream, self.key, self.label, self.axes = run, stream, key, label, axes
        self.slices, self.units = slices, units
        self.pixel_size_um, self.z_step_um = pixel_size_um, z_step_um

    def shape_dtype(self) -> tuple[tuple[int, ...], np.dtype]:
        array = self.run[self.stream][self.key]
        frame = tuple(array.shape[1:])
        sizes = [s.stop - s.start for s in self.slices]
        shape = (len(sizes), sizes[0], *frame) if self.axes == "TZYX" else (sum(sizes), *frame)
        return shape, np.dtype(array.dtype)

    def blocks(self):
        """Arrays of each group's frames, one group at a time."""
        array = self.run[self.stream][self.key]
        for s in self.slices:
            yield np.asarray(array[s])


def image_series(run):
    """Every 2-D data key of the run's streams, split by stage position and stack where the run
    has stacks (``stack_index``, ``stack_position_name`` in its primary stream)."""
    start = run.metadata["start"]
    acquisition = {**start.get("plan_args", {}), **start}
    pixel = acquisition.get("pixel_size_um")
    z_step = acquisition.get("z_step_um")
    for stream in run:
        descriptors = run[stream].descriptors
        if not descriptors:
            continue
        images = {k: v for k, v in descriptors[0]["data_keys"].items() if len(v.get("shape") or []) == 2}
        if not images:
            continue
        n = len(run[stream][next(iter(images))])
        groups = _stack_groups(run, stream, n)
        for key, spec in images.items():
            for position, slices in groups.items():
                sizes = {s.stop - s.start for s in slices}
                if stream == "primary" and len(sizes) == 1:
                    axes = "TZYX" if len(slices) > 1 else "ZYX"
                elif stream == "primary":      # stacks of different lengths: one file each
                    for i, s in enumerate(slices):
                        yield ImageSeries(run, stream, key, f"{key}_{position}_stack{i}".strip("_"), "ZYX", [s],
                                          spec.get("units", ""), pixel, z_step)
                    continue
                else:
                    axes = "TYX"
                label = f"{key}_{position}" if position else key
                yield ImageSeries(run, stream, key, label, axes, slices, spec.get("units", ""), pixel,
                                  z_step if "Z" in axes else None)


def _stack_groups(run, stream: str, n: int) -> dict[str, list[slice]]:
    """{position name: [slice of events of each stack]}; one group of everything without stacks."""
    if stream != "primary" or "stack_index" not in run[stream]:
        return {"": [slice(0, n)]}
    index = np.asarray(run[stream]["stack_index"].read())
    names = (np.asarray(run[stream]["stack_position_name"].read()).astype(str)
             if "stack_position_name" in run[stream] else np.full(n, ""))
    groups: dict[str, list[slice]] = {}
    begin = 0
    for i in range(1, n + 1):
        if i == n or index[i] != index[begin]:
            groups.setdefault(str(names[begin]), []).append(slice(begin, i))
            begin = i
    return groups


def _write_ome_tiff(path: Path, series: ImageSeries) -> Path:
    import tifffile

    metadata = {"axes": series.axes, "Name": series.label}
    if series.pixel_size_um:
        metadata.update(PhysicalSizeX=float(series.pixel_size_um), PhysicalSizeXUnit="µm",
                        PhysicalSizeY=float(series.pixel_size_um), PhysicalSizeYUnit="µm")
    if series.z_step_um:
        metadata.update(PhysicalSizeZ=float(series.z_step_um), PhysicalSizeZUnit="µm")
    shape, dtype = series.shape_dtype()
    pages = (frame for block in series.blocks() for frame in block)
    with tifffile.TiffWriter(path, ome=True, bigtiff=True) as tif:
        tif.write(pages, shape=shape, dtype=dtype, metadata=metadata, photometric="minisblack")
    return path


def _write_hdf5(path: Path, start: dict, series: list[ImageSeries]) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["start"] = json.dumps(start, default=str)
        for s in series:
            shape, dtype = s.shape_dtype()
            ds = f.create_dataset(f"{s.stream}/{s.label}", shape=shape, dtype=dtype, compression="gzip",
                                  compression_opts=1, chunks=(*(1,) * (len(shape) - 2), *shape[-2:]))
            at = 0
            for block in s.blocks():
                if s.axes == "TZYX":
                    ds[at] = block
                    at += 1
                else:
                    ds[at:at + len(block)] = block
                    at += len(block)
            ds.attrs.update(axes=s.axes, units=s.units)
            if s.pixel_size_um:
                ds.attrs["pixel_size_um"] = float(s.pixel_size_um)
            if s.z_step_um:
                ds.attrs["z_step_um"] = float(s.z_step_um)
    return path
