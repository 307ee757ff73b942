"""Electrochemical properties of the cathode materials: capacity, transport, kinetics, strain.

Numbers: c_max from PyBaMM's Ai2020 (LCO, 49943 mol/m^3) and Chen2020 (NMC811, 63104 mol/m^3)
sets; practical capacities 137 mAh/g (LCO, x 1 -> 0.5) and 200 mAh/g (NMC811 to 4.3 V);
volume laws from seed 000 (LCO up to +3 % on charge, NMC811 -8 to -12 % mostly between
x = 0.7 and 0.3). D(x) here is an *effective* agglomerate diffusivity (primary particles,
grain boundaries and pores together); its shape is chosen so that the model produces the
seed's behaviour (docs/cell-electrochemistry.md), not painted on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

FARADAY_C_MOL = 96485.33212
GAS_J_MOL_K = 8.314462618


def _sigmoid(u):
    return 0.5 * (1.0 + np.tanh(u))


def lco_diffusivity_m2_s(x) -> np.ndarray:
    """LCO agglomerate: log-linear from 1e-13 m^2/s at x = 0.5 (metallic, delithiated) to 1e-16 at
    x = 1 (Li-rich, insulating). Delithiation runs as a front from the surface into the slow core."""
    x = np.clip(np.asarray(x, dtype=float), 0.4, 1.0)
    return 10.0 ** (-13.0 - 3.0 * (x - 0.5) / 0.5)


def nmc811_diffusivity_m2_s(x) -> np.ndarray:
    """NMC811 secondary particle: ~1.5e-15 m^2/s over the working range, falling an order
    of magnitude towards full lithiation (x > 0.9)."""
    x = np.asarray(x, dtype=float)
    return 1.5e-15 * 10.0 ** (-1.0 * _sigmoid((x - 0.93) / 0.02))


def lco_volume_change(x) -> np.ndarray:
    """Delta V / V of LCO relative to x = 1: +3 % at x = 0.5, linear in delithiation."""
    return 0.06 * (1.0 - np.clip(np.asarray(x, dtype=float), 0.4, 1.0))


def nmc811_volume_change(x) -> np.ndarray:
    """Delta V / V of NMC811 relative to x = 1: -12 % at x <= 0.3, changing mostly for 0.7 > x > 0.3."""
    u = (0.7 - np.asarray(x, dtype=float)) / 0.4
    s = np.clip(u, 0.0, 1.0)
    return -0.12 * s * s * (3.0 - 2.0 * s)


@dataclass(frozen=True)
class IntercalationMaterial:
    """c_max_mol_m3; density_kg_m3 of the agglomerate; specific capacity (A h/kg) defining 1C;
    x_pristine: lithium fraction as made; i0_ref_a_m2: exchange current density at x = 0.5."""
    name: str
    c_max_mol_m3: float
    density_kg_m3: float
    specific_capacity_ah_kg: float
    x_pristine: float
    voltage_window_v: tuple[float, float]
    diffusivity: Callable
    volume_change: Callable
    i0_ref_a_m2: float


MATERIALS = {
    "LCO": IntercalationMaterial("LCO", 49943.0, 5050.0, 137.0, 0.995, (3.0, 4.4),
                                 lco_diffusivity_m2_s, lco_volume_change, 2.0),
    "NMC811": IntercalationMaterial("NMC811", 63104.0, 4750.0, 200.0, 0.98, (2.7, 4.4),
                                    nmc811_diffusivity_m2_s, nmc811_volume_change, 1.0),
}
