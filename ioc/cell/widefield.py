"""Widefield scattering images of an NWO electrode (seed 004 Methods): 740 nm LED through a ground-
glass diffuser and a 35 um field aperture, 1.4 NA oil objective, 166.7x onto a CMOS camera with
5.86 um pixels (35.2 nm in the sample; 70.3 nm binned 2 x 2).

What a frame shows: the carbon matrix (weak, textured), and each rod brighter than it, its
scattering following its local lithium fraction (``nwo.scattering``), with interference fringes
along its edges and at its tapered ends from its three-dimensional shape; each node of a rod sits
where its c-strain puts it (the rod lengthens on lithiation); cracks are dark lines that run
across the rod and open into gaps. Defocus (focus-lock error) lowers the contrast. Shot noise
and read noise on top; 16-bit counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import erf

from . import nwo
from .rod_state import RodCellState
from .rods import RodElectrode

SENSOR_SHAPE = (1200, 1920)          # rows, columns (FLIR Grasshopper3 GS3-U3-23S6M)
SENSOR_PIXEL_UM = 5.86
MAGNIFICATION = 166.7
PIXEL_UM = SENSOR_PIXEL_UM / MAGNIFICATION     # 0.0352 um in the sample
WAVELENGTH_NM = 740.0
NUMERICAL_APERTURE = 1.4
PSF_SIGMA_UM = 0.21 * WAVELENGTH_NM * 1e-3 / NUMERICAL_APERTURE / 2.0 ** 0.5   # ~0.078 um
DEPTH_OF_FIELD_NM = 320.0
ELECTRONS_PER_MS = 260.0     # a pristine rod, one unbinned pixel, LED at full power
MATRIX_LEVEL = 0.22          # carbon matrix relative to a pristine rod
READ_NOISE_E = 7.0
FULL_SCALE = 65535


@dataclass(frozen=True)
class CameraGrid:
    """Binned pixels of a sensor region: origin (unbinned pixel of the ROI's corner), size
    (unbinned pixels), binning."""
    min_x: int = 0
    min_y: int = 0
    size_x: int = SENSOR_SHAPE[1]
    size_y: int = SENSOR_SHAPE[0]
    binning: int = 2

    @property
    def shape(self) -> tuple[int, int]:
        return self.size_y // self.binning, self.size_x // self.binning

    @property
    def pixel_um(self) -> float:
        return PIXEL_UM * self.binning

    def coordinates_um(self) -> tuple[np.ndarray, np.ndarray]:
        """Sample-frame (x, y) of every binned pixel's centre (um); the sensor's centre is (0, 0)."""
        ny, nx = self.shape
        b = self.binning
        cols = self.min_x + (np.arange(nx) + 0.5) * b - SENSOR_SHAPE[1] / 2
        rows = self.min_y + (np.arange(ny) + 0.5) * b - SENSOR_SHAPE[0] / 2
        return np.meshgrid(cols * PIXEL_UM, rows * PIXEL_UM)


def _soft_window(u, lo, hi, sigma):
    s = np.sqrt(2.0) * sigma
    return 0.5 * (erf((u - lo) / s) - erf((u - hi) / s))


class WidefieldSample:
    """Renders camera frames of a RodElectrode for a rod-cell state."""

    def __init__(self, electrode: RodElectrode, seed: int = 0):
        self.electrode = electrode
        self.seed = seed

    @lru_cache(maxsize=4)
    def _static(self, grid: CameraGrid):
        """Per grid: illumination x matrix background, and per rod the pixels near it with their
        along (u) and across (v) coordinates (um) and the across profile (edges, fringes)."""
        x, y = grid.coordinates_um()
        r = np.hypot(x, y)
        illumination = _soft_window(r, -1.0, 0.5 * self.electrode.field_diameter_um, 0.6)
        rng = np.random.default_rng(self.seed + 77)
        texture = gaussian_filter(rng.standard_normal(x.shape), 0.25 / grid.pixel_um)
        texture /= texture.std() + 1e-12
        matrix = MATRIX_LEVEL * np.clip(1.0 + 0.35 * texture, 0.2, None)
        rods = []
        for rod in self.electrode.rods:
            ax = rod.axis
            dx, dy = x - rod.center_um[0], y - rod.center_um[1]
            u = dx * ax[0] + dy * ax[1]
            v = -dx * ax[1] + dy * ax[0]
            near = (np.abs(u) < 0.5 * rod.length_um * 1.12 + 1.5) & (np.abs(v) < 0.5 * rod.width_um + 1.0)
            idx = np.nonzero(near.ravel())[0]
            vv = v.ravel()[idx]
            half = 0.5 * rod.width_um
            inside = np.clip(half - np.abs(vv), 0.0, None)
            fringe = 1.0 + 0.35 * np.cos(2 * np.pi * inside / 0.17) * np.exp(-inside / 0.35)
            across = _soft_window(vv, -half, half, PSF_SIGMA_UM) * fringe
            rods.append((rod, idx, u.ravel()[idx], vv, across))
        return illumination, matrix, rods

    def expected(self, grid: CameraGrid, state: RodCellState, focus_error_nm: float = 0.0) -> np.ndarray:
        """Noise-free image (relative to a pristine rod under full illumination)."""
        illumination, matrix, rods = self._static(grid)
        image = matrix.copy().ravel()
        contrast = float(np.exp(-(focus_error_nm / DEPTH_OF_FIELD_NM) ** 2))
        for rod, idx, u, v, across in rods:
            rs = state.rods.get(rod.label)
            if rs is None:
                continue
            centres = rs.node_centres_um(rod.length_um)
            dl = rod.length_um / rs.x.size
            fine = np.arange(centres[0] - 2.0, centres[-1] + 2.0, 0.01)
            refl = np.interp(fine, centres, nwo.scattering(rs.x))
            # Fragments between cracks, each a soft window; tapered ends ring (fringes).
            bounds = [centres[0] - 0.5 * dl]
            for c in sorted(rs.cracks, key=lambda c: c.face):
                if c.gap_um > 0:
                    bounds += [centres[c.face] + 0.5 * dl, centres[c.face + 1] - 0.5 * dl]
            bounds.append(centres[-1] + 0.5 * dl)
            cover = sum(_soft_window(fine, bounds[k], bounds[k + 1], PSF_SIGMA_UM) for k in range(0, len(bounds), 2))
            d_end = np.clip(np.minimum(fine - bounds[0], bounds[-1] - fine), 0.0, None)
            taper = 1.0 + 0.3 * np.cos(2 * np.pi * d_end / 0.25) * np.exp(-d_end / 0.6)
            along_refl = np.interp(u, fine, refl * taper)
            along_cover = np.interp(u, fine, cover)
            cov = along_cover * np.clip(_soft_window(v, -0.5 * rod.width_um, 0.5 * rod.width_um, PSF_SIGMA_UM), 0, 1)
            signal = along_refl * across * contrast
            for c in rs.cracks:           # a dark line running across the rod from its v < 0 side
                uc = 0.5 * (centres[c.face] + centres[c.face + 1])
                v_front = -0.5 * rod.width_um + c.progress * rod.width_um
                line = np.exp(-0.5 * ((u - uc) / 0.09) ** 2) * (v < v_front)
                signal = signal * (1.0 - 0.65 * line)
            image[idx] = image[idx] * (1.0 - cov) + signal * cov
        return image.reshape(illumination.shape) * illumination

    def frame(self, grid: CameraGrid, state: RodCellState, exposure_s: float, led_power: float,
              rng: np.random.Generator, focus_error_nm: float = 0.0) -> np.ndarray:
        """A camera frame (uint16 counts): binned pixels sum their electrons; shot and read noise."""
        electrons = (self.expected(grid, state, focus_error_nm) * ELECTRONS_PER_MS * exposure_s * 1e3
                     * led_power * grid.binning ** 2)
        # Shot noise (Gaussian limit: > 100 electrons everywhere lit) and read noise, one draw.
        sigma = np.sqrt(electrons + (READ_NOISE_E * grid.binning) ** 2)
        noisy = electrons + sigma * rng.standard_normal(electrons.shape, dtype=np.float32)
        return np.clip(np.rint(noisy), 0, FULL_SCALE).astype(np.uint16)
