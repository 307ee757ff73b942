"""Khachiyan's minimum-volume ellipsoid and the Mercator shell map."""
import numpy as np
import pytest

from operando.analysis.ellipsoid import Ellipsoid, mercator, minimum_volume_ellipsoid


def random_rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def surface_points(centre, semi_axes, rotation, n, rng):
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1)[:, None]
    return centre + (v * semi_axes) @ rotation.T


@pytest.mark.parametrize("seed", range(5))
def test_known_ellipsoids_are_recovered_and_every_point_is_enclosed(seed):
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-5, 5, 3)
    semi = np.sort(rng.uniform(1.0, 4.0, 3))[::-1]
    rot = random_rotation(rng)
    surface = surface_points(centre, semi, rot, 400, rng)
    inside = centre + (surface - centre) * rng.uniform(0, 1, (400, 1))
    pts = np.vstack([surface, inside])
    e = minimum_volume_ellipsoid(pts, tolerance=1e-6)
    assert np.all(e.contains(pts))
    np.testing.assert_allclose(e.centre, centre, atol=0.03 * semi.max())
    np.testing.assert_allclose(e.semi_axes, semi, rtol=0.03)
    truth = Ellipsoid(centre, rot @ np.diag(1 / semi ** 2) @ rot.T)
    assert e.volume == pytest.approx(truth.volume, rel=0.06)


def test_too_few_points_are_refused():
    with pytest.raises(ValueError, match="at least 4"):
        minimum_volume_ellipsoid(np.zeros((3, 3)))


def test_mercator_map_puts_a_bright_cap_at_high_latitude():
    rng = np.random.default_rng(1)
    semi = np.array([3.0, 2.0, 1.5])
    rot = random_rotation(rng)
    pts = surface_points(np.zeros(3), semi, rot, 20000, rng)
    e = Ellipsoid(np.zeros(3), rot @ np.diag(1 / semi ** 2) @ rot.T)
    along_long_axis = (pts @ rot[:, 0]) / semi[0]              # +1 at one pole of the longest axis
    values = np.where(along_long_axis > 0.8, 1.0, 0.0)
    m, lon, y = mercator(e, pts, values, n_lon=36, n_lat=18)
    filled = np.isfinite(m)
    assert filled.mean() > 0.95
    north = m[-3:][np.isfinite(m[-3:])].mean()
    south = m[:3][np.isfinite(m[:3])].mean()
    assert max(north, south) > 0.9 and min(north, south) < 0.1   # one cap bright, the other dark
    # (which pole is "north" follows the sign of the fitted axis)
