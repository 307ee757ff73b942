"""Salt around agglomerates: built by their currents, carried off by diffusion, seen by 2PEF."""
import numpy as np
import pytest

from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.electrolyte import T_PLUS, ElectrolyteShells, tpef_relative
from operando.ioc.cell.halfcell import HalfCell
from operando.ioc.cell.intercalation import FARADAY_C_MOL
from operando.ioc.cell.optics import PixelGrid
from operando.ioc.cell.state import halfcell_states


def charged(c_rate, until_v=4.2, seed=1):
    cell = HalfCell(build_electrode(seed=seed, material="LCO"))
    while cell.reading.voltage_v < until_v:
        cell.step_current(c_rate * cell.capacity_ah, 5.0)
    return cell


def first_active(cell):
    return int(np.nonzero(cell.i0_scale[cell.imaged] > 0)[0][0])


def e_folding_m(shells, k):
    prof = shells.excess[k]
    return float(np.interp(prof[0] / np.e, prof[::-1], shells.distance_m[k][::-1]))


def test_salt_released_is_what_the_current_carried_minus_what_diffused_away():
    shells = ElectrolyteShells([2e-6], reach_m=50e-6, n_shells=60)
    current = 2e-11
    for _ in range(60):
        shells.step([current], 1.0)
    released = (1 - T_PLUS) * current * 60 / FARADAY_C_MOL
    assert shells.excess_salt_mol()[0] == pytest.approx(released, rel=0.02)   # none reached 50 um yet


def test_charge_builds_excess_salt_at_lco_surfaces_that_decays_over_microns_and_relaxes_at_rest():
    """Seed 000 Fig. 6e: ~+0.25 M next to LCO agglomerates near the charged state (C/2), decaying
    over ~1.5 um, gone again at open circuit."""
    cell = charged(0.5)
    k = first_active(cell)
    e = cell.electrolyte
    assert 2.0e-6 < e.radii_m[k] < 2.6e-6
    assert 0.15 < e.excess[k, 0] / 1000 < 0.4                # mol/L at the surface
    assert 1.0e-6 < e_folding_m(e, k) < 2.5e-6
    inactive = np.nonzero(cell.i0_scale[cell.imaged] == 0)[0]
    assert np.all(np.abs(e.excess[inactive]) < 1e-9)         # no current, no salt
    fast = charged(2.0)
    assert fast.electrolyte.excess[k, 0] > 1.5 * e.excess[k, 0]
    for _ in range(90):
        cell.rest(10.0)
    assert abs(e.excess[k, 0]) / 1000 < 0.02
    while cell.reading.voltage_v > 3.8:                        # lithiation consumes salt
        cell.step_current(-0.5 * cell.capacity_ah, 5.0)
    assert e.excess[k, 0] < -50.0


def test_two_photon_fluorescence_sees_the_salt_above_the_electrode():
    cell = charged(0.5)
    electrode = build_electrode(seed=1, material="LCO")
    states = {s.label: s for s in halfcell_states(cell)}
    label = int(cell.labels[np.nonzero(cell.imaged)[0][first_active(cell)]])
    agg = next(a for a in electrode.agglomerates if a.label == label)
    sample = ConfocalSample(electrode)
    grid = PixelGrid(96, 96, 0.25, agg.center_um[0], agg.center_um[1])
    depth = electrode.electrolyte_gap_um - 0.3               # 300 nm above the host surface
    z = sample.coverslip_piezo_um + depth / sample.optics.depth_scale      # piezo reading (um)
    light = Illumination(1020.0, 20e-3, True, True)
    pristine = sample.expected_rates(grid, z, light, ["fluorescence"])["fluorescence"]
    loaded = sample.expected_rates(grid, z, light, ["fluorescence"], states)["fluorescence"]
    ratio = loaded / pristine
    centre = ratio[40:56, 40:56].mean()                      # above the agglomerate
    edge = np.concatenate([ratio[:4].ravel(), ratio[-4:].ravel()]).mean()
    assert centre > 1.05 and edge < 1.02                     # brighter next to the particle only
    doubled = sample.expected_rates(grid, z, Illumination(1020.0, 40e-3, True, True),
                                    ["fluorescence"], states)["fluorescence"]
    np.testing.assert_allclose(doubled, 4 * loaded, rtol=1e-12)   # quadratic in power


def test_fluorescence_rises_monotonically_with_concentration():
    c = np.geomspace(0.01, 4.0, 50)
    assert np.all(np.diff(tpef_relative(c)) > 0) and tpef_relative(1.0) == pytest.approx(1.0)
