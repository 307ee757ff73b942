"""Live (or replayed) analysis of a widefield run: every rod's length, elongation and lithium fraction
frame by frame, differential line-cuts (kymographs), the fronts entering from each end, and the
cracks that open, as a derived run.

``WidefieldAnalysis`` is an ``event_model.DocumentRouter``: subscribe it to a RunEngine, or feed
it a stored run's ``documents()``; both give the same derived run. Frames are read from the
camera's HDF5 file (the stream's StreamResource / StreamDatum), never from the documents.
"""
from __future__ import annotations

import logging
from urllib.parse import urlparse

import numpy as np
from event_model import DocumentRouter, compose_run

from . import rods as R
from .cracks import detect_cracks
from .frames import read_frames

log = logging.getLogger(__name__)

ANALYSIS_VERSION = "1"
X_AFTER_HOLD = 0.08       # lithium fraction after the seed's 2.8 V hold (start of a cycle)

ROD_KEYS = {"frame": ("", "integer"), "cell_time_s": ("s", "number"), "rod": ("", "integer"),
            "length_um": ("um", "number"), "elongation": ("", "number"), "x": ("", "number"),
            "mean_counts": ("counts", "number")}
FRONT_KEYS = {"rod": ("", "integer"), "end": ("", "integer"), "velocity_nm_s": ("nm/s", "number"),
              "velocity_error_nm_s": ("nm/s", "number"), "t_start_s": ("s", "number"), "t_end_s": ("s", "number"),
              "n_points": ("", "integer")}
CRACK_KEYS = {"rod": ("", "integer"), "time_s": ("s", "number"), "position_um": ("um", "number"),
              "velocity_nm_s": ("nm/s", "number"), "brightness_ratio": ("", "number"),
              "disconnected": ("", "boolean")}


def _data_keys(spec: dict, source: str) -> dict:
    return {k: {"dtype": dtype, "shape": [], "source": source, "units": units} for k, (units, dtype) in spec.items()}


class WidefieldAnalysis(DocumentRouter):
    """Rods of a widefield run. sink: callable(name, doc) for the derived run (e.g. a TiledWriter);
    documents also kept in ``documents``. x_start: the rods' lithium fraction in the first frame
    (default: the start document's ``x_start``, else 0.08, as after a 2.8 V hold). lag: frames
    between the two of each differential line-cut."""

    def __init__(self, sink=None, *, x_start: float | None = None, lag: int = 2, stream: str = "widefield"):
        super().__init__()
        self.sink = sink
        self.x_start_given = x_start
        self.lag = lag
        self.stream = stream
        self.documents: list[tuple[str, dict]] = []

    # --- documents in ---------------------------------------------------------------------
    def start(self, doc):
        self.pixel_um = float(doc.get("pixel_size_um", np.nan))
        self.x_start = self.x_start_given if self.x_start_given is not None else float(doc.get("x_start", X_AFTER_HOLD))
        self._resources: dict[str, dict] = {}
        self._descriptor = None
        self.rods: list[R.RodAxis] = []
        self.rows: list[dict] = []
        self.profiles: dict[int, list[np.ndarray]] = {}
        self.positions_px: dict[int, np.ndarray] = {}
        self.strips: dict[int, list[np.ndarray]] = {}
        self.strip_axes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.times: list[float] = []
        self.first_lengths: dict[int, float] = {}
        self.fronts: list[dict] = []
        self.cracks: list[dict] = []
        self.kymographs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.ends_px: dict[int, tuple[float, float]] = {}
        self._frames_seen = 0
        md = {"raw_uid": doc["uid"], "analysis": "widefield", "analysis_version": ANALYSIS_VERSION,
              "plan_name": "widefield_analysis", "raw_plan_name": doc.get("plan_name"),
              "parameters": {"x_start": self.x_start, "lag_frames": self.lag}}
        for key in ("material", "c_rate", "sample", "operator", "protocol"):
            if key in doc:
                md[key] = doc[key]
        self._bundle = compose_run(metadata=md)
        self._emit("start", self._bundle.start_doc)
        self._rod_desc = self._bundle.compose_descriptor(name="rods", data_keys=_data_keys(ROD_KEYS, "rods"))
        self._emit("descriptor", self._rod_desc.descriptor_doc)

    def descriptor(self, doc):
        if doc.get("name") == self.stream:
            self._descriptor = doc["uid"]
            self._image_key = next(k for k in doc["data_keys"] if k.endswith("_image"))
            self._prefix = self._image_key[: -len("image")]

    def stream_resource(self, doc):
        self._resources[doc["data_key"]] = doc

    def stream_datum(self, doc):
        if doc["descriptor"] != self._descriptor:
            return
        resource = next((r for r in self._resources.values() if r["uid"] == doc["stream_resource"]), None)
        if resource is None or resource["data_key"] != self._image_key:
            return
        rows = list(range(doc["indices"]["start"], doc["indices"]["stop"]))
        path = urlparse(resource["uri"]).path
        images = read_frames(path, resource["parameters"]["dataset"], rows)
        times_res = self._resources[self._prefix + "cell_time_s"]
        times = read_frames(urlparse(times_res["uri"]).path, times_res["parameters"]["dataset"], rows)
        for image, t in zip(images, times):
            self._frame(image, float(t))

    def stop(self, doc):
        self._close(doc)

    # --- work -----------------------------------------------------------------------------
    def _emit(self, name, doc):
        self.documents.append((name, doc))
        if self.sink is not None:
            self.sink(name, doc)

    def _frame(self, image: np.ndarray, cell_time_s: float):
        frame = self._frames_seen
        self._frames_seen += 1
        if not self.rods:
            self.rods = R.segment_rods(image)
        self.times.append(cell_time_s)
        for rod in self.rods:
            s, profile = R.axial_profile(image, rod)
            s_strip, v_strip, strip = R.rod_strip(image, rod)
            self.strip_axes.setdefault(rod.label, (s_strip, v_strip))
            self.strips.setdefault(rod.label, []).append(strip)
            self.positions_px.setdefault(rod.label, s)
            self.profiles.setdefault(rod.label, []).append(profile)
            a, b = R.end_positions(s, profile)
            length = (b - a) * self.pixel_um
            first = self.first_lengths.setdefault(rod.label, length)
            elongation = length / first - 1.0
            row = {"frame": frame, "cell_time_s": cell_time_s, "rod": rod.label, "length_um": length,
                   "elongation": elongation, "x": float(R.x_from_elongation(elongation, self.x_start)),
                   "mean_counts": float(np.mean(profile[(s > a) & (s < b)])) if b > a else float("nan")}
            self.rows.append(row)
            self._emit("event", self._rod_desc.compose_event(data=row, timestamps={k: 0.0 for k in row}))

    def _close(self, raw_stop: dict):
        times = np.asarray(self.times)
        front_desc = crack_desc = None
        for rod in self.rods:
            if len(self.profiles.get(rod.label, [])) <= self.lag + 4:
                continue
            s_um = self.positions_px[rod.label] * self.pixel_um
            profiles = np.asarray(self.profiles[rod.label])
            t_mid, kym = R.differential_linecuts(profiles, times, self.lag)
            a, b = R.end_positions(self.positions_px[rod.label], profiles[0])
            self.ends_px[rod.label] = (a, b)
            ends = (a * self.pixel_um, b * self.pixel_um)
            self.kymographs[rod.label] = (t_mid, s_um, kym)
            for f in R.rod_fronts(t_mid, kym, s_um, ends):
                end = f.end
                row = {"rod": rod.label, "end": end, "velocity_nm_s": f.velocity_um_s * 1e3,
                       "velocity_error_nm_s": f.error_um_s * 1e3, "t_start_s": f.t_start_s, "t_end_s": f.t_end_s,
                       "n_points": f.n_points}
                if front_desc is None:
                    front_desc = self._bundle.compose_descriptor(name="fronts", data_keys=_data_keys(FRONT_KEYS, "fronts"))
                    self._emit("descriptor", front_desc.descriptor_doc)
                self.fronts.append(row)
                self._emit("event", front_desc.compose_event(data=row, timestamps={k: 0.0 for k in row}))
            s_strip, v_strip = self.strip_axes[rod.label]
            mask = ((np.abs(v_strip)[None, :] < rod.width_px / 2 - 1.5)
                    & (s_strip[:, None] > a + 1) & (s_strip[:, None] < b - 1))
            for c in detect_cracks(np.asarray(self.strips[rod.label]), times, s_strip, v_strip, self.pixel_um, mask):
                row = {"rod": rod.label, **c}
                if crack_desc is None:
                    crack_desc = self._bundle.compose_descriptor(name="cracks", data_keys=_data_keys(CRACK_KEYS, "cracks"))
                    self._emit("descriptor", crack_desc.descriptor_doc)
                self.cracks.append(row)
                self._emit("event", crack_desc.compose_event(data=row, timestamps={k: 0.0 for k in row}))
        self._emit("stop", self._bundle.compose_stop(
            exit_status="success" if raw_stop.get("exit_status") == "success" else "abort",
            reason=raw_stop.get("reason", "")))
