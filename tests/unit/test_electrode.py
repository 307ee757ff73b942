import numpy as np

from operando.ioc.cell.electrode import build_electrode


def test_same_seed_gives_same_electrode_and_other_seed_differs():
    assert build_electrode(seed=3) == build_electrode(seed=3)
    assert build_electrode(seed=3).agglomerates != build_electrode(seed=4).agglomerates


def test_agglomerates_match_seed_size_range_and_do_not_overlap():
    e = build_electrode(seed=5, n_agglomerates=10)
    assert len(e.agglomerates) == 10
    for a in e.agglomerates:
        assert 2.5 / 2 - 1e-9 <= max(a.semi_axes_um) <= 7.5 / 2 + 1e-9
        assert a.z_extent_um[0] > e.electrolyte_gap_um
    for i, a in enumerate(e.agglomerates):
        for b in e.agglomerates[i + 1:]:
            gap = np.linalg.norm(np.subtract(a.center_um, b.center_um))
            assert gap > max(a.semi_axes_um) + max(b.semi_axes_um)


def test_volume_matches_monte_carlo_within_2_percent():
    a = build_electrode(seed=2).agglomerates[0]
    rng = np.random.default_rng(0)
    half = np.array([*a.xy_half_extent_um, (a.z_extent_um[1] - a.z_extent_um[0]) / 2])
    pts = np.asarray(a.center_um) + rng.uniform(-1, 1, size=(400_000, 3)) * half
    mc = a.contains(pts).mean() * np.prod(2 * half)
    assert abs(mc / a.volume_um3 - 1) < 0.02


def test_column_intersections_bound_the_ellipsoid():
    a = build_electrode(seed=2).agglomerates[1]
    x = np.linspace(a.center_um[0] - 4, a.center_um[0] + 4, 41)
    X, Y = np.meshgrid(x, x - a.center_um[0] + a.center_um[1])
    inside, top, bottom, cos_top, _ = a.column_intersections(X, Y)
    assert inside.any() and not inside.all()
    mid = np.stack([X[inside], Y[inside], (top[inside] + bottom[inside]) / 2], axis=1)
    assert a.contains(mid).all()
    above = np.stack([X[inside], Y[inside], top[inside] - 1e-3], axis=1)
    assert not a.contains(above).any()
    assert np.all((cos_top[inside] > 0) & (cos_top[inside] <= 1 + 1e-12))
