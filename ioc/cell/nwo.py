"""Nb14W3O44 (NWO), the high-rate anode of seed 004: Li_{17x}Nb14W3O44 with x in [0, 1].

Numbers from the seed (Merryweather et al.): 178 mAh/g defines 1C (= 17 Li per formula unit,
M = 2556 g/mol, so x = 1 at 178 mAh/g); sloping open-circuit curve between 2.8 V (x ~ 0.08 after
a hold) and 1.2 V (x ~ 0.9-0.95); Li moves only along the c-axis; the self-diffusion coefficient
D(x) of the seed's Fig. 1c (1.8e-12 m^2/s at x = 0.42 from PFG-NMR, a maximum ~1e-11 near
x = 0.22, >= 4 orders lower below x ~ 0.1, ~1e-13 at x = 1); c-lattice expansion 7 % at x ~ 0.9
(Le Bail refinement of operando XRD); scattering at 740 nm darker first, then ~x2 brighter at
the end of lithiation. The D(x) fit and its reasoning: docs/nwo-model.md.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

MOLAR_MASS_KG_MOL = 2.5562          # Nb14W3O44
DENSITY_KG_M3 = 5100.0
LI_PER_FORMULA = 17
C_MAX_MOL_M3 = LI_PER_FORMULA * DENSITY_KG_M3 / MOLAR_MASS_KG_MOL   # 33 900 mol/m^3
SPECIFIC_CAPACITY_AH_KG = 178.0     # defines 1C (seed Methods)
VOLTAGE_WINDOW_V = (1.2, 2.8)       # cycling window vs Li/Li+
X_PRISTINE = 0.02                   # as made; a 2.8 V hold leaves x ~ 0.08

# Open-circuit curve through points of NWO's sloping profile (three sloping regions, Griffith et al.
# 2018; 1.2-2.8 V carries x 0.08 -> ~0.93), monotone (PCHIP) between them, steep past both ends.
_OCP_X = np.array([0.0, 0.03, 0.08, 0.14, 0.25, 0.40, 0.55, 0.70, 0.85, 0.93, 0.98, 1.0])
_OCP_V = np.array([3.30, 3.02, 2.80, 2.38, 1.98, 1.74, 1.62, 1.50, 1.35, 1.20, 1.00, 0.80])
_ocp = PchipInterpolator(_OCP_X, _OCP_V, extrapolate=True)


def ocp_v(x) -> np.ndarray:
    """Open-circuit potential of Li_{17x}Nb14W3O44 vs Li/Li+ (V)."""
    x = np.asarray(x, dtype=float)
    inside = _ocp(np.clip(x, 0.0, 1.0))
    # Beyond the table a logarithmic barrier keeps every node inside (0, 1).
    return inside + 0.05 * np.log(np.clip(1e-3 / np.clip(x, 1e-12, None), 1.0, None)) \
        - 0.05 * np.log(np.clip(1e-3 / np.clip(1.0 - x, 1e-12, None), 1.0, None))


# log10 D(x): a smooth curve through the seed's values above the peak, times a steep logistic
# drop below x ~ 0.1 (its steepness sets the lithiation front velocities; docs/nwo-model.md).
_LOGD_X = np.array([0.14, 0.22, 0.42, 0.55, 0.70, 1.0])
_LOGD_V = np.array([-11.15, -11.0, np.log10(1.8e-12), -12.2, -12.95, -13.0])
_logd_high = PchipInterpolator(_LOGD_X, _LOGD_V, extrapolate=True)
D_DROP_ORDERS = 4.5        # orders of magnitude lost below the drop
D_DROP_CENTRE = 0.086      # x where half of them are lost (sets the front velocities)
D_DROP_WIDTH = 0.003       # logistic width (in x)


def diffusivity_m2_s(x) -> np.ndarray:
    """Li self-diffusion coefficient along c (m^2/s)."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    high = _logd_high(np.clip(x, 0.14, 1.0))
    drop = D_DROP_ORDERS / (1.0 + np.exp((x - D_DROP_CENTRE) / D_DROP_WIDTH))
    return 10.0 ** (high - drop)


def c_expansion(x) -> np.ndarray:
    """c-lattice parameter change relative to x = 0 (fraction): 7 % at x = 0.9 (operando XRD),
    slightly faster than linear early on, where the a- and c-parameters change fastest."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    return 0.0745 * x + 0.012 * x * (1.0 - x)


def scattering(x) -> np.ndarray:
    """Scattering intensity at 740 nm relative to x = 0.08: dips ~10 % by x ~ 0.16, then rises to
    ~x2.1 at x = 0.9 (seed Fig. 2c)."""
    x = np.asarray(x, dtype=float)
    dip = 0.10 * np.exp(-((x - 0.16) / 0.06) ** 2)
    rise = 1.15 / (1.0 + np.exp(-(x - 0.52) / 0.11))
    ref = 1.15 / (1.0 + np.exp(-(0.08 - 0.52) / 0.11)) - 0.10 * np.exp(-((0.08 - 0.16) / 0.06) ** 2)
    return (1.0 - dip + rise) / (1.0 + ref)
