"""Agglomerates in confocal reflection stacks: segmentation, tracking across stacks, Delta V / V.

Segmentation is first order (analysis.volume: smoothed, thresholded, labelled); it finds the
agglomerates and sizes them to ~10-30 %. Volume *changes* of a few per cent need more: each
agglomerate's top surface is located to a few nm (analysis.surface), and its height above its
centre is measured once, in the first stack, from the distance between entry and exit faces
with the pristine refractive index (the only place an index enters). With the agglomerate
held at its centre by the host and swelling isotropically (the seed's reading of Fig. 3 and the
premise of its ellipsoid unwrapping), a surface that rises by dz means a linear strain
dz / h and Delta V / V = (1 + dz / h)^3 - 1. In later stacks each column's surface is fitted
against that column in the first stack (analysis.surface.template_depths): its own interior,
grain texture included, with the surface and the interior free to brighten or dim on their own,
as lithiation makes them do in opposite directions.

Lengths in um, apparent depths as in analysis.surface, times in s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .front_shells import ShellVoxels, shell_voxels
from .fronts import SHELL_UM, SKIP_FWHM
from .psf import FWHM_TO_SIGMA, axial_fwhm_um, lateral_fwhm_um
from .stack_prep import dead_time_corrected
from .surface import Apex, Cap, cap_surface, column_values, exit_depth, template_depths
from .volume import _fill_columns, apparent_voxel_volume_um3, label_objects


@dataclass(frozen=True)
class StackGeometry:
    """How a stack maps to the sample: lateral pixel (um), piezo step (um), indices of the
    electrolyte, immersion oil and pristine particle, wavelength (nm), objective NA, pinhole (AU);
    and how counts map to photons: the detector's dead time and the pixel dwell (s; 0: counts
    taken as they are)."""
    pixel_size_um: float
    z_step_um: float
    n_medium: float
    n_immersion: float
    n_particle: float
    wavelength_nm: float
    numerical_aperture: float
    pinhole_au: float
    dead_time_s: float = 0.0
    dwell_s: float = 0.0

    def linear_counts(self, stack: np.ndarray) -> np.ndarray:
        """Counts corrected for the detector's non-paralysable dead time, n / (1 - n tau / T): a
        bright surface peak (~25 % compressed at 100 counts in 10 us with 22 ns) otherwise changes
        shape as the surface brightens, and its fitted position with it."""
        return dead_time_corrected(stack, self.dead_time_s, self.dwell_s)

    @property
    def depth_scale(self) -> float:
        """Apparent depth per um of piezo travel (n_medium / n_immersion)."""
        return self.n_medium / self.n_immersion

    @property
    def axial_fwhm_um(self) -> float:
        return axial_fwhm_um(self.wavelength_nm, self.numerical_aperture, self.n_immersion, self.pinhole_au)

    @property
    def lateral_sigma_um(self) -> float:
        return lateral_fwhm_um(self.wavelength_nm, self.numerical_aperture, self.pinhole_au) * FWHM_TO_SIGMA

    @classmethod
    def from_start(cls, start: dict) -> "StackGeometry":
        """From a z-stack or operando run's start document (docs/metadata.md)."""
        optics = start.get("optics") or start.get("instrument", {}).get("optics")
        sample = start.get("sample", {})
        n_particle = start.get("sample_refractive_index", sample.get("refractive_index"))
        n_medium = start.get("electrolyte_refractive_index", sample.get("electrolyte", {}).get("refractive_index"))
        for name, value in (("optics", optics), ("sample refractive_index", n_particle),
                            ("electrolyte refractive_index", n_medium)):
            if value is None:
                raise ValueError(f"the run's start document has no {name} (docs/metadata.md); "
                                 "the stack cannot be mapped to the sample")
        return cls(pixel_size_um=float(start["pixel_size_um"]), z_step_um=float(start["z_step_um"]),
                   n_medium=float(n_medium), n_immersion=float(optics["n_immersion"]),
                   n_particle=float(n_particle), wavelength_nm=float(start["wavelength_nm"]),
                   numerical_aperture=float(optics["numerical_aperture"]), pinhole_au=float(optics["pinhole_au"]),
                   dead_time_s=float(optics.get("apd_dead_time_s", 0.0)), dwell_s=float(start.get("pixel_dwell_s", 0.0)))


@dataclass(frozen=True)
class Measurement:
    """One agglomerate in one stack. xy_um: lateral position of its apex (field centred);
    cap: its fitted top surface; exit_um: apparent depth of its exit face (NaN if not seen);
    volume_um3: first-order threshold volume; footprint: its pixels in the projection."""
    label: int
    xy_um: tuple[float, float]
    cap: Cap
    exit_um: float
    volume_um3: float
    footprint_um2: float
    touches_edge: bool
    footprint: np.ndarray = field(repr=False)

    @property
    def apex(self) -> Apex:
        return self.cap.apex


def measure(stack: np.ndarray, piezo_um, geometry: StackGeometry, min_volume_um3: float = 2.0,
            labels: np.ndarray | None = None) -> list[Measurement]:
    """Every agglomerate of a reflection stack (planes, y, x) taken at piezo positions ``piezo_um``."""
    stack = np.asarray(stack)
    if stack.ndim != 3 or stack.shape[0] < 5:
        raise ValueError(f"stack must be 3-D with at least 5 planes, got shape {stack.shape}")
    depths = np.asarray(piezo_um, dtype=float) * geometry.depth_scale
    if depths.shape != (stack.shape[0],) or not np.all(np.diff(depths) > 0):
        raise ValueError("piezo_um must give one increasing position per plane")
    labels = label_objects(stack, geometry.pixel_size_um) if labels is None else labels
    voxel = (apparent_voxel_volume_um3(geometry.pixel_size_um, geometry.z_step_um, geometry.n_medium,
                                       geometry.n_immersion) * geometry.n_particle / geometry.n_medium)
    out = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        obj = labels[sl] == i
        volume = float(_fill_columns(ndimage.binary_fill_holes(obj)).sum() * voxel)
        if volume < min_volume_um3:
            continue
        footprint = np.zeros(stack.shape[1:], bool)
        footprint[sl[1:]] = obj.any(axis=0)
        cap = cap_surface(stack, footprint, depths, geometry.pixel_size_um, geometry.axial_fwhm_um)
        if cap is None:
            continue
        top = cap.apex
        below = exit_depth(stack, footprint, depths, top.depth_um + geometry.axial_fwhm_um)
        yy, xx = np.nonzero(footprint)
        edge = (sl[1].start == 0 or sl[2].start == 0 or sl[1].stop == stack.shape[1] or sl[2].stop == stack.shape[2])
        out.append(Measurement(i, top.xy_um, cap, float("nan") if below is None else below, volume,
                               float(yy.size * geometry.pixel_size_um ** 2), bool(edge), footprint))
    return out


@dataclass(frozen=True)
class VolumeChange:
    """Delta V / V (fraction) of tracked agglomerate ``ident`` at cell time ``time_s`` with its
    standard error, from the rise of its top ``rise_um`` over its half-height ``half_height_um``."""
    ident: int
    time_s: float
    dv_v: float
    dv_v_error: float
    rise_um: float
    half_height_um: float


@dataclass
class Track:
    """An agglomerate followed from its reference (first) measurement."""
    ident: int
    reference: Measurement
    half_height_um: float
    changes: list[VolumeChange] = field(default_factory=list)
    depths: list[np.ndarray] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    shells: ShellVoxels | None = None        # its voxels grouped by shell, for fronts
    shells_reason: str = ""                  # why there are none
    shell_profiles: list[np.ndarray] = field(default_factory=list)
    start: int = 0                           # the tracker's stack count when the track began
    reference_values: np.ndarray | None = field(default=None, repr=False)   # its cap's columns, first stack

    def rows(self, stack_indices) -> list[int]:
        """Positions in this track's series of the tracker's stacks ``stack_indices`` it holds."""
        return [i - self.start for i in stack_indices if 0 <= i - self.start < len(self.times_s)]


def scale_change(reference: Cap, depth_um: np.ndarray, height: np.ndarray, centre_depth_um: float,
                 correlated_px: float = 2.0) -> tuple[float, float]:
    """Linear scale change s - 1 (and its standard error) of a surface whose columns moved from the
    reference's depths to ``depth_um`` (NaN where unfit; surface peaks ``height`` counts), for a
    scaling about the centre at ``centre_depth_um``: least squares of the per-column shifts on
    d depth / d s, each column weighted by the inverse variance of its shift (a peak's position
    error goes as 1 / its height). The error counts columns within the smoothing (Gaussian sigma
    ``correlated_px``) as one: 4 pi sigma^2 of them."""
    sens = reference.sensitivity_um(centre_depth_um)
    shift = np.asarray(depth_um, dtype=float) - reference.depth_um
    h = np.asarray(height, dtype=float)
    ok = np.isfinite(shift) & (h > 0)
    if ok.sum() < 12:
        return float("nan"), float("nan")
    a, b = sens[ok], shift[ok]
    w = 1.0 / (1.0 / reference.height[ok] ** 2 + 1.0 / h[ok] ** 2)
    saa = float(np.sum(w * a * a))
    ds = float(np.sum(w * a * b) / saa)
    resid = b - ds * a
    err = float(np.sqrt(np.sum(w * resid ** 2) / max(ok.sum() - 1, 1) / saa))
    return ds, err * float(np.sqrt(4 * np.pi)) * correlated_px


class Tracker:
    """Follows agglomerates across the stacks of one field of view.

    The first stack defines the agglomerates (numbered 1.. in order of their labels); later
    measurements are matched to them by lateral apex position within ``match_radius_um``.
    Agglomerates touching the field edge or without a visible exit face are not tracked.
    """

    def __init__(self, geometry: StackGeometry, match_radius_um: float = 1.0):
        self.geometry = geometry
        self.match_radius_um = match_radius_um
        self.tracks: dict[int, Track] = {}
        self.segmented: list[Measurement] = []      # every agglomerate of the first stack
        self.n_stacks = 0                           # stacks added so far

    def add(self, stack: np.ndarray, piezo_um, time_s: float, counts_linear: bool = False,
            axial_drift_um: float = 0.0) -> list[VolumeChange]:
        """Measure one stack (planes, y, x) taken at ``piezo_um`` and cell time ``time_s``; returns the
        volume changes of the tracked agglomerates. The first stack is segmented and defines them;
        later stacks are fitted on each agglomerate's reference footprint, so that the same
        columns of the sample are compared: a drifting sample's stacks must be registered to the
        first (analysis.stack_prep.Registration): laterally moved onto its pixels, axially by
        ``axial_drift_um`` (objective travel since the first stack; its planes are compared with the
        first stack's planes as they are, and the surfaces found are moved back by it).
        ``counts_linear``: the detector's dead time is already corrected."""
        g = self.geometry
        depths = np.asarray(piezo_um, dtype=float) * g.depth_scale
        if not counts_linear:
            stack = g.linear_counts(stack)
        if not self.tracks:
            ident = 0
            self.segmented = measure(stack, piezo_um, g)
            for m in self.segmented:
                if m.touches_edge or not np.isfinite(m.exit_um) or m.exit_um <= m.apex.depth_um:
                    continue
                ident += 1
                half = 0.5 * (m.exit_um - m.apex.depth_um) * g.n_particle / g.n_medium
                track = self.tracks[ident] = Track(ident, m, half, start=self.n_stacks)
                try:
                    track.shells = shell_voxels(m.footprint.shape, m.cap, depths, half, g.n_particle, g.n_medium,
                                                SKIP_FWHM * g.axial_fwhm_um, SHELL_UM, exit_um=m.exit_um)
                except ValueError as exc:
                    track.shells_reason = str(exc)
        out = []
        for track in self.tracks.values():
            ref = track.reference
            values = column_values(stack, ref.cap.rows, ref.cap.cols)
            if track.reference_values is None:
                track.reference_values = values
                depth, strain, err = ref.cap.depth_um, 0.0, 0.0
            else:
                depth, height = template_depths(values, track.reference_values, ref.cap.depth_um, ref.cap.height,
                                                depths, g.axial_fwhm_um)
                depth = depth - axial_drift_um * g.depth_scale
                strain, err = scale_change(ref.cap, depth, height, ref.apex.depth_um + track.half_height_um)
            # Every stack has its entry in the series (fronts index them by stack), even when its
            # surface could not be fitted.
            track.depths.append(depth)
            if track.shells is not None:
                track.shell_profiles.append(track.shells.profile(stack, axial_drift_um / (piezo_um[1] - piezo_um[0])))
            track.times_s.append(float(time_s))
            if not np.isfinite(strain):
                continue
            change = VolumeChange(track.ident, float(time_s), float((1 + strain) ** 3 - 1),
                                  float(3 * (1 + strain) ** 2 * err), float(-strain * track.half_height_um),
                                  float(track.half_height_um))
            track.changes.append(change)
            out.append(change)
        self.n_stacks += 1
        return out

    def inactive(self, threshold: float = 0.005) -> list[int]:
        """Agglomerates whose |Delta V / V| stayed below ``threshold`` (or twice its error) throughout."""
        return [t.ident for t in self.tracks.values() if len(t.changes) > 1
                and all(abs(c.dv_v) < max(threshold, 2 * c.dv_v_error) for c in t.changes)]

