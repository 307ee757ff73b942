"""Surface-to-core fronts in the virtual cell's own shells (analysis.fronts.state_front: when each
shell passes a fixed lithium fraction), for tests, benchmarks and the docs' table; the analysis
chain measures the same from images."""
from __future__ import annotations

import numpy as np

from operando.analysis.fronts import state_front


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
    front = state_front(depth[top] * 1e6, times, np.asarray(profiles)[:, top], uniform_within_s=0.0)
    return {"velocity_m_s": front.velocity_nm_s * 1e-9, "velocity_error_m_s": front.velocity_error_nm_s * 1e-9,
            "spread_s": front.spread_s, "duration_s": times[-1] - start,
            "crossing_time_s": front.crossing_time_s - start, "depth_m": depth[top]}
