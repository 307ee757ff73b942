"""Rods in widefield scattering images (seed 004, SI section 8): segmentation, sub-pixel length,
elongation -> state of charge, differential line-cuts (kymographs) and lithiation fronts.

Lengths and positions in um, times in s; images are the camera's counts. Nothing here reads the
simulator's truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# c-lattice expansion vs x of Li_{17x}Nb14W3O44 from operando XRD (Le Bail; seed Fig. 2e: 7 % at
# x ~ 0.9), relative to x = 0: the calibration that turns a rod's elongation into x.
XRD_X = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
XRD_C_EXPANSION = 0.0745 * XRD_X + 0.012 * XRD_X * (1.0 - XRD_X)


@dataclass(frozen=True)
class RodAxis:
    """A segmented rod: centre (pixels, x then y), unit axis (pixels), length and width (pixels)."""
    label: int
    centre_px: tuple[float, float]
    axis: tuple[float, float]
    length_px: float
    width_px: float


def segment_rods(image: np.ndarray, min_area_px: int = 400) -> list[RodAxis]:
    """Rods = connected regions clearly brighter than the carbon matrix (Otsu threshold of the
    smoothed image inside the illuminated field), elongated (aspect > 2); ordered left to right."""
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops

    smooth = ndimage.gaussian_filter(np.asarray(image, dtype=np.float32), 2.0)
    lit = smooth > 0.2 * np.percentile(smooth, 99)
    level = threshold_otsu(smooth[lit])
    mask = ndimage.binary_opening(smooth > level, iterations=2)
    rods = []
    for region in regionprops(label(mask)):
        if region.area < min_area_px or region.axis_major_length < 2.0 * max(region.axis_minor_length, 1.0):
            continue
        cy, cx = region.centroid
        theta = region.orientation          # angle of the major axis from the row axis
        axis = (float(np.sin(theta)), float(np.cos(theta)))
        rods.append(RodAxis(0, (float(cx), float(cy)), axis, float(region.axis_major_length),
                            float(region.axis_minor_length)))
    rods.sort(key=lambda r: r.centre_px[0])
    return [RodAxis(k + 1, r.centre_px, r.axis, r.length_px, r.width_px) for k, r in enumerate(rods)]


def _in_rod_frame(image: np.ndarray, rod: RodAxis, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The image at positions s along and v across the rod (pixels from its centre): values[s, v]."""
    ax, ay = rod.axis
    xs = rod.centre_px[0] + s[:, None] * ax - v[None, :] * ay
    ys = rod.centre_px[1] + s[:, None] * ay + v[None, :] * ax
    return ndimage.map_coordinates(np.asarray(image, dtype=np.float32), [ys, xs], order=1, mode="nearest")


def rod_strip(image: np.ndarray, rod: RodAxis, margin_px: float = 25.0, across_margin_px: float = 6.0):
    """The image resampled in the rod's frame at 1 pixel: (s along the axis from the centre, v across
    it, values[s, v]) in pixels, the axis extended by ``margin_px`` beyond each end."""
    half = rod.length_px / 2 + margin_px
    s = np.arange(-half, half + 0.5, 1.0)
    hw = rod.width_px / 2 + across_margin_px
    v = np.arange(-hw, hw + 0.5, 1.0)
    return s, v, _in_rod_frame(image, rod, s, v)


def axial_profile(image: np.ndarray, rod: RodAxis, step_px: float = 0.25, half_width_px: float | None = None,
                  margin_px: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """Intensity along the rod's axis, averaged across its central band (a narrow slice parallel to
    the rod, as the seed's line-cuts): (positions in pixels from the centre, profile)."""
    half = rod.length_px / 2 + margin_px
    s = np.arange(-half, half + step_px / 2, step_px)
    hw = half_width_px if half_width_px is not None else max(rod.width_px * 0.25, 1.0)
    return s, _in_rod_frame(image, rod, s, np.arange(-hw, hw + 0.5, 1.0)).mean(axis=1)


def end_positions(s: np.ndarray, profile: np.ndarray) -> tuple[float, float]:
    """Sub-pixel positions (same units as s) of the rod's two ends: where the profile crosses half
    way between the background outside and the rod's plateau, interpolated linearly. Something
    bright at the edge of the profile (a cut-off fragment, a neighbour) is passed over to the rod's
    own end; an end with no crossing inside the profile is NaN."""
    n = profile.size
    inner = profile[n // 4: 3 * n // 4]
    plateau = float(np.median(inner))
    outside = float(np.median(np.concatenate([profile[: n // 12], profile[-(n // 12):]])))
    half = 0.5 * (plateau + outside)
    above = profile > half
    first = int(np.argmax(above))
    last = n - 1 - int(np.argmax(above[::-1]))
    rises = np.nonzero(~above[:-1] & above[1:])[0] + 1        # first bright index after a dark one
    falls = np.nonzero(above[:-1] & ~above[1:])[0]            # last bright index before a dark one
    if first == 0:
        first = int(rises[0]) if rises.size and rises[0] < n // 2 else -1
    if last == n - 1:
        last = int(falls[-1]) if falls.size and falls[-1] >= n // 2 else -1

    def cross(i0, i1):
        if i0 < 0 or i1 >= n:
            return np.nan
        y0, y1 = profile[i0] - half, profile[i1] - half
        return s[i0] + (s[i1] - s[i0]) * y0 / (y0 - y1) if y0 != y1 else s[i0]

    return float(cross(first - 1, first)), float(cross(last, last + 1))


def rod_length_um(image: np.ndarray, rod: RodAxis, pixel_um: float) -> float:
    s, p = axial_profile(image, rod)
    a, b = end_positions(s, p)
    return (b - a) * pixel_um


def x_from_elongation(elongation, x_start: float) -> np.ndarray:
    """Lithium fraction from a rod's elongation (L / L_start - 1) given its state at the start,
    through the XRD c-lattice calibration."""
    eps0 = np.interp(x_start, XRD_X, XRD_C_EXPANSION)
    eps = (1.0 + eps0) * (1.0 + np.asarray(elongation, dtype=float)) - 1.0
    return np.interp(eps, XRD_C_EXPANSION, XRD_X)


def differential_linecuts(profiles: np.ndarray, times_s: np.ndarray, lag: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Fractional intensity change per second along the rod between frames ``lag`` apart
    (rows: time at the pair's midpoint; columns: position): the seed's differential line-cut."""
    p = np.asarray(profiles, dtype=float)
    t = np.asarray(times_s, dtype=float)
    dt = (t[lag:] - t[:-lag])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = (p[lag:] - p[:-lag]) / np.where(p[:-lag] > 0, p[:-lag], np.nan) / dt
    return 0.5 * (t[lag:] + t[:-lag]), diff


def differential_image(earlier: np.ndarray, later: np.ndarray, dt_s: float, smooth_px: float = 1.0) -> np.ndarray:
    """Fractional intensity change per second at every pixel between two frames dt_s apart (seed
    Fig. 3b), each smoothed by a Gaussian of ``smooth_px`` pixels against shot noise."""
    a = ndimage.gaussian_filter(np.asarray(earlier, dtype=np.float32), smooth_px)
    b = ndimage.gaussian_filter(np.asarray(later, dtype=np.float32), smooth_px)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, (b - a) / a / dt_s, 0.0)


@dataclass(frozen=True)
class Front:
    """A front entering from one end: velocity (um/s) with its standard error, fit window (s)."""
    end: int
    velocity_um_s: float
    error_um_s: float
    t_start_s: float
    t_end_s: float
    n_points: int


def front_positions(kymograph: np.ndarray, s_um: np.ndarray, ends_um: tuple[float, float],
                    sign: float = -1.0, smooth_um: float = 0.3, whole_rod: bool = False) -> np.ndarray:
    """Per row of a differential line-cut, the depth (um from each end) of the strongest change of
    ``sign`` (-1: darkening) inside the rod's half nearest that end (``whole_rod``: anywhere in the
    rod, for a front from a rod's only active end): array (rows, 2)."""
    step = float(np.median(np.diff(s_um)))
    k = np.nan_to_num(kymograph) * sign
    k = ndimage.gaussian_filter1d(k, max(smooth_um / step, 0.5), axis=1)
    mid = 0.5 * (ends_um[0] + ends_um[1])
    out = np.full((k.shape[0], 2), np.nan)
    margin = 0.3
    regions = (((ends_um[0] + margin, ends_um[1] - margin),) * 2 if whole_rod
               else ((ends_um[0] + margin, mid), (mid, ends_um[1] - margin)))
    for end, (lo, hi) in enumerate(regions):
        sel = (s_um >= lo) & (s_um <= hi)
        seg = k[:, sel]
        idx = np.argmax(seg, axis=1)
        strong = seg[np.arange(seg.shape[0]), idx] > 3.0 * np.median(np.abs(seg), axis=1) + 1e-12
        pos = s_um[sel][idx]
        depth = pos - ends_um[0] if end == 0 else ends_um[1] - pos
        out[:, end] = np.where(strong, depth, np.nan)
    return out


def fit_front(times_s: np.ndarray, depth_um: np.ndarray, end: int, max_depth_um: float) -> Front | None:
    """Straight-line fit of a front's depth from its end while it moves inwards (before it reaches
    ``max_depth_um``, the middle): velocity and its standard error."""
    t = np.asarray(times_s, dtype=float)
    d = np.asarray(depth_um, dtype=float)
    # The fronts meet in the middle: keep the rows before this one's first arrival there.
    run = ndimage.median_filter(np.nan_to_num(d, nan=0.0), size=5, mode="nearest")
    arrived = np.nonzero(run > 0.85 * max_depth_um)[0]
    stop = arrived[0] + 1 if arrived.size else t.size
    t, d = t[:stop], d[:stop]
    ok = np.isfinite(d) & (d > 0.3)
    if ok.sum() < 4:
        return None
    t, d = t[ok], d[ok]
    # Robust line: drop points far from it (other features), twice.
    for _ in range(3):
        p = np.polyfit(t, d, 1)
        resid = d - np.polyval(p, t)
        mad = 1.4826 * np.median(np.abs(resid - np.median(resid)))
        keep = np.abs(resid) < max(3.0 * mad, 0.15)
        if keep.all() or keep.sum() < 4:
            break
        t, d = t[keep], d[keep]
    p, cov = np.polyfit(t, d, 1, cov=True)
    return Front(end, float(p[0]), float(np.sqrt(cov[0, 0])), float(t.min()), float(t.max()), int(t.size))


def front_is_clear(front: Front, min_points: int = 8, max_relative_error: float = 0.25) -> bool:
    """A front worth reporting: moving inwards, seen in enough line-cuts, velocity known to 25 %."""
    return (front.velocity_um_s > 0 and front.n_points >= min_points
            and front.error_um_s <= max_relative_error * front.velocity_um_s)


def rod_fronts(t_mid: np.ndarray, kymograph: np.ndarray, s_um: np.ndarray, ends_um: tuple[float, float]) -> list[Front]:
    """The clear fronts entering a rod: from each end within its half; when only one end shows a
    front (the rod's only active end), it is also followed over the whole rod, and that fit kept
    where it agrees with the first half's and is more precise."""
    length = ends_um[1] - ends_um[0]
    depth = front_positions(kymograph, s_um, ends_um)
    fits = [fit_front(t_mid, depth[:, end], end, 0.5 * length) for end in (0, 1)]
    clear = [f is not None and front_is_clear(f) for f in fits]
    if clear.count(True) == 1:
        end = clear.index(True)
        whole = front_positions(kymograph, s_um, ends_um, whole_rod=True)
        f = fit_front(t_mid, whole[:, end], end, length)
        half = fits[end]
        # Followed further only where it stays the same front (velocity within 2 sigma) and is
        # known better; otherwise the first half's fit stands.
        if (f is not None and front_is_clear(f) and f.error_um_s < half.error_um_s
                and abs(f.velocity_um_s - half.velocity_um_s) < 2 * np.hypot(f.error_um_s, half.error_um_s)):
            fits[end] = f
    return [f for f, ok in zip(fits, clear) if ok]
