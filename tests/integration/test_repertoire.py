"""The rest of the plan repertoire on the simulated instrument, stored in Tiled."""
import numpy as np
import pytest

from operando.plans.dark import dark_frames
from operando.plans.electrolyte import electrolyte_stack
from operando.plans.positions import multi_position
from operando.plans.relaxation import gitt, ocv_relax
from operando.plans.spectral import spectral_reflectivity

pytestmark = pytest.mark.integration
SMALL = dict(pixels=(64, 64), pixel_size_um=0.25, pixel_dwell_s=2e-6)


def stored(instrument, uid):
    instrument["writer"].flush()
    run = instrument["client"]["raw"][uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    return run


def test_spectral_reflectivity_surface_and_interior(instrument):
    scope = instrument["scope"]
    (uid,) = instrument["RE"](spectral_reflectivity(scope, [700.0, 820.0, 900.0], z_surface_um=12.0,
                                                    z_interior_um=14.0, **SMALL))
    run = stored(instrument, uid)
    table = run["primary"].read()
    np.testing.assert_allclose(table["confocal_laser_wavelength_nm"].values, [700, 700, 820, 820, 900, 900])
    assert [str(f) for f in table["focus"].values] == ["surface", "interior"] * 3
    assert run.metadata["start"]["plan_name"] == "spectral_reflectivity"
    assert scope.laser.shutter.get(use_monitor=False) == "Closed"


def test_electrolyte_stack_records_reflection_and_two_photon_fluorescence(instrument):
    scope = instrument["scope"]
    (uid,) = instrument["RE"](electrolyte_stack(scope, 10.0, 12.0, 0.5, **SMALL))
    run = stored(instrument, uid)
    fluo = np.asarray(run["primary"]["confocal_apd_fluorescence"].read())
    refl = np.asarray(run["primary"]["confocal_apd_reflection"].read())
    assert fluo.shape == refl.shape == (5, 64, 64)
    assert fluo[1].mean() > 1.3 * fluo[-1].mean() > 0       # liquid gap bright, porous host below dimmer
    assert run.metadata["start"]["plan_args"]["pulsed"] is True


def test_dark_frames_count_only_dark_counts(instrument):
    (uid,) = instrument["RE"](dark_frames(instrument["scope"], 3, **SMALL))
    run = stored(instrument, uid)
    frames = np.asarray(run["primary"]["confocal_apd_reflection"].read())
    assert frames.shape == (3, 64, 64)
    assert frames.mean() < 0.05                               # 50 counts/s dark x 2 us dwell


def test_multi_position_tags_planes_with_their_position(instrument):
    positions = [{"name": "left", "x_um": -8.0, "y_um": 0.0, "z_stop_um": 11.0},
                 {"name": "right", "x_um": 8.0, "y_um": 0.0, "z_start_um": 11.0, "z_stop_um": 13.0}]
    (uid,) = instrument["RE"](multi_position(instrument["scope"], positions, z_start_um=10.0, z_step_um=0.5, **SMALL))
    run = stored(instrument, uid)
    table = run["primary"].read()
    assert [str(p) for p in table["stack_position_name"].values] == ["left"] * 3 + ["right"] * 5
    np.testing.assert_allclose(table["confocal_xy_x"].values, [-8.0] * 3 + [8.0] * 5, atol=1e-6)


def test_gitt_stacks_after_every_relaxation(instrument, pstat):
    positions = [{"name": "A", "x_um": -8.0, "y_um": -8.0}]
    plan = gitt(instrument["scope"], pstat, positions, pulse="Charge at 1C", pulse_s=300, rest_s=600, pulses=3,
                z_start_um=10.0, z_stop_um=11.0, z_step_um=0.5, accel=600, sample_rate_hz=20, operator="pytest",
                **SMALL)
    (uid,) = instrument["RE"](plan)
    run = stored(instrument, uid)
    tele = run["potentiostat"].read()
    seq = tele["pstat_seq_num"].values
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    stacks = run["stacks"].read()
    assert len(stacks["stack_summary_index"]) == 3
    np.testing.assert_allclose(stacks["stack_summary_start_current_a"].values, 0.0, atol=1e-12)   # at rest
    v = stacks["stack_summary_start_voltage_v"].values
    assert np.all(np.diff(v) > 0)                            # each pulse charged the cell further
    steps, current = tele["pstat_step_index"].values, tele["pstat_current_a"].values
    assert len(set(steps[current > 0])) == 3                 # three pulses, each once
    t = tele["pstat_time_s"].values
    back = np.nonzero(np.diff(t) < 0)[0]
    # Open circuit between techniques recorded too; on failure, say where time went back.
    assert back.size == 0, [(int(i), seq[i - 2:i + 3].tolist(), t[i - 2:i + 3].tolist(), steps[i - 2:i + 3].tolist())
                            for i in back[:3]]
    assert run.metadata["start"]["plan_name"] == "gitt" and run.metadata["start"]["c_rate"] == 1.0


def test_ocv_relax_records_the_voltage_settling(instrument, pstat):
    from operando.plans.cycling import run_protocol
    instrument["RE"](run_protocol(pstat, "Charge at 2C for 5 minutes", accel=600, sample_rate_hz=20))
    (uid,) = instrument["RE"](ocv_relax(pstat, 1200, accel=600, sample_rate_hz=20))
    run = stored(instrument, uid)
    v = run["potentiostat"].read()["pstat_voltage_v"].values
    assert v[0] > v[-1] and abs(v[-1] - v[-2]) < abs(v[1] - v[0])      # falls and settles after a charge
