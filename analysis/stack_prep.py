"""Preparing confocal z-stacks for measurement: projection, attenuation, axial scale, drift.

Depths in um; stacks are (planes, y, x) arrays of counts.
"""
from __future__ import annotations

import numpy as np


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


def coverslip_piezo_um(stack, piezo_um, mip=None) -> float:
    """Objective position (um) focused on the coverslip/electrolyte interface: the peak of the mean
    counts per plane over the field's dimmer half (pixels whose projection is below its median, away
    from agglomerates), refined by a parabola through the logarithm of the three planes about it (a
    Gaussian axial response). NaN when the peak is the first or last plane (not inside the stack).
    ``mip``: the stack's projection, when already at hand."""
    s = np.asarray(stack)
    mip = max_intensity_projection(s) if mip is None else mip
    profile = s[:, mip <= np.median(mip)].astype(float).mean(axis=1)
    k = int(np.argmax(profile))
    z = np.asarray(piezo_um, dtype=float)
    if k == 0 or k == len(profile) - 1 or np.any(profile[k - 1:k + 2] <= 0):
        return float("nan")
    a, b, _ = np.polyfit(z[k - 1:k + 2] - z[k], np.log(profile[k - 1:k + 2]), 2)
    return float(z[k] - b / (2 * a)) if a < 0 else float("nan")


class Registration:
    """Drift of the sample between the stacks of one position, relative to the first: lateral from
    phase correlation of the reflection projections (1/``upsample`` pixel), axial from the
    coverslip reflection (``coverslip_piezo_um``; 0 when the stacks do not hold it). The volume
    analysis corrects up to ~20 nm of axial drift to 0.2 pp of Delta V / V (docs/analysis.md);
    more needs the microscope's focus lock."""

    def __init__(self, pixel_size_um: float, upsample: int = 20):
        self.pixel_size_um = pixel_size_um
        self.upsample = upsample
        self._reference = None

    def measure(self, stack, piezo_um) -> tuple[float, float, float]:
        """(dx, dy, dz) um: where the sample has moved since the first stack (z away from the objective)."""
        projection = max_intensity_projection(stack)
        z = coverslip_piezo_um(stack, piezo_um, projection)
        mip = projection.astype(float)
        # Mean removed and a Hann window: the field's edges cut agglomerates, which would otherwise
        # pull the correlation towards no shift (-80 nm of a 100 nm drift on a 16 um field).
        ny, nx = mip.shape
        mip = (mip - mip.mean()) * np.outer(np.hanning(ny), np.hanning(nx))
        if self._reference is None:
            self._reference = (mip, z)
            return 0.0, 0.0, 0.0
        ref_mip, ref_z = self._reference
        dy, dx = drift_um(ref_mip, mip, (self.pixel_size_um, self.pixel_size_um), self.upsample)
        return float(dx), float(dy), float(z - ref_z) if np.isfinite(z) and np.isfinite(ref_z) else 0.0

    def apply(self, frames: dict, drift) -> dict:
        """Frames (channel -> (planes, y, x)) moved back laterally onto the first stack's pixels for
        a drift from ``measure`` (float32), through the Fourier domain: the counts' noise stays white
        where interpolation would smooth it. The axial drift is not applied to the frames: the
        planes, 0.3-0.4 um apart, sample the surfaces too coarsely to be moved by a fraction of a
        plane (Fourier, cubic and linear resampling all read 0.4-1.6 pp of Delta V / V at half a
        plane); the analyses correct what they find instead (Tracker.add's axial_drift_um)."""
        dx, dy, _ = drift
        if not (dx or dy):
            return frames
        return {c: fourier_shifted(f, (0.0, -dy / self.pixel_size_um, -dx / self.pixel_size_um))
                for c, f in frames.items()}


def fourier_shifted(stack, shift, pad: int = 8) -> np.ndarray:
    """A (planes, y, x) stack moved by ``shift`` voxels (fractional) through the Fourier domain of
    the shifted axes, edges repeated over ``pad`` voxels along them so that nothing wraps (float32)."""
    from scipy import fft

    axes = [k for k, s in enumerate(shift) if s]
    if not axes:
        return np.asarray(stack, dtype=np.float32)
    widths = [(pad, pad) if k in axes else (0, 0) for k in range(3)]
    a = np.pad(np.asarray(stack, dtype=np.float32), widths, mode="edge")
    spectrum = fft.rfftn(a, axes=axes, workers=2)
    phase = np.zeros(spectrum.shape[1:] if axes[0] > 0 else spectrum.shape, dtype=np.float32)
    for k in axes:
        f = (fft.rfftfreq if k == axes[-1] else fft.fftfreq)(a.shape[k]).astype(np.float32)
        shape = [1] * phase.ndim
        shape[k - (3 - phase.ndim)] = -1
        phase = phase + f.reshape(shape) * np.float32(shift[k])
    spectrum *= np.exp(np.complex64(-2j * np.pi) * phase)
    out = fft.irfftn(spectrum, s=[a.shape[k] for k in axes], axes=axes, workers=2)
    return np.ascontiguousarray(out[tuple(slice(w[0], n - w[1]) for w, n in zip(widths, a.shape))],
                                dtype=np.float32)
