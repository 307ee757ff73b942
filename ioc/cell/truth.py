"""Ground truth of the virtual cell, written as a sidecar beside a run's data.

Analysis code never reads this file; tests, the demo's checks and benchmarks do.
"""
from __future__ import annotations

import json
from pathlib import Path

from .electrode import Electrode

TRUTH_SUFFIX = ".truth.json"


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
