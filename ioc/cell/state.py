"""The cell state the potentiostat publishes and the imaging IOCs render from.

One float64 array: [cell_time_s, electrode_x, n_particles, n_shells, n_liquid, then per imaged
agglomerate: label, volume_change, x_shell_0 ... x_shell_{n-1} (centre to surface),
salt excess (mol/m^3) in the liquid shells around it (at ``electrolyte.liquid_distances_m``)].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .electrolyte import BULK_SALT_M, liquid_distances_m

HEADER = 5


@dataclass(frozen=True)
class AgglomerateState:
    """Lithiation profile (centre to surface, equal-thickness shells), Delta V / V and the salt
    excess (mol/m^3) in the liquid around it (empty: none)."""
    label: int
    volume_change: float
    x_shells: np.ndarray
    salt_excess_mol_m3: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def surface_x(self) -> float:
        return float(self.x_shells[-1])

    def salt_m(self, distance_m) -> np.ndarray:
        """Salt concentration (mol/L) at distances (m) from the agglomerate's surface."""
        dist = np.clip(np.asarray(distance_m, dtype=float), 0.0, None)
        if self.salt_excess_mol_m3.size == 0:
            return np.full(dist.shape, BULK_SALT_M)
        grid = liquid_distances_m(self.salt_excess_mol_m3.size)
        e = self.salt_excess_mol_m3
        return BULK_SALT_M + np.interp(dist, grid, e, left=e[0], right=0.0) / 1000.0


@dataclass(frozen=True)
class CellState:
    """What the potentiostat publishes: cell time (s), electrode lithium fraction, imaged agglomerates."""
    time_s: float
    electrode_x: float
    agglomerates: dict


def pack_state(time_s: float, states: list[AgglomerateState], electrode_x: float = float("nan")) -> np.ndarray:
    n_shells = len(states[0].x_shells) if states else 0
    n_liquid = len(states[0].salt_excess_mol_m3) if states else 0
    out = [time_s, electrode_x, len(states), n_shells, n_liquid]
    for s in states:
        out += [s.label, s.volume_change, *np.asarray(s.x_shells, dtype=float),
                *np.asarray(s.salt_excess_mol_m3, dtype=float)]
    return np.asarray(out, dtype=float)


def unpack_state(data) -> CellState:
    data = np.asarray(data, dtype=float)
    if data.size < HEADER:
        return CellState(0.0, float("nan"), {})
    time_s, electrode_x, n, shells, liquid = data[0], data[1], int(data[2]), int(data[3]), int(data[4])
    width = 2 + shells + liquid
    states = {}
    for k in range(n):
        row = data[HEADER + k * width: HEADER + (k + 1) * width]
        states[int(row[0])] = AgglomerateState(int(row[0]), float(row[1]), row[2:2 + shells].copy(),
                                               row[2 + shells:].copy())
    return CellState(float(time_s), float(electrode_x), states)


def halfcell_states(cell) -> list[AgglomerateState]:
    """Imaged agglomerates of a HalfCell as AgglomerateStates."""
    dv = cell.volume_change()
    imaged = np.nonzero(cell.imaged)[0]
    return [AgglomerateState(int(cell.labels[k]), float(dv[k]), cell.solid.x[k].copy(),
                             cell.electrolyte.excess[i].copy())
            for i, k in enumerate(imaged)]


def halfcell_state(cell) -> np.ndarray:
    """The packed state of a HalfCell, as the potentiostat publishes it."""
    return pack_state(cell.reading.time_s, halfcell_states(cell), cell.electrode_x())
