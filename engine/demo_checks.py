"""The demo's checks: what the analysis measured against what the virtual cell did.

Only this module (and tests, benchmarks) reads the truth sidecars. Each check is
{name, measured, truth, tolerance, unit, passed}; ``write_summary`` stores them in
``demo-output/summary.json`` and prints them as a table.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np


@dataclass
class Check:
    name: str
    measured: float
    truth: float
    tolerance: float
    unit: str
    passed: bool


def within(name: str, measured: float, truth: float, tolerance: float, unit: str, relative: bool = False) -> Check:
    """|measured - truth| <= tolerance (times |truth| when relative)."""
    tol = tolerance * abs(truth) if relative else tolerance
    ok = bool(np.isfinite(measured) and np.isfinite(truth) and abs(measured - truth) <= tol)
    return Check(name, float(measured), float(truth), float(tol), unit, ok)


def write_summary(checks: list[Check], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.json"
    path.write_text(json.dumps([asdict(c) for c in checks], indent=1))
    width = max(len(c.name) for c in checks)
    print(f"\n{'check':<{width}}  {'measured':>10}  {'truth':>10}  {'tolerance':>9}  unit   passed")
    for c in checks:
        print(f"{c.name:<{width}}  {c.measured:>10.4g}  {c.truth:>10.4g}  {c.tolerance:>9.3g}  {c.unit:<5}  {c.passed}")
    print(f"{sum(c.passed for c in checks)}/{len(checks)} checks passed; written to {path}")
    return path


class RunTruth:
    """The virtual cell's truth for a stored confocal run: geometry and per-frame cell state."""

    def __init__(self, run, data_key: str):
        from operando.ioc.cell.truth import STATE_TRUTH_SUFFIX, TRUTH_SUFFIX

        from .readback import frame_file

        path = frame_file(run, data_key)
        self.geometry = json.loads(path.with_name(path.name + TRUTH_SUFFIX).read_text())
        self.state_path = path.with_name(path.name + STATE_TRUTH_SUFFIX)
        primary = run["primary"].read()
        self.stack_index = primary["stack_index"].values if "stack_index" in primary else np.zeros(len(primary["time"]))

    def state(self, stack_index: int):
        """The cell state the first plane of stack ``stack_index`` was rendered with."""
        return self.frame_state(int(np.nonzero(self.stack_index == stack_index)[0][0]))

    def frame_state(self, frame: int):
        """The cell state frame ``frame`` (its row in the run's HDF5 file) was rendered with."""
        from operando.ioc.cell.truth import read_state_truth

        return read_state_truth(self.state_path, frame)

    def drift_um(self, stack_index: int) -> np.ndarray:
        """The sample's drift displacement (um, x y z) at the first plane of stack ``stack_index``."""
        from operando.ioc.cell.truth import read_drift_truth

        return read_drift_truth(self.state_path, int(np.nonzero(self.stack_index == stack_index)[0][0]))

    def agglomerate_at(self, x_um: float, y_um: float) -> dict:
        """The true agglomerate nearest to a lateral position in the sample frame (um)."""
        return min(self.geometry["agglomerates"],
                   key=lambda a: np.hypot(a["center_um"][0] - x_um, a["center_um"][1] - y_um))


def volume_checks(analysis, truth: RunTruth, positions: dict, tolerance_pp: float = 0.5, prefix: str = "") -> list[Check]:
    """Per tracked agglomerate: Delta V / V at the stack where the truth's is largest in magnitude
    (relative to the reference stack), and |Delta V / V| < 0.5 % throughout for inactive ones;
    check names start with ``prefix``."""
    checks = []
    rows: dict = {}
    for row in analysis.volumes:
        rows.setdefault((row["position_name"], row["agglomerate"]), []).append(row)
    for (pos, ident), series in sorted(rows.items()):
        x0, y0 = positions[pos]
        agg = truth.agglomerate_at(series[0]["x_um"] + x0, series[0]["y_um"] + y0)
        label = agg["label"]
        ref = truth.state(series[0]["stack_index"]).agglomerates[label].volume_change
        true = np.array([(1 + truth.state(r["stack_index"]).agglomerates[label].volume_change) / (1 + ref) - 1
                         for r in series])
        meas = np.array([r["dv_v"] for r in series])
        diameter = 2 * float(np.prod(agg["semi_axes_um"])) ** (1 / 3)
        if not agg["active"]:
            typical = float(np.percentile(np.abs(meas[1:]), 90)) * 100 if len(meas) > 1 else 0.0
            checks.append(Check(f"{prefix}inactive agglomerate {label}: 90th percentile of |dV/V| over {len(meas)} stacks",
                                typical, float(np.max(np.abs(true))) * 100, 0.5, "%", bool(typical < 0.5)))
            continue
        k = int(np.argmax(np.abs(true)))
        tol = tolerance_pp if diameter >= 3.0 else 2 * tolerance_pp
        checks.append(within(f"{prefix}dV/V agglomerate {label} ({diameter:.1f} um) at {series[k]['cell_time_s'] / 3600:.2f} h",
                             meas[k] * 100, true[k] * 100, tol, "%"))
    return checks


def front_checks(analysis, truth: RunTruth, positions: dict, tolerance: float = 0.2) -> list[Check]:
    """Front velocity of each agglomerate and half-cycle against the truth's shells sampled at the
    same stacks and over the same depths (analysis.fronts.state_front). A uniform truth (all depths
    pass the level within the time resolution) is matched by a measured front reported uniform or
    whose crossings' fitted spread over its depths is within the resolution by 2 standard errors."""
    from operando.analysis.fronts import state_front, time_resolution_s

    checks = []
    for f in analysis.fronts:
        tracker = analysis.trackers[f["position_name"]]
        track = tracker.tracks[f["agglomerate"]]
        x0, y0 = positions[f["position_name"]]
        agg = truth.agglomerate_at(track.reference.xy_um[0] + x0, track.reference.xy_um[1] + y0)
        stacks = [s for s in analysis.stacks_meta[f["position_name"]] if f["start_time_s"] <= s.time_s <= f["end_time_s"]]
        states = [truth.state(s.index).agglomerates[agg["label"]] for s in stacks]
        n = len(states[0].x_shells)
        r_eq = float(np.prod(agg["semi_axes_um"])) ** (1 / 3)
        # Shell centres (centre to surface) at their depth below the top along the central column.
        depth = (1 - (np.arange(n) + 0.5) / n) * central_half_thickness_um(truth, agg["label"])
        use = (depth >= f["min_depth_um"]) & (depth <= f["max_depth_um"])
        x = np.array([s.x_shells for s in states])
        if np.ptp(x, axis=0).max() < 0.02:
            checks.append(Check(f"front agglomerate {agg['label']}: none (truth unchanged)", 1.0, 0.0, 0.0, "bool",
                                False))
            continue
        times = [s.time_s for s in stacks]
        resolution = time_resolution_s(times)
        true = state_front(depth[use], times, x[:, use], resolution)
        name = f"front agglomerate {agg['label']} ({2 * r_eq:.1f} um), {f['segment']}"
        if true.uniform:
            spread, error = _fitted_spread(f)
            consistent = bool(f["uniform"]) or spread - 2 * error <= resolution
            label = "uniform" if f["uniform"] else f"spread {spread:.0f} +- {error:.0f} s"
            checks.append(Check(f"{name}: uniform within {resolution:.0f} s (measured {label})", spread, 0.0,
                                resolution, "s", consistent))
        elif f["uniform"]:
            checks.append(Check(f"{name}: measured uniform, truth a front of {true.velocity_nm_s:.2f} nm/s",
                                float(f["spread_s"]), true.spread_s, resolution, "s", False))
        else:
            checks.append(within(name + f" (+- {f['velocity_error_nm_s']:.2g})", f["velocity_nm_s"],
                                 true.velocity_nm_s, tolerance, "nm/s", relative=True))
    return checks


def _fitted_spread(front: dict) -> tuple[float, float]:
    """A measured front's crossing-time rise over its depths (s) and its standard error (s)."""
    if front["uniform"]:
        return 0.0, 0.0
    span_nm = (front["max_depth_um"] - front["min_depth_um"]) * 1e3
    v, err = front["velocity_nm_s"], front["velocity_error_nm_s"]
    return span_nm / abs(v), span_nm * err / v ** 2


def registration_checks(analysis, truth: RunTruth, position: str, lateral_um: float = 0.02,
                        axial_um: float = 0.01) -> list[Check]:
    """The drift the analysis registered at a position's last stack against the truth's displacement
    between its first and last stacks (x, y within ``lateral_um``, z within ``axial_um``)."""
    rows = [r for r in analysis.drifts if r["position_name"] == position]
    first, last = rows[0], rows[-1]
    true = truth.drift_um(last["stack_index"]) - truth.drift_um(first["stack_index"])
    return [within(f"sample drift {axis} over {len(rows)} stacks ({(last['cell_time_s'] - first['cell_time_s']) / 3600:.1f}"
                   " h of cell time)", last[f"drift_{axis}_um"], float(t), tol, "um")
            for axis, t, tol in zip("xyz", true, (lateral_um, lateral_um, axial_um))]


def central_half_thickness_um(truth: RunTruth, label: int) -> float:
    """Half the thickness (um) of agglomerate ``label`` along the vertical through its centre."""
    from operando.ioc.cell.truth import electrode_from_truth

    a = next(a for a in electrode_from_truth(truth.geometry).agglomerates if a.label == label)
    _, top, bottom, *_ = a.column_intersections(np.array([a.center_um[0]]), np.array([a.center_um[1]]))
    return 0.5 * float(bottom[0] - top[0])


def salt_checks(analysis, truth: RunTruth, positions: dict, grid, stack_index: int, tolerance_m: float = 0.05,
                tolerance_um: float = 0.3) -> list[Check]:
    """Delta C next to each agglomerate and its extent, against the truth's salt field rendered in
    the analysis plane (same map, same measure)."""
    from operando.analysis.electrolyte import gradient_near
    from operando.ioc.cell.optics import ConfocalRenderer
    from operando.ioc.cell.truth import electrode_from_truth

    checks = []
    rows = [r for r in analysis.electrolyte if r["stack_index"] == stack_index]
    if not rows:
        return checks
    pos = rows[0]["position_name"]
    state = truth.state(stack_index)
    # The analysis works in the frame of the position's first stack (registered to it): the truth
    # is rendered where the sample was then. Its depths are objective travel x depth scale; the
    # simulator's are below the coverslip.
    first = min(r["stack_index"] for r in analysis.drifts if r["position_name"] == pos)
    dx, dy, dz = truth.drift_um(first)
    renderer = ConfocalRenderer(electrode_from_truth(truth.geometry),
                                replace(grid, center_x_um=grid.center_x_um - dx, center_y_um=grid.center_y_um - dy))
    g = truth.geometry
    depth = rows[0]["plane_depth_um"] - (g["coverslip_piezo_um"] + dz) * g["depth_scale"]
    true_map = renderer.salt_m(depth, state.agglomerates, analysis.bulk_m) - analysis.bulk_m
    footprints = analysis.salt_footprints[pos]
    x0, y0 = positions[pos]
    px = analysis.geometry.pixel_size_um
    for r in rows:
        fp = footprints[r["agglomerate"]]
        yy, xx = np.nonzero(fp)
        agg = truth.agglomerate_at((xx.mean() - (fp.shape[1] - 1) / 2) * px + x0,
                                   (yy.mean() - (fp.shape[0] - 1) / 2) * px + y0)
        g = gradient_near(true_map, fp, px)
        checks.append(within(f"dC_salt next to agglomerate {agg['label']} at {r['cell_time_s'] / 3600:.2f} h",
                             r["delta_c_near_m"], g.near_m, tolerance_m, "M"))
        if np.isfinite(g.extent_um) and g.near_m >= 0.05:
            checks.append(within(f"gradient extent around agglomerate {agg['label']}", r["extent_um"], g.extent_um,
                                 tolerance_um, "um"))
    return checks
