"""Sub-plane position of an agglomerate's top surface from a confocal reflection stack.

The entry face of a particle is a reflecting surface: along each pixel column the stack shows
the microscope's plane response (a Gaussian of the axial FWHM) at the surface, on top of a step
where the focus enters the particle's backscattering interior. Fitting that model (peak + step
+ offset, linear in the three levels for each trial position) on one window of planes shared by
all columns (a window per column would lock positions to planes) gives the surface depth of
each column to a few nm, whatever the brightness of the surface or
the interior, which lithiation changes in opposite directions. A paraboloid through the
columns of the cap gives the apex. The top surface lies in the electrolyte-filled host, so its
apparent depth is geometric: no particle index enters. Depths in um of apparent focal depth
(piezo travel x n_medium / n_immersion).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import erf

from .psf import FWHM_TO_SIGMA

WINDOW_FWHM = 1.1     # half-width of the plane window fitted about the surface, in axial FWHM


@dataclass(frozen=True)
class Apex:
    """Top of an agglomerate: apparent depth (um) with its standard error, the lateral position of
    the apex (um, field centred) and the number of columns fitted."""
    depth_um: float
    depth_error_um: float
    xy_um: tuple[float, float]
    columns: int


def surface_offsets(columns: np.ndarray, plane_step_um: float, axial_fwhm_um: float,
                    step_planes: float = 0.025) -> tuple[np.ndarray, np.ndarray]:
    """Surface position of each column relative to the middle plane of a common window, in planes,
    and the fitted peak height. ``columns``: (P, N) intensities of P consecutive planes (odd P),
    the same planes for every column (a per-column window would lock positions to planes)."""
    cols = np.asarray(columns, dtype=float)
    n_planes = cols.shape[0]
    half = (n_planes - 1) / 2
    sigma = axial_fwhm_um * FWHM_TO_SIGMA
    rel = np.arange(n_planes, dtype=float) - half
    trials = np.arange(-half + 0.5, half - 0.5 + 1e-9, step_planes)
    if trials.size < 3:                                  # too few planes to place a peak inside
        return np.full(cols.shape[1], np.nan), np.full(cols.shape[1], np.nan)
    residuals = np.empty((trials.size, cols.shape[1]))
    heights = np.empty((trials.size, cols.shape[1]))
    for i, o in enumerate(trials):
        u = (rel - o) * plane_step_um
        basis = np.stack([np.exp(-0.5 * (u / sigma) ** 2), 0.5 * (1 + erf(u / (np.sqrt(2) * sigma))),
                          np.ones(n_planes)], 1)
        coef, *_ = np.linalg.lstsq(basis, cols, rcond=None)
        residuals[i] = ((basis @ coef - cols) ** 2).sum(axis=0)
        heights[i] = coef[0]
    k, frac = refine_minimum(residuals)
    offset = trials[k] + frac * step_planes
    edge = (k == 0) | (k == trials.size - 1)
    return np.where(edge, np.nan, offset), heights[k, np.arange(cols.shape[1])]


def refine_minimum(misfit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of a (trials, N) misfit on an even grid: the index of its minimum and a parabolic
    refinement through the neighbours, in grid steps (-0.5 to 0.5; 0 at the grid's ends)."""
    k = np.argmin(misfit, axis=0)
    idx = np.arange(misfit.shape[1])
    if misfit.shape[0] < 3:                              # no neighbours on both sides anywhere
        return k, np.zeros(misfit.shape[1])
    inner = (k > 0) & (k < misfit.shape[0] - 1)
    kk = np.clip(k, 1, misfit.shape[0] - 2)
    r0, r1, r2 = misfit[kk - 1, idx], misfit[kk, idx], misfit[kk + 1, idx]
    curv = r0 - 2 * r1 + r2
    frac = np.where(inner & (curv > 0), 0.5 * (r0 - r2) / np.where(curv > 0, curv, 1.0), 0.0)
    return k, np.clip(frac, -0.5, 0.5)


@dataclass(frozen=True)
class Cap:
    """The fitted top surface of an agglomerate: pixel rows/cols of the columns used, their surface
    depth (um) and peak height (counts), and a paraboloid depth(x, y) through them (coefficients
    of 1, x, y, x^2, xy, y^2 with x, y in um from ``center_px``)."""
    rows: np.ndarray
    cols: np.ndarray
    depth_um: np.ndarray
    height: np.ndarray
    center_px: tuple[float, float]
    coef: np.ndarray
    pixel_size_um: float
    apex: Apex

    def offsets_um(self) -> tuple[np.ndarray, np.ndarray]:
        return ((self.cols - self.center_px[0]) * self.pixel_size_um,
                (self.rows - self.center_px[1]) * self.pixel_size_um)

    def sensitivity_um(self, centre_depth_um: float) -> np.ndarray:
        """d depth / d s of each column for a scaling s about a centre under the footprint's centre
        (the projection of an ellipsoid is symmetric about its centre's) at ``centre_depth_um``:
        depth_s(p) = c + s * zeta(p / s) gives zeta - p . grad zeta."""
        x, y = self.offsets_um()
        c = self.coef
        zeta = c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y - centre_depth_um
        gx = c[1] + 2 * c[3] * x + c[4] * y
        gy = c[2] + c[4] * x + 2 * c[5] * y
        return zeta - (x * gx + y * gy)


def column_values(stack: np.ndarray, rows: np.ndarray, cols: np.ndarray, smooth_px: float = 2.0) -> np.ndarray:
    """(planes, columns) counts of the given pixel columns after a lateral Gaussian smoothing
    (sigma smooth_px pixels)."""
    stack = np.asarray(stack)
    pad = int(np.ceil(3 * smooth_px)) + 1
    y0, y1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, stack.shape[1])
    x0, x1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, stack.shape[2])
    sub = ndimage.gaussian_filter(stack[:, y0:y1, x0:x1].astype(float), (0, smooth_px, smooth_px))
    return sub[:, rows - y0, cols - x0]


def template_depths(values: np.ndarray, reference: np.ndarray, reference_depth_um: np.ndarray,
                    reference_height: np.ndarray, depths_um: np.ndarray, axial_fwhm_um: float,
                    max_shift_um: float = 0.3, window_fwhm: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Surface depth (um) and peak height of columns in a later stack, against the same columns of
    the reference stack (both (planes, columns), as from ``column_values``).

    The reference column, less its fitted surface peak, is the column's own interior: its step,
    attenuation and grain texture. A later column is fitted, on the planes within ``window_fwhm``
    axial FWHM of its reference surface, as a shifted peak + that interior scaled by a linear
    function of depth (a lithiation gradient under the surface) + an offset: surface and interior
    may brighten or dim independently, as lithiation makes them do in opposite directions, and the
    texture, which a plain step cannot follow, no longer pulls the peak. The shift is searched on
    a 10 nm then a 1 nm grid within +-max_shift_um; NaN where the best is at the edge."""
    z0 = np.asarray(reference_depth_um, dtype=float)
    h0 = np.asarray(reference_height, dtype=float)
    ok = np.isfinite(z0) & np.isfinite(h0)
    if not ok.all():                                    # columns without a reference surface: NaN
        depth, height = np.full(z0.shape, np.nan), np.full(z0.shape, np.nan)
        if ok.any():
            depth[ok], height[ok] = template_depths(np.asarray(values)[:, ok], np.asarray(reference)[:, ok], z0[ok],
                                                    h0[ok], depths_um, axial_fwhm_um, max_shift_um, window_fwhm)
        return depth, height
    v = np.asarray(values, dtype=float)
    ref = np.asarray(reference, dtype=float)
    depths = np.asarray(depths_um, dtype=float)
    n = v.shape[1]
    sigma = axial_fwhm_um * FWHM_TO_SIGMA
    step = float(depths[1] - depths[0])
    # The planes of each column's window: (K, N) indices about its reference surface.
    half = int(np.ceil(window_fwhm * axial_fwhm_um / step))
    centre = np.clip(np.rint((z0 - depths[0]) / step).astype(int), half, depths.size - 1 - half)
    rows = centre[None, :] + np.arange(-half, half + 1)[:, None]
    cols = np.arange(n)[None, :]
    d = depths[rows] - z0[None, :]                                         # (K, N) um from the surface
    y = v[rows, cols]
    interior = ref[rows, cols] - h0[None, :] * np.exp(-0.5 * (d / sigma) ** 2)
    # Project out the fixed part of the model (interior, interior x depth, offset): what is left
    # of the data and of the shifted peak decides the shift (variable projection).
    Q = np.stack([interior, interior * d, np.ones_like(d)], axis=-1).transpose(1, 0, 2)    # (N, K, 3)
    Qp = np.linalg.pinv(Q)                                                 # (N, 3, K)
    P = np.eye(d.shape[0])[None] - Q @ Qp                                  # (N, K, K) residual maker
    y_perp = np.einsum("nkl,ln->nk", P, y)

    def misfit(shifts):                              # (T, N) trial shifts -> misfit, peak height (T, N)
        g = np.exp(-0.5 * ((d[None] - shifts[:, None, :]) / sigma) ** 2)           # (T, K, N)
        g_perp = np.einsum("nkl,tln->tnk", P, g)
        gg = np.einsum("tnk,tnk->tn", g_perp, g_perp)
        gy = np.einsum("tnk,nk->tn", g_perp, y_perp)
        gg = np.where(gg > 1e-12, gg, np.inf)
        return np.sum(y_perp ** 2, axis=1)[None] - gy ** 2 / gg, gy / gg

    coarse = np.arange(-max_shift_um, max_shift_um + 1e-12, 0.01)
    ssr, _ = misfit(np.repeat(coarse[:, None], n, axis=1))
    best = coarse[np.argmin(ssr, axis=0)]
    edge = (best <= coarse[0] + 1e-12) | (best >= coarse[-1] - 1e-12)
    fine = np.arange(-0.012, 0.012 + 1e-12, 0.001)
    idx = np.arange(n)
    trials = best[None, :] + fine[:, None]                                 # (F, N)
    ssr, heights = misfit(trials)
    k, frac = refine_minimum(ssr)
    return np.where(edge, np.nan, z0 + trials[k, idx] + frac * 0.001), heights[k, idx]


def column_depths(stack: np.ndarray, rows: np.ndarray, cols: np.ndarray, depths_um: np.ndarray,
                  axial_fwhm_um: float, smooth_px: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Surface depth (um; NaN where the surface is outside the window) and peak height (counts) of
    the given pixel columns, fitted on one window of planes about the brightest plane of their mean."""
    depths_um = np.asarray(depths_um, dtype=float)
    step = float(depths_um[1] - depths_um[0])
    values = column_values(stack, rows, cols, smooth_px)
    half = int(np.ceil(WINDOW_FWHM * axial_fwhm_um / step)) + 1
    centre = int(np.clip(np.argmax(values.mean(axis=1)), half, values.shape[0] - 1 - half))
    off, height = surface_offsets(values[centre - half:centre + half + 1], step, axial_fwhm_um)
    return depths_um[centre] + off * step, height


def cap_surface(stack: np.ndarray, footprint: np.ndarray, depths_um: np.ndarray, pixel_size_um: float,
                axial_fwhm_um: float, cap_fraction: float = 0.45, min_height: float = 5.0,
                relative_height: float = 0.4) -> Cap | None:
    """Top surface of the object whose (y, x) ``footprint`` is given, in a stack of planes at
    apparent ``depths_um`` (equally spaced, increasing).

    Columns within cap_fraction of the footprint's equivalent radius of its centre are fitted;
    those whose surface peak is under ``min_height`` counts or ``relative_height`` of the bright
    ones are dropped. None when fewer than 12 columns remain.
    """
    yy, xx = np.nonzero(footprint)
    if yy.size == 0 or np.asarray(stack).shape[0] < 5:
        return None
    cx, cy = xx.mean(), yy.mean()
    radius = np.sqrt(yy.size / np.pi)
    Y, X = np.mgrid[0:footprint.shape[0], 0:footprint.shape[1]]
    rows, cols = np.nonzero(np.hypot(X - cx, Y - cy) < cap_fraction * radius)
    z, height = column_depths(stack, rows, cols, depths_um, axial_fwhm_um)
    ok = np.isfinite(z)
    floor = max(min_height, relative_height * np.percentile(height[ok], 90)) if ok.any() else min_height
    good = ok & (height > floor)
    if good.sum() < 12:
        return None
    rows, cols, z, height = rows[good], cols[good], z[good], height[good]
    xs, ys = (cols - cx) * pixel_size_um, (rows - cy) * pixel_size_um
    G = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], 1)
    coef, *_ = np.linalg.lstsq(G, z, rcond=None)
    resid = z - G @ coef
    hess = np.array([[2 * coef[3], coef[4]], [coef[4], 2 * coef[5]]])
    try:
        p0 = np.linalg.solve(hess, -coef[1:3])
    except np.linalg.LinAlgError:
        p0 = np.zeros(2)
    if not np.all(np.abs(p0) < radius * pixel_size_um):
        p0 = np.zeros(2)
    g0 = np.array([1.0, p0[0], p0[1], p0[0] ** 2, p0[0] * p0[1], p0[1] ** 2])
    cov = np.linalg.pinv(G.T @ G) * float(resid @ resid) / max(z.size - 6, 1)
    err = float(np.sqrt(max(g0 @ cov @ g0, 0.0)))
    half = (np.asarray(footprint.shape) - 1) / 2
    xy = ((cx - half[1]) * pixel_size_um + p0[0], (cy - half[0]) * pixel_size_um + p0[1])
    top = Apex(float(g0 @ coef), err, (float(xy[0]), float(xy[1])), int(z.size))
    return Cap(rows, cols, z, height, (float(cx), float(cy)), coef, pixel_size_um, top)


def exit_depth(stack: np.ndarray, footprint: np.ndarray, depths_um: np.ndarray, below_um: float,
               cap_fraction: float = 0.3) -> float | None:
    """Apparent depth (um) of the exit face under the centre of ``footprint``: the strongest peak of
    the cap-averaged axial profile deeper than ``below_um`` (Gaussian three-point refinement).
    None when the profile has no interior maximum there."""
    stack = np.asarray(stack)
    depths_um = np.asarray(depths_um, dtype=float)
    yy, xx = np.nonzero(footprint)
    if yy.size == 0:
        return None
    cx, cy = xx.mean(), yy.mean()
    radius = np.sqrt(yy.size / np.pi)
    Y, X = np.mgrid[0:stack.shape[1], 0:stack.shape[2]]
    cap = np.hypot(X - cx, Y - cy) < cap_fraction * radius
    profile = stack[:, cap].astype(float).mean(axis=1)
    candidates = np.nonzero(depths_um > below_um)[0]
    candidates = candidates[(candidates > 0) & (candidates < len(profile) - 1)]
    if candidates.size == 0:
        return None
    k = int(candidates[np.argmax(profile[candidates])])
    if not (profile[k] > profile[k - 1] and profile[k] >= profile[k + 1]):
        return None
    lm, l0, lp = np.log(np.maximum(profile[k - 1:k + 2], 1e-9))
    d = 0.5 * (lm - lp) / (lm - 2 * l0 + lp)
    return float(depths_um[k] + d * (depths_um[1] - depths_um[0]))
