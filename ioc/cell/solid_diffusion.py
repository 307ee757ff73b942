"""Lithium diffusion inside agglomerates: spherical finite volumes, concentration-dependent D.

A batch of P particles, each with ``n_shells`` equal-thickness shells (centre to surface),
is advanced together. Each step is linearly implicit (D from the start of the step), so the
scheme is stable for any time step and conserves lithium exactly: the change of
sum(V_i x_i) c_max equals the surface current over F times dt.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def solve_tridiagonal(sub, diag, sup, rhs):
    """Thomas algorithm vectorised over a leading batch axis; arrays (P, N), sub[:, 0] and sup[:, -1] unused."""
    n = diag.shape[1]
    c = np.empty_like(diag)
    d = np.empty_like(rhs)
    c[:, 0] = sup[:, 0] / diag[:, 0]
    d[:, 0] = rhs[:, 0] / diag[:, 0]
    for i in range(1, n):
        m = diag[:, i] - sub[:, i] * c[:, i - 1]
        c[:, i] = sup[:, i] / m
        d[:, i] = (rhs[:, i] - sub[:, i] * d[:, i - 1]) / m
    x = np.empty_like(rhs)
    x[:, -1] = d[:, -1]
    for i in range(n - 2, -1, -1):
        x[:, i] = d[:, i] - c[:, i] * x[:, i + 1]
    return x


class SphericalDiffusion:
    """x(r, t) for P spheres of radii radii_m (m); D(x) in m^2/s; c_max in mol/m^3."""

    def __init__(self, radii_m, diffusivity: Callable[[np.ndarray], np.ndarray], c_max_mol_m3: float,
                 x0: float, n_shells: int = 24):
        self.radii_m = np.asarray(radii_m, dtype=float)
        self.diffusivity = diffusivity
        self.c_max = c_max_mol_m3
        self.n = n_shells
        frac = np.linspace(0.0, 1.0, n_shells + 1)
        edges = self.radii_m[:, None] * frac[None, :]
        self.centres_m = 0.5 * (edges[:, :-1] + edges[:, 1:])
        self.volumes_m3 = 4.0 / 3.0 * np.pi * (edges[:, 1:] ** 3 - edges[:, :-1] ** 3)
        self.face_areas_m2 = 4.0 * np.pi * edges[:, 1:-1] ** 2
        self.surface_area_m2 = 4.0 * np.pi * self.radii_m ** 2
        self.dr_m = self.radii_m / n_shells
        self.x = np.full((len(self.radii_m), n_shells), float(x0))

    def lithium_mol(self) -> np.ndarray:
        """Lithium in each particle (mol)."""
        return np.sum(self.volumes_m3 * self.x, axis=1) * self.c_max

    def mean_x(self) -> np.ndarray:
        return np.sum(self.volumes_m3 * self.x, axis=1) / np.sum(self.volumes_m3, axis=1)

    @property
    def surface_x(self) -> np.ndarray:
        """Lithium fraction of the outermost shell, the one in contact with the electrolyte."""
        return self.x[:, -1]

    def matrix(self, dt_s: float):
        """(sub, diag, sup, capacity) of the implicit diffusion operator for this step."""
        x = self.x
        d_face = self.diffusivity(0.5 * (x[:, :-1] + x[:, 1:]))
        g = d_face * self.face_areas_m2 / self.dr_m[:, None]        # m^3/s per unit x
        cap = self.volumes_m3 / dt_s
        diag = cap.copy()
        diag[:, :-1] += g
        diag[:, 1:] += g
        sub = np.zeros_like(diag)
        sup = np.zeros_like(diag)
        sub[:, 1:] = -g
        sup[:, :-1] = -g
        return sub, diag, sup, cap
