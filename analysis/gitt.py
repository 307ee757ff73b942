"""Galvanostatic intermittent titration (GITT, seed 004 Methods 4): the chemical diffusion
coefficient against lithium content from a pulse-and-rest record of the cell.

For each pulse (constant current I for tau seconds, then a rest to equilibrium) the
Weppner-Huggins relation (seed equation 2) gives D/L^2 = (4/pi) (dx/dt)^2 (dE/dx)^2 / (dE/dsqrt t)^2
from the early, sqrt(t)-linear part of the pulse, with dx/dt the lithium fraction per second the
current moves and dE/dx from the equilibrium voltages before and after the pulse. When the
diffusion time L^2/D is far shorter than the pulse (fast diffusion: the sqrt(t) part is hidden
under the ohmic and kinetic step), the long-time form is used instead: the rod reaches a steady
profile whose surface-to-mean offset, seen as the slow part of the voltage relaxation, is
(dx/dt) L^2 / (3 D). As in the seed, absolute values need L; ``scale_to_reference`` fixes it with
one independent value (PFG-NMR: 1.8e-12 m^2/s at x = 0.42).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GittPoint:
    """One pulse: mean lithium fraction, D/L^2 (1/s) by the short-time and the long-time form."""
    x: float
    d_over_l2_short: float
    d_over_l2_long: float
    de_dx_v: float


def pulses(time_s, current_a, min_points: int = 5):
    """(start, stop) sample indices of every constant-current pulse (|I| > 0) in a record."""
    on = np.abs(np.asarray(current_a)) > 1e-12
    edges = np.diff(on.astype(int))
    starts = list(np.nonzero(edges == 1)[0] + 1)
    stops = list(np.nonzero(edges == -1)[0] + 1)
    if on[0]:
        starts.insert(0, 0)
    out = []
    for a in starts:
        b = next((s for s in stops if s > a), None)
        if b is not None and b - a >= min_points:
            out.append((a, b))
    return out


def analyse(time_s, voltage_v, current_a, capacity_ah: float, x_start: float, settle_s: float = 2.0,
            sqrt_window=(0.02, 0.1)) -> list[GittPoint]:
    """GITT points of a record (s, V, A charging positive; capacity (A h) that x = 1 stands for;
    lithium fraction at the record's start). settle_s: seconds after a current switches that the
    ohmic and kinetic step takes; sqrt_window: fractions of the pulse fitted against sqrt(t)."""
    t = np.asarray(time_s, dtype=float)
    v = np.asarray(voltage_v, dtype=float)
    i = np.asarray(current_a, dtype=float)
    charge = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))])
    x_of = x_start - charge / (capacity_ah * 3600.0)     # charging (I > 0) removes lithium
    found = pulses(t, i)
    points = []
    for k, (a, b) in enumerate(found):
        rest_end = found[k + 1][0] - 1 if k + 1 < len(found) else len(t) - 1
        if a == 0 or rest_end <= b + 2:
            continue
        e_before, e_after = v[a - 1], v[rest_end]
        x0, x1 = x_of[a - 1], x_of[b]
        if abs(x1 - x0) < 1e-6:
            continue
        de_dx = (e_after - e_before) / (x1 - x0)
        tau = t[b - 1] - t[a]
        dx_dt = abs(x1 - x0) / tau
        # Short time: V against sqrt(t - t_a) over the window.
        tt = t[a:b] - t[a]
        sel = (tt >= max(sqrt_window[0] * tau, settle_s)) & (tt <= sqrt_window[1] * tau)
        short = np.nan
        if sel.sum() >= 3:
            slope = np.polyfit(np.sqrt(tt[sel]), v[a:b][sel], 1)[0]
            short = 4.0 / np.pi * (dx_dt * de_dx / slope) ** 2
        # Long time: the slow part of the relaxation after the pulse, from settle_s on.
        after = np.nonzero(t[b:rest_end + 1] - t[b - 1] >= settle_s)[0]
        long_ = np.nan
        if after.size:
            eta = abs(v[b + after[0]] - e_after)
            if eta > 1e-6:
                long_ = dx_dt * abs(de_dx) / (3.0 * eta)
        points.append(GittPoint(float(0.5 * (x0 + x1)), float(short), float(long_), float(de_dx)))
    return points


def scale_to_reference(points: list[GittPoint], x_ref: float = 0.42, d_ref_m2_s: float = 1.8e-12,
                       form: str = "long") -> tuple[np.ndarray, np.ndarray]:
    """(x, D in m^2/s): D/L^2 of one form scaled so that D(x_ref) = d_ref (the seed's PFG-NMR value
    at x = 0.42), interpolating log D/L^2 at x_ref."""
    x = np.array([p.x for p in points])
    d = np.array([p.d_over_l2_long if form == "long" else p.d_over_l2_short for p in points])
    ok = np.isfinite(d) & (d > 0)
    order = np.argsort(x[ok])
    xs, ds = x[ok][order], d[ok][order]
    at_ref = 10 ** np.interp(x_ref, xs, np.log10(ds))
    return xs, ds * d_ref_m2_s / at_ref
