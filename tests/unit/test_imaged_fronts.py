"""Surface-to-core fronts measured from rendered stacks of a charging (and a discharging)
agglomerate, against the front of the virtual cell's own shells (analysis.fronts.state_front, same
stacks, same depths).

Seed 1, agglomerate 3 (7.1 um, the size the seed measured fronts on), 12 x 12 um field of 80 nm
pixels, 0.3 um z steps, 820 nm at 1 mW. Stacks every ~90 s (C/2) to ~25 s (2C) of cell time.
"""
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from operando.analysis.agglomerates import StackGeometry, Tracker
from operando.analysis.fronts import crossing_times, state_front, time_resolution_s, track_front
from operando.ioc.cell.apd import CHANNELS
from operando.ioc.cell.confocal import COVERSLIP_PIEZO_UM, ConfocalSample, Illumination
from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.halfcell import HalfCell
from operando.ioc.cell.optics import PixelGrid
from operando.ioc.cell.state import halfcell_states

PIEZO = np.arange(10.0, 22.0, 0.3)
GEOMETRY = StackGeometry(0.08, 0.3, 1.42, 1.518, 2.2, 820.0, 1.4, 0.7)
DWELL_S = 10e-6
LABEL = 3


def _cycle(c_rate: float, n_stacks: int, lithiate: bool = False):
    """States of the cell every 1/n_stacks of a nominal half-cycle: a charge up to 4.2 V, or (with
    ``lithiate``) after such a charge and 10 minutes' rest, a discharge down to 3.6 V."""
    electrode = build_electrode(seed=1)
    cell = HalfCell(electrode, seed=1)
    current = c_rate * cell.capacity_ah
    if lithiate:
        while cell.reading.voltage_v < 4.2:
            cell.step_current(current, 10.0)
        for _ in range(60):
            cell.rest(10.0)
        current = -current
    interval = 1800.0 / c_rate / n_stacks
    times, states = [], []
    while True:
        times.append(cell.reading.time_s)
        states.append({s.label: s for s in halfcell_states(cell)})
        if (cell.reading.voltage_v <= 3.6) if lithiate else (cell.reading.voltage_v >= 4.2):
            return electrode, np.array(times), states
        for _ in range(5):
            cell.step_current(current, interval / 5)


@lru_cache(maxsize=None)
def _measured_and_true(c_rate: float, n_stacks: int, noise: bool, lithiate: bool = False, dwell_s: float = DWELL_S):
    electrode, times, states = _cycle(c_rate, n_stacks, lithiate)
    agg = next(a for a in electrode.agglomerates if a.label == LABEL)
    grid = PixelGrid(150, 150, 0.08, agg.center_um[0], agg.center_um[1])
    sample = ConfocalSample(electrode)
    light = Illumination(820.0, 1e-3, False, True)
    rng = np.random.default_rng(0)
    apd = CHANNELS["reflection"]
    # Counted frames carry the detector's dead time, which the analysis corrects for.
    tracker = Tracker(replace(GEOMETRY, dead_time_s=apd.dead_time_s, dwell_s=dwell_s) if noise else GEOMETRY)
    for t, state in zip(times, states):
        rates = np.stack([sample.expected_rates(grid, z, light, ["reflection"], state)["reflection"] for z in PIEZO])
        # Noise-free: the expected counts (what an infinite number of scans would average to).
        stack = apd.count(rates, dwell_s, rng) if noise else rates * dwell_s * apd.quantum_efficiency
        tracker.add(stack, PIEZO, float(t))
    track = min(tracker.tracks.values(), key=lambda tk: np.hypot(*tk.reference.xy_um))
    front = track_front(track, range(len(times)))
    # Truth: the cell's shells along the central vertical, at the measured shells' depths.
    _, top, bottom, *_ = agg.column_intersections(np.array([agg.center_um[0]]), np.array([agg.center_um[1]]))
    x = np.array([s[LABEL].x_shells for s in states])[track.start:]
    n = x.shape[1]
    depth = (1 - (np.arange(n) + 0.5) / n) * 0.5 * float(bottom[0] - top[0])
    use = (depth >= front.depth_um.min()) & (depth <= front.depth_um.max())
    truth = state_front(depth[use], times[track.start:], x[:, use])
    return front, truth, track, (depth, crossing_times(times[track.start:], x)), (agg, grid)


@pytest.mark.parametrize("c_rate", [0.5, 1.0, 2.0])
def test_front_velocity_from_expected_counts_is_within_20_percent(c_rate):
    """Measured (seed 1): 2.64 vs 2.75, 5.05 vs 5.19, 9.79 vs 9.73 nm/s (-4 to +1 %)."""
    front, truth, *_ = _measured_and_true(c_rate, 20, noise=False)
    assert not front.uniform and not truth.uniform
    assert front.velocity_nm_s == pytest.approx(truth.velocity_nm_s, rel=0.2)
    assert front.depth_um.size >= 8


def test_shell_crossings_follow_the_truth_at_their_depths():
    """Each shell crosses within 40 s of the truth at its depth (measured: 9-25 s, 1C)."""
    front, _, _, (depth, tc), _ = _measured_and_true(1.0, 20, noise=False)
    expected = np.interp(front.depth_um, depth[::-1], tc[::-1])
    assert np.max(np.abs(front.crossing_time_s - expected)) < 40.0


def test_front_velocity_with_photon_noise_has_an_honest_error():
    """Counting noise at 10 us dwell: 1C with a stack every ~25 s of cell time gives
    5.20 +- 0.62 vs 5.12 nm/s (one noise realisation); the truth lies within 2.5 standard errors
    and 20 %, and the error itself is under 20 % (not a pass by a huge error bar)."""
    front, truth, *_ = _measured_and_true(1.0, 70, noise=True)
    assert abs(front.velocity_nm_s - truth.velocity_nm_s) <= 2.5 * front.velocity_error_nm_s
    assert front.velocity_nm_s == pytest.approx(truth.velocity_nm_s, rel=0.2)
    assert front.velocity_error_nm_s < 0.2 * truth.velocity_nm_s


def test_lco_lithiation_is_measured_uniform():
    """Seed Fig. 4b: LCO lithiates all depths together. The truth's shells pass the midway level
    within 60 s (measured: 7 s) at 1C; from expected counts the shells' crossings span less than
    the stack interval (measured: 69 vs 94 s; per-shell normalisation sees the surface ending
    slightly more lithiated than the core)."""
    front, truth, *_ = _measured_and_true(1.0, 20, noise=False, lithiate=True)
    assert truth.uniform and truth.spread_s < 60.0
    assert front.uniform, f"{front.velocity_nm_s:.2f} nm/s, spread {front.spread_s:.0f} s"


def test_lco_lithiation_with_photon_noise_is_consistent_with_uniform():
    """Counting noise at 30 us dwell: the fitted crossing spread over the shells' depths lies within
    the stack interval by two standard errors, and that error is under 300 s (measured:
    107 +- 123 s against a 94 s interval)."""
    front, truth, track, *_ = _measured_and_true(1.0, 20, noise=True, lithiate=True, dwell_s=30e-6)
    assert truth.uniform
    resolution = time_resolution_s(track.times_s[track.start:])
    if not front.uniform:
        span_nm = np.ptp(front.depth_um) * 1e3
        spread = span_nm / abs(front.velocity_nm_s)
        error = span_nm * front.velocity_error_nm_s / front.velocity_nm_s ** 2
        assert error < 300.0 and spread - 2 * error <= resolution, f"spread {spread:.0f} +- {error:.0f} s"


def test_voxels_go_to_the_shell_of_their_true_depth():
    """Every voxel's true normalised radius (from the simulator's ellipsoid) against the shell it was
    put in: per shell, mean true depth within 0.06 um of the shell's and spread under 0.15 um
    (measured: within 0.04, spread 0.04-0.11)."""
    _, _, track, _, (agg, grid) = _measured_and_true(1.0, 20, noise=False)
    shells = track.shells
    k, y, x = np.unravel_index(shells.index, (PIEZO.size, grid.ny, grid.nx))
    gx, gy = grid.axes()
    X, Y = gx[x], gy[y]
    _, top, bottom, *_ = agg.column_intersections(X, Y)
    apparent = (PIEZO[k] - COVERSLIP_PIEZO_UM) * GEOMETRY.depth_scale
    z = top + (apparent - top) * GEOMETRY.n_particle / GEOMETRY.n_medium
    d = np.stack([X - agg.center_um[0], Y - agg.center_um[1], z - agg.center_um[2]])
    rho = np.sqrt(np.einsum("in,ij,jn->n", d, np.asarray(agg.shape_matrix), d))
    _, t0, b0, *_ = agg.column_intersections(np.array([agg.center_um[0]]), np.array([agg.center_um[1]]))
    true_depth = (1 - rho) * 0.5 * float(b0[0] - t0[0])
    for s, centre in enumerate(shells.depth_um):
        inside = shells.shell == s
        if inside.sum() < 30:
            continue
        assert abs(true_depth[inside].mean() - centre) < 0.06, f"shell at {centre:.2f} um"
        assert true_depth[inside].std() < 0.15
