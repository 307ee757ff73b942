"""Analysis on the document stream: confocal stacks in, a derived run out.

``ConfocalAnalysis`` is an ``event_model.DocumentRouter``: subscribe it to a RunEngine
(``RE.subscribe(ConfocalAnalysis(sink))``) or feed it a stored run's documents
(``operando analyze UID``); both give the same numbers. It assembles each z-stack from the
primary stream (frames resolved from the run's StreamResource/StreamDatum documents), analyses
it in a worker thread so the RunEngine never waits, and emits a *derived run* whose start
document names the raw run, the analysis version and its parameters:

- stream ``registration``: per stack, the sample's drift since the position's first stack (lateral
  from the reflection projections, axial from the coverslip reflection; analysis.stack_prep); the
  frames are moved back laterally before anything is measured, the axial drift is taken off the
  depths the analyses find;
- stream ``volumes``: per stack and tracked agglomerate, Delta V / V with its error (analysis.agglomerates);
- stream ``fronts``: per agglomerate and half-cycle, the surface-to-core front (analysis.fronts);
- stream ``electrolyte``: per stack with a 2PEF channel and segmented agglomerate (numbered by its
  label in the first stack), Delta C next to it, its extent and the host's (analysis.electrolyte).
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from event_model import DocumentRouter, compose_run

from . import electrolyte
from .agglomerates import StackGeometry, Tracker
from .frames import FrameIndex, read_frames
from .fronts import LEPSKI_KAPPA, SHELL_UM, SKIP_FWHM, track_front
from .stack_prep import Registration

log = logging.getLogger(__name__)

ANALYSIS_VERSION = "4"
AXIAL_DRIFT_LIMIT_UM = 0.03     # beyond this, Delta V / V errors exceed ~0.3 pp (docs/analysis.md)


@dataclass
class Stack:
    """One z-stack as the analysis sees it: frames (planes, y, x) per channel, piezo positions (um),
    the cell at its start (cell time s, current A, voltage V, charge C; NaN without a cell) and the
    current at its end (A)."""
    index: int
    position_name: str
    piezo_um: np.ndarray
    frames: dict[str, np.ndarray]
    time_s: float
    current_a: float = float("nan")
    voltage_v: float = float("nan")
    charge_c: float = float("nan")
    end_current_a: float = float("nan")
    locations: dict = field(default_factory=dict, repr=False)   # channel -> [(file, dataset, row)]
    axial_drift_um: float = 0.0     # objective travel the sample drifted away since the position's first stack

    def depths_um(self, depth_scale: float) -> np.ndarray:
        """Apparent depth (um) of each plane in the frame of the position's first stack."""
        return (self.piezo_um - self.axial_drift_um) * depth_scale

    def load(self) -> "Stack":
        """Read the frames of every located channel from their files (float32, in plane order)."""
        for channel, located in self.locations.items():
            if channel in self.frames:
                continue
            by_file: dict = {}
            for k, (path, dataset, row) in enumerate(located):
                by_file.setdefault((path, dataset), []).append((k, row))
            out = [None] * len(located)
            for (path, dataset), items in by_file.items():
                for (k, _), frame in zip(items, read_frames(path, dataset, [row for _, row in items])):
                    out[k] = frame
            self.frames[channel] = np.stack(out).astype(np.float32)
        return self

    @property
    def at_rest(self) -> bool:
        """Taken at open circuit from start to end (a stack that straddles a current step is not)."""
        return self.current_a == 0 and self.end_current_a == 0


@dataclass
class _Pending:
    planes: list = field(default_factory=list)      # (piezo_um, {channel: (descriptor, key, seq_num)})
    position_name: str = ""
    first_time: float = float("nan")


class StackCollector(DocumentRouter):
    """Assembles the z-stacks of a confocal run and hands each complete one to ``on_stack``.

    A stack is complete when its summary arrives in the ``stacks`` stream (cycling and
    multi-position plans) or, for a single z-stack, when the run stops."""

    def __init__(self, channels=("reflection", "fluorescence")):
        super().__init__()
        self.channels = tuple(channels)
        self._reset()

    def _reset(self):
        self.start_doc: dict | None = None
        self._streams: dict[str, str] = {}
        self._frame_keys: dict[str, dict[str, str]] = {}
        self._frames = FrameIndex()
        self._pending: dict[int, _Pending] = {}
        self._complete: list = []       # finished stacks waiting, in order, for their frames' datums
        self._piezo_key = None

    def on_stack(self, stack: Stack) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self, doc):
        self._reset()
        self.start_doc = doc
        dims = doc.get("hints", {}).get("dimensions") or []
        self._piezo_key = dims[0][0][0] if dims else None

    def descriptor(self, doc):
        self._streams[doc["uid"]] = doc["name"]
        keys = {}
        for key, info in doc["data_keys"].items():
            if info.get("external") and len(info.get("shape", ())) == 2:
                for channel in self.channels:
                    if key.endswith("_" + channel):
                        keys[channel] = key
        self._frame_keys[doc["uid"]] = keys

    def stream_resource(self, doc):
        self._frames.stream_resource(doc)

    def stream_datum(self, doc):
        self._frames.stream_datum(doc)
        self._flush()

    def event(self, doc):
        stream = self._streams.get(doc["descriptor"])
        data = doc["data"]
        if stream == "primary":
            keys = self._frame_keys.get(doc["descriptor"], {})
            if not keys or self._piezo_key not in data:
                return
            index = int(data.get("stack_index", 0))
            pending = self._pending.setdefault(index, _Pending())
            pending.position_name = str(data.get("stack_position_name", ""))
            if not pending.planes:
                pending.first_time = float(doc["time"])
            pending.planes.append((float(data[self._piezo_key]),
                                   {c: (doc["descriptor"], k, doc["seq_num"]) for c, k in keys.items()}))
        elif stream == "stacks":
            index = int(data["stack_summary_index"])
            pending = self._pending.pop(index, None)
            if pending is not None and pending.planes:
                self._complete.append((index, pending, dict(
                    time_s=float(data["stack_summary_start_time_s"]),
                    current_a=float(data["stack_summary_start_current_a"]),
                    voltage_v=float(data["stack_summary_start_voltage_v"]),
                    charge_c=float(data["stack_summary_start_charge_c"]),
                    end_current_a=float(data.get("stack_summary_end_current_a", float("nan"))))))
                self._flush()

    def stop(self, doc):
        t0 = self.start_doc["time"] if self.start_doc else 0.0
        for index in sorted(self._pending):
            pending = self._pending[index]
            if pending.planes:
                self._complete.append((index, pending, dict(time_s=pending.first_time - t0)))
        self._pending.clear()
        self._flush(final=True)

    def _resolvable(self, pending: _Pending) -> bool:
        return all(self._frames.location(*ref) is not None for _, refs in pending.planes for ref in refs.values())

    def _flush(self, final: bool = False) -> None:
        """Hand over finished stacks in order once their frames are known (a replay from Tiled
        sends the StreamDatum documents after the events)."""
        while self._complete and (final or self._resolvable(self._complete[0][1])):
            index, pending, cell = self._complete.pop(0)
            self._emit(index, pending, **cell)

    def _emit(self, index: int, pending: _Pending, **cell) -> None:
        """Hand over a finished stack with where its frames are; ``Stack.load()`` reads them (in the
        analysis worker, not on the RunEngine's thread)."""
        piezo = np.array([p for p, _ in pending.planes])
        order = np.argsort(piezo)
        locations = {}
        for channel in pending.planes[0][1]:
            located = [self._frames.location(*refs[channel]) for _, refs in pending.planes]
            if any(loc is None for loc in located):
                log.warning("stack %d: frames of %s not referenced by any StreamDatum; skipped", index, channel)
                continue
            locations[channel] = [located[k] for k in order]
        self.on_stack(Stack(index, pending.position_name, piezo[order], {}, locations=locations, **cell))


# Data keys of the derived streams: (dtype, units).
VOLUME_KEYS = {"stack_index": ("integer", ""), "position_name": ("string", ""), "agglomerate": ("integer", ""),
               "cell_time_s": ("number", "s"), "current_a": ("number", "A"), "dv_v": ("number", ""),
               "dv_v_error": ("number", ""), "rise_um": ("number", "um"), "half_height_um": ("number", "um"),
               "x_um": ("number", "um"), "y_um": ("number", "um"), "volume_um3": ("number", "um^3")}
ELECTROLYTE_KEYS = {"stack_index": ("integer", ""), "position_name": ("string", ""), "agglomerate": ("integer", ""),
                   "cell_time_s": ("number", "s"), "current_a": ("number", "A"), "plane_depth_um": ("number", "um"),
                   "delta_c_near_m": ("number", "mol/L"), "delta_c_host_m": ("number", "mol/L"),
                   "extent_um": ("number", "um")}
DRIFT_KEYS = {"stack_index": ("integer", ""), "position_name": ("string", ""), "cell_time_s": ("number", "s"),
              "drift_x_um": ("number", "um"), "drift_y_um": ("number", "um"), "drift_z_um": ("number", "um")}
FRONT_KEYS = {"position_name": ("string", ""), "agglomerate": ("integer", ""), "segment": ("string", ""),
              "start_time_s": ("number", "s"), "end_time_s": ("number", "s"), "n_stacks": ("integer", ""),
              "velocity_nm_s": ("number", "nm/s"), "velocity_error_nm_s": ("number", "nm/s"),
              "spread_s": ("number", "s"), "uniform": ("boolean", ""), "min_depth_um": ("number", "um"),
              "max_depth_um": ("number", "um")}


def _data_keys(spec: dict, source: str) -> dict:
    return {k: {"dtype": d, "shape": [], "source": source, "units": u} for k, (d, u) in spec.items()}


class ConfocalAnalysis(StackCollector):
    """Volumes and fronts of the agglomerates in a confocal run, as a derived run.

    sink: callable(name, doc) receiving the derived run's documents (e.g. a TiledWriter); the
    documents are also kept in ``documents``. background: analyse in a worker thread (live use);
    False analyses in the caller's thread (replay, tests). ``wait()`` blocks until done.
    figures_dir: live PNGs there, redrawn after every stack (Delta V / V, salt map) and at the end
    (front maps).
    """

    def __init__(self, sink=None, *, background: bool = True, match_radius_um: float = 1.0,
                 min_front_stacks: int = 4, figures_dir=None):
        super().__init__()
        self.sink = sink
        self.figures_dir = None if figures_dir is None else Path(figures_dir)
        self.background = background
        self.parameters = {"match_radius_um": match_radius_um, "min_front_stacks": min_front_stacks,
                           "front_skip_fwhm": SKIP_FWHM, "front_shell_um": SHELL_UM,
                           "front_uniform_within": "one stack interval, at least 60 s",
                           "front_lepski_kappa": LEPSKI_KAPPA}
        self.documents: list[tuple[str, dict]] = []
        self.volumes: list[dict] = []
        self.fronts: list[dict] = []
        self.trackers: dict[str, Tracker] = {}
        self.registrations: dict[str, Registration] = {}
        self.drifts: list[dict] = []
        self.stacks_meta: dict[str, list[Stack]] = {}
        self.electrolyte: list[dict] = []
        self.salt_maps: dict[tuple[str, int], np.ndarray] = {}
        self._salt_reference: dict[str, tuple[float, np.ndarray]] = {}
        self._salt_waiting: dict[str, list[Stack]] = {}
        self.salt_footprints: dict[str, dict[int, np.ndarray]] = {}
        self.calibration = electrolyte.load_calibration()
        self.errors: list[BaseException] = []
        self._queue: queue.Queue = queue.Queue()
        self._done = threading.Event()
        self._done.set()
        self._worker = None

    # --- documents in -------------------------------------------------------------------
    def start(self, doc):
        super().start(doc)
        self._done.clear()
        self._run(("start", doc))

    def on_stack(self, stack: Stack) -> None:
        self._run(("stack", stack))

    def stop(self, doc):
        super().stop(doc)
        self._run(("stop", doc))

    def wait(self, timeout: float = 600.0) -> None:
        """Block until every stack seen so far is analysed and, after the raw stop, the derived run closed."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"analysis still running after {timeout} s")
        if self.errors:
            raise self.errors[0]

    # --- work -----------------------------------------------------------------------------
    def _run(self, item):
        if not self.background:
            self._handle(item)
            return
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._drain, name="confocal-analysis", daemon=True)
            self._worker.start()
        self._queue.put(item)

    def _drain(self):
        while True:
            item = self._queue.get()
            try:
                self._handle(item)
            except BaseException as exc:    # keep the worker alive; report at wait()
                log.exception("confocal analysis failed on %s", item[0])
                self.errors.append(exc)
                if item[0] == "stop":
                    self._done.set()
            finally:
                self._queue.task_done()

    def _handle(self, item):
        kind, payload = item
        if kind == "start":
            self._open(payload)
        elif kind == "stack":
            self._analyse(payload)
        else:
            self._close(payload)

    def _emit_doc(self, name, doc):
        self.documents.append((name, doc))
        if self.sink is not None:
            self.sink(name, doc)

    def _open(self, raw_start: dict):
        self.trackers.clear()
        self.registrations.clear()
        self.drifts.clear()
        self.stacks_meta.clear()
        self.volumes.clear()
        self.fronts.clear()
        self.electrolyte.clear()
        self.salt_maps.clear()
        self._salt_reference.clear()
        self._salt_waiting.clear()
        self.salt_footprints.clear()
        self._electrolyte_desc = None
        self.bulk_m = float(raw_start.get("sample", {}).get("electrolyte", {}).get("salt_m", 1.0))
        self.geometry = StackGeometry.from_start(raw_start)
        md = {"raw_uid": raw_start["uid"], "analysis": "confocal", "analysis_version": ANALYSIS_VERSION,
              "parameters": self.parameters, "plan_name": "confocal_analysis",
              "calibration": {"tpef": self.calibration.source, "settings": self.calibration.settings},
              "raw_plan_name": raw_start.get("plan_name")}
        for key in ("material", "c_rate", "sample", "operator", "protocol"):
            if key in raw_start:
                md[key] = raw_start[key]
        self._bundle = compose_run(metadata=md)
        self._emit_doc("start", self._bundle.start_doc)
        self._volume_desc = self._bundle.compose_descriptor(name="volumes", data_keys=_data_keys(VOLUME_KEYS, "volumes"))
        self._emit_doc("descriptor", self._volume_desc.descriptor_doc)
        self._drift_desc = self._bundle.compose_descriptor(name="registration",
                                                           data_keys=_data_keys(DRIFT_KEYS, "registration"))
        self._emit_doc("descriptor", self._drift_desc.descriptor_doc)
        self._front_desc = None

    def _analyse(self, stack: Stack):
        stack.load()
        if "reflection" not in stack.frames:
            return
        registration = self.registrations.setdefault(stack.position_name, Registration(self.geometry.pixel_size_um))
        drift = registration.measure(stack.frames["reflection"], stack.piezo_um)
        if abs(drift[2]) > AXIAL_DRIFT_LIMIT_UM:
            log.warning("position %s, stack %d: %.3f um of axial drift since the first stack; volumes are "
                        "corrected to 0.2 pp only up to %.2f um (use the focus lock)", stack.position_name,
                        stack.index, drift[2], AXIAL_DRIFT_LIMIT_UM)
        # Dead time corrected before the frames are moved (the correction is not linear).
        stack.frames["reflection"] = self.geometry.linear_counts(stack.frames["reflection"])
        stack.frames = registration.apply(stack.frames, drift)
        stack.axial_drift_um = drift[2]
        row = {"stack_index": stack.index, "position_name": stack.position_name, "cell_time_s": stack.time_s,
               "drift_x_um": drift[0], "drift_y_um": drift[1], "drift_z_um": drift[2]}
        self.drifts.append(row)
        self._emit_doc("event", self._drift_desc.compose_event(data=row, timestamps=_now(row)))
        tracker = self.trackers.setdefault(stack.position_name, Tracker(self.geometry,
                                                                        self.parameters["match_radius_um"]))
        self.stacks_meta.setdefault(stack.position_name, []).append(stack)
        for change in tracker.add(stack.frames["reflection"], stack.piezo_um, stack.time_s, counts_linear=True,
                                  axial_drift_um=stack.axial_drift_um):
            track = tracker.tracks[change.ident]
            row = {"stack_index": stack.index, "position_name": stack.position_name, "agglomerate": change.ident,
                   "cell_time_s": stack.time_s, "current_a": stack.current_a, "dv_v": change.dv_v,
                   "dv_v_error": change.dv_v_error, "rise_um": change.rise_um,
                   "half_height_um": change.half_height_um, "x_um": track.reference.xy_um[0],
                   "y_um": track.reference.xy_um[1], "volume_um3": track.reference.volume_um3}
            self.volumes.append(row)
            self._emit_doc("event", self._volume_desc.compose_event(data=row, timestamps=_now(row)))
        if "fluorescence" in stack.frames:
            self._salt(stack, tracker)
        if not any(stack is w for waiting in self._salt_waiting.values() for w in waiting):
            stack.frames.clear()        # keep the metadata, not ~10-20 MB of frames per stack
        if self.figures_dir is not None:
            from . import figures

            self.figures_dir.mkdir(parents=True, exist_ok=True)
            figures.volume_changes(self, self.figures_dir / "volume_changes.png")
            latest = self.salt_maps.get((stack.position_name, stack.index))
            if latest is not None:
                figures.salt_map(latest, self.geometry.pixel_size_um, self.figures_dir / "salt_map.png",
                                 f"ΔC_salt, stack {stack.index} ({stack.time_s / 3600:.2f} h)")

    def _salt(self, stack: Stack, tracker: Tracker):
        """Delta C in the plane 0.3 um above the electrode. The reference is the last stack taken
        wholly at open circuit before the first current (salt at its bulk value there, if the rest
        was long enough); stacks wait until it is known."""
        waiting = self._salt_waiting.setdefault(stack.position_name, [])
        if stack.position_name not in self._salt_reference:
            waiting.append(stack)
            if stack.at_rest or not np.isfinite(stack.current_a):
                return
            rest = [s for s in waiting if s.at_rest]
            reference = rest[-1] if rest else waiting[0]
            depths = reference.depths_um(self.geometry.depth_scale)
            fl = reference.frames["fluorescence"]
            plane = electrolyte.electrode_surface_depth(fl, depths) - 0.3
            self._salt_reference[stack.position_name] = (plane, electrolyte.plane_at(fl, depths, plane))
            self.salt_footprints[stack.position_name] = {m.label: m.footprint for m in tracker.segmented
                                                         if not m.touches_edge}
            pending, waiting[:] = list(waiting), []
            for s in pending:
                if s is reference or s.time_s >= reference.time_s:
                    self._salt_map(s)
                if s is not stack:
                    s.frames.clear()
            return
        self._salt_map(stack)

    def _salt_map(self, stack: Stack):
        plane, reference = self._salt_reference[stack.position_name]
        depths = stack.depths_um(self.geometry.depth_scale)
        delta = electrolyte.salt_map(electrolyte.plane_at(stack.frames["fluorescence"], depths, plane), reference,
                                     self.calibration, self.bulk_m) - self.bulk_m
        self.salt_maps[(stack.position_name, stack.index)] = delta
        footprints = self.salt_footprints[stack.position_name]
        host = electrolyte.host_delta_c(delta, list(footprints.values()), self.geometry.pixel_size_um)
        if self._electrolyte_desc is None:
            self._electrolyte_desc = self._bundle.compose_descriptor(
                name="electrolyte", data_keys=_data_keys(ELECTROLYTE_KEYS, "electrolyte"))
            self._emit_doc("descriptor", self._electrolyte_desc.descriptor_doc)
        for ident, fp in footprints.items():
            g = electrolyte.gradient_near(delta, fp, self.geometry.pixel_size_um)
            row = {"stack_index": stack.index, "position_name": stack.position_name, "agglomerate": ident,
                   "cell_time_s": stack.time_s, "current_a": stack.current_a, "plane_depth_um": plane,
                   "delta_c_near_m": g.near_m, "delta_c_host_m": host, "extent_um": g.extent_um}
            self.electrolyte.append(row)
            self._emit_doc("event", self._electrolyte_desc.compose_event(data=row, timestamps=_now(row)))

    def _close(self, raw_stop: dict):
        for position, tracker in self.trackers.items():
            for segment in half_cycles(self.stacks_meta[position], self.parameters["min_front_stacks"]):
                for track in tracker.tracks.values():
                    row = self._front(track, segment, position)
                    if row is None:
                        continue
                    if self._front_desc is None:
                        self._front_desc = self._bundle.compose_descriptor(
                            name="fronts", data_keys=_data_keys(FRONT_KEYS, "fronts"))
                        self._emit_doc("descriptor", self._front_desc.descriptor_doc)
                    self.fronts.append(row)
                    self._emit_doc("event", self._front_desc.compose_event(data=row, timestamps=_now(row)))
        if self.figures_dir is not None:
            from . import figures

            for position, tracker in self.trackers.items():
                for ident in tracker.tracks:
                    figures.front_map(self, position, ident, self.figures_dir / f"front_{position}{ident}.png")
        self._emit_doc("stop", self._bundle.compose_stop(exit_status="success" if raw_stop.get("exit_status") == "success"
                                                         else "abort", reason=raw_stop.get("reason", "")))
        self._done.set()

    def _front(self, track, segment, position):
        name, indices = segment
        times = np.asarray(track.times_s)
        keep = track.rows(indices)
        if len(keep) < self.parameters["min_front_stacks"]:
            return None
        try:
            result = track_front(track, indices)
        except ValueError as exc:
            log.info("no front for agglomerate %d: %s", track.ident, exc)
            return None
        if result is None:          # nothing changed: an inactive agglomerate
            return None
        return {"position_name": position, "agglomerate": track.ident, "segment": name,
                "start_time_s": float(times[keep[0]]), "end_time_s": float(times[keep[-1]]), "n_stacks": len(keep),
                "velocity_nm_s": float(result.velocity_nm_s) if np.isfinite(result.velocity_nm_s) else 0.0,
                "velocity_error_nm_s": float(np.nan_to_num(result.velocity_error_nm_s)),
                "spread_s": float(np.nan_to_num(result.spread_s)), "uniform": bool(result.uniform),
                "min_depth_um": float(result.depth_um.min()), "max_depth_um": float(result.depth_um.max())}


def half_cycles(stacks: list[Stack], min_stacks: int) -> list[tuple[str, list[int]]]:
    """Runs of consecutive stacks taken while charging (current > 0) or discharging (< 0), each
    preceded by the stack before it (its starting state): [(\"charge\" | \"discharge\", indices)]."""
    out, current, name = [], [], None
    for k, s in enumerate(stacks):
        sign = "charge" if s.current_a > 0 else "discharge" if s.current_a < 0 else None
        if sign != name:
            if name is not None and len(current) >= min_stacks:
                out.append((name, current))
            current = [k - 1] if (sign is not None and k > 0) else []
            name = sign
        if sign is not None:
            current.append(k)
    if name is not None and len(current) >= min_stacks:
        out.append((name, current))
    return out


def _now(row: dict) -> dict:
    import time

    t = time.time()
    return {k: t for k in row}
