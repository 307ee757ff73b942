"""Reading runs back from Tiled as numpy arrays."""
from __future__ import annotations

import hashlib

import numpy as np


def frame_sha256(frame: np.ndarray) -> str:
    """SHA-256 of a frame's bytes, C order, little-endian: the checksum the controllers record."""
    arr = np.ascontiguousarray(frame)
    return hashlib.sha256(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()).hexdigest()


def read_stack(run, data_key: str, stream: str = "primary") -> np.ndarray:
    """All frames of ``data_key`` as an array (frames, y, x), read through Tiled."""
    return np.asarray(run[stream][data_key].read())


def frames_sha256(stack: np.ndarray) -> list[str]:
    return [frame_sha256(frame) for frame in stack]
