"""Surface-to-core fronts in the truth: when does each depth of an agglomerate change?

The seed's measure (000, Fig. 4): the lithiation signal of each depth, normalised to
[-1, 1] between its start and end values, crosses zero at some time; the front velocity is
the slope of depth against that time. Applied here to the simulator's own shells (truth,
for tests and benchmarks); the analysis chain measures the same from images.
"""
from __future__ import annotations

import numpy as np


def crossing_times(times_s, profiles) -> np.ndarray:
    """For profiles (T, N) sampled at times_s (T,), the time (s) each column crosses the midpoint
    between its first and last value (linear interpolation; NaN where it never does)."""
    t = np.asarray(times_s, dtype=float)
    p = np.asarray(profiles, dtype=float)
    mid = 0.5 * (p[0] + p[-1])
    out = np.full(p.shape[1], np.nan)
    for k in range(p.shape[1]):
        d = p[:, k] - mid[k]
        if abs(p[-1, k] - p[0, k]) < 1e-6:
            continue
        sign = np.sign(p[-1, k] - p[0, k])
        after = np.nonzero(sign * d >= 0)[0]
        i = after[0]
        if i == 0:
            out[k] = t[0]
            continue
        f = d[i - 1] / (d[i - 1] - d[i])
        out[k] = t[i - 1] + f * (t[i] - t[i - 1])
    return out


def front_velocity(depths_m, times_s) -> tuple[float, float, float]:
    """Least-squares slope of depth (m) vs crossing time (s): (velocity m/s, its standard error,
    spread of the crossing times in s). Velocity is +inf when all depths cross together."""
    d = np.asarray(depths_m, dtype=float)
    t = np.asarray(times_s, dtype=float)
    ok = np.isfinite(t)
    d, t = d[ok], t[ok]
    spread = float(np.ptp(t)) if t.size else np.nan
    if t.size < 3 or np.ptp(t) == 0:
        return np.inf, np.nan, spread
    # depth = v * t + b; fit t on d (the crossing time is the measured quantity)
    A = np.vstack([d, np.ones_like(d)]).T
    (slope, _), res, *_ = np.linalg.lstsq(A, t, rcond=None)
    resid = t - A @ np.linalg.lstsq(A, t, rcond=None)[0]
    se = np.sqrt(np.sum(resid ** 2) / max(t.size - 2, 1) / np.sum((d - d.mean()) ** 2))
    v = 1.0 / slope if slope != 0 else np.inf
    return float(v), float(se * v * v), spread


def shell_depths_m(cell, k: int) -> np.ndarray:
    """Depth (m) of each shell centre of particle k below its surface (centre to surface order)."""
    s = cell.solid
    return s.radii_m[k] - s.centres_m[k]


def galvanostatic_front(cell, k: int, c_rate: float, until_v: float, dt_s: float = 5.0,
                        max_s: float | None = None, top_fraction: float = 0.8) -> dict:
    """Charge (c_rate > 0) or discharge the cell at |c_rate| C until until_v, recording particle k's
    shells; return its front: velocity (m/s) and error, crossing-time spread (s), duration (s).

    Depths down to top_fraction of the radius are used (the seed's central area, upper part)."""
    sign = 1.0 if c_rate > 0 else -1.0
    current = c_rate * cell.capacity_ah
    max_s = max_s if max_s is not None else 4 * 3600 / abs(c_rate)
    start = cell.reading.time_s
    times, profiles = [cell.reading.time_s], [cell.solid.x[k].copy()]
    while sign * (until_v - cell.reading.voltage_v) > 0 and cell.reading.time_s - start < max_s:
        cell.step_current(current, dt_s)
        times.append(cell.reading.time_s)
        profiles.append(cell.solid.x[k].copy())
    depth = shell_depths_m(cell, k)
    top = depth < top_fraction * cell.solid.radii_m[k]
    crossings = crossing_times(times, profiles)
    v, err, spread = front_velocity(depth[top], crossings[top])
    return {"velocity_m_s": v, "velocity_error_m_s": err, "spread_s": spread,
            "duration_s": times[-1] - start, "crossing_time_s": crossings - start, "depth_m": depth}
