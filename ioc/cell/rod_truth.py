"""Ground truth of the widefield experiment, beside the camera's frame file (never read by analysis):
``<file>.truth.json`` the rods' geometry; ``<file>.truth.h5`` per stored frame the cell time,
electrode lithium fraction and per rod its node profile x, mean x, length and cracks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .rod_state import RodCellState
from .rods import RodElectrode

MAX_CRACKS = 8          # crack records kept per rod and frame: face, progress, gap (um), start (s)


def rod_electrode_truth(electrode: RodElectrode, pixel_um: float) -> dict:
    return {"material": "NWO", "seed": electrode.seed, "pixel_um": pixel_um,
            "field_diameter_um": electrode.field_diameter_um,
            "rods": [{"label": r.label, "center_um": list(r.center_um), "angle_rad": r.angle_rad,
                      "length_um": r.length_um, "width_um": r.width_um, "end_active": list(r.end_active),
                      "contact_fraction": r.contact_fraction} for r in electrode.rods]}


def append_rod_truth(path: Path, frame: int, state: RodCellState, electrode: RodElectrode) -> None:
    import h5py

    with h5py.File(path, "a") as f:
        def append(name, value, shape=()):
            if name not in f:
                f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype="f8")
            d = f[name]
            if d.shape[0] < frame + 1:
                d.resize(frame + 1, axis=0)
            d[frame] = value

        append("cell_time_s", state.time_s)
        append("electrode_x", state.electrode_x)
        for rod in electrode.rods:
            s = state.rods.get(rod.label)
            if s is None:
                continue
            g = f"rod_{rod.label}"
            append(f"{g}/x", s.x, (s.x.size,))
            append(f"{g}/connected", np.asarray(s.connected, dtype=float), (s.x.size,))
            append(f"{g}/mean_x", s.mean_x)
            append(f"{g}/length_um", s.length_um(rod.length_um))
            append(f"{g}/current_a", s.current_a)
            cracks = np.full((MAX_CRACKS, 4), np.nan)
            for k, c in enumerate(s.cracks[:MAX_CRACKS]):
                cracks[k] = (c.face, c.progress, c.gap_um, c.start_time_s)
            append(f"{g}/cracks", cracks, (MAX_CRACKS, 4))


def read_rod_truth(path: Path) -> dict:
    """Everything in a ``.truth.h5`` as arrays: {"cell_time_s", "electrode_x", "rods": {label: {...}}}."""
    import h5py

    out = {"rods": {}}
    with h5py.File(path, "r") as f:
        out["cell_time_s"] = f["cell_time_s"][()]
        out["electrode_x"] = f["electrode_x"][()]
        for name in f:
            if name.startswith("rod_"):
                out["rods"][int(name[4:])] = {k: f[name][k][()] for k in f[name]}
    return out
