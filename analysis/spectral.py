"""Surface and interior reflectivity of one agglomerate against cell time, per wavelength (seed 000,
Fig. 1b), from a ``spectral_reflectivity`` run: frames at a surface focus and an interior focus
for each wavelength, in sweeps repeated while the cell cycles.

The agglomerate is the bright region (Otsu threshold of the smoothed frame) nearest the field's
centre in the first sweep's surface frame at the first wavelength; every frame is averaged over
those pixels after the detector's dead-time correction, and each (wavelength, focus) trace is
divided by its first sweep's value. ``SpectralAnalysis`` gathers the same from the document
stream, live (``RE.subscribe``) or replayed from Tiled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from event_model import DocumentRouter
from scipy import ndimage
from skimage.filters import threshold_otsu

from .frames import FrameIndex, read_frames
from .stack_prep import dead_time_corrected


@dataclass(frozen=True)
class SpectralTraces:
    """wavelengths_nm (W,); time_s (S,): each sweep's first frame, cell time (s) when the cell was
    read, else seconds from the run's start; surface, interior (S, W): mean counts over the
    agglomerate relative to the first sweep; mask (y, x): the agglomerate's pixels."""
    wavelengths_nm: np.ndarray
    time_s: np.ndarray
    surface: np.ndarray
    interior: np.ndarray
    mask: np.ndarray


def agglomerate_mask(frame, min_pixels: int = 20, smooth_px: float = 1.0) -> np.ndarray:
    """Pixels (bool, y x) of the bright region nearest the frame's centre: Otsu threshold of the
    frame smoothed by a Gaussian of ``smooth_px`` pixels, regions of at least ``min_pixels``."""
    img = ndimage.gaussian_filter(np.asarray(frame, dtype=float), smooth_px)
    labels, n = ndimage.label(img > threshold_otsu(img))
    if n == 0:
        raise ValueError("no bright region in the surface frame: is the field centred on an agglomerate?")
    sizes = ndimage.sum_labels(np.ones_like(img), labels, np.arange(1, n + 1))
    centres = np.array(ndimage.center_of_mass(np.ones_like(img), labels, np.arange(1, n + 1)))
    middle = (np.array(img.shape) - 1) / 2
    distance = np.hypot(*(centres - middle).T)
    distance[sizes < min_pixels] = np.inf
    if not np.isfinite(distance).any():
        raise ValueError(f"no bright region of at least {min_pixels} pixels in the surface frame")
    return labels == int(np.argmin(distance)) + 1


def spectral_traces(frames, wavelengths_nm, focus, sweep, time_s, dead_time_s: float = 0.0,
                    dwell_s: float = 0.0) -> SpectralTraces:
    """Traces from N frames (N, y, x) of counts with, per frame, its wavelength (nm), focus
    ("surface"/"interior"), sweep index and time (s); the detector's dead time and the pixel dwell
    (s) linearise the counts."""
    frames = np.asarray(frames)
    w = np.asarray(wavelengths_nm, dtype=float)
    focus = np.asarray([str(f) for f in focus])
    sweep = np.asarray(sweep, dtype=int)
    t = np.asarray(time_s, dtype=float)
    if not (frames.ndim == 3 and len(w) == len(focus) == len(sweep) == len(t) == len(frames)):
        raise ValueError("frames (N, y, x) need one wavelength, focus, sweep and time each")
    if not {"surface", "interior"} <= set(focus):
        raise ValueError("a spectral run has frames at both the 'surface' and the 'interior' focus")
    wavelengths = np.unique(w)
    sweeps = np.unique(sweep)
    first = np.nonzero((sweep == sweeps[0]) & (focus == "surface") & (w == w[0]))[0][0]
    mask = agglomerate_mask(frames[first])
    means = {"surface": np.full((sweeps.size, wavelengths.size), np.nan),
             "interior": np.full((sweeps.size, wavelengths.size), np.nan)}
    for k in range(len(frames)):
        i = int(np.searchsorted(sweeps, sweep[k]))
        j = int(np.searchsorted(wavelengths, w[k]))
        means[focus[k]][i, j] = float(dead_time_corrected(frames[k], dead_time_s, dwell_s)[mask].mean())
    times = np.array([t[sweep == s].min() for s in sweeps])
    return SpectralTraces(wavelengths, times, means["surface"] / means["surface"][0],
                          means["interior"] / means["interior"][0], mask)


class SpectralAnalysis(DocumentRouter):
    """Gathers a spectral_reflectivity run from its documents and computes its SpectralTraces at
    the stop document (``traces``); a live run and its replay from Tiled give the same numbers."""

    def __init__(self):
        super().__init__()
        self.traces: SpectralTraces | None = None
        self._reset()

    def _reset(self):
        self.start_doc = None
        self._primary = None
        self._frame_key = None
        self._frames = FrameIndex()
        self._rows: list = []

    def start(self, doc):
        self._reset()
        self.traces = None
        if doc.get("plan_name") == "spectral_reflectivity":
            self.start_doc = doc

    def descriptor(self, doc):
        if self.start_doc is None or doc["name"] != "primary":
            return
        self._primary = doc["uid"]
        self._frame_key = next(k for k, v in doc["data_keys"].items()
                               if v.get("external") and k.endswith("_reflection"))
        self._wavelength_key = self.start_doc["motors"][0]
        self._time_key = next((k for k in doc["data_keys"] if k.endswith("_cell_time_s")), None)

    def stream_resource(self, doc):
        self._frames.stream_resource(doc)

    def stream_datum(self, doc):
        self._frames.stream_datum(doc)

    def event(self, doc):
        if doc["descriptor"] != self._primary:
            return
        data = doc["data"]
        t = float(data[self._time_key]) if self._time_key else float(doc["time"]) - self.start_doc["time"]
        self._rows.append((doc["seq_num"], float(data[self._wavelength_key]), str(data["focus"]),
                           int(data.get("sweep", 0)), t))

    def stop(self, doc):
        if self.start_doc is None or not self._rows:
            return
        frames = []
        for seq, *_ in self._rows:
            location = self._frames.location(self._primary, self._frame_key, seq)
            if location is None:
                raise ValueError(f"frame of event {seq} is not referenced by any StreamDatum")
            path, dataset, row = location
            frames.append(read_frames(path, dataset, [row])[0])
        _, w, focus, sweep, t = zip(*self._rows)
        optics = self.start_doc.get("optics", {})
        self.traces = spectral_traces(np.array(frames), w, focus, sweep, t,
                                      float(optics.get("apd_dead_time_s", 0.0)),
                                      float(self.start_doc.get("pixel_dwell_s", 0.0)))
