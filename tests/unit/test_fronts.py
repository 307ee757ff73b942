"""Front velocity from a depth x time signal: known fronts recovered, uniform changes recognised."""
import numpy as np
import pytest

from operando.analysis.fronts import crossing_times, front_velocity


def synthetic(v_nm_s, depths_um, times_s, width_s=120.0, t0_s=1000.0, noise=0.0, seed=0):
    t = np.asarray(times_s)[:, None]
    arrival = t0_s + np.asarray(depths_um)[None, :] * 1e3 / v_nm_s
    signal = np.tanh((t - arrival) / width_s)
    return signal + np.random.default_rng(seed).normal(0, noise, signal.shape)


def test_a_known_front_is_recovered_with_its_sign():
    depths = np.linspace(0, 2.0, 9)
    times = np.arange(0, 3000, 20.0)
    out = front_velocity(depths, times, synthetic(4.0, depths, times))
    assert not out.uniform
    assert out.velocity_nm_s == pytest.approx(4.0, rel=0.01)
    back = front_velocity(depths[::-1], times, synthetic(4.0, depths, times))   # deepest first: core-first
    assert back.velocity_nm_s == pytest.approx(-4.0, rel=0.01)


def test_noise_gives_an_error_that_covers_the_truth():
    """9 depths -> 7 degrees of freedom: |v - v_true| < t(0.975, 7) = 2.36 standard errors ~95 % of the time."""
    depths = np.linspace(0, 2.0, 9)
    times = np.arange(0, 3000, 20.0)
    hits = 0
    for seed in range(100):
        out = front_velocity(depths, times, synthetic(3.0, depths, times, noise=0.05, seed=seed))
        hits += abs(out.velocity_nm_s - 3.0) <= 2.36 * out.velocity_error_nm_s
    assert hits >= 88


def test_all_depths_changing_together_is_uniform():
    depths = np.linspace(0, 2.0, 9)
    times = np.arange(0, 3000, 20.0)
    out = front_velocity(depths, times, synthetic(1e6, depths, times))
    assert out.uniform and out.spread_s < 60


def test_crossing_times_interpolate_and_skip_flat_columns():
    t = np.array([0.0, 10.0, 20.0])
    s = np.array([[0.0, 1.0], [0.25, 1.0], [1.0, 1.0]])
    tc = crossing_times(t, s)
    assert tc[0] == pytest.approx(10.0 + 10.0 * (0.5 - 0.25) / 0.75) and np.isnan(tc[1])
