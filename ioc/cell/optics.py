"""Confocal reflection and two-photon fluorescence image formation.

The renderer works in the *apparent* depth coordinate d (um): the depth the
focus would reach if the whole sample had the electrolyte's index. Moving the
objective by dz moves the focus by dz * n_medium / n_immersion (paraxial focal
shift), so d = (z_piezo - z_surface_piezo) * n_e / n_imm, and a particle of
physical thickness t spans t * n_e / n_p in d (it looks axially compressed).
Signals are photon fractions per incident photon; ``apd`` turns them into counts.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import erf

from operando.analysis import psf

from .electrode import Electrode
from .electrolyte import BULK_SALT_M, REACH_M, tpef_relative
from .intercalation import MATERIALS
from .materials import CARBON_MATRIX, COVERSLIP, IMMERSION_OIL, LP30, MATRIX_POROSITY, fresnel_reflectance
from .reflectivity import interior_contrast, particle_index

PRISTINE_X = {name: m.x_pristine for name, m in MATERIALS.items()}

FWHM_TO_SIGMA = psf.FWHM_TO_SIGMA


@dataclass(frozen=True)
class ConfocalOptics:
    """Objective and pinhole of the confocal microscope (seed 000: 1.4 NA oil, 0.7 AU)."""
    numerical_aperture: float = 1.4
    n_immersion: float = IMMERSION_OIL.n
    pinhole_au: float = 0.7
    # Collection and detection efficiency including the neutral density filter
    # in front of the APDs (photons counted per photon reflected at the focus).
    detection_efficiency: float = 1.2e-7

    def lateral_fwhm_um(self, wavelength_nm: float) -> float:
        """Lateral FWHM of the confocal reflection PSF (um); about 0.41 lambda/NA at 0.7 AU."""
        return psf.lateral_fwhm_um(wavelength_nm, self.numerical_aperture, self.pinhole_au)

    def axial_fwhm_um(self, wavelength_nm: float) -> float:
        """FWHM of the confocal response to a reflecting plane (um, apparent depth)."""
        return psf.axial_fwhm_um(wavelength_nm, self.numerical_aperture, self.n_immersion, self.pinhole_au)

    @property
    def depth_scale(self) -> float:
        """Apparent depth per um of objective travel in electrolyte (n_e / n_imm)."""
        return LP30.n / self.n_immersion


@dataclass(frozen=True)
class PixelGrid:
    """The scanned field: pixel centres in the sample frame (um)."""
    nx: int
    ny: int
    pixel_size_um: float
    center_x_um: float = 0.0
    center_y_um: float = 0.0

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        x = (np.arange(self.nx) - (self.nx - 1) / 2) * self.pixel_size_um + self.center_x_um
        y = (np.arange(self.ny) - (self.ny - 1) / 2) * self.pixel_size_um + self.center_y_um
        return x, y


def _specular_collection(cos_tilt: np.ndarray, numerical_aperture: float, n_medium: float) -> np.ndarray:
    """Fraction of light reflected by a tilted facet that re-enters the objective.

    A facet tilted by theta sends the specular beam off by 2 theta; it is
    collected while 2 theta stays inside the acceptance cone. Polycrystalline
    surfaces are rough, so a diffuse part (cos theta) remains at any tilt.
    """
    theta_max = np.arcsin(min(numerical_aperture / n_medium, 1.0))
    theta = np.arccos(np.clip(cos_tilt, 0.0, 1.0))
    specular = 0.5 * (1.0 - np.tanh((2.0 * theta - theta_max) / 0.15))
    return 0.75 * specular + 0.25 * cos_tilt


class _Texture:
    """Cheap band-limited 3D random field exp(sigma * g), <g^2> = 1, for grain contrast."""

    def __init__(self, seed: int, correlation_um: float, sigma: float, n_waves: int = 10):
        rng = np.random.default_rng(seed)
        k = 2 * np.pi / correlation_um
        v = rng.normal(size=(n_waves, 3))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        self.k = v * k * rng.uniform(0.7, 1.3, size=(n_waves, 1))
        self.phase = rng.uniform(0, 2 * np.pi, size=n_waves)
        self.sigma = sigma
        self.norm = np.sqrt(2.0 / n_waves)

    def xy_factor(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Complex per-column factors for 2D coordinate arrays X, Y (um), shape
        (n_waves, ny, nx); reused for every plane."""
        return np.exp(1j * (self.k[:, 0, None, None] * X + self.k[:, 1, None, None] * Y
                            + self.phase[:, None, None]))

    def at_depth(self, xy: np.ndarray, d_um: float) -> np.ndarray:
        g = np.tensordot(np.exp(1j * self.k[:, 2] * d_um), xy, axes=1).real * self.norm
        return np.exp(self.sigma * g - 0.5 * self.sigma ** 2)


def _window(d: float, a, b, sigma: float):
    """Fraction of a unit-area Gaussian at d (width sigma) lying between a and b."""
    s = sigma * np.sqrt(2.0)
    return 0.5 * (erf((b - d) / s) - erf((a - d) / s))


class ConfocalRenderer:
    """Renders expected confocal signals of an electrode for a pixel grid.

    Per-column geometry (entry/exit depths, tilts, textures) is computed once
    per grid and reused for every plane of a stack.
    """

    def __init__(self, electrode: Electrode, grid: PixelGrid, optics: ConfocalOptics | None = None):
        self.electrode = electrode
        self.grid = grid
        self.optics = optics or ConfocalOptics()
        x, y = grid.axes()
        self._x, self._y = x, y
        self._particles = []
        for agg in electrode.agglomerates:
            # Bounding box with room for the agglomerate to swell (+1 um).
            hx, hy = agg.xy_half_extent_um
            ix = np.nonzero((x >= agg.center_um[0] - hx - 1) & (x <= agg.center_um[0] + hx + 1))[0]
            iy = np.nonzero((y >= agg.center_um[1] - hy - 1) & (y <= agg.center_um[1] + hy + 1))[0]
            if ix.size == 0 or iy.size == 0:
                continue
            sl = (slice(iy[0], iy[-1] + 1), slice(ix[0], ix[-1] + 1))
            X, Y = np.meshgrid(x[sl[1]], y[sl[0]])
            texture = _Texture(agg.texture_seed, correlation_um=0.8, sigma=0.6)
            self._particles.append(dict(agg=agg, slice=sl, X=X, Y=Y, texture=texture,
                                        xy=texture.xy_factor(X, Y), geometry=None, scale=None))
        # Boxes reaching as far as the salt field around each agglomerate.
        self._salt_boxes = []
        reach = REACH_M * 1e6
        for agg in electrode.agglomerates:
            hx, hy = agg.xy_half_extent_um
            ix = np.nonzero(np.abs(x - agg.center_um[0]) <= hx * 1.1 + reach)[0]
            iy = np.nonzero(np.abs(y - agg.center_um[1]) <= hy * 1.1 + reach)[0]
            if ix.size and iy.size:
                sl = (slice(iy[0], iy[-1] + 1), slice(ix[0], ix[-1] + 1))
                X, Y = np.meshgrid(x[sl[1]], y[sl[0]])
                self._salt_boxes.append(dict(agg=agg, slice=sl, X=X, Y=Y,
                                             radius_um=float(np.prod(agg.semi_axes_um)) ** (1 / 3)))
        self._matrix_texture = _Texture(electrode.seed + 7919, correlation_um=0.5, sigma=0.9)
        self._matrix_xy = self._matrix_texture.xy_factor(*np.meshgrid(x, y))

    def _geometry(self, p, scale: float) -> dict:
        """Column intersections of the agglomerate scaled by ``scale`` (cached per scale)."""
        if p["scale"] != scale:
            agg = replace(p["agg"], semi_axes_um=tuple(a * scale for a in p["agg"].semi_axes_um))
            inside, z_top, z_bot, cos_top, cos_bot = agg.column_intersections(p["X"], p["Y"])
            p["geometry"] = dict(agg=agg, inside=inside, z_top=np.where(inside, z_top, 0.0),
                                 thickness=np.where(inside, z_bot - z_top, 0.0),
                                 cos_top=np.where(inside, cos_top, 0.0), cos_bot=np.where(inside, cos_bot, 0.0))
            p["scale"] = scale
        return p["geometry"]

    def _column_span(self, p, state, wavelength_nm):
        """Geometry for the agglomerate's current volume, its lithiation profile, mean index and
        the apparent entry/exit depths of every column (the interior looks compressed by n_e/n_p)."""
        material = p["agg"].material
        x_shells = state.x_shells if state is not None else np.array([PRISTINE_X[material]])
        scale = (1.0 + state.volume_change) ** (1.0 / 3.0) if state is not None else 1.0
        g = self._geometry(p, scale)
        k = np.arange(len(x_shells))
        shell_volumes = (k + 1) ** 3 - k ** 3
        mean_x = np.dot(shell_volumes, x_shells) / shell_volumes.sum()
        n_p = float(particle_index(material, mean_x, wavelength_nm))
        a_top = g["z_top"]
        a_bot = np.where(g["inside"], a_top + g["thickness"] * LP30.n / n_p, 0.0)
        return g, x_shells, n_p, a_top, a_bot

    def reflection(self, depth_um: float, wavelength_nm: float, states: dict | None = None) -> np.ndarray:
        """Fraction of incident photons reflected back through the pinhole, per pixel.

        depth_um: apparent focal depth d below the coverslip (um); states: per agglomerate
        label, its AgglomerateState (lithiation profile, volume change); pristine if absent.
        """
        opt = self.optics
        w = opt.axial_fwhm_um(wavelength_nm)
        sig = w * FWHM_TO_SIGMA
        area = w * np.sqrt(np.pi / (4 * np.log(2)))       # integral of the peak-1 axial response

        def plane(u):
            return np.exp(-4 * np.log(2) * (u / w) ** 2)

        gap = self.electrode.electrolyte_gap_um
        mu_m = CARBON_MATRIX.attenuation_per_um
        n_e, na = LP30.n, opt.numerical_aperture
        img = np.full((self.grid.ny, self.grid.nx), fresnel_reflectance(COVERSLIP.n, LP30.n) * plane(depth_um))
        # Host matrix below the electrolyte gap: weak grainy backscatter, attenuating.
        host = (CARBON_MATRIX.backscatter_per_um * area * _window(depth_um, gap, np.inf, sig)
                * np.exp(-2 * mu_m * max(depth_um - gap, 0.0)))
        if host > 1e-12:
            img += host * self._matrix_texture.at_depth(self._matrix_xy, depth_um)
        for p in self._particles:
            agg0 = p["agg"]
            material = agg0.material
            g, x_shells, n_p, a_top, a_bot = self._column_span(p, (states or {}).get(agg0.label), wavelength_nm)
            inside = g["inside"]
            r_surface = fresnel_reflectance(n_e, float(particle_index(material, x_shells[-1], wavelength_nm)))
            above = np.exp(-2 * mu_m * np.clip(a_top - gap, 0.0, None))
            mu_apparent = agg0.medium.attenuation_per_um * n_p / n_e
            depth_in = np.clip(depth_um - a_top, 0.0, a_bot - a_top)
            inner = np.exp(-2 * mu_apparent * depth_in)
            through = np.exp(-2 * mu_apparent * (a_bot - a_top))
            if len(x_shells) > 1:
                # Lithiation where the focus sits inside the agglomerate (normalised ellipsoidal radius).
                z_phys = a_top + depth_in * n_p / n_e
                d = np.stack([p["X"] - agg0.center_um[0], p["Y"] - agg0.center_um[1], z_phys - agg0.center_um[2]])
                rho = np.sqrt(np.einsum("iyx,ij,jyx->yx", d, g["agg"].shape_matrix, d))
                centres = (np.arange(len(x_shells)) + 0.5) / len(x_shells)
                x_local = np.interp(rho, centres, x_shells)
            else:
                x_local = x_shells[0]
            rho_int = agg0.medium.backscatter_per_um * n_p / n_e * interior_contrast(material, x_local, wavelength_nm)
            sig_p = (r_surface * _specular_collection(g["cos_top"], na, n_e) * plane(depth_um - a_top)
                     + rho_int * area * _window(depth_um, a_top, a_bot, sig) * inner
                     * p["texture"].at_depth(p["xy"], depth_um)
                     # Exit face: seen from inside the particle (n_p -> n_e).
                     + r_surface * _specular_collection(g["cos_bot"], na, n_p) * plane(depth_um - a_bot) * through)
            sig_p = np.where(inside, sig_p * above, 0.0)
            # The particle replaces host material in its columns: what the focal volume (axial
            # response) holds of the particle holds no host.
            host_left = np.where(inside, 1.0 - _window(depth_um, a_top, a_bot, sig), 1.0)
            img[p["slice"]] = img[p["slice"]] * host_left + sig_p
        px_sigma = opt.lateral_fwhm_um(wavelength_nm) * FWHM_TO_SIGMA / self.grid.pixel_size_um
        return gaussian_filter(img, px_sigma, mode="nearest")

    def _liquid(self, depth_um: float, wavelength_nm: float, states: dict | None) -> np.ndarray:
        """Unblurred liquid fraction in the axial focal window, host attenuation included."""
        sig = self.optics.axial_fwhm_um(wavelength_nm) * FWHM_TO_SIGMA
        gap = self.electrode.electrolyte_gap_um
        liquid = (_window(depth_um, 0.0, gap, sig)
                  + MATRIX_POROSITY * _window(depth_um, gap, np.inf, sig)
                  * np.exp(-2 * CARBON_MATRIX.attenuation_per_um * max(depth_um - gap, 0.0)))
        frac = np.full((self.grid.ny, self.grid.nx), liquid)
        for p in self._particles:
            g, _, _, a_top, a_bot = self._column_span(p, (states or {}).get(p["agg"].label), wavelength_nm)
            # A particle replaces porous (liquid-filled) host in its columns.
            occupied = np.where(g["inside"], _window(depth_um, a_top, a_bot, sig), 0.0)
            frac[p["slice"]] = np.clip(frac[p["slice"]] - MATRIX_POROSITY * occupied, 0.0, None)
        return frac

    def _blur(self, img: np.ndarray, wavelength_nm: float) -> np.ndarray:
        px_sigma = self.optics.lateral_fwhm_um(wavelength_nm) * FWHM_TO_SIGMA / self.grid.pixel_size_um
        return gaussian_filter(img, px_sigma, mode="nearest")

    def electrolyte_fraction(self, depth_um: float, wavelength_nm: float, states: dict | None = None) -> np.ndarray:
        """Liquid electrolyte fraction in the two-photon focal volume, weighted by the
        round-trip attenuation in the host (0-1)."""
        return self._blur(self._liquid(depth_um, wavelength_nm, states), wavelength_nm)

    def salt_m(self, depth_um: float, states: dict | None, bulk_m: float) -> np.ndarray:
        """Salt concentration (mol/L) in the focal plane at physical depth ~depth_um: the bulk plus
        each agglomerate's excess at the pixel's distance from its surface."""
        c = np.full((self.grid.ny, self.grid.nx), float(bulk_m))
        for p in self._salt_boxes:
            state = (states or {}).get(p["agg"].label)
            if state is None or len(state.salt_excess_mol_m3) == 0:
                continue
            agg = p["agg"]
            scale = (1.0 + state.volume_change) ** (1.0 / 3.0)
            d = np.stack([p["X"] - agg.center_um[0], p["Y"] - agg.center_um[1],
                          np.full(p["X"].shape, depth_um - agg.center_um[2])])
            rho = np.sqrt(np.einsum("iyx,ij,jyx->yx", d, agg.shape_matrix, d)) / scale
            distance_m = np.clip(rho - 1.0, 0.0, None) * p["radius_um"] * scale * 1e-6
            c[p["slice"]] += np.where(rho >= 1.0, state.salt_m(distance_m) - BULK_SALT_M, 0.0)
        return c

    def fluorescent_salt(self, depth_um: float, wavelength_nm: float, states: dict | None,
                         bulk_m: float) -> np.ndarray:
        """Liquid fraction x relative 2PEF yield of its salt (1 for 1 M), in the focal volume."""
        liquid = self._liquid(depth_um, wavelength_nm, states)
        return self._blur(liquid * tpef_relative(self.salt_m(depth_um, states, bulk_m)), wavelength_nm)
