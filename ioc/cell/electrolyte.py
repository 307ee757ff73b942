"""Salt concentration in the liquid around each imaged agglomerate.

Delithiation releases Li+ at an agglomerate's surface; to keep the electrolyte neutral, PF6-
has to arrive by diffusion, so the salt concentration rises next to the particle (and falls
on lithiation) until diffusion carries the excess away (seed 000, Fig. 6e). Each agglomerate
(as its equal-volume sphere, radius a) is surrounded by the liquid in the porous host; the
excess concentration dC(r, t) obeys spherical diffusion for a < r < a + L with the flux
(1 - t+) i / F at r = a (i: the agglomerate's reaction current per outer area) and dC = 0 at
a + L (the far electrolyte).

The effective diffusivity in the host next to a particle and the reach are the two free
parameters: with LP30's bulk D (3e-10 m^2/s) the excess at C/2 would be ~1e-5 M; the seed
measures ~0.25 M decaying over ~1.5 um. The host's binder-filled pores are the plausible
cause. D_HOST_M2_S and REACH_M are set so that a 2.3 um LCO agglomerate reaches +0.26 M at the
top of a C/2 charge, decaying by e over 1.6 um, and relaxes within ~15 min at open circuit
(docs/cell-electrochemistry.md; the seed's weak rate dependence, +0.3 M at 2C, is not
reproduced: here the excess is proportional to the particle's current).
"""
from __future__ import annotations

import numpy as np

from .intercalation import FARADAY_C_MOL
from .solid_diffusion import solve_tridiagonal

T_PLUS = 0.38                  # Li+ transference number of LiPF6 in EC/DMC (Valoen & Reimers 2005)
D_HOST_M2_S = 1.0e-14          # effective salt diffusivity in the host around agglomerates (calibrated, see above)
REACH_M = 4e-6                # distance from the particle surface to the far electrolyte
BULK_SALT_M = 1.0              # mol/L, LP30


def liquid_edges_fraction(n_shells: int = 40) -> np.ndarray:
    """Shell edges as fractions of the reach, finer next to the surface where the gradient is."""
    return np.linspace(0.0, 1.0, n_shells + 1) ** 2


def liquid_distances_m(n_shells: int = 40, reach_m: float = REACH_M) -> np.ndarray:
    """Distance (m) of each liquid shell centre from the particle surface (same for every particle)."""
    f = liquid_edges_fraction(n_shells)
    return reach_m * 0.5 * (f[:-1] + f[1:])


class ElectrolyteShells:
    """Excess salt dC (mol/m^3) in n radial liquid shells around each of P agglomerates."""

    def __init__(self, radii_m, n_shells: int = 40, diffusivity_m2_s: float = D_HOST_M2_S,
                 reach_m: float = REACH_M):
        self.radii_m = np.asarray(radii_m, dtype=float)
        self.diffusivity_m2_s = diffusivity_m2_s
        frac = liquid_edges_fraction(n_shells)
        self.edges_m = self.radii_m[:, None] + reach_m * frac[None, :]
        self.centres_m = 0.5 * (self.edges_m[:, :-1] + self.edges_m[:, 1:])
        self.volumes_m3 = 4.0 / 3.0 * np.pi * (self.edges_m[:, 1:] ** 3 - self.edges_m[:, :-1] ** 3)
        self.excess = np.zeros_like(self.centres_m)

    @property
    def distance_m(self) -> np.ndarray:
        """(P, n) distance of each shell centre from the particle surface (m)."""
        return self.centres_m - self.radii_m[:, None]

    def step(self, particle_current_a, dt_s: float) -> None:
        """Advance by dt_s with each particle's reaction current (A, delithiation positive), implicitly."""
        d = self.diffusivity_m2_s
        e = self.edges_m
        g = d * 4.0 * np.pi * e[:, 1:-1] ** 2 / (self.centres_m[:, 1:] - self.centres_m[:, :-1])
        g_out = d * 4.0 * np.pi * e[:, -1] ** 2 / (e[:, -1] - self.centres_m[:, -1])
        cap = self.volumes_m3 / dt_s
        diag = cap.copy()
        diag[:, :-1] += g
        diag[:, 1:] += g
        diag[:, -1] += g_out                      # dC = 0 beyond the reach
        sub = np.zeros_like(diag)
        sup = np.zeros_like(diag)
        sub[:, 1:] = -g
        sup[:, :-1] = -g
        rhs = cap * self.excess
        rhs[:, 0] += (1.0 - T_PLUS) * np.asarray(particle_current_a, dtype=float) / FARADAY_C_MOL
        self.excess = solve_tridiagonal(sub, diag, sup, rhs)

    def excess_salt_mol(self) -> np.ndarray:
        """Excess salt around each agglomerate (mol)."""
        return np.sum(self.volumes_m3 * self.excess, axis=1)


def tpef_relative(concentration_m) -> np.ndarray:
    """Two-photon fluorescence of LiPF6 in EC/DMC relative to 1 M, monotonic over 0.01-4 M (seed 000,
    Fig. 6b: rising and flattening at high concentration); the virtual instrument's true response."""
    c = np.clip(np.asarray(concentration_m, dtype=float), 0.0, None)
    return c / (1.0 + c / 3.0) / (1.0 / (1.0 + 1.0 / 3.0))
