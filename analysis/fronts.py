"""Surface-to-core front velocity from a depth x time lithiation signal (seed 000, Fig. 4).

Measured (``imaged_front``): for each depth the signal (an agglomerate's reflectivity averaged
over one shell below its surface, analysis.front_shells) is normalised to [-1, 1] between its
first and last values and the time it crosses zero is found on lines through the samples about
the crossing, with an error (``smoothed_crossings``). Truth (``state_front``): the time each
depth's lithium fraction passes the level midway between the agglomerate's mean fraction at the
start and at the end (a fixed level: where shells end at different fractions, per-depth
normalisation would turn that into an apparent front). The velocity is the (weighted) slope of
depth against crossing time with its standard error. When the crossings span no more than the
time resolution (one stack interval, at least 60 s; the seed's 60-100 s with ~120 s stacks) the
change is reported as uniform (seed: LCO lithiation).
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


def time_resolution_s(times_s, floor_s: float = 60.0) -> float:
    """Time resolution (s) of a series sampled at times_s (s): its median interval, at least floor_s."""
    t = np.asarray(times_s, dtype=float)
    return max(floor_s, float(np.median(np.diff(t)))) if t.size > 1 else floor_s


def front_velocity(depths_um, times_s, signal, uniform_within_s: float | None = None) -> FrontResult:
    """Front through depths_um (N,) from signal (T, N) sampled at times_s (T,) (s), with each
    depth's crossing taken where its samples pass their own midpoint (noise-free signals)."""
    uniform_within_s = time_resolution_s(times_s) if uniform_within_s is None else uniform_within_s
    return fit_front(depths_um, crossing_times(times_s, signal), None, uniform_within_s)


def state_front(depths_um, times_s, x, uniform_within_s: float | None = None) -> FrontResult:
    """The truth's front from lithium fractions x (T, N) at depths_um (N,) and times_s (T,) (s):
    each depth's crossing of the level midway between the mean fraction at the first and at the
    last time (linear interpolation between samples; NaN where a depth never gets there)."""
    t = np.asarray(times_s, dtype=float)
    x = np.asarray(x, dtype=float)
    level = 0.5 * (x[0].mean() + x[-1].mean())
    u = np.sign(x[-1].mean() - x[0].mean()) * (x - level)          # rises through 0 at the crossing
    crossing = np.full(x.shape[1], np.nan)
    for k in range(x.shape[1]):
        above = np.nonzero(u[:, k] >= 0)[0]
        if above.size == 0:
            continue
        i = int(above[0])
        crossing[k] = t[0] if i == 0 else t[i - 1] + (t[i] - t[i - 1]) * -u[i - 1, k] / (u[i, k] - u[i - 1, k])
    uniform_within_s = time_resolution_s(t) if uniform_within_s is None else uniform_within_s
    return fit_front(depths_um, crossing, None, uniform_within_s)


def fit_front(depths_um, crossing_time_s, crossing_error_s=None, uniform_within_s: float = 60.0) -> FrontResult:
    """Velocity from crossing times (s) at depths (um): crossing time = depth / v + t0, fitted on
    depth (weighted by 1 / error^2 when errors are given; the standard error is scaled up by the
    scatter when that exceeds the errors). Uniform when the crossings span no more than
    ``uniform_within_s``: their range, or with errors the fitted line's rise over the depths
    (a noisy crossing's own scatter is not a spread in time)."""
    d = np.asarray(depths_um, dtype=float)
    tc = np.asarray(crossing_time_s, dtype=float)
    err = np.ones_like(tc) if crossing_error_s is None else np.asarray(crossing_error_s, dtype=float)
    ok = np.isfinite(tc) & np.isfinite(err) & (err > 0)
    spread = float(np.ptp(tc[ok])) if ok.any() else float("nan")
    if ok.sum() < 3 or (crossing_error_s is None and spread <= uniform_within_s):
        return FrontResult(float("inf"), float("nan"), tc, spread, True, d)
    w = 1.0 / err[ok] ** 2
    A = np.stack([d[ok], np.ones(ok.sum())], 1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    slope, intercept = cov @ (A.T @ (w * tc[ok]))
    resid = tc[ok] - (slope * d[ok] + intercept)
    scatter = np.sum(w * resid ** 2) / max(int(ok.sum()) - 2, 1)
    scale = scatter if crossing_error_s is None else max(scatter, 1.0)
    se = np.sqrt(cov[0, 0] * scale)
    if crossing_error_s is not None:
        spread = float(abs(slope) * np.ptp(d[ok]))
        if spread <= uniform_within_s:
            return FrontResult(float("inf"), float("nan"), tc, spread, True, d)
    v = 1e3 / slope if slope != 0 else float("inf")            # um/s -> nm/s
    return FrontResult(float(v), float(abs(se / slope) * abs(v)), tc, spread, False, d)


def _line(t, y, at, noise_var: float = 0.0):
    """Least-squares line through (t, y) about ``at``: its value there, its slope, and the
    covariance of (value, slope) from the residual scatter or ``noise_var`` (the series' own
    noise variance), whichever is larger (NaN without a spare degree of freedom)."""
    A = np.stack([np.ones_like(t), t - at], 1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    dof = t.size - 2
    sigma2 = max(float(np.sum((A @ coef - y) ** 2) / dof), noise_var) if dof > 0 else np.nan
    cov = np.linalg.pinv(A.T @ A) * sigma2
    return coef[0], coef[1], cov


def noise_sd(y) -> float:
    """Standard deviation (units of y) of the sample-to-sample noise of a smooth series y, robust:
    from the median absolute second difference (sqrt(6) sigma for white noise)."""
    d2 = np.diff(np.asarray(y, dtype=float), 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6)) if d2.size else 0.0


# Window choice (Lepski): a wider window's estimate is kept while it stays within this many
# standard errors of every narrower window's estimate (its bias is then below its noise).
LEPSKI_KAPPA = 1.0


def _lepski(estimates):
    """From (value, variance) estimates ordered from the narrowest window to the widest, the
    widest that agrees with all narrower ones within LEPSKI_KAPPA standard errors (None if none)."""
    kept = []
    for value, var in estimates:
        if not np.isfinite(value) or any(abs(value - v) > LEPSKI_KAPPA * np.sqrt(w) for v, w in kept):
            break
        kept.append((value, var))
    return kept[-1] if kept else None


def smoothed_crossings(times_s, signal, windows=(0.25, 0.5, 1.0), ends: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint crossing time (s) of each column of a noisy (T, N) signal, and its standard error.

    The seed's measure with the noise averaged locally: the first and last values are lines
    through the first and last samples (a fraction ``ends`` of them, at least three) evaluated at
    the first and last time; the crossing is where a line through the samples within a window
    about it (a fraction ``windows`` of the series' duration, at least four samples, re-centred)
    meets the midway level. Each window is widened while its estimate agrees with the narrower
    ones' (``_lepski``): a sharp step keeps the narrowest, a steady ramp averages all its
    samples. The errors propagate the lines' covariances (from their residual scatter or the
    series' noise, ``noise_sd``, whichever is larger)."""
    t = np.asarray(times_s, dtype=float)
    S = np.asarray(signal, dtype=float)
    if t.size < 6:
        raise ValueError(f"smoothed crossings need at least 6 samples in time, got {t.size}")
    plain = crossing_times(t, S)
    crossing = np.full(S.shape[1], np.nan)
    error = np.full(S.shape[1], np.nan)
    n = max(3, int(round(ends * t.size)))
    for k in range(S.shape[1]):
        y = S[:, k]
        if not np.isfinite(plain[k]) or not np.all(np.isfinite(y)):
            continue
        noise_var = noise_sd(y) ** 2
        first = _value_at(t[:n], y[:n], t[0], noise_var)
        last = _value_at(t[-n:], y[-n:], t[-1], noise_var)
        level = 0.5 * (first[0] + last[0])
        # Start every window from the crossing of the widest (noise can put the first plain
        # crossing far from the middle of the change).
        wide = _crossing_line(t, y, level, plain[k], 0.5 * max(windows) * (t[-1] - t[0]), noise_var)
        start = float(np.clip(_crossing_and_variance(wide, level)[0], t[0], t[-1])) if wide else plain[k]
        fits = [_crossing_line(t, y, level, start, 0.5 * w * (t[-1] - t[0]), noise_var) for w in windows]
        estimates = [_crossing_and_variance(f, level) for f in fits if f is not None]
        best = _lepski(estimates)
        if best is None:
            continue
        slope = [f for f in fits if f is not None][estimates.index(best)][1]
        crossing[k] = float(np.clip(best[0], t[0], t[-1]))
        var = best[1] + 0.25 * (first[1] + last[1]) / slope ** 2
        error[k] = np.sqrt(var) if np.isfinite(var) and var > 0 else np.nan
    return crossing, error


def _crossing_and_variance(fit, level):
    """Where a line from ``_crossing_line`` meets ``level`` (s) and that time's variance (s^2)
    from the line's own covariance."""
    a, b, cov, _, _, centre = fit
    u = (level - a) / b
    return centre + u, (cov[0, 0] + u * u * cov[1, 1] + 2 * u * cov[0, 1]) / b ** 2


def _value_at(t, y, at, noise_var):
    """Value at ``at`` of a line through (t, y) and its variance."""
    a, _, cov = _line(t, y, at, noise_var)
    return a, cov[0, 0]


def _crossing_line(t, y, level, start, half, noise_var):
    """Line through the samples within ``half`` (s) of where it meets ``level`` (at least four),
    re-centred there from ``start`` (s): its value and slope about the centre, their covariance,
    the sum of squared residuals, the degrees of freedom and the centre (s); None when flat."""
    centre = start
    for final in (False, False, True):
        near = np.abs(t - centre) <= half
        if near.sum() < 4:
            near = np.zeros(t.size, bool)
            near[np.argsort(np.abs(t - centre))[:4]] = True
        a, b, cov = _line(t[near], y[near], centre, noise_var)
        if b == 0:
            return None
        if not final:
            centre = float(np.clip(centre + (level - a) / b, t[0], t[-1]))
    resid = y[near] - (a + b * (t[near] - centre))
    return a, b, cov, float(np.sum(resid ** 2)), int(near.sum()) - 2, centre


def imaged_front(depths_um, profiles, times_s, uniform_within_s: float | None = None,
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
    uniform_within_s = time_resolution_s(t) if uniform_within_s is None else uniform_within_s
    if t.size >= 6:
        tc, err = smoothed_crossings(t, signal[:, changed])
        return fit_front(d[changed], tc, err, uniform_within_s)
    return front_velocity(d[changed], t, signal[:, changed], uniform_within_s)


# Voxels this many axial FWHM below their column's top are used: the surface reflection's tail is
# then below 0.2 % of its peak (nearer ones cross when the surface does, not the interior).
SKIP_FWHM = 1.5
SHELL_UM = 0.2          # shell thickness (um, physical, along the central column)
MIN_SHELL_VOXELS = 30   # shells with fewer voxels are left out


def track_front(track, indices, uniform_within_s: float | None = None) -> FrontResult | None:
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

