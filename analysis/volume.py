"""Agglomerate volumes from a confocal reflection z-stack by thresholding (first-order method).

Axial geometry: a piezo step dz moves the focus by dz * n_medium / n_immersion
in electrolyte and by dz * n_particle / n_immersion inside a particle
(paraxial focal shift), so voxels inside a particle stand for
index_ratio = n_particle / n_medium times more physical depth than voxels in
the electrolyte.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu


@dataclass(frozen=True)
class SegmentedObject:
    """One segmented agglomerate: volume (um^3), centroid (um; z is apparent depth below the stack start)."""
    label: int
    volume_um3: float
    centroid_um: tuple[float, float, float]
    voxels: int
    touches_edge: bool


def apparent_voxel_volume_um3(pixel_size_um: float, z_step_um: float, n_medium: float, n_immersion: float) -> float:
    """Volume of one voxel in electrolyte-equivalent depth (um^3)."""
    return pixel_size_um ** 2 * z_step_um * n_medium / n_immersion


def threshold_volumes(stack: np.ndarray, pixel_size_um: float, z_step_um: float, *, n_medium: float,
                      n_immersion: float, n_particle: float, threshold: float | None = None,
                      min_volume_um3: float = 1.0, threshold_factor: float = 1.0) -> list[SegmentedObject]:
    """Segment bright 3D objects in ``stack`` (planes, y, x counts) and return their volumes.

    The stack is smoothed over about one PSF, thresholded (Otsu unless given),
    closed and hole-filled so the textured interior counts as solid, then
    labelled. Volumes include the index correction n_particle / n_medium.
    """
    stack = np.asarray(stack, dtype=np.float32)
    labels = label_objects(stack, pixel_size_um, threshold, threshold_factor)
    voxel = apparent_voxel_volume_um3(pixel_size_um, z_step_um, n_medium, n_immersion) * n_particle / n_medium
    objects = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        obj = _fill_columns(ndimage.binary_fill_holes(labels[sl] == i))
        count = int(obj.sum())
        volume = count * voxel
        if volume < min_volume_um3:
            continue
        zz, yy, xx = np.nonzero(obj)
        centroid = ((xx.mean() + sl[2].start - (stack.shape[2] - 1) / 2) * pixel_size_um,
                    (yy.mean() + sl[1].start - (stack.shape[1] - 1) / 2) * pixel_size_um,
                    (zz.mean() + sl[0].start) * z_step_um * n_medium / n_immersion)
        edge = (sl[1].start == 0 or sl[2].start == 0 or sl[1].stop == stack.shape[1]
                or sl[2].stop == stack.shape[2] or sl[0].start == 0 or sl[0].stop == stack.shape[0])
        objects.append(SegmentedObject(i, float(volume), tuple(float(c) for c in centroid), count, bool(edge)))
    return objects


def label_objects(stack: np.ndarray, pixel_size_um: float, threshold: float | None = None,
                  threshold_factor: float = 1.0) -> np.ndarray:
    """Labels (planes, y, x; 0 = background) of bright 3D objects: the stack smoothed over about
    one PSF (0.25 um laterally), thresholded (Otsu unless given) and closed."""
    stack = np.asarray(stack, dtype=np.float32)
    if stack.ndim != 3:
        raise ValueError(f"stack must be 3-D (planes, y, x), got shape {stack.shape}")
    smooth = ndimage.gaussian_filter(stack, sigma=(0.7, 0.25 / pixel_size_um, 0.25 / pixel_size_um), truncate=3.0)
    # Otsu on every 7th voxel: the histogram of 2 million voxels is the same threshold.
    thr = threshold_factor * threshold_otsu(smooth.ravel()[::7]) if threshold is None else threshold
    # Closing with a 3 x 5 x 5 box as separable max / min filters (same result, ~10x faster).
    mask = (smooth > thr).view(np.uint8)
    mask = ndimage.minimum_filter(ndimage.maximum_filter(mask, size=(3, 5, 5), mode="constant"), size=(3, 5, 5),
                                  mode="nearest").astype(bool)
    return ndimage.label(mask)[0]


def _fill_columns(obj: np.ndarray) -> np.ndarray:
    """Fill each (y, x) column between its first and last voxel: an agglomerate is solid
    between its entry and exit surfaces even where the attenuated interior falls below threshold."""
    any_z = obj.any(axis=0)
    first = np.argmax(obj, axis=0)
    last = obj.shape[0] - 1 - np.argmax(obj[::-1], axis=0)
    z = np.arange(obj.shape[0])[:, None, None]
    return (z >= first) & (z <= last) & any_z
