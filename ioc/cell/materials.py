"""Optical constants of the media in an operando cell (near-infrared, ~820 nm).

Values follow seed 000: LP30 electrolyte n ~ 1.4, agglomerates n = 2-2.5,
1.4 NA oil objective (n = 1.518), penetration into the electrode < 15 um.
Attenuation coefficients are per micrometre of *physical* path, one way.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Medium:
    """An optical medium.

    n: real refractive index; attenuation_per_um: one-way intensity
    attenuation coefficient (1/um); backscatter_per_um: volumetric
    backscatter density seen by a confocal reflection microscope (1/um),
    from sub-resolution interfaces (primary particles, carbon grains).
    """
    name: str
    n: float
    attenuation_per_um: float = 0.0
    backscatter_per_um: float = 0.0


IMMERSION_OIL = Medium("immersion oil", 1.518)
COVERSLIP = Medium("borosilicate coverslip", 1.523)
LP30 = Medium("LP30 (1 M LiPF6 in EC/DMC)", 1.42)
# Carbon black / PTFE host, pores flooded with electrolyte: weak, absorbing.
CARBON_MATRIX = Medium("carbon/PTFE matrix", 1.42, attenuation_per_um=0.06,
                       backscatter_per_um=0.0015)
# Polycrystalline agglomerates: the interior scatters from particle/particle
# interfaces (n 1.8-2.5 on both sides) much more weakly than the surface.
LCO = Medium("LiCoO2", 2.20, attenuation_per_um=0.12, backscatter_per_um=0.012)
NMC811 = Medium("LiNi0.8Mn0.1Co0.1O2", 2.30, attenuation_per_um=0.14,
                backscatter_per_um=0.010)

ACTIVE_MATERIALS = {"LCO": LCO, "NMC811": NMC811}

# Porosity of the electrolyte-flooded host (volume fraction of liquid).
MATRIX_POROSITY = 0.4


def fresnel_reflectance(n1: float, n2: float) -> float:
    """Normal-incidence intensity reflectance ((n1 - n2) / (n1 + n2))**2."""
    return ((n1 - n2) / (n1 + n2)) ** 2
