"""Salt concentration in the electrolyte from its two-photon fluorescence (seed 000, Fig. 6).

2PEF counts depend on the salt concentration through a measured calibration curve
(``data/tpef_calibration.csv``: a cuvette series at the imaging settings, relative to 1 M; it
includes the detector's dead-time compression). Each pixel is referred to the same pixel of a
reference stack taken at a known bulk concentration (the cell at rest before cycling), which
removes the liquid fraction, the excitation profile and the optics:
c = f^-1(F / F_ref * f(c_bulk)). The map is read in the plane ~300 nm above the electrode's
surface, found as the depth where the fluorescence falls from the liquid above the electrode
to the porous host. Lengths in um, concentrations in mol/L.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

CALIBRATION_FILE = Path(__file__).with_name("data") / "tpef_calibration.csv"


@dataclass(frozen=True)
class Calibration:
    """2PEF relative to 1 M at each concentration (mol/L), and where it came from."""
    concentration_m: np.ndarray
    relative_signal: np.ndarray
    source: str
    settings: str

    def signal(self, concentration_m) -> np.ndarray:
        return np.interp(concentration_m, self.concentration_m, self.relative_signal)

    def concentration(self, relative_signal) -> np.ndarray:
        """Inverse of the curve (monotonic); beyond its ends, linear from the last two points."""
        s, c = self.relative_signal, self.concentration_m
        r = np.asarray(relative_signal, dtype=float)
        out = np.interp(r, s, c)
        hi = r > s[-1]
        out = np.where(hi, c[-1] + (r - s[-1]) * (c[-1] - c[-2]) / (s[-1] - s[-2]), out)
        return out


def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    text = Path(path).read_text().splitlines()
    comments = [line[1:].strip() for line in text if line.startswith("#")]
    rows = np.array([[float(v) for v in line.split(",")] for line in text
                     if line and not line.startswith("#") and not line[0].isalpha()])
    source = next((c[len("source:"):].strip() for c in comments if c.startswith("source:")), "unknown")
    settings = next((c[len("settings:"):].strip() for c in comments if c.startswith("settings:")), "")
    order = np.argsort(rows[:, 0])
    if np.any(np.diff(rows[order, 1]) <= 0):
        raise ValueError(f"{path}: the calibration must rise monotonically with concentration")
    return Calibration(rows[order, 0], rows[order, 1], source, settings)


def electrode_surface_depth(fluorescence: np.ndarray, depths_um) -> float:
    """Apparent depth (um) where the field-median 2PEF falls halfway from the liquid above the
    electrode (its maximum) to the host below (the median of the deepest quarter of planes)."""
    profile = np.median(np.asarray(fluorescence, dtype=float).reshape(len(depths_um), -1), axis=1)
    depths = np.asarray(depths_um, dtype=float)
    top = int(np.argmax(profile))
    low = float(np.median(profile[-max(len(profile) // 4, 1):]))
    mid = 0.5 * (profile[top] + low)
    below = np.nonzero(profile[top:] < mid)[0]
    if below.size == 0:
        raise ValueError("the 2PEF never falls towards a host: the stack does not reach the electrode")
    k = top + int(below[0])
    f = (profile[k - 1] - mid) / (profile[k - 1] - profile[k])
    return float(depths[k - 1] + f * (depths[k] - depths[k - 1]))


def plane_at(stack: np.ndarray, depths_um, depth_um: float) -> np.ndarray:
    """The stack linearly interpolated to apparent depth ``depth_um`` (y, x)."""
    depths = np.asarray(depths_um, dtype=float)
    k = int(np.clip(np.searchsorted(depths, depth_um) - 1, 0, len(depths) - 2))
    f = float(np.clip((depth_um - depths[k]) / (depths[k + 1] - depths[k]), 0.0, 1.0))
    return (1 - f) * np.asarray(stack[k], dtype=float) + f * np.asarray(stack[k + 1], dtype=float)


def salt_map(plane: np.ndarray, reference: np.ndarray, calibration: Calibration, bulk_m: float,
             smooth_px: float = 2.0) -> np.ndarray:
    """Salt concentration (mol/L) per pixel from a 2PEF plane and the same plane at ``bulk_m``."""
    f = ndimage.gaussian_filter(np.asarray(plane, dtype=float), smooth_px)
    f0 = ndimage.gaussian_filter(np.asarray(reference, dtype=float), smooth_px)
    ratio = np.where(f0 > 0, f / np.where(f0 > 0, f0, 1.0), np.nan)
    return calibration.concentration(ratio * calibration.signal(bulk_m))


@dataclass(frozen=True)
class Gradient:
    """Salt excess next to one agglomerate: mean Delta C (mol/L) within ``near_um`` of its outline,
    and the e-fold length (um) of Delta C with lateral distance from the outline (NaN if no excess)."""
    near_m: float
    extent_um: float


def gradient_near(delta_c: np.ndarray, footprint: np.ndarray, pixel_size_um: float, near_um: float = 0.5,
                  max_um: float = 4.0) -> Gradient:
    """Delta C next to an agglomerate whose (y, x) ``footprint`` is given, and its decay length: a fit
    of log Delta C against distance from the footprint over bins of 0.2 um out to ``max_um``."""
    distance = ndimage.distance_transform_edt(~footprint) * pixel_size_um
    ok = np.isfinite(delta_c)
    near = ok & (distance > 0) & (distance <= near_um)
    near_m = float(np.mean(delta_c[near])) if near.any() else float("nan")
    edges = np.arange(0.0, max_um + 1e-9, 0.2)
    centres, values = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = ok & (distance > lo) & (distance <= hi)
        if sel.sum() >= 10:
            centres.append(0.5 * (lo + hi))
            values.append(float(np.median(delta_c[sel])))
    centres, values = np.array(centres), np.array(values)
    if not np.isfinite(near_m) or near_m <= 0.02 or centres.size < 4:
        return Gradient(near_m, float("nan"))
    use = values > 0.1 * values.max()
    if use.sum() < 3:
        return Gradient(near_m, float("nan"))
    slope, _ = np.polyfit(centres[use], np.log(values[use]), 1)
    return Gradient(near_m, float(-1.0 / slope) if slope < 0 else float("inf"))


def host_delta_c(delta_c: np.ndarray, footprints: list[np.ndarray], pixel_size_um: float,
                 away_um: float = 4.0) -> float:
    """Mean Delta C (mol/L) farther than ``away_um`` from every agglomerate (the host matrix)."""
    any_fp = np.zeros(delta_c.shape, bool)
    for fp in footprints:
        any_fp |= fp
    far = ndimage.distance_transform_edt(~any_fp) * pixel_size_um > away_um
    sel = far & np.isfinite(delta_c)
    return float(np.mean(delta_c[sel])) if sel.any() else float("nan")
