"""Cracks in rods (seed 004, Fig. 4d-f, 5): a new dark line across a rod that runs from one side to
the other, splitting it into fragments; a fragment cut off from the electrode keeps its lithium
and ends brighter than the rest.

Input: the rod's strips (frames, s, v) — each frame resampled in the rod's frame at 1 pixel (s
along the axis, v across) — and cell times. A crack is where, relative to the first frame, the
intensity falls narrowly (high-pass along s) by more than CRACK_DEPTH over a growing part of
the rod's width.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

CRACK_DEPTH = 0.25          # fractional dip of a crack line relative to its surroundings along s
MIN_WIDTH_FRACTION = 0.15   # of the rod's width, for a crack to count as started
BRIGHT_DISCONNECTED = 1.1   # a disconnected fragment ends at least this much brighter (keeps its Li)


def _line_dips(strips: np.ndarray, px_um: float) -> np.ndarray:
    """Narrow fractional dips along s (frames, s, v): 1 - value / its surroundings (0.5 um)."""
    smooth = ndimage.gaussian_filter1d(strips, max(0.5 / px_um, 1.0), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(1.0 - strips / smooth)


def detect_cracks(strips: np.ndarray, times_s: np.ndarray, s_px: np.ndarray, v_px: np.ndarray, px_um: float,
                  rod_mask: np.ndarray) -> list[dict]:
    """Cracks in one rod: start time (s; first frame with the line across >= 15 % of the width),
    position along the rod (um from the end at lower s), propagation velocity across it (nm/s,
    fit of the line's extent against time), the fragments' final brightness ratio (brighter /
    darker) and whether the brighter one looks disconnected. ``rod_mask`` (s, v) marks the rod."""
    strips = np.asarray(strips, dtype=np.float32)
    times = np.asarray(times_s, dtype=float)
    dips = _line_dips(strips, px_um)
    new = (dips - dips[:1]) > CRACK_DEPTH          # dips that were not there in the first frame
    new &= rod_mask[None]
    width = rod_mask.sum(axis=1).max()
    extent = new.sum(axis=2)                        # (frames, s): pixels of the line across the rod
    # Ignore the rod's ends (the edges move as the rod lengthens and shortens).
    inside = np.nonzero(rod_mask.any(axis=1))[0]
    lo, hi = inside[0], inside[-1]
    guard = int(round(1.0 / px_um))
    extent[:, : lo + guard] = 0
    extent[:, hi - guard + 1:] = 0
    full = extent >= 0.6 * width                    # (frames, s): a line across most of the rod
    band_px = max(int(round(0.5 / px_um)), 1)
    exclude = np.zeros(extent.shape[1], dtype=bool)
    out = []
    while True:
        hits = full & ~exclude[None, :]
        frames_hit = np.nonzero(hits.any(axis=1))[0]
        if frames_hit.size == 0:
            break
        f = frames_hit[0]                             # where a crack first crossed the rod
        k = int(np.argmax(np.where(hits[f], extent[f], -1)))
        band = slice(max(k - band_px, 0), k + band_px + 1)
        across = extent[:, band].max(axis=1) / width  # fraction of the width crossed, per frame
        across[f + 1:] = np.maximum.accumulate(across[f + 1:])
        started = np.nonzero(across[: f + 1] >= MIN_WIDTH_FRACTION)[0]
        first = started[0] if started.size else f
        growing = (across > MIN_WIDTH_FRACTION) & (across < 0.9)
        growing[:first] = False
        growing[f + 1:] = False
        velocity, start = np.nan, float(times[first])
        if growing.sum() >= 3:
            slope, intercept = np.polyfit(times[growing], across[growing] * width * px_um, 1)
            velocity = float(slope * 1e3)
            start = float(-intercept / slope) if slope > 0 else start    # where the line had zero extent
        ratio, disconnected = _fragments(strips, times, rod_mask, lo, hi, k, across)
        end_lo = _lower_end(strips[f], rod_mask, s_px)
        out.append({"time_s": start, "position_um": float((s_px[k] - end_lo) * px_um),
                    "velocity_nm_s": velocity, "brightness_ratio": ratio, "disconnected": disconnected})
        exclude |= np.abs(s_px - s_px[k]) < 2.0 / px_um
    return out


def _fragments(strips, times, rod_mask, lo, hi, k, across):
    """Brightness ratio (brighter / darker) of the two fragments in the last frame, and whether the
    brighter one is disconnected: since the crack crossed the rod, it changed by less than a quarter
    of what its partner did (no current reaches it; its lithium stays), while the partner changed
    by more than 5 %."""
    def series(sl):
        m = rod_mask[sl]
        return np.array([frame[sl][m].mean() if m.any() else np.nan for frame in strips])

    left, right = series(slice(lo, max(k - 2, lo + 1))), series(slice(k + 3, hi + 1))
    if not (np.isfinite(left[-1]) and np.isfinite(right[-1])):
        return float("nan"), False
    bright, dark = (left, right) if left[-1] >= right[-1] else (right, left)
    ratio = float(bright[-1] / dark[-1])
    crossed = np.nonzero(across >= 0.9)[0]
    if crossed.size == 0:
        return ratio, False
    # The last third of the time since the crack crossed: a disconnected fragment no longer changes.
    c = crossed[0] + (len(times) - crossed[0]) * 2 // 3
    if c >= len(times) - 2:
        return ratio, False
    change = lambda f: abs(f[-1] / f[c] - 1.0)   # noqa: E731
    disconnected = change(dark) > 0.03 and change(bright) < 0.25 * change(dark) and ratio > BRIGHT_DISCONNECTED
    return ratio, bool(disconnected)


def _lower_end(strip, rod_mask, s_px) -> float:
    """The rod's end at lower s in one strip (pixels): half-way crossing of its central band."""
    from .rods import end_positions

    centre = rod_mask.any(axis=0)
    return end_positions(s_px, strip[:, centre].mean(axis=1))[0]
