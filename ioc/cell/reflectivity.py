"""Refractive index of the agglomerates vs lithiation and wavelength (seed 000, Fig. 1a-b).

Near infrared (LCO 680-900 nm, NMC811 800-900 nm and beyond): the index rises monotonically
as lithium leaves (x falls), so the surface reflectance ((n_p - n_e) / (n_p + n_e))^2 grows by
~20 % between x = 1 and the charged state (x = 0.5 LCO, 0.3 NMC811). In the visible the change
is non-monotonic ("W" shaped). Inside an agglomerate the light is reflected at particle/particle
interfaces against a denser, lithium-independent component (effective n ~ 3.1), so the interior contrast
(n_ref - n_p)^2 falls as n_p rises: focusing inside gives the opposite trend to the surface.
"""
from __future__ import annotations

import numpy as np

N_PRISTINE = {"LCO": 2.20, "NMC811": 2.30}
X_CHARGED = {"LCO": 0.5, "NMC811": 0.3}
MONOTONIC_FROM_NM = {"LCO": 680.0, "NMC811": 800.0}
DN_CHARGED = 0.10            # index rise from x = 1 to the charged state (about +20 % in R at n_e = 1.42)
N_INTERIOR_REFERENCE = 3.1   # dense component the grains are contrasted against inside an agglomerate
# (interior contrast -20 % at the charged state: opposite to the surface, similar in size)


def particle_index(material: str, x, wavelength_nm: float) -> np.ndarray:
    """Real refractive index of the agglomerate at lithium fraction x."""
    extent = np.clip((1.0 - np.asarray(x, dtype=float)) / (1.0 - X_CHARGED[material]), 0.0, 1.2)
    n = N_PRISTINE[material] + DN_CHARGED * extent
    if wavelength_nm < MONOTONIC_FROM_NM[material]:
        # visible: a W-shaped excursion on top of the trend
        n = n - 0.12 * np.sin(2.0 * np.pi * extent) ** 2
    return n


def interior_contrast(material: str, x, wavelength_nm: float) -> np.ndarray:
    """Relative strength of intra-agglomerate backscatter, 1 for the pristine material."""
    n = particle_index(material, x, wavelength_nm)
    n0 = N_PRISTINE[material]
    return ((N_INTERIOR_REFERENCE - n) / (N_INTERIOR_REFERENCE - n0)) ** 2
