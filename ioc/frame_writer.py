"""HDF5 frame files written by the detector IOCs, like an areaDetector file plugin.

One file per acquisition series; one dataset per channel at
``/entry/<channel>/data`` (frames, ny, nx), chunked one frame per chunk, with the
SHA-256 of each frame's bytes in ``/entry/<channel>/sha256``. The file is closed
after every frame, so readers (Tiled) always see complete frames.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

# Every open passes locking=False: readers (Tiled, live analysis) open the file while it grows, and
# HDF5 2.0 reads HDF5_USE_FILE_LOCKING once, when h5py is imported, so the variable cannot be set here.


def dataset_path(channel: str) -> str:
    return f"/entry/{channel}/data"


def frame_sha256(frame: np.ndarray) -> str:
    """SHA-256 of a frame's bytes in C order, little-endian."""
    arr = np.ascontiguousarray(frame)
    return hashlib.sha256(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()).hexdigest()


DEFAULT_MIN_FREE_BYTES = 256 * 2**20     # the data disk's reserve: frames are refused below it


def check_free_space(directory: Path, need_bytes: int, min_free_bytes: float) -> None:
    """OSError(ENOSPC) when writing ``need_bytes`` into ``directory`` would leave less than
    ``min_free_bytes`` free: a run stops with this message instead of a truncated file."""
    free = shutil.disk_usage(directory).free
    if free - need_bytes < min_free_bytes:
        raise OSError(errno.ENOSPC, f"data directory {directory}: {free / 1e6:.0f} MB free; writing "
                      f"{need_bytes / 1e6:.1f} MB would leave less than the reserve of {min_free_bytes / 1e6:.0f} MB "
                      "(MinFreeBytes): free space or choose another data directory")


class FrameFileWriter:
    """Appends frames of several channels to one HDF5 file; refuses a block that would take the
    disk below ``min_free_bytes`` (before writing any of it)."""

    def __init__(self, path: Path, min_free_bytes: float = DEFAULT_MIN_FREE_BYTES, *, continue_existing=False):
        """``continue_existing``: an existing frame file is appended to (a restarted controller
        picking up its run's file) instead of refused."""
        self.path = Path(path)
        self.min_free_bytes = min_free_bytes
        self.frames_written = 0
        if self.path.exists():
            if not continue_existing:
                raise FileExistsError(f"refusing to overwrite existing frame file {self.path}")
            self.frames_written = frames_in_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(self.path.parent, os.W_OK):
            raise PermissionError(f"data directory {self.path.parent} is not writable")

    def append(self, frames: dict[str, np.ndarray], attrs: dict[str, float]) -> dict[str, str]:
        """Write one frame per channel; return their SHA-256 checksums."""
        return self.append_many([(frames, attrs)])[-1]

    def append_many(self, items: list[tuple[dict[str, np.ndarray], dict[str, float]]]) -> list[dict[str, str]]:
        """Write several frames per channel, with their per-frame records, in one block (one file
        open, as a file plugin flushing every N frames); return their SHA-256 checksums."""
        if not items:
            return []
        n0, k = self.frames_written, len(items)
        need = sum(np.asarray(a).nbytes for frames, _ in items for a in frames.values())
        check_free_space(self.path.parent, need, self.min_free_bytes)
        sums = [{} for _ in items]
        with h5py.File(self.path, "a", locking=False) as f:
            for channel in items[0][0]:
                block = np.stack([frames[channel] for frames, _ in items])
                name = dataset_path(channel)
                if name not in f:
                    _, ny, nx = block.shape
                    f.create_dataset(name, shape=(0, ny, nx), maxshape=(None, ny, nx),
                                     chunks=(1, ny, nx), dtype=block.dtype)
                    f.create_dataset(f"/entry/{channel}/sha256", shape=(0,), maxshape=(None,),
                                     dtype=h5py.string_dtype())
                ds = f[name]
                if ds.shape[0] != n0:
                    raise RuntimeError(f"{name} holds {ds.shape[0]} frames, expected {n0}")
                ds.resize(n0 + k, axis=0)
                ds[n0:n0 + k] = block
                for j, frame in enumerate(block):
                    sums[j][channel] = frame_sha256(frame)
                cs = f[f"/entry/{channel}/sha256"]
                cs.resize(n0 + k, axis=0)
                cs[n0:n0 + k] = [s[channel] for s in sums]
            for key in items[0][1]:
                name = f"/entry/instrument/{key}"
                if name not in f:
                    f.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8")
                d = f[name]
                d.resize(n0 + k, axis=0)
                d[n0:n0 + k] = [attrs[key] for _, attrs in items]
        self.frames_written += k
        return sums

    def truncate(self, n: int) -> None:
        """Keep the first n frames of every channel (and their per-frame records)."""
        if not 0 <= n <= self.frames_written:
            raise ValueError(f"cannot keep {n} of {self.frames_written} frames")
        _truncate_datasets(self.path, n)
        self.frames_written = n


def frames_in_file(path: Path) -> int:
    """Complete frames in a frame file: the length of its channel datasets, which must agree."""
    with h5py.File(path, "r", locking=False) as f:
        entry = f.get("entry", {})
        counts = {name: entry[name]["data"].shape[0] for name in entry if name != "instrument" and "data" in entry[name]}
    if len(set(counts.values())) > 1:
        raise RuntimeError(f"{path}: channels hold different frame counts {counts}")
    return next(iter(counts.values()), 0)


def _truncate_datasets(path: Path, n: int) -> None:
    """Resize every dataset longer than n along its first axis to n."""
    with h5py.File(path, "a", locking=False) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.shape and obj.shape[0] > n:
                obj.resize(n, axis=0)
        f.visititems(visit)
