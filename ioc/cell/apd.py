"""Photon counting by a silicon avalanche photodiode (APD) channel.

Counts per pixel: Poisson shot noise on the signal plus dark counts, then the
non-paralysable dead time of the detector, which saturates the count rate at
1 / dead_time. Counts are stored as uint16.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLANCK_J_S = 6.62607015e-34
SPEED_OF_LIGHT_M_S = 299792458.0


@dataclass(frozen=True)
class ApdChannel:
    """One APD channel behind its dichroic and filters.

    band_nm: detected wavelength band (nm); dark_rate_cps: dark counts (1/s);
    dead_time_s: detector dead time (s); quantum_efficiency: 0-1.
    """
    name: str
    band_nm: tuple[float, float]
    dark_rate_cps: float = 250.0
    dead_time_s: float = 22e-9
    quantum_efficiency: float = 0.6

    def passes(self, wavelength_nm: float) -> bool:
        return self.band_nm[0] <= wavelength_nm <= self.band_nm[1]

    @property
    def max_rate_cps(self) -> float:
        return 1.0 / self.dead_time_s

    def count(self, photon_rate_cps: np.ndarray, dwell_s: float, rng: np.random.Generator) -> np.ndarray:
        """Simulated counts for incident photon rates (photons/s at the detector)."""
        true_rate = np.asarray(photon_rate_cps) * self.quantum_efficiency + self.dark_rate_cps
        detected = rng.poisson(true_rate * dwell_s).astype(np.float64)
        # Non-paralysable dead time: n_measured = n / (1 + n * tau / T)
        measured = detected / (1.0 + detected * self.dead_time_s / dwell_s)
        return np.clip(np.rint(measured), 0, np.iinfo(np.uint16).max).astype(np.uint16)


REFLECTION_APD = ApdChannel("reflection", (700.0, 1100.0))
FLUORESCENCE_APD = ApdChannel("fluorescence", (550.0, 680.0), dark_rate_cps=100.0)
CHANNELS = {c.name: c for c in (REFLECTION_APD, FLUORESCENCE_APD)}


def photon_rate_cps(power_w: float, wavelength_nm: float) -> float:
    """Photons per second in a beam of ``power_w`` watts at ``wavelength_nm``."""
    return power_w * wavelength_nm * 1e-9 / (PLANCK_J_S * SPEED_OF_LIGHT_M_S)
