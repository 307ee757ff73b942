import numpy as np
import pytest

from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import Agglomerate, Electrode
from operando.ioc.cell.materials import LP30
from operando.ioc.cell.optics import ConfocalOptics, ConfocalRenderer, PixelGrid

SPHERE = Agglomerate(1, "LCO", (0.0, 0.0, 5.0), (2.5, 2.5, 2.5), tuple(map(tuple, np.eye(3))))
ELECTRODE = Electrode("LCO", (SPHERE,), electrolyte_gap_um=1.5)
GRID = PixelGrid(64, 64, 0.1)


def test_psf_widths_for_seed_objective_at_820_nm():
    opt = ConfocalOptics()
    assert 0.2 < opt.lateral_fwhm_um(820) < 0.3      # ~0.41 lambda/NA
    assert 0.35 < opt.axial_fwhm_um(820) < 0.7
    assert opt.axial_fwhm_um(1020) > opt.axial_fwhm_um(820)


def test_top_surface_echo_peaks_at_its_depth_and_interior_is_compressed():
    r = ConfocalRenderer(ELECTRODE, GRID)
    depths = np.arange(0.0, 12.0, 0.05)
    profile = np.array([r.reflection(d, 820)[32, 32] for d in depths])
    top = depths[np.argmax(profile)]
    assert abs(top - 2.5) < 0.06
    # Exit face appears at z_top + thickness * n_e / n_p (paraxial focal shift).
    bottom_expected = 2.5 + 5.0 * LP30.n / SPHERE.medium.n
    later = depths > top + 1.0
    bottom = depths[later][np.argmax(profile[later])]
    assert abs(bottom - bottom_expected) < 0.1
    # Attenuation: the exit face echo is weaker than the entry face echo.
    assert profile[later].max() < 0.5 * profile.max()


def test_closed_shutter_gives_only_dark_counts():
    s = ConfocalSample(ELECTRODE)
    rng = np.random.default_rng(1)
    dark = s.acquire(GRID, 12.5, Illumination(820, 1e-3, False, False), 1e-4, ["reflection"], rng)
    # 250 cps dark rate x 100 us x 4096 pixels ~ 100 counts in total
    assert 40 < dark["reflection"].sum() < 200


def test_two_photon_fluorescence_needs_pulses_and_scales_with_power_squared():
    s = ConfocalSample(ELECTRODE)
    z = 10.5  # focus in the electrolyte gap
    cw = s.expected_rates(GRID, z, Illumination(1020, 5e-3, False, True), ["fluorescence"])["fluorescence"]
    p1 = s.expected_rates(GRID, z, Illumination(1020, 5e-3, True, True), ["fluorescence"])["fluorescence"]
    p2 = s.expected_rates(GRID, z, Illumination(1020, 1e-2, True, True), ["fluorescence"])["fluorescence"]
    vis = s.expected_rates(GRID, z, Illumination(800, 5e-3, True, True), ["fluorescence"])["fluorescence"]
    assert cw.max() == 0 and vis.max() == 0
    assert p1.mean() > 1e5
    np.testing.assert_allclose(p2 / p1, 4.0, rtol=1e-9)


@pytest.mark.parametrize("wavelength_nm, seen", [(820, True), (680, False)])
def test_reflection_channel_sees_only_its_band(wavelength_nm, seen):
    s = ConfocalSample(ELECTRODE)
    rate = s.expected_rates(GRID, 12.6, Illumination(wavelength_nm, 1e-3, False, True), ["reflection"])
    assert (rate["reflection"].max() > 0) == seen
