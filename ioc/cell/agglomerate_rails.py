"""Inside an agglomerate: the ionic path from its surface to each shell.

An agglomerate is a packing of primary particles wetted by electrolyte in its pores. Each
spherical shell reacts over its primary-particle surface; ions reach it through the pore
electrolyte of the shells outside it (kappa_eff). The ionic current through the face between
shells k and k+1 equals the reaction current of all shells inside, so the potential lost on
the way to shell k is sum_l M[k, l] j_l with
M[k, l] = sum_{m >= max(k, l)} R_m, R_m the rail resistance (ohm) between shell m and the
next one out (or the surface).
"""
from __future__ import annotations

import numpy as np


def rail_resistances(solid, kappa_s_m: float) -> np.ndarray:
    """(P, n) resistance (ohm) from the centre of shell m to the centre of shell m+1
    (the last: to the agglomerate surface) through pore electrolyte of conductivity kappa_s_m."""
    r = np.empty_like(solid.x)
    r[:, :-1] = solid.dr_m[:, None] / (kappa_s_m * solid.face_areas_m2)
    r[:, -1] = 0.5 * solid.dr_m / (kappa_s_m * solid.surface_area_m2)
    return r


def rail_matrix(solid, kappa_s_m: float) -> np.ndarray:
    """(P, n, n) matrix M (ohm): potential drop to shell k = M[k] @ shell currents."""
    r = rail_resistances(solid, kappa_s_m)
    cum = np.cumsum(r[:, ::-1], axis=1)[:, ::-1]          # sum_{m >= k} R_m
    n = r.shape[1]
    k = np.arange(n)
    return cum[:, np.maximum(k[:, None], k[None, :])]
