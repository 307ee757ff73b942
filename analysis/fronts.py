"""Surface-to-core front velocity from a depth x time lithiation signal (seed 000, Fig. 4).

For each depth the signal (an agglomerate's reflectivity averaged over one shell below its
surface, analysis.front_shells; or the truth's lithium fraction) is normalised to [-1, 1]
between its first and last values and the time it crosses zero is found: by linear
interpolation between samples (``crossing_times``: noise-free signals), or on lines through the
samples about the crossing with an error (``smoothed_crossings``: measured ones). The velocity is
the (weighted) slope of depth against crossing time with its standard error. When all depths
cross within ``uniform_within_s`` the change is reported as uniform (seed: LCO lithiation; the
seed's time resolution 60-100 s).
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
    """Front through depths_um (N,) from signal (T, N) sampled at times_s (T,) (s), with each
    depth's crossing taken where its samples pass the midpoint (noise-free signals: the truth)."""
    return fit_front(depths_um, crossing_times(times_s, signal), None, uniform_within_s)


def fit_front(depths_um, crossing_time_s, crossing_error_s=None, uniform_within_s: float = 60.0) -> FrontResult:
    """Velocity from crossing times (s) at depths (um): crossing time = depth / v + t0, fitted on
    depth (weighted by 1 / error^2 when errors are given; the standard error is scaled up by the
    scatter when that exceeds the errors). Uniform when all crossings lie within
    ``uniform_within_s`` (or within twice their errors)."""
    d = np.asarray(depths_um, dtype=float)
    tc = np.asarray(crossing_time_s, dtype=float)
    err = np.ones_like(tc) if crossing_error_s is None else np.asarray(crossing_error_s, dtype=float)
    ok = np.isfinite(tc) & np.isfinite(err) & (err > 0)
    spread = float(np.ptp(tc[ok])) if ok.any() else float("nan")
    allowed = uniform_within_s if crossing_error_s is None else max(uniform_within_s, 2 * float(np.median(err[ok]))
                                                                    if ok.any() else 0.0)
    if ok.sum() < 3 or spread <= allowed:
        return FrontResult(float("inf"), float("nan"), tc, spread, True, d)
    w = 1.0 / err[ok] ** 2
    A = np.stack([d[ok], np.ones(ok.sum())], 1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    slope, intercept = cov @ (A.T @ (w * tc[ok]))
    resid = tc[ok] - (slope * d[ok] + intercept)
    scatter = np.sum(w * resid ** 2) / max(int(ok.sum()) - 2, 1)
    scale = scatter if crossing_error_s is None else max(scatter, 1.0)
    se = np.sqrt(cov[0, 0] * scale)
    v = 1e3 / slope if slope != 0 else float("inf")            # um/s -> nm/s
    return FrontResult(float(v), float(abs(se / slope) * abs(v)), tc, spread, False, d)


def _line(t, y, at):
    """Least-squares line through (t, y) about ``at``: its value there, its slope, and the
    covariance of (value, slope) from the residual scatter (NaN without a spare degree of freedom)."""
    A = np.stack([np.ones_like(t), t - at], 1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    dof = t.size - 2
    sigma2 = float(np.sum((A @ coef - y) ** 2) / dof) if dof > 0 else np.nan
    cov = np.linalg.pinv(A.T @ A) * sigma2
    return coef[0], coef[1], cov


def smoothed_crossings(times_s, signal, window: float = 0.25, ends: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint crossing time (s) of each column of a noisy (T, N) signal, and its standard error.

    The seed's measure with the noise averaged locally: the first and last values are lines
    through the first and last ``ends`` of the samples (at least two) evaluated at the first and
    last time; the crossing is where a line through the samples within ``window`` x the series'
    duration about it (at least four, re-centred once) meets the midway level. The error
    propagates the lines' covariances (their residual scatter)."""
    t = np.asarray(times_s, dtype=float)
    S = np.asarray(signal, dtype=float)
    if t.size < 6:
        raise ValueError(f"smoothed crossings need at least 6 samples in time, got {t.size}")
    n_end = max(2, int(round(ends * t.size)))
    half = 0.5 * window * (t[-1] - t[0])
    plain = crossing_times(t, S)
    crossing = np.full(S.shape[1], np.nan)
    error = np.full(S.shape[1], np.nan)
    for k in range(S.shape[1]):
        y = S[:, k]
        if not np.isfinite(plain[k]) or not np.all(np.isfinite(y)):
            continue
        f0, _, c0 = _line(t[:n_end], y[:n_end], t[0])
        f1, _, c1 = _line(t[-n_end:], y[-n_end:], t[-1])
        level = 0.5 * (f0 + f1)
        centre = plain[k]
        for _ in range(2):
            near = np.abs(t - centre) <= half
            if near.sum() < 4:
                near = np.zeros(t.size, bool)
                near[np.argsort(np.abs(t - centre))[:4]] = True
            a, b, cov = _line(t[near], y[near], centre)
            if b == 0:
                break
            centre = float(np.clip(centre + (level - a) / b, t[0], t[-1]))
        if b == 0:
            continue
        crossing[k] = centre
        u = (level - a) / b
        var = (cov[0, 0] + u * u * cov[1, 1] + 2 * u * cov[0, 1]) / b ** 2
        var += 0.25 * (np.nan_to_num(c0[0, 0]) + np.nan_to_num(c1[0, 0])) / b ** 2
        error[k] = np.sqrt(var) if np.isfinite(var) and var > 0 else np.nan
    return crossing, error


def imaged_front(depths_um, profiles, times_s, uniform_within_s: float = 60.0,
                 min_change: float = 0.03) -> FrontResult | None:
    """Front through one agglomerate from its reflectivity averaged over shells below its surface
    (analysis.front_shells) in a series of stacks: depths_um (N,) of the shells along the central
    column, profiles (T, N) mean counts per shell at times_s (T,). Shells whose signal changes by
    less than ``min_change`` of its mean over the series (linear trend) are left out; None when
    fewer than three change (an inactive agglomerate has no front). Crossings are timed on
    smoothed curves (``smoothed_crossings``) when there are at least six stacks."""
    d = np.asarray(depths_um, dtype=float)
    t = np.asarray(times_s, dtype=float)
    signal = np.asarray(profiles, dtype=float)
    if signal.shape != (t.size, d.size):
        raise ValueError(f"profiles must be (stacks, shells) = ({t.size}, {d.size}), got {signal.shape}")
    finite = np.all(np.isfinite(signal), axis=0)
    trend = np.polyfit(t - t.mean(), np.where(finite, signal, 0.0), 1)[0] * (t[-1] - t[0])
    changed = finite & (np.abs(trend) >= min_change * np.abs(signal.mean(axis=0)))
    if changed.sum() < 3:
        return None
    if t.size >= 6:
        tc, err = smoothed_crossings(t, signal[:, changed])
        return fit_front(d[changed], tc, err, uniform_within_s)
    return front_velocity(d[changed], t, signal[:, changed], uniform_within_s)


# Voxels this many axial FWHM below their column's top are used: the surface reflection's tail is
# then below 0.2 % of its peak (nearer ones cross when the surface does, not the interior).
SKIP_FWHM = 1.5
SHELL_UM = 0.2          # shell thickness (um, physical, along the central column)
MIN_SHELL_VOXELS = 30   # shells with fewer voxels are left out


def track_front(track, indices, uniform_within_s: float = 60.0) -> FrontResult | None:
    """Front of a tracked agglomerate (analysis.agglomerates.Track) over the tracker's stacks
    ``indices``, from its shell profiles. None when it does not change; ValueError when its shells
    could not be defined (too small for three shells below the surface reflection)."""
    if track.shells is None:
        raise ValueError(track.shells_reason or "no shells")
    rows = track.rows(indices)
    profiles = np.array([track.shell_profiles[i] for i in rows])
    times = np.asarray(track.times_s, dtype=float)[rows]
    keep = track.shells.counts >= MIN_SHELL_VOXELS
    return imaged_front(track.shells.depth_um[keep], profiles[:, keep], times, uniform_within_s)

