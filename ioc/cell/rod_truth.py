"""Ground truth of the widefield experiment, beside the camera's frame file (never read by analysis):
``<file>.truth.json`` the rods' geometry; ``<file>.truth.h5`` per stored frame the cell time,
electrode lithium fraction and per rod its node profile x, mean x, length and cracks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .rods import RodElectrode

MAX_CRACKS = 8          # crack records kept per rod and frame: face, progress, gap (um), start (s)


def rod_electrode_truth(electrode: RodElectrode, pixel_um: float) -> dict:
    return {"material": "NWO", "seed": electrode.seed, "pixel_um": pixel_um,
            "field_diameter_um": electrode.field_diameter_um,
            "rods": [{"label": r.label, "center_um": list(r.center_um), "angle_rad": r.angle_rad,
                      "length_um": r.length_um, "width_um": r.width_um, "end_active": list(r.end_active),
                      "contact_fraction": r.contact_fraction} for r in electrode.rods]}


def append_rod_truths(path: Path, items, electrode: RodElectrode) -> None:
    """Record consecutive (frame, RodCellState) pairs in one block."""
    import h5py

    if not items:
        return
    first = items[0][0]
    states = [state for _, state in items]
    columns = {"cell_time_s": [s.time_s for s in states], "electrode_x": [s.electrode_x for s in states]}
    for rod in electrode.rods:
        rs = [s.rods.get(rod.label) for s in states]
        if any(r is None for r in rs):
            continue
        g = f"rod_{rod.label}"
        columns[f"{g}/x"] = [r.x for r in rs]
        columns[f"{g}/connected"] = [np.asarray(r.connected, dtype=float) for r in rs]
        columns[f"{g}/mean_x"] = [r.mean_x for r in rs]
        columns[f"{g}/length_um"] = [r.length_um(rod.length_um) for r in rs]
        columns[f"{g}/current_a"] = [r.current_a for r in rs]
        cracks = np.full((len(rs), MAX_CRACKS, 4), np.nan)
        for j, r in enumerate(rs):
            for k, c in enumerate(r.cracks[:MAX_CRACKS]):
                cracks[j, k] = (c.face, c.progress, c.gap_um, c.start_time_s)
        columns[f"{g}/cracks"] = cracks
    with h5py.File(path, "a", locking=False) as f:
        for name, values in columns.items():
            block = np.asarray(values, dtype=float)
            if name not in f:
                f.create_dataset(name, shape=(0, *block.shape[1:]), maxshape=(None, *block.shape[1:]), dtype="f8")
            d = f[name]
            d.resize(first + len(block), axis=0)
            d[first:first + len(block)] = block


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


def frame_step_s(truth: dict) -> float:
    """One stored frame in cell time (s): the mean step of the truth's cell times. Not the median: the
    camera shows the potentiostat's last published cell state, which may hold for several frames."""
    t = truth["cell_time_s"]
    return float((t[-1] - t[0]) / (t.size - 1))
