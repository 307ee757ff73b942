"""Geometry of an NWO electrode for the widefield microscope: rods lying in a carbon matrix.

Coordinates: x, y in the focal plane (um) of the sample, origin at the field's centre. A rod's
long axis is the crystallographic c-axis; lithium enters only through its active faces (the
ends that touch electrolyte, and crack faces once a crack has opened) and is wired to the
carbon at ``contact_fraction`` along its length (0: end 0, 1: end 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rod:
    """An imaged NWO rod: centre (um), angle of end 0 -> end 1 from +x (rad), pristine length and
    width (um), which ends are active, where it is wired, its exchange-current scale."""
    label: int
    center_um: tuple[float, float]
    angle_rad: float
    length_um: float
    width_um: float = 3.5
    end_active: tuple[bool, bool] = (True, True)
    contact_fraction: float = 0.5
    i0_scale: float = 1.0
    toughness: float = 1.0       # scales the strain a crack needs (defects: < 1)

    @property
    def axis(self) -> np.ndarray:
        return np.array([np.cos(self.angle_rad), np.sin(self.angle_rad)])


@dataclass(frozen=True)
class RodElectrode:
    """The imaged rods (the field of view) of a self-standing NWO electrode."""
    rods: tuple[Rod, ...]
    seed: int = 1
    field_diameter_um: float = 35.0      # illuminated disc (seed Methods)

    def rod(self, label: int) -> Rod:
        return next(r for r in self.rods if r.label == label)


def build_rod_electrode(seed: int = 1) -> RodElectrode:
    """Two rods in the field as in seed 004: a 20.4 um rod active at both ends (Fig. 3) and a 17.9 um
    rod active only at its bottom end, wired near its top and weaker (Fig. 4: it cracks); positions jittered by ``seed``."""
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.6, 0.6, size=4)
    rods = (
        Rod(1, (-5.0 + jitter[0], 0.5 + jitter[1]), np.deg2rad(80.0 + 4 * jitter[2]), 20.4, 3.5,
            (True, True), 0.5, 1.0, 1.0),
        Rod(2, (5.5 + jitter[3], -0.5), np.deg2rad(-95.0), 17.9, 3.4, (True, False), 0.9, 0.8, 0.75),
    )
    return RodElectrode(rods, seed)
