"""Electrochemical properties of the cathode materials: capacity, transport, kinetics, strain.

Numbers: c_max from PyBaMM's Ai2020 (LCO, 49943 mol/m^3) and Chen2020 (NMC811, 63104 mol/m^3)
sets; practical capacities 137 mAh/g (LCO, x 1 -> 0.5) and 200 mAh/g (NMC811 to 4.3 V);
volume laws from seed 000 (LCO up to +3 % on charge, NMC811 -10 % +- spread mostly between
x = 0.7 and 0.3). An agglomerate is a packing of primary particles: each reacts over its own
surface with an exchange current that rises as lithium leaves (electro-autocatalysis, Park et
al. 2021), if it is wired and wetted (access length through LCO depends on its insulator-metal
transition); D(x) is the slow solid exchange between neighbours. Surface-to-core fronts and
LCO's uniform lithiation come out of these (docs/cell-electrochemistry.md), they are not painted.
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
    """LCO, solid-state exchange between neighbouring primary particles (grain boundaries and
    sintered necks): log-linear from 1e-15 m^2/s at x = 0.5 to 1e-18 at x = 1. Lithium crosses an
    agglomerate mostly through its pore electrolyte (react out, react in), not through the solid."""
    x = np.clip(np.asarray(x, dtype=float), 0.4, 1.0)
    return 10.0 ** (-15.0 - 3.0 * (x - 0.5) / 0.5)


def nmc811_diffusivity_m2_s(x) -> np.ndarray:
    """NMC811, solid-state exchange between primary particles: 1.5e-17 m^2/s over the working
    range, an order of magnitude lower towards full lithiation (x > 0.9)."""
    x = np.asarray(x, dtype=float)
    return 1.5e-17 * 10.0 ** (-1.0 * _sigmoid((x - 0.93) / 0.02))


def lco_volume_change(x) -> np.ndarray:
    """Delta V / V of LCO relative to x = 1: +3 % at x = 0.5, linear in delithiation."""
    return 0.06 * (1.0 - np.clip(np.asarray(x, dtype=float), 0.4, 1.0))


def nmc811_volume_change(x) -> np.ndarray:
    """Delta V / V of NMC811 relative to x = 1: -10 % at x <= 0.3, changing mostly for 0.7 > x > 0.3
    (seed 000: -8 to -12 % between agglomerates; the spread is HalfCell.volume_factor)."""
    u = (0.7 - np.asarray(x, dtype=float)) / 0.4
    s = np.clip(u, 0.0, 1.0)
    return -0.10 * s * s * (3.0 - 2.0 * s)


def lco_wiring_length_um(x) -> np.ndarray:
    """Depth (um) over which the electronically wired fraction of LCO primary particles falls by e,
    through material of lithium fraction x: Li_xCoO2 is a semiconductor as made and a metal once
    x < ~0.8 (insulator-metal transition 0.95 > x > 0.75, Menetrier et al. 1999). Through metallic
    LCO every primary particle is wired (100 um >> agglomerates); through insulating LCO only those
    near the carbon-contacted surface are (0.5 um)."""
    x = np.asarray(x, dtype=float)
    return 0.5 + 99.5 * (1.0 - _sigmoid((x - 0.85) / 0.03))


def nmc811_wiring_length_um(x) -> np.ndarray:
    """NMC811 secondary particles are dense: electrolyte wets the primary particles near the surface
    first; the accessible (wetted and wired) fraction falls by e every 1.2 um, whatever x."""
    return np.full_like(np.asarray(x, dtype=float), 1.2)


@dataclass(frozen=True)
class IntercalationMaterial:
    """c_max_mol_m3; density_kg_m3 of the agglomerate; specific capacity (A h/kg) defining 1C;
    x_pristine: lithium fraction as made; i0_ref_a_m2: exchange current density at x = 0.5 on the
    primary particles' surface, specific_area_m2_m3 of it per agglomerate volume; electronic
    conductivity sigma(x) and pore-electrolyte conductivity (S/m) inside an agglomerate;
    access_length_um(x): depth (um) over which the reacting (wired, wetted) fraction of primary
    particles falls by e through material of lithium fraction x; i0_vacancy_exponent: see exchange_factor."""
    name: str
    c_max_mol_m3: float
    density_kg_m3: float
    specific_capacity_ah_kg: float
    x_pristine: float
    voltage_window_v: tuple[float, float]
    diffusivity: Callable
    volume_change: Callable
    i0_ref_a_m2: float
    pore_conductivity_s_m: float
    specific_area_m2_m3: float
    access_length_um: Callable
    i0_vacancy_exponent: float


MATERIALS = {
    "LCO": IntercalationMaterial("LCO", 49943.0, 5050.0, 137.0, 0.995, (3.0, 4.4),
                                 lco_diffusivity_m2_s, lco_volume_change, 0.03,
                                 0.1, 8e6, lco_wiring_length_um, 2.0),
    "NMC811": IntercalationMaterial("NMC811", 63104.0, 4750.0, 200.0, 0.98, (2.7, 4.4),
                                    nmc811_diffusivity_m2_s, nmc811_volume_change, 0.03,
                                    0.1, 8e6, nmc811_wiring_length_um, 2.0),
}


def exchange_factor(x, material: IntercalationMaterial) -> np.ndarray:
    """i0(x) / i0(0.5) = sqrt(x / 0.5) ((1.15 - x) / 0.65)^p. p > 0.5 makes the exchange current
    rise as lithium leaves (Park et al., Nat. Mater. 2021, seed 000's ref. 10): delithiation is
    electro-autocatalytic (a region ahead runs further ahead), lithiation auto-inhibitory (it levels)."""
    x = np.clip(np.asarray(x, dtype=float), 1e-6, 1.0 - 1e-6)
    p = material.i0_vacancy_exponent
    return np.sqrt(x / 0.5) * ((1.15 - x) / 0.65) ** p
