"""The rod-cell state the potentiostat publishes and the widefield camera renders from.

One float64 array: [cell_time_s, electrode_x, n_rods, then per imaged rod: label, n_nodes,
n_cracks, rod current (A), x_0 ... x_{n-1} (end 0 to end 1), connected_0 ... connected_{n-1},
then per crack: node face (after node k, 0-based in the rod), progress (0-1), gap (um),
start time (s)].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import nwo

HEADER = 3
ROD_HEADER = 4
CRACK_FIELDS = 4


def node_lengths_um(x: np.ndarray, pristine_length_um: float) -> np.ndarray:
    """Length (um) of each of a rod's equal nodes, stretched by its c-strain relative to x = 0.08
    (the state the rod's geometry is given in)."""
    x = np.asarray(x, dtype=float)
    return pristine_length_um / x.size * (1.0 + nwo.c_expansion(x)) / (1.0 + float(nwo.c_expansion(0.08)))


@dataclass(frozen=True)
class RodCrack:
    face: int                 # the crack lies after node ``face`` (0-based along the rod)
    progress: float           # fraction of the rod's width crossed
    gap_um: float
    start_time_s: float


@dataclass(frozen=True)
class RodState:
    """Lithium fraction of every node (end 0 to end 1), which nodes are wired, the cracks, and
    the rod's current (A, charging positive)."""
    label: int
    x: np.ndarray
    connected: np.ndarray
    cracks: tuple[RodCrack, ...] = ()
    current_a: float = 0.0

    def node_centres_um(self, pristine_length_um: float) -> np.ndarray:
        """Node centres along the rod (um) from its middle, each node stretched by its c-strain
        (``node_lengths_um``), crack gaps opened; the middle of the rod stays in place."""
        dl = node_lengths_um(self.x, pristine_length_um)
        edges = np.concatenate([[0.0], np.cumsum(dl)])
        for c in self.cracks:
            edges[c.face + 1:] += c.gap_um
        centres = 0.5 * (edges[1:] + edges[:-1])
        return centres - 0.5 * edges[-1]

    def length_um(self, pristine_length_um: float) -> float:
        """End-to-end length (um) including open crack gaps."""
        return float(node_lengths_um(self.x, pristine_length_um).sum() + sum(c.gap_um for c in self.cracks))

    @property
    def mean_x(self) -> float:
        return float(np.mean(self.x))


@dataclass(frozen=True)
class RodCellState:
    time_s: float
    electrode_x: float
    rods: dict = field(default_factory=dict)


def pack_rod_state(time_s: float, electrode_x: float, rods: list[RodState]) -> np.ndarray:
    out = [time_s, electrode_x, len(rods)]
    for r in rods:
        out += [r.label, r.x.size, len(r.cracks), r.current_a, *r.x, *np.asarray(r.connected, dtype=float)]
        for c in r.cracks:
            out += [c.face, c.progress, c.gap_um, c.start_time_s]
    return np.asarray(out, dtype=float)


def unpack_rod_state(data) -> RodCellState:
    data = np.asarray(data, dtype=float)
    if data.size < HEADER:
        return RodCellState(0.0, float("nan"), {})
    rods = {}
    k = HEADER
    for _ in range(int(data[2])):
        label, n, nc, current = int(data[k]), int(data[k + 1]), int(data[k + 2]), float(data[k + 3])
        k += ROD_HEADER
        x = data[k:k + n].copy()
        connected = data[k + n:k + 2 * n] > 0.5
        k += 2 * n
        cracks = []
        for _ in range(nc):
            f, p, g, t = data[k:k + CRACK_FIELDS]
            cracks.append(RodCrack(int(f), float(p), float(g), float(t)))
            k += CRACK_FIELDS
        rods[label] = RodState(label, x, connected, tuple(cracks), current)
    return RodCellState(float(data[0]), float(data[1]), rods)


def rodcell_state(cell) -> np.ndarray:
    """The packed state of a RodCell's imaged rods, as the potentiostat publishes it."""
    rods = []
    for k in range(cell.n_imaged):
        lo = cell.nodes.first[k]
        cracks = tuple(RodCrack(c.face - lo, c.progress, c.gap_um, c.start_time_s)
                       for c in cell.cracks if c.rod == k)
        rods.append(RodState(int(cell.labels[k]), cell.rod_x(k).copy(),
                             cell.connected[lo:cell.nodes.last[k] + 1].copy(), cracks,
                             float(cell.rod_current_a[k])))
    return pack_rod_state(cell.reading.time_s, cell.electrode_x(), rods)
