"""Geometry of a porous self-standing electrode behind a coverslip.

Coordinates: x, y lateral (um) in the sample frame, z physical depth (um)
below the coverslip/electrolyte interface (z = 0), increasing into the cell.
Agglomerates are ellipsoids embedded in the carbon/PTFE host that starts at
``electrolyte_gap_um`` below the coverslip.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .materials import ACTIVE_MATERIALS, Medium


@dataclass(frozen=True)
class Agglomerate:
    """One secondary particle: an ellipsoid.

    center_um: (x, y, z); semi_axes_um: (a, b, c) along the rotated axes;
    rotation: 3x3 matrix whose columns are the ellipsoid axes in the sample
    frame; active: False for electronically disconnected particles.
    """
    label: int
    material: str
    center_um: tuple[float, float, float]
    semi_axes_um: tuple[float, float, float]
    rotation: tuple[tuple[float, ...], ...]
    active: bool = True
    texture_seed: int = 0

    @property
    def medium(self) -> Medium:
        return ACTIVE_MATERIALS[self.material]

    @property
    def volume_um3(self) -> float:
        """True geometric volume (um^3)."""
        a, b, c = self.semi_axes_um
        return 4.0 / 3.0 * np.pi * a * b * c

    @property
    def shape_matrix(self) -> np.ndarray:
        """M such that (r - c)^T M (r - c) = 1 on the surface (1/um^2)."""
        R = np.asarray(self.rotation)
        return R @ np.diag(1.0 / np.asarray(self.semi_axes_um) ** 2) @ R.T

    @property
    def z_extent_um(self) -> tuple[float, float]:
        """Top and bottom physical depth of the ellipsoid (um)."""
        half = float(np.sqrt(np.linalg.inv(self.shape_matrix)[2, 2]))
        return self.center_um[2] - half, self.center_um[2] + half

    @property
    def xy_half_extent_um(self) -> tuple[float, float]:
        inv = np.linalg.inv(self.shape_matrix)
        return float(np.sqrt(inv[0, 0])), float(np.sqrt(inv[1, 1]))

    def column_intersections(self, x_um: np.ndarray, y_um: np.ndarray):
        """Where vertical lines through (x, y) cross the ellipsoid.

        Returns (inside, z_top_um, z_bottom_um, cos_top, cos_bottom): a boolean
        mask of columns that hit, entry/exit depths (NaN elsewhere) and the
        cosine of the surface tilt from the optical axis at entry/exit.
        """
        M = self.shape_matrix
        dx = x_um - self.center_um[0]
        dy = y_um - self.center_um[1]
        A = M[2, 2]
        B = 2.0 * (M[0, 2] * dx + M[1, 2] * dy)
        C = M[0, 0] * dx * dx + 2 * M[0, 1] * dx * dy + M[1, 1] * dy * dy - 1.0
        disc = B * B - 4 * A * C
        inside = disc > 0
        sq = np.sqrt(np.where(inside, disc, np.nan))
        t_top = (-B - sq) / (2 * A)
        t_bot = (-B + sq) / (2 * A)
        z_top = self.center_um[2] + t_top
        z_bot = self.center_um[2] + t_bot

        def cos_tilt(t):
            g = np.stack([M[0, 0] * dx + M[0, 1] * dy + M[0, 2] * t,
                          M[1, 0] * dx + M[1, 1] * dy + M[1, 2] * t,
                          M[2, 0] * dx + M[2, 1] * dy + M[2, 2] * t])
            return np.abs(g[2]) / np.linalg.norm(g, axis=0)

        return inside, z_top, z_bot, cos_tilt(t_top), cos_tilt(t_bot)

    def contains(self, points_um: np.ndarray) -> np.ndarray:
        """Boolean mask of (N, 3) points inside the ellipsoid."""
        d = np.asarray(points_um) - np.asarray(self.center_um)
        return np.einsum("ni,ij,nj->n", d, self.shape_matrix, d) <= 1.0


@dataclass(frozen=True)
class Electrode:
    """A self-standing composite electrode seen through a coverslip."""
    material: str
    agglomerates: tuple[Agglomerate, ...]
    electrolyte_gap_um: float = 1.5
    half_width_um: float = 25.0
    seed: int = 0
    loading_wt_fraction: float = 0.2
    notes: dict = field(default_factory=dict)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def build_electrode(seed: int = 0, material: str = "LCO", n_agglomerates: int = 8,
                    half_width_um: float = 18.0, diameter_range_um=(2.5, 7.5),
                    electrolyte_gap_um: float = 1.5, inactive_fraction: float = 0.15,
                    max_top_depth_um: float = 4.0) -> Electrode:
    """Place non-overlapping ellipsoidal agglomerates, deterministically from ``seed``.

    Diameters are drawn uniformly in ``diameter_range_um`` (seed 000: LCO
    2.5-7.5 um, NMC811 ~5 um); aspect ratios 0.75-1; tops between the host
    surface and ``max_top_depth_um`` below it; random orientation.
    """
    if material not in ACTIVE_MATERIALS:
        raise ValueError(f"material must be one of {sorted(ACTIVE_MATERIALS)}, got {material!r}")
    rng = np.random.default_rng(seed)
    placed: list[Agglomerate] = []
    attempts = 0
    while len(placed) < n_agglomerates and attempts < 5000:
        attempts += 1
        d = rng.uniform(*diameter_range_um)
        axes = np.array([d / 2, d / 2 * rng.uniform(0.8, 1.0), d / 2 * rng.uniform(0.75, 0.95)])
        R = _random_rotation(rng)
        r_bound = axes.max()
        xy = rng.uniform(-half_width_um + r_bound, half_width_um - r_bound, size=2)
        probe = Agglomerate(0, material, (0.0, 0.0, 0.0), tuple(axes), tuple(map(tuple, R)))
        half_z = probe.z_extent_um[1]
        top = electrolyte_gap_um + rng.uniform(0.2, max_top_depth_um)
        center = np.array([xy[0], xy[1], top + half_z])
        if any(np.linalg.norm(center - np.array(p.center_um)) < r_bound + max(p.semi_axes_um) + 0.8
               for p in placed):
            continue
        placed.append(Agglomerate(
            label=len(placed) + 1, material=material, center_um=tuple(float(v) for v in center),
            semi_axes_um=tuple(float(v) for v in axes), rotation=tuple(map(tuple, R.tolist())),
            active=bool(rng.uniform() >= inactive_fraction), texture_seed=int(rng.integers(2**31))))
    return Electrode(material=material, agglomerates=tuple(placed),
                     electrolyte_gap_um=electrolyte_gap_um,
                     half_width_um=half_width_um, seed=seed)
