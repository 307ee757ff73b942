"""Ground truth of the virtual cell, written as a sidecar beside a run's data.

Analysis code never reads this file; tests, the demo's checks and benchmarks do.
"""
from __future__ import annotations

import json
from pathlib import Path

from .electrode import Electrode

TRUTH_SUFFIX = ".truth.json"
STATE_TRUTH_SUFFIX = ".truth.h5"


def electrode_truth(electrode: Electrode) -> dict:
    """Per-agglomerate geometry and true volume (um, um^3)."""
    return {
        "material": electrode.material,
        "seed": electrode.seed,
        "electrolyte_gap_um": electrode.electrolyte_gap_um,
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


def append_state_truth(path: Path, frame: int, cell_time_s: float, states: dict) -> None:
    """Record, for frame ``frame``, the cell time and each imaged agglomerate's lithiation profile
    x(r) (centre to surface) and volume change it was rendered with."""
    import h5py
    import numpy as np

    with h5py.File(path, "a") as f:
        def append(name, value, shape=()):
            if name not in f:
                f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype="f8")
            d = f[name]
            if d.shape[0] < frame + 1:
                d.resize(frame + 1, axis=0)
            d[frame] = value

        append("cell_time_s", cell_time_s)
        for label, s in states.items():
            append(f"agglomerate_{label}/x_shells", np.asarray(s.x_shells), (len(s.x_shells),))
            append(f"agglomerate_{label}/volume_change", s.volume_change)
