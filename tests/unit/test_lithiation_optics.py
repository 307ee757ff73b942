"""What the microscope sees changes with lithiation as seed 000 describes."""
import numpy as np
import pytest

from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.halfcell import HalfCell
from operando.ioc.cell.materials import LP30, fresnel_reflectance
from operando.ioc.cell.optics import PixelGrid
from operando.ioc.cell.reflectivity import interior_contrast, particle_index
from operando.ioc.cell.state import AgglomerateState, halfcell_states, pack_state, unpack_state


@pytest.mark.parametrize("material, x_charged", [("LCO", 0.5), ("NMC811", 0.3)])
def test_nir_surface_reflectance_rises_monotonically_by_about_20_percent_on_charge(material, x_charged):
    x = np.linspace(1.0, x_charged, 30)
    r = fresnel_reflectance(LP30.n, particle_index(material, x, 850.0))
    assert np.all(np.diff(r) > 0)
    assert 0.15 < r[-1] / r[0] - 1 < 0.25
    inner = interior_contrast(material, x, 850.0)
    assert np.all(np.diff(inner) < 0)                       # opposite trend inside


def test_visible_reflectance_is_not_monotonic():
    r = fresnel_reflectance(LP30.n, particle_index("LCO", np.linspace(1.0, 0.5, 50), 600.0))
    assert np.any(np.diff(r) > 0) and np.any(np.diff(r) < 0)


def test_state_round_trips_through_the_published_array():
    states = [AgglomerateState(3, 0.021, np.linspace(0.9, 0.6, 5)), AgglomerateState(7, -0.1, np.full(5, 0.4))]
    cell_state = unpack_state(pack_state(12.5, states, electrode_x=0.8))
    t, back = cell_state.time_s, cell_state.agglomerates
    assert t == 12.5 and cell_state.electrode_x == 0.8 and set(back) == {3, 7}
    np.testing.assert_array_equal(back[3].x_shells, states[0].x_shells)
    assert back[7].volume_change == -0.1


def test_charging_brightens_the_surface_dims_the_interior_and_swells_lco():
    electrode = build_electrode(seed=1, material="LCO")
    cell = HalfCell(electrode)
    while cell.reading.voltage_v < 4.2:
        cell.step_current(cell.capacity_ah, 10.0)
    charged = {s.label: s for s in halfcell_states(cell)}
    sample = ConfocalSample(electrode)
    grid = PixelGrid(128, 128, 0.3)
    light = Illumination(820.0, 1e-3, False, True)
    agg = next(a for a in electrode.agglomerates if a.active and abs(a.center_um[0]) < 15 and abs(a.center_um[1]) < 15)
    ix = int(round((agg.center_um[0] - grid.axes()[0][0]) / grid.pixel_size_um))
    iy = int(round((agg.center_um[1] - grid.axes()[1][0]) / grid.pixel_size_um))
    top_z = sample.coverslip_piezo_um + agg.z_extent_um[0] / sample.optics.depth_scale
    inside_z = top_z + 1.0

    def signal(z, states):
        return sample.expected_rates(grid, z, light, ["reflection"], states)["reflection"][iy - 1:iy + 2, ix - 1:ix + 2].mean()

    surface_ratio = signal(top_z, charged) / signal(top_z, None)
    inside_ratio = signal(inside_z, charged) / signal(inside_z, None)
    assert surface_ratio > 1.08
    assert inside_ratio < 0.95
    dv = charged[agg.label].volume_change
    assert 0.005 < dv < 0.05
