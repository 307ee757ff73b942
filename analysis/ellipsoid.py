"""Minimum-volume enclosing ellipsoid (Khachiyan's algorithm) and the Mercator projection of values
on its surface: the shell unwrapping of seed 000, Fig. 5.

An ellipsoid is (centre c, shape matrix A): points x with (x - c)^T A (x - c) <= 1. Units are
those of the points (um in this project).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ellipsoid:
    centre: np.ndarray        # (3,)
    shape: np.ndarray         # (3, 3) A, positive definite

    @property
    def semi_axes(self) -> np.ndarray:
        """Semi-axis lengths, longest first."""
        w = np.linalg.eigvalsh(self.shape)
        return np.sort(1.0 / np.sqrt(w))[::-1]

    @property
    def axes(self) -> np.ndarray:
        """(3, 3) unit vectors of the semi-axes as columns, longest first."""
        w, v = np.linalg.eigh(self.shape)
        return v[:, np.argsort(1.0 / np.sqrt(w))[::-1]]

    @property
    def volume(self) -> float:
        return float(4.0 / 3.0 * np.pi * np.prod(self.semi_axes))

    def contains(self, points, tolerance: float = 1e-9) -> np.ndarray:
        d = np.asarray(points, dtype=float) - self.centre
        return np.einsum("ni,ij,nj->n", d, self.shape, d) <= 1.0 + tolerance


def minimum_volume_ellipsoid(points, tolerance: float = 1e-4, max_iterations: int = 10000) -> Ellipsoid:
    """Khachiyan's algorithm (as in Todd & Yildirim 2007 / Moshtagh 2005): the smallest ellipsoid
    containing (N, d) points, to a relative volume tolerance; finally scaled so that every point is
    enclosed. Needs at least d + 1 points not on one hyperplane."""
    p = np.asarray(points, dtype=float)
    n, d = p.shape
    if n < d + 1:
        raise ValueError(f"minimum_volume_ellipsoid needs at least {d + 1} points, got {n}")
    q = np.vstack([p.T, np.ones(n)])                     # (d+1, N) lifted points
    u = np.full(n, 1.0 / n)
    for _ in range(max_iterations):
        x = q @ (u[:, None] * q.T)
        m = np.einsum("in,ij,jn->n", q, np.linalg.inv(x), q)
        j = int(np.argmax(m))
        step = (m[j] - d - 1.0) / ((d + 1.0) * (m[j] - 1.0))
        new_u = (1.0 - step) * u
        new_u[j] += step
        if np.linalg.norm(new_u - u) < tolerance:
            u = new_u
            break
        u = new_u
    centre = p.T @ u
    cov = p.T @ (u[:, None] * p) - np.outer(centre, centre)
    shape = np.linalg.inv(cov) / d
    # The iteration stops near the optimum: scale so every point is inside.
    r = np.einsum("ni,ij,nj->n", p - centre, shape, p - centre).max()
    return Ellipsoid(centre, shape / max(r, 1.0))


def mercator(ellipsoid: Ellipsoid, points, values, n_lon: int = 72, n_lat: int = 36,
             max_latitude_deg: float = 80.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project values at (N, 3) points onto a Mercator map of the ellipsoid: each point's direction
    in the ellipsoid's own (normalised) frame gives its longitude and latitude (the longest axis
    is the polar one); returns (map (n_lat, n_lon) of mean values, NaN where empty; longitude
    edges in degrees; Mercator y edges)."""
    d = np.asarray(points, dtype=float) - ellipsoid.centre
    local = d @ ellipsoid.axes / ellipsoid.semi_axes          # unit sphere frame
    x, y, z = local[:, 1], local[:, 2], local[:, 0]           # polar axis = longest
    r = np.sqrt(x * x + y * y + z * z)
    lon = np.degrees(np.arctan2(y, x))
    lat = np.degrees(np.arcsin(np.clip(z / np.where(r > 0, r, 1.0), -1.0, 1.0)))
    keep = np.abs(lat) <= max_latitude_deg
    merc = np.log(np.tan(np.pi / 4 + np.radians(lat[keep]) / 2))
    y_max = np.log(np.tan(np.pi / 4 + np.radians(max_latitude_deg) / 2))
    lon_edges = np.linspace(-180.0, 180.0, n_lon + 1)
    y_edges = np.linspace(-y_max, y_max, n_lat + 1)
    v = np.asarray(values, dtype=float)[keep]
    total, _, _ = np.histogram2d(merc, lon[keep], bins=[y_edges, lon_edges], weights=v)
    count, _, _ = np.histogram2d(merc, lon[keep], bins=[y_edges, lon_edges])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan), lon_edges, y_edges
