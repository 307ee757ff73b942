"""An agglomerate's voxels grouped by the shell they lie in, for surface-to-core fronts (seed 000, Fig. 4).

In an ellipsoid, the vertical column at normalised footprint radius q (q = 1 on the outline, the
projection of the rim) meets the shells symmetrically about its midpoint: at physical depth t below
the column's top the normalised radius is rho^2 = q^2 + (1 - q^2)(1 - t / h_q)^2, where
h_q = h sqrt(1 - q^2) is the column's half-thickness and h the central column's. Every voxel of
the upper half of the columns with q < q_max, at least ``skip`` below its column's top (past the
tail of the surface reflection), is assigned to the shell of its rho, reported at the depth that
shell has along the central column, (1 - rho) h. A shell then averages thousands of voxels where
one plane of the central column averages tens: enough photons to time the crossings.

Depths in um; apparent depths are focal depths as in analysis.surface, physical ones below the
top surface inside the particle (apparent x n_particle / n_medium).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .surface import Cap


@dataclass(frozen=True)
class ShellVoxels:
    """Voxels of one agglomerate in the (planes, y, x) stacks of a series: flat indices into the
    stack, the shell of each, and each shell's depth (um, physical, below the central top)."""
    index: np.ndarray
    shell: np.ndarray
    depth_um: np.ndarray
    counts: np.ndarray

    def profile(self, stack: np.ndarray, plane_shift: float = 0.0) -> np.ndarray:
        """Mean counts per shell of one stack (NaN for a shell with no voxel). ``plane_shift``: how
        many planes further down the voxels now lie (axial drift; fractional: linear between two)."""
        stack = np.asarray(stack)
        if plane_shift == 0:
            values = stack.ravel()[self.index].astype(float)
        else:
            size = stack.shape[1] * stack.shape[2]
            plane, rest = np.divmod(self.index, size)
            whole = int(np.floor(plane_shift))
            f = plane_shift - whole
            values = sum(w * stack.ravel()[np.clip(plane + k, 0, stack.shape[0] - 1) * size + rest]
                         for k, w in ((whole, 1.0 - f), (whole + 1, f)) if w > 0)
        total = np.bincount(self.shell, weights=values, minlength=self.depth_um.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / self.counts


def column_tops(cap: Cap, q_of, x_um: np.ndarray, y_um: np.ndarray, half_height_um: float) -> np.ndarray:
    """Apparent depth (um) of the top of the columns at offsets x_um, y_um (um from the footprint's
    centre): the ellipsoid's, h sqrt(1 - q^2) above a midpoint plane fitted to the cap's measured
    columns (the top lies in the electrolyte, so apparent and physical depths agree there).
    q_of(x, y): normalised footprint radius."""
    cx, cy = cap.offsets_um()
    G = np.stack([np.ones_like(cx), cx, cy], 1)
    rise = half_height_um * np.sqrt(np.clip(1 - q_of(cx, cy) ** 2, 0.0, None))
    m, *_ = np.linalg.lstsq(G, cap.depth_um + rise, rcond=None)
    return m[0] + m[1] * x_um + m[2] * y_um - half_height_um * np.sqrt(np.clip(1 - q_of(x_um, y_um) ** 2, 0.0, None))


def shell_voxels(frame_shape: tuple[int, int], cap: Cap, depths_um, half_height_um: float, n_particle: float,
                 n_medium: float, skip_um: float, shell_um: float, q_max: float = 0.7,
                 exit_um: float | None = None) -> ShellVoxels:
    """Group an agglomerate's voxels into shells ``shell_um`` thick (physical, along the central
    column) from ``skip_um`` (apparent) below the top down to the centre. frame_shape: (ny, nx)
    of the stacks; cap: the agglomerate's top surface in the reference stack; depths_um: apparent depth of each plane;
    half_height_um: physical half-thickness of the central column (from ``exit_um``, the exit
    face's apparent depth under the centre, when given)."""
    depths = np.asarray(depths_um, dtype=float)
    if shell_um <= 0:
        raise ValueError(f"shell_um must be > 0, got {shell_um}")
    ratio = n_particle / n_medium
    if exit_um is not None and np.isfinite(exit_um):
        half_height_um = 0.5 * (exit_um - cap.coef[0]) * ratio      # central column: top to exit face
    # Near its top an ellipsoid's surface is h (1 - sqrt(1 - q^2)) ~ h q^2 / 2 below the midpoint
    # plane's tangent: the cap's curvature over h gives q's quadratic form (the thresholded
    # footprint is too small and too blurred an outline for it).
    coef = cap.coef
    inv = np.array([[2 * coef[3], coef[4]], [coef[4], 2 * coef[5]]]) / half_height_um
    if np.any(np.linalg.eigvalsh(inv) <= 0):
        raise ValueError("the agglomerate's top is not convex; no shells can be defined")

    def q_of(x, y):
        return np.sqrt(inv[0, 0] * x * x + 2 * inv[0, 1] * x * y + inv[1, 1] * y * y)

    cxp, cyp = cap.center_px
    px = cap.pixel_size_um
    reach = q_max / np.sqrt(np.linalg.eigvalsh(inv).min())                     # um, widest extent
    ny, nx = frame_shape
    cols = np.arange(max(int(cxp - reach / px) - 1, 0), min(int(cxp + reach / px) + 2, nx))
    rows = np.arange(max(int(cyp - reach / px) - 1, 0), min(int(cyp + reach / px) + 2, ny))
    yy, xx = [a.ravel() for a in np.meshgrid(rows, cols, indexing="ij")]
    x_um, y_um = (xx - cxp) * px, (yy - cyp) * px
    q = q_of(x_um, y_um)
    tops = column_tops(cap, q_of, x_um, y_um, half_height_um)
    use = q < q_max
    xx, yy, q, tops = xx[use], yy[use], q[use], tops[use]
    h_q = half_height_um * np.sqrt(1 - q ** 2)
    t = (depths[:, None] - tops[None, :]) * ratio                          # (planes, columns), physical
    rho = np.sqrt(q[None, :] ** 2 + (1 - q[None, :] ** 2) * (1 - t / h_q[None, :]) ** 2)
    central_depth = (1 - rho) * half_height_um
    skip = skip_um * ratio
    n_shells = max(int(np.floor((half_height_um - skip) / shell_um)), 0)
    if n_shells < 3:
        raise ValueError(f"the agglomerate's half-height {half_height_um:.2f} um leaves fewer than three "
                         f"{shell_um:.2f} um shells below {skip:.2f} um; a larger agglomerate is needed")
    ok = (t >= skip) & (t <= h_q[None, :]) & (central_depth >= skip)
    k, c = np.nonzero(ok)
    shell = np.minimum(((central_depth[k, c] - skip) / shell_um).astype(int), n_shells - 1)
    index = np.ravel_multi_index((k, yy[c], xx[c]), (depths.size, ny, nx))
    counts = np.bincount(shell, minlength=n_shells).astype(float)
    centres = skip + (np.arange(n_shells) + 0.5) * shell_um
    return ShellVoxels(index, shell, centres, counts)
