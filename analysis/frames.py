"""Resolving detector frames referenced by a run's StreamResource / StreamDatum documents.

Frames never travel inside documents: the detector controllers write HDF5 files and the run
points at them. The same bookkeeping serves a live run (documents from the RunEngine) and a
replay (documents from Tiled's ``run.documents()``); the frames are read from the file, which is
on this host whenever the instrument or the Tiled server that registered it is.
"""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np


class FrameIndex:
    """Which file row holds the frame of (descriptor, seq_num, data_key)."""

    def __init__(self):
        self._resources: dict[str, dict] = {}
        self._rows: dict[tuple[str, str, int], tuple[str, int]] = {}

    def stream_resource(self, doc: dict) -> None:
        self._resources[doc["uid"]] = doc

    def stream_datum(self, doc: dict) -> None:
        resource = self._resources[doc["stream_resource"]]
        start, stop = doc["seq_nums"]["start"], doc["seq_nums"]["stop"]
        first = doc["indices"]["start"]
        for k, seq in enumerate(range(start, stop)):
            self._rows[(doc["descriptor"], resource["data_key"], seq)] = (resource["uid"], first + k)

    def location(self, descriptor: str, data_key: str, seq_num: int) -> tuple[Path, str, int] | None:
        """(file, dataset, row) of a frame, or None if no datum covers it (yet)."""
        hit = self._rows.get((descriptor, data_key, seq_num))
        if hit is None:
            return None
        resource = self._resources[hit[0]]
        return (Path(urlparse(resource["uri"]).path), resource["parameters"].get("dataset", "/entry/data/data"),
                hit[1])


def read_frames(path: Path, dataset: str, rows: list[int], attempts: int = 20) -> np.ndarray:
    """Frames ``rows`` of ``dataset`` in an HDF5 file, retrying while its writer holds it."""
    import h5py

    for attempt in range(attempts):
        try:
            with h5py.File(path, "r", locking=False) as f:
                data = f[dataset]
                lo, hi = min(rows), max(rows) + 1
                block = data[lo:hi]
            return np.asarray(block[np.asarray(rows) - lo])
        except (OSError, KeyError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")
