"""Preparing confocal z-stacks for measurement: projection, attenuation, axial scale, drift.

Depths in um; stacks are (planes, y, x) arrays of counts.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def max_intensity_projection(stack) -> np.ndarray:
    """(y, x) maximum over the planes."""
    return np.asarray(stack).max(axis=0)


def dead_time_corrected(counts, dead_time_s: float, dwell_s: float) -> np.ndarray:
    """Counts corrected for a detector's non-paralysable dead time, n / (1 - n tau / T) (float32;
    unchanged without a dead time or dwell)."""
    if dead_time_s <= 0 or dwell_s <= 0:
        return counts
    n = np.asarray(counts, dtype=np.float32)
    return n / np.maximum(1.0 - n * np.float32(dead_time_s / dwell_s), np.float32(0.05))


def attenuation_corrected(stack, depth_um, attenuation_per_um: float, from_depth_um: float = 0.0) -> np.ndarray:
    """Undo the round-trip loss exp(-2 mu (d - d0)) of planes deeper than from_depth_um (float stack)."""
    d = np.clip(np.asarray(depth_um, dtype=float) - from_depth_um, 0.0, None)
    gain = np.exp(2.0 * attenuation_per_um * d)
    return np.asarray(stack, dtype=float) * gain[:, None, None]


def physical_depth_um(piezo_um, surface_piezo_um: float, n_medium: float, n_immersion: float) -> np.ndarray:
    """Depth below the coverslip of the focus for objective positions piezo_um (paraxial focal shift:
    the focus moves n_medium / n_immersion per um of objective travel in the medium)."""
    return (np.asarray(piezo_um, dtype=float) - surface_piezo_um) * n_medium / n_immersion


def drift_um(reference, moving, voxel_um: tuple[float, float, float], upsample: int = 10) -> np.ndarray:
    """(dz, dy, dx) in um by which ``moving`` is displaced relative to ``reference`` (3D phase
    correlation, 1/upsample voxel precision). Subtract it to register."""
    from skimage.registration import phase_cross_correlation

    shift, _, _ = phase_cross_correlation(np.asarray(reference, dtype=float), np.asarray(moving, dtype=float),
                                          upsample_factor=upsample, normalization=None)
    return -np.asarray(shift) * np.asarray(voxel_um)


def registered(stack, drift: np.ndarray, voxel_um: tuple[float, float, float]) -> np.ndarray:
    """The stack moved back by a drift (um), linear interpolation, edges repeated."""
    return ndimage.shift(np.asarray(stack, dtype=float), -np.asarray(drift) / np.asarray(voxel_um), order=1,
                         mode="nearest")
