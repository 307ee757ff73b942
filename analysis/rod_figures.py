"""Figures of a widefield analysis (seed 004 Figs. 2d, 3c, 4) as PNG files, drawn without pyplot."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .figures import _figure, _save


def kymograph(analysis, rod: int, path: Path, title: str) -> Path:
    """Differential line-cut of one rod: fractional intensity change per second along the rod
    (vertical, um) against cell time (s), with the fronts found (seed Fig. 3c)."""
    t, s_um, kym = analysis.kymographs[rod]
    fig = _figure(figsize=(7, 4))
    ax = fig.subplots()
    lim = float(np.nanpercentile(np.abs(kym), 99)) or 1.0
    image = ax.imshow(np.nan_to_num(kym).T, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
                      extent=(t[0], t[-1], s_um[0], s_um[-1]))
    fig.colorbar(image, ax=ax, label="dI/I per s")
    for f in analysis.fronts:
        if f["rod"] == rod:
            ax.annotate(f"{f['velocity_nm_s']:.0f} +- {f['velocity_error_nm_s']:.0f} nm/s", xy=(0.02, 0.05 + 0.9 * f["end"]),
                        xycoords="axes fraction", va="top" if f["end"] else "bottom")
    ax.set_xlabel("cell time (s)")
    ax.set_ylabel("position along the rod (um)")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def rod_lengths(analysis, path: Path, title: str) -> Path:
    """Length change (%) of every rod against cell time (seed Fig. 2d), cracks marked."""
    fig = _figure(figsize=(7, 4))
    ax = fig.subplots()
    for rod in sorted({r["rod"] for r in analysis.rows}):
        rows = [r for r in analysis.rows if r["rod"] == rod]
        ax.plot([r["cell_time_s"] for r in rows], [r["elongation"] * 100 for r in rows], label=f"rod {rod}")
    for c in analysis.cracks:
        ax.axvline(c["time_s"], color="k", ls=":", lw=0.8)
    ax.set_xlabel("cell time (s)")
    ax.set_ylabel("length change (%)")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def rod_frame(image: np.ndarray, analysis, path: Path, title: str) -> Path:
    """A camera frame with the rods' axes and the cracks found marked (seed Fig. 4d)."""
    fig = _figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.imshow(image, cmap="gray")
    for rod in analysis.rods:
        a, b = analysis.ends_px.get(rod.label, (-rod.length_px / 2, rod.length_px / 2))
        (cx, cy), (ux, uy) = rod.centre_px, rod.axis
        ax.plot([cx + a * ux, cx + b * ux], [cy + a * uy, cy + b * uy], color="tab:blue", lw=0.6)
        for c in analysis.cracks:
            if c["rod"] == rod.label:
                s = a + c["position_um"] / analysis.pixel_um
                ax.plot(cx + s * ux, cy + s * uy, "o", mfc="none", mec="r", ms=12)
                ax.annotate(f"crack {c['time_s']:.0f} s" + (", cut off" if c["disconnected"] else ""),
                            (cx + s * ux, cy + s * uy), color="r", fontsize=8, xytext=(8, 8), textcoords="offset points")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return _save(fig, path)


def differential_images(images: list[np.ndarray], labels: list[str], path: Path, title: str) -> Path:
    """Differential images side by side on one colour scale (seed Fig. 3b)."""
    fig = _figure(figsize=(3.2 * len(images) + 1, 3.6))
    axes = fig.subplots(1, len(images))
    lim = max(float(np.percentile(np.abs(im), 99.5)) for im in images) or 1.0
    for ax, im, label in zip(np.atleast_1d(axes), images, labels):
        shown = ax.imshow(im, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
    fig.colorbar(shown, ax=list(np.atleast_1d(axes)), label="dI/I per s", shrink=0.8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    return Path(path)
