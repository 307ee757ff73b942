"""Reading runs back from Tiled as numpy arrays."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from operando.ioc.frame_writer import frame_sha256


def read_stack(run, data_key: str, stream: str = "primary") -> np.ndarray:
    """All frames of ``data_key`` as an array (frames, y, x), read through Tiled."""
    return np.asarray(run[stream][data_key].read())


def frames_sha256(stack: np.ndarray) -> list[str]:
    """Per-frame SHA-256, the checksum the detector controllers record in each event."""
    return [frame_sha256(frame) for frame in stack]


def frame_file(run, data_key: str, stream: str = "primary") -> Path:
    """Local path of the HDF5 file Tiled registered for ``data_key`` (the controller wrote it)."""
    return Path(urlparse(run[stream][data_key].data_sources()[0].assets[0].data_uri).path)
