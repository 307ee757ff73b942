"""Shell unwrapping of an agglomerate (seed Fig. 5): shells, enclosing ellipsoids, Mercator maps."""
import numpy as np
import pytest

from operando.analysis.agglomerates import StackGeometry, Tracker
from operando.analysis.shells import unwrap
from operando.analysis.volume import label_objects
from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.optics import PixelGrid

PIEZO = np.arange(10.0, 26.0, 0.4)


@pytest.fixture(scope="module")
def unwrapped():
    electrode = build_electrode(seed=1)
    sample = ConfocalSample(electrode)
    rng = np.random.default_rng(0)
    stack = np.stack([sample.acquire(PixelGrid(512, 512, 0.08), z, Illumination(820.0, 1e-3, False, True), 10e-6,
                                     ["reflection"], rng)["reflection"] for z in PIEZO])
    geometry = StackGeometry(0.08, 0.4, 1.42, 1.518, 2.2, 820.0, 1.4, 0.7, dead_time_s=22e-9, dwell_s=10e-6)
    tracker = Tracker(geometry)
    tracker.add(stack, PIEZO, 0.0)
    labels = label_objects(stack, 0.08)
    out = []
    for track in tracker.tracks.values():
        ref = track.reference
        agg = min(electrode.agglomerates, key=lambda a: np.hypot(a.center_um[0] - ref.xy_um[0],
                                                                 a.center_um[1] - ref.xy_um[1]))
        shells = unwrap(stack, labels == ref.label, PIEZO * geometry.depth_scale, ref.apex.depth_um, ref.exit_um,
                        0.08, 2.2, 1.42)
        out.append((agg, shells))
    return out


def test_agglomerates_peel_into_half_micron_shells_outside_in(unwrapped):
    for agg, shells in unwrapped:
        assert len(shells) >= 3
        assert [s.inner_um for s in shells] == pytest.approx([0.5 * k for k in range(len(shells))])
        volumes = [s.ellipsoid.volume for s in shells]
        assert all(a > b for a, b in zip(volumes, volumes[1:]))         # each shell inside the last


def test_the_outer_shell_ellipsoid_has_the_agglomerate_size(unwrapped):
    """Equivalent radius within 12 % (the enclosing ellipsoid takes the blurred outline; its longest
    axis reads 10-28 % long)."""
    for agg, shells in unwrapped:
        measured = np.prod(shells[0].ellipsoid.semi_axes) ** (1 / 3)
        assert measured == pytest.approx(np.prod(agg.semi_axes_um) ** (1 / 3), rel=0.12), agg.label


def test_mercator_maps_cover_the_exterior(unwrapped):
    for agg, shells in unwrapped:
        assert shells[0].map.shape == (18, 36)
        assert np.isfinite(shells[0].map).mean() > 0.4
