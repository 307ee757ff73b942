"""Surface-to-core front velocity from a depth x time lithiation signal (seed 000, Fig. 4).

For each depth the signal (reflectivity over an agglomerate's central area, or any proxy of
its state of charge) is normalised to [-1, 1] between its first and last values; the time it
crosses zero is found by linear interpolation; the velocity is the slope of depth against
crossing time with its standard error. When all depths cross within ``uniform_within_s`` the
change is reported as uniform (seed: LCO lithiation; the seed's time resolution 60-100 s).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrontResult:
    """velocity_nm_s (positive: surface first), its standard error, per-depth crossing times (s)
    at depth_um (um below the surface), spread of those times (s), and whether the change is
    uniform across depth."""
    velocity_nm_s: float
    velocity_error_nm_s: float
    crossing_time_s: np.ndarray
    spread_s: float
    uniform: bool
    depth_um: np.ndarray


def normalised(signal) -> np.ndarray:
    """(T, N) signal scaled per column to -1 at its first value and +1 at its last."""
    s = np.asarray(signal, dtype=float)
    first, last = s[0], s[-1]
    span = np.where(np.abs(last - first) > 0, last - first, np.nan)
    return 2.0 * (s - first) / span - 1.0


def crossing_times(times_s, signal) -> np.ndarray:
    """Time (s) each column of a (T, N) signal crosses the midpoint between its first and last
    value (linear interpolation; NaN where it does not change)."""
    t = np.asarray(times_s, dtype=float)
    u = normalised(signal)
    out = np.full(u.shape[1], np.nan)
    for k in range(u.shape[1]):
        col = u[:, k]
        if not np.all(np.isfinite(col)):
            continue
        i = int(np.argmax(col >= 0.0))
        if i == 0:
            out[k] = t[0]
            continue
        f = -col[i - 1] / (col[i] - col[i - 1])
        out[k] = t[i - 1] + f * (t[i] - t[i - 1])
    return out


def front_velocity(depths_um, times_s, signal, uniform_within_s: float = 60.0) -> FrontResult:
    """Front through depths_um (N,) from signal (T, N) sampled at times_s (T,) (s)."""
    d = np.asarray(depths_um, dtype=float)
    tc = crossing_times(times_s, signal)
    ok = np.isfinite(tc)
    spread = float(np.ptp(tc[ok])) if ok.any() else float("nan")
    if ok.sum() < 3 or spread <= uniform_within_s:
        return FrontResult(float("inf"), float("nan"), tc, spread, True, d)
    dd, tt = d[ok], tc[ok]
    # crossing time = depth / v + t0: fit time on depth, the measured quantity
    slope, intercept = np.polyfit(dd, tt, 1)
    resid = tt - (slope * dd + intercept)
    se = np.sqrt(np.sum(resid ** 2) / max(tt.size - 2, 1) / np.sum((dd - dd.mean()) ** 2))
    v = 1e3 / slope if slope != 0 else float("inf")            # um/s -> nm/s
    return FrontResult(float(v), float(abs(se / slope) * abs(v)), tc, spread, False, d)


def imaged_front(depths_um, profiles, times_s, apex_um: float, half_height_um: float, n_particle: float,
                 n_medium: float, skip_um: float, reach: float = 1.0,
                 uniform_within_s: float = 60.0, min_change: float = 0.03) -> FrontResult | None:
    """Front through one agglomerate from its central-area reflectivity in a series of stacks.

    depths_um: apparent depth of each plane; profiles: (T, planes) mean counts per plane over the
    agglomerate's central area at times_s. Planes from ``skip_um`` (apparent) below the apex (where
    the surface reflection, which brightens as the interior dims, no longer dominates) down to
    ``reach`` of the half-height are used; their physical depth below the surface is the apparent
    one times n_particle / n_medium (focal shift inside the particle). Planes whose signal changes
    by less than ``min_change`` of its mean are left out; None when fewer than three change (an
    inactive agglomerate has no front)."""
    d = np.asarray(depths_um, dtype=float) - apex_um
    physical = d * n_particle / n_medium
    use = (d >= skip_um) & (physical <= reach * half_height_um)
    if use.sum() < 3:
        raise ValueError(f"only {int(use.sum())} planes lie between the surface and {reach} of the half-height; "
                         "a finer z step is needed")
    signal = np.asarray(profiles, dtype=float)[:, use]
    changed = np.abs(signal[-1] - signal[0]) >= min_change * np.abs(signal.mean(axis=0))
    if changed.sum() < 3:
        return None
    return front_velocity(physical[use][changed], times_s, signal[:, changed], uniform_within_s)
