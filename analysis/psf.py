"""Response of a confocal reflection microscope (textbook forms; lengths in um).

References: Wilson & Sheppard, *Theory and Practice of Scanning Optical Microscopy* (1984);
Cox & Sheppard for the pinhole dependence. Used by the analysis to model what a surface looks
like in a stack, and by the virtual cell to render one.
"""
from __future__ import annotations

import numpy as np

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def lateral_fwhm_um(wavelength_nm: float, numerical_aperture: float, pinhole_au: float) -> float:
    """Lateral FWHM: 0.37 lambda/NA for a point pinhole, widening towards 0.51 lambda/NA as it opens."""
    k = 0.37 + 0.14 * min(pinhole_au, 1.0) ** 2 * 0.5
    return k * wavelength_nm * 1e-3 / numerical_aperture


def axial_fwhm_um(wavelength_nm: float, numerical_aperture: float, n_immersion: float, pinhole_au: float) -> float:
    """FWHM of the response to a reflecting plane, in electrolyte-equivalent (apparent) depth:
    0.45 lambda / (n - sqrt(n^2 - NA^2)) for a small pinhole, wider as it opens."""
    n, na = n_immersion, numerical_aperture
    base = 0.45 * wavelength_nm * 1e-3 / (n - np.sqrt(n * n - na * na))
    return float(base * (1.0 + 0.4 * min(pinhole_au, 1.5) ** 2))
