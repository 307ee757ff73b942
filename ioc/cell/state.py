"""The cell state the potentiostat publishes and the imaging IOCs render from.

One float64 array: [cell_time_s, n_particles, n_shells, then per imaged agglomerate:
label, volume_change, x_shell_0 ... x_shell_{n-1} (centre to surface)].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AgglomerateState:
    """Lithiation profile (centre to surface, equal-thickness shells) and Delta V / V."""
    label: int
    volume_change: float
    x_shells: np.ndarray

    @property
    def surface_x(self) -> float:
        return float(self.x_shells[-1])


def pack_state(time_s: float, states: list[AgglomerateState]) -> np.ndarray:
    n_shells = len(states[0].x_shells) if states else 0
    out = [time_s, len(states), n_shells]
    for s in states:
        out += [s.label, s.volume_change, *np.asarray(s.x_shells, dtype=float)]
    return np.asarray(out, dtype=float)


def unpack_state(data) -> tuple[float, dict[int, AgglomerateState]]:
    data = np.asarray(data, dtype=float)
    if data.size < 3:
        return 0.0, {}
    time_s, n, shells = data[0], int(data[1]), int(data[2])
    states = {}
    for k in range(n):
        row = data[3 + k * (2 + shells): 3 + (k + 1) * (2 + shells)]
        states[int(row[0])] = AgglomerateState(int(row[0]), float(row[1]), row[2:].copy())
    return float(time_s), states


def halfcell_states(cell) -> list[AgglomerateState]:
    """Imaged agglomerates of a HalfCell as AgglomerateStates."""
    dv = cell.volume_change()
    return [AgglomerateState(int(cell.labels[k]), float(dv[k]), cell.solid.x[k].copy())
            for k in np.nonzero(cell.imaged)[0]]
