"""Salt concentration above the electrode from 2PEF, against the virtual cell's salt field."""
import numpy as np
import pytest

from operando.analysis import electrolyte as E
from operando.analysis.volume import label_objects
from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.halfcell import HalfCell
from operando.ioc.cell.optics import PixelGrid
from operando.ioc.cell.state import halfcell_states

PIEZO = np.arange(10.0, 14.01, 0.25)
DEPTHS = (PIEZO - 10.0) * 1.42 / 1.518
GRID = PixelGrid(256, 256, 0.1)


def test_calibration_is_stored_with_its_source_and_inverts():
    cal = E.load_calibration()
    assert "virtual cuvette" in cal.source and "power_w" in cal.settings
    c = np.linspace(0.1, 3.9, 20)
    np.testing.assert_allclose(cal.concentration(cal.signal(c)), c, atol=1e-9)


def test_a_calibration_that_does_not_rise_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("concentration_m,relative_signal,relative_error\n0.5,0.8,0\n1.0,1.0,0\n1.5,0.9,0\n")
    with pytest.raises(ValueError, match="monoton"):
        E.load_calibration(bad)


@pytest.fixture(scope="module")
def charge():
    electrode = build_electrode(seed=1)
    cell = HalfCell(electrode)
    sample = ConfocalSample(electrode)
    light = Illumination(1020.0, 20e-3, True, True)
    rng = np.random.default_rng(3)

    def stack(states, channel="fluorescence"):
        return np.stack([sample.acquire(GRID, z, light, 10e-6, ["reflection", "fluorescence"], rng, states)[channel]
                         for z in PIEZO])

    pristine = {s.label: s for s in halfcell_states(cell)}
    reference = stack(pristine)
    refl = np.stack([sample.acquire(GRID, z, Illumination(820.0, 1e-3, False, True), 10e-6, ["reflection"], rng,
                                    pristine)["reflection"] for z in np.arange(10, 20, 0.4)])
    labels = label_objects(refl, 0.1)
    footprints = [f for f in ((labels == k).any(axis=0) for k in range(1, labels.max() + 1)) if f.sum() > 200]
    while cell.reading.time_s < 3600:
        cell.step_current(0.5 * cell.capacity_ah, 10.0)
    charged = {s.label: s for s in halfcell_states(cell)}
    return electrode, sample, reference, stack(charged), charged, footprints


def test_the_plane_above_the_electrode_is_found(charge):
    electrode, sample, reference, *_ = charge
    assert E.electrode_surface_depth(reference, DEPTHS) == pytest.approx(electrode.electrolyte_gap_um, abs=0.2)


def test_salt_excess_next_to_charging_agglomerates_within_0_05_m_and_its_extent_within_0_3_um(charge):
    electrode, sample, reference, charged_stack, charged, footprints = charge
    plane = E.electrode_surface_depth(reference, DEPTHS) - 0.3
    cal = E.load_calibration()
    delta = E.salt_map(E.plane_at(charged_stack, DEPTHS, plane), E.plane_at(reference, DEPTHS, plane), cal, 1.0) - 1.0
    truth = sample.renderer(GRID).salt_m(plane, charged, 1.0) - 1.0
    strong = 0
    for fp in footprints:
        measured, true = E.gradient_near(delta, fp, 0.1), E.gradient_near(truth, fp, 0.1)
        assert measured.near_m == pytest.approx(true.near_m, abs=0.05)
        if true.near_m >= 0.05:
            assert measured.extent_um == pytest.approx(true.extent_um, abs=0.3)
            strong += 1
    assert strong >= 2
    assert abs(E.host_delta_c(delta, footprints, 0.1) - E.host_delta_c(truth, footprints, 0.1)) < 0.02
