"""Figures of a confocal analysis as PNG files (matplotlib's object API: no pyplot, so they can be
drawn from the analysis worker thread while a run goes on, with or without a display).

Each function draws one figure of seed 000 from a ``ConfocalAnalysis`` (or arrays) and returns
the path written.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .fronts import MIN_SHELL_VOXELS, crossing_times, normalised, smoothed_crossings


def _figure(**kwargs):
    """A figure that draws without pyplot: safe from the analysis worker thread and headless."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def volume_changes(analysis, path: Path) -> Path:
    """Delta V / V (%) against cell time for every tracked agglomerate (seed Fig. 3c)."""
    fig = _figure(figsize=(7, 4))
    ax = fig.subplots()
    series: dict = {}
    for row in analysis.volumes:
        series.setdefault((row["position_name"], row["agglomerate"]), []).append(row)
    for (pos, ident), rows in sorted(series.items()):
        t = np.array([r["cell_time_s"] for r in rows]) / 3600
        ax.errorbar(t, [r["dv_v"] * 100 for r in rows], yerr=[r["dv_v_error"] * 100 for r in rows],
                    marker="o", ms=3, capsize=2, label=f"{pos}{ident}")
    ax.set_xlabel("cell time (h)")
    ax.set_ylabel("ΔV/V (%)")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=7, ncol=4)
    return _save(fig, path)


def front_map(analysis, position: str, ident: int, path: Path) -> Path | None:
    """Shell-averaged reflectivity (normalised over the series) against depth below the surface and
    cell time for one agglomerate, with each shell's zero crossing in every half-cycle (seed
    Fig. 4). None when it has no shells."""
    track = analysis.trackers[position].tracks[ident]
    if track.shells is None or len(track.shell_profiles) < 2:
        return None
    keep = track.shells.counts >= MIN_SHELL_VOXELS
    depth = track.shells.depth_um[keep]
    times = np.asarray(track.times_s)
    signal = np.array(track.shell_profiles)[:, keep]
    fig = _figure(figsize=(7, 4))
    ax = fig.subplots()
    im = ax.pcolormesh(times / 3600, depth, normalised(signal).T, cmap="coolwarm", vmin=-1, vmax=1,
                       shading="nearest")
    from .live import half_cycles

    label = "zero crossing"
    for _, indices in half_cycles(analysis.stacks_meta[position], analysis.parameters["min_front_stacks"]):
        k = track.rows(indices)
        if len(k) < 3:
            continue
        seg = signal[k]
        crossing = smoothed_crossings(times[k], seg)[0] if len(k) >= 6 else crossing_times(times[k], seg)
        ax.plot(crossing / 3600, depth, "k.-", label=label)
        label = None
    ax.invert_yaxis()
    ax.set_xlabel("cell time (h)")
    ax.set_ylabel("depth below surface (µm)")
    if label is None:
        ax.legend(fontsize=8)
    fig.colorbar(im, ax=ax, label="normalised reflectivity")
    return _save(fig, path)


def _image(image: np.ndarray, pixel_size_um: float, path: Path, title: str, label: str, **imshow) -> Path:
    """One map in sample coordinates (um) with a colour bar."""
    fig = _figure(figsize=(5, 4.2))
    ax = fig.subplots()
    ny, nx = image.shape
    im = ax.imshow(image, extent=[0, nx * pixel_size_um, ny * pixel_size_um, 0], **imshow)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=label)
    return _save(fig, path)


def salt_map(delta_c: np.ndarray, pixel_size_um: float, path: Path, title: str = "") -> Path:
    """ΔC_salt (mol/L) in the plane above the electrode (seed Fig. 6e)."""
    lim = max(float(np.nanmax(np.abs(delta_c))), 0.05)
    return _image(delta_c, pixel_size_um, path, title, "ΔC_salt (M)", cmap="RdBu_r", vmin=-lim, vmax=lim)


def projection(stack: np.ndarray, pixel_size_um: float, path: Path, title: str = "") -> Path:
    """Maximum intensity projection of a stack (seed Fig. 1c)."""
    mip = np.asarray(stack).max(axis=0)
    return _image(mip, pixel_size_um, path, title, "counts", cmap="gray", vmax=np.percentile(mip, 99.5))


def shell_maps(maps: dict, path: Path) -> Path:
    """Mercator maps of the exterior and core shells at several states (seed Fig. 5):
    ``maps`` = {state label: (exterior map, core map)}."""
    fig = _figure(figsize=(3.2 * len(maps), 4.4))
    axes = fig.subplots(2, len(maps), squeeze=False)
    for j, (label, pair) in enumerate(maps.items()):
        for i, (name, m) in enumerate(zip(("exterior", "core"), pair)):
            ax = axes[i, j]
            ax.imshow(m, cmap="viridis", aspect="auto", extent=[-180, 180, -80, 80], origin="lower")
            ax.set_title(f"{label}: {name}", fontsize=8)
            ax.set_xticks([-180, 0, 180])
            ax.set_yticks([-80, 0, 80])
            ax.tick_params(labelsize=7)
    fig.supxlabel("longitude (deg)", fontsize=8)
    fig.supylabel("latitude (deg, Mercator)", fontsize=8)
    return _save(fig, path)


def surface_interior(times_s, surface, interior, path: Path, title: str = "", wavelengths_nm=None) -> Path:
    """Relative reflectivity at the surface (S, solid) and inside (I, dashed) against cell time
    (seed Fig. 1b); with ``wavelengths_nm`` (W,), surface and interior are (times, W): one colour
    per wavelength."""
    fig = _figure(figsize=(6, 3.6))
    ax = fig.subplots()
    t = np.asarray(times_s) / 3600
    if wavelengths_nm is None:
        ax.plot(t, surface, "o-", ms=3, label="S: top surface")
        ax.plot(t, interior, "s--", ms=3, label="I: 1 µm inside")
    else:
        for j, w in enumerate(wavelengths_nm):
            line, = ax.plot(t, np.asarray(surface)[:, j], "o-", ms=3, label=f"S {w:.0f} nm")
            ax.plot(t, np.asarray(interior)[:, j], "s--", ms=3, color=line.get_color(), label=f"I {w:.0f} nm")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel("cell time (h)")
    ax.set_ylabel("reflectivity / first")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
