"""A 1-D lithium diffusion model of one NWO rod (the seed's phase-field comparison, Fig. 3g-i):
given D(x) and optionally the open-circuit curve, the concentration profile along the rod under a
constant (dis)charge rate entering through its ends, the lithiation front velocity, when the
fronts meet, and when the rod becomes uniform.

Flux: J = -c D(x) dx/ds, or with the open-circuit curve the chemical-potential form
J = -c D(x) Theta(x) dx/ds, Theta = -(F / RT) x dE/dx (the thermodynamic factor a phase-field
model's chemical potential brings). Each end active by default; finite volumes, linearly
implicit steps (lithium conserved to rounding).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.linalg import solve_banded

F_RT = 96485.33212 / (8.314462618 * 298.15)


# The seed's D_self(x) (Fig. 1c: GITT scaled to PFG-NMR): log10 D through its stated values above the
# maximum, and below x ~ 0.1 a drop of 4.5 orders whose position is not given: at x = 0.080 +- 0.002
# it gives the seed model's front velocities at 1C / 5C / 20C (docs/widefield.md).
_LOG_D_X = np.array([0.14, 0.22, 0.42, 0.55, 0.70, 1.0])
_LOG_D = np.array([-11.15, -11.0, np.log10(1.8e-12), -12.2, -12.95, -13.0])
SEED_CLIFF_X = 0.080
SEED_CLIFF_WIDTH = 0.002


def seed_diffusivity_m2_s(x) -> np.ndarray:
    """D_self(x) (m^2/s) for the seed's model comparison (see above)."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    high = PchipInterpolator(_LOG_D_X, _LOG_D)(np.clip(x, 0.14, 1.0))
    return 10.0 ** (high - 4.5 / (1.0 + np.exp((x - SEED_CLIFF_X) / SEED_CLIFF_WIDTH)))


@dataclass(frozen=True)
class RodRun:
    times_s: np.ndarray        # (T,)
    centres_um: np.ndarray     # (N,) node centres from end 0
    x: np.ndarray              # (T, N)


def simulate(diffusivity: Callable, length_um: float, c_rate: float, x0: float, duration_s: float,
             n_nodes: int = 204, dt_s: float | None = None, ends=(True, True), ocp: Callable | None = None) -> RodRun:
    """Lithiate (c_rate > 0) or delithiate (< 0) a rod of ``length_um`` from uniform ``x0`` for
    ``duration_s`` (s); c_rate in x per hour of the whole rod, shared by its active ends."""
    dl = length_um * 1e-6 / n_nodes
    dt = dt_s if dt_s is not None else min(0.25 / max(abs(c_rate), 1e-9), 1.0)
    n_ends = int(ends[0]) + int(ends[1])
    inflow = c_rate / 3600.0 * length_um * 1e-6 / n_ends        # x m / s per active end
    x = np.full(n_nodes, float(x0))
    source = np.zeros(n_nodes)
    source[0] += inflow if ends[0] else 0.0
    source[-1] += inflow if ends[1] else 0.0
    steps = int(round(duration_s / dt))
    out = np.empty((steps + 1, n_nodes))
    out[0] = x
    for k in range(steps):
        xm = 0.5 * (x[1:] + x[:-1])
        d = np.asarray(diffusivity(xm), dtype=float)
        if ocp is not None:
            de_dx = (ocp(xm + 1e-5) - ocp(xm - 1e-5)) / 2e-5
            d = d * np.clip(-F_RT * xm * de_dx, 1.0, None)
        g = d / dl
        ab = np.zeros((3, n_nodes))
        ab[1] = dl / dt
        ab[1, :-1] += g
        ab[1, 1:] += g
        ab[0, 1:] = -g
        ab[2, :-1] = -g
        x = solve_banded((1, 1), ab, dl / dt * x + source, check_finite=False)
        out[k + 1] = x
    return RodRun(np.arange(steps + 1) * dt, (np.arange(n_nodes) + 0.5) * dl * 1e6, out)


def front_depths_um(run: RodRun, x0: float, threshold: float = 0.005) -> np.ndarray:
    """Depth (um) from end 0 of the first node still within ``threshold`` of x0, per time (NaN once
    none is: the fronts have met)."""
    ahead = run.x < x0 + threshold
    dl = run.centres_um[1] - run.centres_um[0]
    return np.where(ahead.any(axis=1), np.argmax(ahead, axis=1) * dl, np.nan)


def front_velocity_um_s(run: RodRun, x0: float, threshold: float = 0.005) -> tuple[float, float]:
    """(front velocity in um/s fitted between 1 um from the end and 1 um from the middle, time (s)
    when the fronts meet)."""
    depth = front_depths_um(run, x0, threshold)
    half = run.centres_um[-1] / 2
    ok = np.isfinite(depth) & (depth > 1.0) & (depth < half - 1.0)
    v = float(np.polyfit(run.times_s[ok], depth[ok], 1)[0]) if ok.sum() >= 3 else float("nan")
    met = run.times_s[~np.isfinite(depth)]
    return v, float(met[0]) if met.size else float("nan")


def uniform_after_s(run: RodRun, tolerance: float = 0.01) -> float:
    """First time (s) from which x stays within ``tolerance`` of uniform along the rod."""
    spread = run.x.max(axis=1) - run.x.min(axis=1)
    bad = np.nonzero(spread >= tolerance)[0]
    if bad.size == 0:
        return 0.0
    return float(run.times_s[bad[-1] + 1]) if bad[-1] + 1 < run.times_s.size else float("nan")
