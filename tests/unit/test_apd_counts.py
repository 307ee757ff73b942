import numpy as np

from operando.ioc.cell.apd import REFLECTION_APD, photon_rate_cps

QE = REFLECTION_APD.quantum_efficiency


def test_counts_are_poisson_where_dead_time_is_negligible():
    rng = np.random.default_rng(0)
    c = REFLECTION_APD.count(np.full(200_000, 5e5 / QE), 10e-6, rng).astype(float)   # ~5 counts
    assert abs(c.mean() - 5.0) < 0.05
    assert abs(c.var() / c.mean() - 1) < 0.05


def test_dead_time_loses_counts_as_a_non_paralysable_detector():
    rng = np.random.default_rng(0)
    c = REFLECTION_APD.count(np.full(200_000, 5e6 / QE), 10e-6, rng).astype(float)   # 50 counts in
    expected = 50 / (1 + 50 * REFLECTION_APD.dead_time_s / 10e-6)                     # ~45 out
    assert abs(c.mean() - expected) < 0.3


def test_counts_saturate_at_the_dead_time_limit():
    rng = np.random.default_rng(0)
    c = REFLECTION_APD.count(np.full(1000, 1e12), 10e-6, rng)
    assert c.dtype == np.uint16
    limit = 10e-6 / REFLECTION_APD.dead_time_s
    assert np.all(c <= limit + 1) and c.mean() > 0.95 * limit


def test_photon_rate_of_one_milliwatt_at_820_nm():
    assert abs(photon_rate_cps(1e-3, 820) / 4.128e15 - 1) < 1e-3
