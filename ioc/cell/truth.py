"""Ground truth of the virtual cell, written as a sidecar beside a run's data.

Analysis code never reads this file; tests, the demo's checks and benchmarks do.
"""
from __future__ import annotations

import json
from pathlib import Path

from .electrode import Electrode

TRUTH_SUFFIX = ".truth.json"
STATE_TRUTH_SUFFIX = ".truth.h5"


def electrode_truth(electrode: Electrode, coverslip_piezo_um: float, depth_scale: float,
                    drift_um_per_h=(0.0, 0.0, 0.0)) -> dict:
    """Per-agglomerate geometry and true volume (um, um^3), and where the coverslip is in the
    stacks' frame: the objective position focused on it (um) and the apparent depth per um of
    objective travel (depth below the coverslip = (piezo - coverslip_piezo_um - drift z) *
    depth_scale); the sample's drift rate (um/h; each frame's displacement is in the state truth)."""
    return {
        "drift_um_per_h": list(drift_um_per_h),
        "material": electrode.material,
        "seed": electrode.seed,
        "electrolyte_gap_um": electrode.electrolyte_gap_um,
        "coverslip_piezo_um": coverslip_piezo_um,
        "depth_scale": depth_scale,
        "agglomerates": [
            {"label": a.label, "material": a.material, "active": a.active,
             "center_um": list(a.center_um), "semi_axes_um": list(a.semi_axes_um),
             "rotation": [list(r) for r in a.rotation], "volume_um3": a.volume_um3,
             "z_extent_um": list(a.z_extent_um)}
            for a in electrode.agglomerates
        ],
    }


def write_truth(path: Path, truth: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(truth, indent=1))
    tmp.replace(path)
    return path


def read_truth(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def front_depth_um(x_shells, radius_um: float, threshold: float = 0.02) -> float:
    """Depth (um) below the surface where x(r) crosses midway between its surface and core values;
    NaN when they differ by less than ``threshold`` (no front)."""
    import numpy as np

    x = np.asarray(x_shells, dtype=float)
    if abs(x[-1] - x[0]) < threshold:
        return float("nan")
    n = x.size
    depth = radius_um * (1.0 - (np.arange(n) + 0.5) / n)          # centre ... surface
    mid = 0.5 * (x[0] + x[-1])
    d = (x - mid)[::-1]                                             # surface first
    sign = np.sign(d[0])
    k = int(np.argmax(np.sign(d) != sign))
    f = d[k - 1] / (d[k - 1] - d[k])
    dd = depth[::-1]
    return float(dd[k - 1] + f * (dd[k] - dd[k - 1]))


def append_state_truth(path: Path, frame: int, state, electrode: Electrode, drift_um=(0.0, 0.0, 0.0)) -> None:
    """Record, for frame ``frame``, the cell state it was rendered with (``ioc.cell.state.CellState``):
    cell time (s), electrode lithium fraction, and per imaged agglomerate its lithiation profile
    x(r) (centre to surface), volume change, front depth (um) and the salt excess (mol/m^3)
    around it at ``liquid_distance_um``; and the sample's drift displacement (um, x y z)."""
    import h5py
    import numpy as np

    from .electrolyte import liquid_distances_m

    radius = {a.label: float(np.prod(a.semi_axes_um)) ** (1 / 3) for a in electrode.agglomerates}
    with h5py.File(path, "a", locking=False) as f:
        def append(name, value, shape=()):
            if name not in f:
                f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype="f8")
            d = f[name]
            if d.shape[0] < frame + 1:
                d.resize(frame + 1, axis=0)
            d[frame] = value

        append("cell_time_s", state.time_s)
        append("drift_um", np.asarray(drift_um, dtype=float), (3,))
        append("electrode_x", state.electrode_x)
        for label, s in state.agglomerates.items():
            g = f"agglomerate_{label}"
            append(f"{g}/x_shells", np.asarray(s.x_shells), (len(s.x_shells),))
            append(f"{g}/volume_change", s.volume_change)
            append(f"{g}/front_depth_um", front_depth_um(s.x_shells, radius.get(label, np.nan)))
            if len(s.salt_excess_mol_m3):
                append(f"{g}/salt_excess_mol_m3", np.asarray(s.salt_excess_mol_m3), (len(s.salt_excess_mol_m3),))
                if "liquid_distance_um" not in f:
                    f["liquid_distance_um"] = liquid_distances_m(len(s.salt_excess_mol_m3)) * 1e6


def truncate_state_truth(path: Path, n: int) -> None:
    """Keep the truth of the first n frames (the others were dropped from the frame file)."""
    import h5py

    if not Path(path).exists():
        return
    with h5py.File(path, "a", locking=False) as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.shape and obj.shape[0] > n and name != "liquid_distance_um":
                obj.resize(n, axis=0)
        f.visititems(visit)


def read_drift_truth(path: Path, frame: int):
    """The sample's drift displacement (um, x y z) when frame ``frame`` was taken (zeros in
    sidecars written before drift was simulated)."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        return np.asarray(f["drift_um"][frame]) if "drift_um" in f else np.zeros(3)


def read_state_truth(path: Path, frame: int):
    """The CellState frame ``frame`` was rendered with, back from the sidecar (tests, demo checks)."""
    import h5py
    import numpy as np

    from .state import AgglomerateState, CellState

    states = {}
    with h5py.File(path, "r") as f:
        for name in f:
            if not name.startswith("agglomerate_"):
                continue
            g = f[name]
            salt = g["salt_excess_mol_m3"][frame] if "salt_excess_mol_m3" in g else np.zeros(0)
            label = int(name.split("_")[1])
            states[label] = AgglomerateState(label, float(g["volume_change"][frame]), g["x_shells"][frame], salt)
        return CellState(float(f["cell_time_s"][frame]), float(f["electrode_x"][frame]), states)


def electrode_from_truth(truth: dict):
    """The Electrode a truth sidecar describes (geometry only; textures are not recorded)."""
    from .electrode import Agglomerate, Electrode

    aggs = tuple(Agglomerate(a["label"], a["material"], tuple(a["center_um"]), tuple(a["semi_axes_um"]),
                             tuple(tuple(r) for r in a["rotation"]), a["active"]) for a in truth["agglomerates"])
    return Electrode(material=truth["material"], agglomerates=aggs, electrolyte_gap_um=truth["electrolyte_gap_um"],
                     seed=truth["seed"])
