"""Open-circuit potentials vs Li/Li+ of the cathode materials, from PyBaMM's published sets.

LCO: Rieger et al. 2016 data as shipped with PyBaMM's ``Ai2020`` set (x = 0.4-0.999),
extended linearly past x = 0.999 with its end slope so a discharge can reach 3.0 V, and
below x = 0.4 with its end slope plus a logarithmic rise.
NMC811: the Chen et al. 2020 (LG M50) fit of PyBaMM's ``Chen2020`` set, x = 0-1.
Both fall logarithmically past x = 0.998 so that no particle is filled beyond its sites.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np


@lru_cache(maxsize=1)
def _lco_table() -> tuple[np.ndarray, np.ndarray]:
    path = resources.files("pybamm.input.parameters.lithium_ion") / "data" / "lico2_ocp_Ai2020.csv"
    data = np.loadtxt(str(path), delimiter=",", comments="#")
    return data[:, 0], data[:, 1]


X_FULL = 0.998     # beyond this lithium fraction the host has no sites left


def _full_lithiation_barrier(x, u_at_full):
    """Potential falling without bound as x -> 1 (no sites left), so no particle is over-filled."""
    x = np.clip(x, None, 1.0 - 1e-12)
    return u_at_full - 0.05 * np.log((1.0 - X_FULL) / (1.0 - x))


def lco_ocp_v(x) -> np.ndarray:
    """OCP of Li_xCoO2 (V vs Li/Li+)."""
    xs, u = _lco_table()
    x = np.asarray(x, dtype=float)
    out = np.interp(x, xs, u)
    slope_hi = (u[-1] - u[-2]) / (xs[-1] - xs[-2])
    slope_lo = (u[1] - u[0]) / (xs[1] - xs[0])
    out = np.where(x > xs[-1], u[-1] + slope_hi * (x - xs[-1]), out)
    # Below x = 0.4 (outside the data) the potential keeps rising towards the O3 -> H1-3 region:
    # the data's end slope plus a logarithmic barrier so no particle is driven to x = 0.
    low = u[0] + slope_lo * (x - xs[0]) - 0.05 * np.log(np.clip(x, 1e-6, None) / xs[0])
    out = np.where(x < xs[0], low, out)
    return np.where(x > X_FULL, _full_lithiation_barrier(x, np.interp(X_FULL, xs, u)), out)


def nmc811_ocp_v(x) -> np.ndarray:
    """OCP of NMC811 (V vs Li/Li+), PyBaMM Chen2020 fit."""
    from pybamm.input.parameters.lithium_ion.Chen2020 import nmc_LGM50_ocp_Chen2020

    x = np.asarray(x, dtype=float)
    u = np.asarray(nmc_LGM50_ocp_Chen2020(np.clip(x, 0.0, X_FULL)), dtype=float)
    return np.where(x > X_FULL, _full_lithiation_barrier(x, float(nmc_LGM50_ocp_Chen2020(X_FULL))), u)


OCP = {"LCO": lco_ocp_v, "NMC811": nmc811_ocp_v}
