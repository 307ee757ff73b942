"""Delta V / V of agglomerates from simulated stacks, against the virtual cell's truth."""
import numpy as np
import pytest

from operando.analysis.agglomerates import StackGeometry, Tracker
from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.halfcell import HalfCell
from operando.ioc.cell.optics import PixelGrid
from operando.ioc.cell.state import halfcell_states

PIEZO = np.arange(10.0, 26.0, 0.4)


def _stack(electrode, states, seed):
    sample = ConfocalSample(electrode)
    light = Illumination(820.0, 1e-3, False, True)
    rng = np.random.default_rng(seed)
    return np.stack([sample.acquire(PixelGrid(512, 512, 0.08), z, light, 10e-6, ["reflection"], rng, states)
                     ["reflection"] for z in PIEZO])


def _charged(material, seed, until_v):
    electrode = build_electrode(seed=seed, material=material)
    cell = HalfCell(electrode)
    pristine = {s.label: s for s in halfcell_states(cell)}
    while cell.reading.voltage_v < until_v:
        cell.step_current(0.5 * cell.capacity_ah, 10.0)
    return electrode, pristine, {s.label: s for s in halfcell_states(cell)}


def _tracked(electrode, geometry, stacks):
    tracker = Tracker(geometry)
    for k, stack in enumerate(stacks):
        changes = tracker.add(stack, PIEZO, float(k))
    out = {}
    for c in changes:
        ref = tracker.tracks[c.ident].reference
        agg = min(electrode.agglomerates, key=lambda a: np.hypot(a.center_um[0] - ref.xy_um[0],
                                                                 a.center_um[1] - ref.xy_um[1]))
        out[agg.label] = (agg, c, tracker.tracks[c.ident], c.ident in tracker.inactive())
    return out


@pytest.fixture(scope="module")
def lco():
    electrode, pristine, charged = _charged("LCO", 1, 4.2)
    geometry = StackGeometry(0.08, 0.4, 1.42, 1.518, 2.2, 820.0, 1.4, 0.7, dead_time_s=22e-9, dwell_s=10e-6)
    return electrode, charged, _tracked(electrode, geometry, [_stack(electrode, pristine, 0),
                                                              _stack(electrode, charged, 1)])


def test_lco_swelling_at_the_top_of_a_c2_charge_is_measured_within_half_a_point(lco):
    """Agglomerates of 3.5 um and more (seed 1: truth +2.9 to +3.5 %): all but one within 0.5
    percentage points and none beyond 0.75 (measured +0.30, +0.52, +0.18, -0.06, -0.09: the
    3.8 um agglomerate 2 reads high in every setting tried, grain texture under its surface,
    docs/analysis.md); 3-3.5 um ones within 2 points (the 3.2 um one: +0.9)."""
    electrode, charged, tracked = lco
    errors = []
    for label, (agg, change, track, _) in tracked.items():
        diameter = 2 * np.prod(agg.semi_axes_um) ** (1 / 3)
        truth = charged[label].volume_change
        if not agg.active:
            continue
        assert 0 < change.dv_v_error < 0.015
        if diameter >= 3.5:
            errors.append(abs(change.dv_v - truth))
        else:
            assert change.dv_v == pytest.approx(truth, abs=0.02), f"agglomerate {label} ({diameter:.1f} um)"
    assert len(errors) >= 4
    assert sum(e > 0.005 for e in errors) <= 1 and max(errors) < 0.0075, np.round(np.array(errors) * 100, 2)


def test_inactive_agglomerates_keep_their_volume_and_are_recognised(lco):
    electrode, charged, tracked = lco
    inactive = [(label, c, flagged) for label, (agg, c, _, flagged) in tracked.items() if not agg.active]
    assert inactive
    for label, change, flagged in inactive:
        assert abs(change.dv_v) < 0.005 and flagged
    flagged_active = [label for label, (agg, c, _, flagged) in tracked.items() if agg.active and flagged]
    assert not flagged_active


def test_half_heights_come_from_the_exit_face_with_the_pristine_index(lco):
    """Within 6 % of the true top-to-centre distance. Measured: 2-5.3 % short (0.04-0.09 um), all
    agglomerates: a known bias of the entry/exit peak positions, not found yet (it adds 2-5 % of
    relative error to Delta V / V)."""
    electrode, charged, tracked = lco
    for agg, change, track, _ in tracked.values():
        true = agg.center_um[2] - agg.z_extent_um[0]
        assert track.half_height_um == pytest.approx(true, rel=0.06)


def test_nmc811_shrinks_by_about_ten_percent_and_the_analysis_sees_it():
    """NMC811 at 4.3 V (truth -8.5 to -12.4 %): measured within 15 % of the truth (measured: 8 % at
    most, with the counts corrected for the detectors' dead time; 24 % without)."""
    electrode, pristine, charged = _charged("NMC811", 2, 4.3)
    geometry = StackGeometry(0.08, 0.4, 1.42, 1.518, 2.3, 820.0, 1.4, 0.7, dead_time_s=22e-9, dwell_s=10e-6)
    tracked = _tracked(electrode, geometry, [_stack(electrode, pristine, 0), _stack(electrode, charged, 1)])
    active = [(charged[label].volume_change, c.dv_v) for label, (agg, c, _, _) in tracked.items() if agg.active]
    assert len(active) >= 4
    for truth, measured in active:
        assert measured == pytest.approx(truth, rel=0.15)


def test_a_drifting_sample_reads_the_same_volume_changes_once_registered():
    """The same charge imaged with the sample drifted by (0.12, -0.08, 0.02) um (minutes of a settled
    microscope) and without: registered (analysis.stack_prep.Registration: moved back laterally in
    the Fourier domain; the surfaces found moved back by the axial drift), every tracked
    agglomerate's Delta V / V within 0.25 pp of the undrifted reading (expected counts, 0.3 um steps
    from two planes above the coverslip; measured: within 0.21 pp); unregistered, the 20 nm of
    focus drift alone reads as ~ -1.5 pp."""
    from operando.analysis.stack_prep import Registration

    electrode, pristine, charged = _charged("LCO", 1, 4.2)
    sample = ConfocalSample(electrode)
    light = Illumination(820.0, 1e-3, False, True)
    grid = PixelGrid(400, 400, 0.08, 0.0, 3.0)
    piezo = np.arange(9.4, 20.21, 0.3)
    geometry = StackGeometry(0.08, 0.3, 1.42, 1.518, 2.2, 820.0, 1.4, 0.7)

    def stack(states, drift=None):
        return np.stack([sample.expected_rates(grid, z, light, ["reflection"], states, drift)["reflection"]
                         for z in piezo]) * 10e-6 * 0.6

    def dv_v(stacks, register):
        tracker, registration = Tracker(geometry), Registration(grid.pixel_size_um)
        for k, s in enumerate(stacks):
            drift = registration.measure(s, piezo) if register else (0.0, 0.0, 0.0)
            changes = tracker.add(registration.apply({"r": s}, drift)["r"], piezo, float(k), axial_drift_um=drift[2])
        return {c.ident: c.dv_v * 100 for c in changes}

    still = dv_v([stack(pristine), stack(charged)], register=False)
    drifted = [stack(pristine), stack(charged, (0.12, -0.08, 0.02))]
    registered = dv_v(drifted, register=True)
    assert len(still) >= 5 and set(registered) == set(still)
    for ident in still:
        assert abs(registered[ident] - still[ident]) < 0.25, (ident, registered[ident], still[ident])
    unregistered = dv_v(drifted, register=False)
    assert np.median([unregistered[i] - still[i] for i in still]) < -1.0
