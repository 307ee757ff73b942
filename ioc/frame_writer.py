"""HDF5 frame files written by the detector IOCs, like an areaDetector file plugin.

One file per acquisition series; one dataset per channel at
``/entry/<channel>/data`` (frames, ny, nx), chunked one frame per chunk, with the
SHA-256 of each frame's bytes in ``/entry/<channel>/sha256``. The file is closed
after every frame, so readers (Tiled) always see complete frames.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


def dataset_path(channel: str) -> str:
    return f"/entry/{channel}/data"


def frame_sha256(frame: np.ndarray) -> str:
    """SHA-256 of a frame's bytes in C order, little-endian."""
    arr = np.ascontiguousarray(frame)
    return hashlib.sha256(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()).hexdigest()


class FrameFileWriter:
    """Appends frames of several channels to one HDF5 file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"refusing to overwrite existing frame file {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(self.path.parent, os.W_OK):
            raise PermissionError(f"data directory {self.path.parent} is not writable")
        self.frames_written = 0

    def append(self, frames: dict[str, np.ndarray], attrs: dict[str, float]) -> dict[str, str]:
        """Write one frame per channel; return their SHA-256 checksums."""
        sums = {}
        with h5py.File(self.path, "a") as f:
            for channel, frame in frames.items():
                name = dataset_path(channel)
                if name not in f:
                    ny, nx = frame.shape
                    f.create_dataset(name, shape=(0, ny, nx), maxshape=(None, ny, nx),
                                     chunks=(1, ny, nx), dtype=frame.dtype)
                    f.create_dataset(f"/entry/{channel}/sha256", shape=(0,), maxshape=(None,),
                                     dtype=h5py.string_dtype())
                ds = f[name]
                if ds.shape[0] != self.frames_written:
                    raise RuntimeError(f"{name} holds {ds.shape[0]} frames, expected {self.frames_written}")
                ds.resize(self.frames_written + 1, axis=0)
                ds[self.frames_written] = frame
                sums[channel] = frame_sha256(frame)
                cs = f[f"/entry/{channel}/sha256"]
                cs.resize(self.frames_written + 1, axis=0)
                cs[self.frames_written] = sums[channel]
            for key, value in attrs.items():
                name = f"/entry/instrument/{key}"
                if name not in f:
                    f.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8")
                d = f[name]
                d.resize(self.frames_written + 1, axis=0)
                d[self.frames_written] = value
        self.frames_written += 1
        return sums

    def truncate(self, n: int) -> None:
        """Keep the first n frames of every channel (and their per-frame records)."""
        if not 0 <= n <= self.frames_written:
            raise ValueError(f"cannot keep {n} of {self.frames_written} frames")
        _truncate_datasets(self.path, n)
        self.frames_written = n


def _truncate_datasets(path: Path, n: int) -> None:
    """Resize every dataset longer than n along its first axis to n."""
    with h5py.File(path, "a") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.shape and obj.shape[0] > n:
                obj.resize(n, axis=0)
        f.visititems(visit)
