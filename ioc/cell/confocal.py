"""What the confocal microscope's APDs count for a sample, a scan and an illumination."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .apd import CHANNELS, photon_rate_cps
from .electrode import Electrode
from .optics import ConfocalOptics, ConfocalRenderer, PixelGrid

# Two-photon-excited fluorescence of 1 M LiPF6 in EC/DMC: detected photons/s per W^2 of
# average pulsed power, in bulk electrolyte at 1020 nm; other concentrations scale with
# electrolyte.tpef_relative (monotonic over 0.01-4 M).
TPEF_CPS_PER_W2_AT_1M = 1.2e11
# Surface of the objective focus relative to the piezo scale: the piezo reading
# at which the focus sits on the coverslip/electrolyte interface (um).
COVERSLIP_PIEZO_UM = 10.0
DRIFT_GRID_UM = 0.005   # lateral drift is rendered in steps of this (um)


@dataclass(frozen=True)
class Illumination:
    """Laser state at the sample."""
    wavelength_nm: float
    power_w: float
    pulsed: bool
    shutter_open: bool


def tpef_efficiency(wavelength_nm: float) -> float:
    """Relative 2PEF efficiency of the electrolyte: negligible below ~900 nm (seed 000), 1 at 1020 nm."""
    return float(np.clip((wavelength_nm - 880.0) / 140.0, 0.0, 1.0))


class ConfocalSample:
    """A virtual electrode under the confocal microscope; deterministic given the rng."""

    def __init__(self, electrode: Electrode, optics: ConfocalOptics | None = None,
                 salt_concentration_m: float = 1.0, coverslip_piezo_um: float = COVERSLIP_PIEZO_UM,
                 drift_um_per_h=(0.0, 0.0, 0.0)):
        self.electrode = electrode
        self.optics = optics or ConfocalOptics()
        self.salt_concentration_m = salt_concentration_m
        self.coverslip_piezo_um = coverslip_piezo_um
        self.drift_um_per_h = tuple(float(v) for v in drift_um_per_h)
        if len(self.drift_um_per_h) != 3 or not all(np.isfinite(self.drift_um_per_h)):
            raise ValueError(f"drift_um_per_h must be three finite numbers (x, y, z um/h), got {drift_um_per_h!r}")
        self._renderer: ConfocalRenderer | None = None

    def drift_um(self, elapsed_s: float) -> np.ndarray:
        """Displacement (um) of the sample relative to the objective and the scanned field after
        ``elapsed_s`` (s) of the instrument's own time (thermal drift): x, y in the sample frame,
        z away from the objective (the coverslip then sits at a larger objective position)."""
        return np.asarray(self.drift_um_per_h) * elapsed_s / 3600.0

    def renderer(self, grid: PixelGrid) -> ConfocalRenderer:
        if self._renderer is None or self._renderer.grid != grid:
            self._renderer = ConfocalRenderer(self.electrode, grid, self.optics)
        return self._renderer

    def apparent_depth_um(self, piezo_z_um: float) -> float:
        """Apparent focal depth below the coverslip for a piezo position (um)."""
        return (piezo_z_um - self.coverslip_piezo_um) * self.optics.depth_scale

    def expected_rates(self, grid: PixelGrid, piezo_z_um: float, light: Illumination,
                       channels: list[str], states: dict | None = None, drift_um=None) -> dict[str, np.ndarray]:
        """Mean photon rates (photons/s) reaching each enabled APD channel; ``states``: per
        agglomerate label its AgglomerateState (pristine where absent); ``drift_um``: the sample's
        displacement (``drift_um``), none if absent."""
        rates = {c: np.zeros((grid.ny, grid.nx)) for c in channels}
        if not light.shutter_open or light.power_w <= 0:
            return rates
        if drift_um is not None:
            # The field sees the sample shifted back; lateral offsets kept to 5 nm so that the
            # renderer's per-field geometry is rebuilt every few planes, not every plane.
            dx, dy = (round(float(v) / DRIFT_GRID_UM) * DRIFT_GRID_UM for v in drift_um[:2])
            grid = replace(grid, center_x_um=grid.center_x_um - dx, center_y_um=grid.center_y_um - dy)
            piezo_z_um = piezo_z_um - float(drift_um[2])
        r = self.renderer(grid)
        depth = self.apparent_depth_um(piezo_z_um)
        incident = photon_rate_cps(light.power_w, light.wavelength_nm)
        for c in channels:
            if CHANNELS[c].passes(light.wavelength_nm):
                rates[c] += incident * self.optics.detection_efficiency * r.reflection(depth, light.wavelength_nm, states)
        if "fluorescence" in channels and light.pulsed:
            eff = tpef_efficiency(light.wavelength_nm)
            if eff > 0:
                rates["fluorescence"] += (TPEF_CPS_PER_W2_AT_1M * light.power_w ** 2 * eff
                                          * r.fluorescent_salt(depth, light.wavelength_nm, states,
                                                               self.salt_concentration_m))
        return rates

    def acquire(self, grid: PixelGrid, piezo_z_um: float, light: Illumination, dwell_s: float,
                channels: list[str], rng: np.random.Generator, states: dict | None = None,
                drift_um=None) -> dict[str, np.ndarray]:
        """Photon counts (uint16) per enabled channel for one scanned plane."""
        rates = self.expected_rates(grid, piezo_z_um, light, channels, states, drift_um)
        return {c: CHANNELS[c].count(rates[c], dwell_s, rng) for c in channels}
