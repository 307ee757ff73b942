"""Unwrapping an agglomerate into shells and maps (seed 000, Fig. 5).

The agglomerate's voxels (its label in a reflection stack, column-filled between entry and exit)
are placed at physical depth — below its top surface the focus moves n_particle / n_medium
faster — and peeled into shells of ``thickness_um`` by their distance from the outside. For
each shell the minimum-volume enclosing ellipsoid of its points (Khachiyan,
analysis.ellipsoid; the 2 % farthest points, blur and noise stuck to the outline, left out) is found and the reflectivity of its voxels is projected onto that
ellipsoid's Mercator map. Lengths in um.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .ellipsoid import Ellipsoid, mercator, minimum_volume_ellipsoid
from .volume import _fill_columns


@dataclass(frozen=True)
class Shell:
    """One shell: its depth range from the outside (um), enclosing ellipsoid, voxel count and
    Mercator map of mean counts (lat x lon; NaN where no voxel falls)."""
    inner_um: float
    outer_um: float
    ellipsoid: Ellipsoid
    voxels: int
    map: np.ndarray


def unwrap(stack: np.ndarray, mask: np.ndarray, depths_um, top_um: float, bottom_um: float,
           pixel_size_um: float, n_particle: float, n_medium: float, thickness_um: float = 0.5,
           max_shells: int = 25, max_points: int = 1500, trim: float = 0.02, seed: int = 0) -> list[Shell]:
    """Shells of the object ``mask`` (planes, y, x) of ``stack`` taken at apparent ``depths_um``,
    between its top surface and exit face at apparent depths ``top_um`` and ``bottom_um`` (the
    thresholded mask reaches beyond both by the axial blur); outermost first."""
    depths = np.asarray(depths_um, dtype=float)
    mask = np.asarray(mask, bool) & ((depths >= top_um) & (depths <= bottom_um))[:, None, None]
    box = ndimage.find_objects(mask.astype(np.uint8))
    if not box:
        return []
    (zs, ys, xs), = box
    mask = _fill_columns(ndimage.binary_fill_holes(mask[zs, ys, xs]))
    stack = np.asarray(stack)[zs, ys, xs]
    depths = depths[zs]
    physical = np.where(depths > top_um, top_um + (depths - top_um) * n_particle / n_medium, depths)
    zz, yy, xx = np.nonzero(mask)
    points = np.stack([xx * pixel_size_um, yy * pixel_size_um, physical[zz]], axis=1)
    values = np.asarray(stack, dtype=float)[zz, yy, xx]
    # Distance from the outside: anisotropic voxels, physical spacing along z varies little.
    dz = float(np.median(np.diff(physical[np.unique(zz)]))) if np.unique(zz).size > 1 else pixel_size_um
    depth_in = ndimage.distance_transform_edt(mask, sampling=(dz, pixel_size_um, pixel_size_um))[zz, yy, xx]
    rng = np.random.default_rng(seed)
    shells = []
    for k in range(max_shells):
        lo, hi = k * thickness_um, (k + 1) * thickness_um
        sel = np.nonzero((depth_in > lo) & (depth_in <= hi))[0]
        if sel.size < 60:
            break
        fit = sel if sel.size <= max_points else rng.choice(sel, max_points, replace=False)
        fit = _trimmed(points, fit, trim)
        try:
            ellipsoid = minimum_volume_ellipsoid(points[fit], tolerance=1e-3)
        except (np.linalg.LinAlgError, ValueError):
            break
        with np.errstate(invalid="ignore"):
            if not np.all(np.isfinite(ellipsoid.semi_axes)):       # points of a flat core: no volume
                break
        shell_map, _, _ = mercator(ellipsoid, points[sel], values[sel], n_lon=36, n_lat=18)
        shells.append(Shell(lo, hi, ellipsoid, int(sel.size), shell_map))
    return shells


def _trimmed(points: np.ndarray, index: np.ndarray, fraction: float) -> np.ndarray:
    """Drop the ``fraction`` of points farthest (Mahalanobis) from the rest: blur and noise
    voxels stuck to the outline would otherwise set the enclosing ellipsoid."""
    p = points[index]
    if fraction <= 0 or len(p) < 50:
        return index
    d = p - p.mean(axis=0)
    m = np.einsum("ni,ij,nj->n", d, np.linalg.pinv(np.cov(d.T)), d)
    return index[m <= np.quantile(m, 1.0 - fraction)]
