"""Stack preparation: projection, attenuation correction, axial scale, drift registration."""
import numpy as np
from scipy import ndimage

from operando.analysis.stack_prep import (attenuation_corrected, drift_um, max_intensity_projection,
                                          physical_depth_um, registered)


def blobs(shape=(24, 64, 64), seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros(shape)
    for _ in range(12):
        z, y, x = (rng.integers(4, s - 4) for s in shape)
        img[z, y, x] = rng.uniform(50, 100)
    return ndimage.gaussian_filter(img, (1.5, 2.5, 2.5)) * 100


def test_mip_and_attenuation_correction_restore_a_uniform_stack():
    depth = np.linspace(0, 10, 11)
    flat = np.ones((11, 4, 4))
    lossy = flat * np.exp(-2 * 0.05 * np.clip(depth - 2, 0, None))[:, None, None]
    np.testing.assert_allclose(attenuation_corrected(lossy, depth, 0.05, from_depth_um=2.0), flat)
    assert max_intensity_projection(lossy).shape == (4, 4)


def test_focus_moves_by_the_index_ratio():
    np.testing.assert_allclose(physical_depth_um([10.0, 20.0], 10.0, 1.42, 1.518), [0.0, 10 * 1.42 / 1.518])


def test_a_known_subvoxel_drift_is_found_and_undone():
    voxel = (0.4, 0.1, 0.1)
    ref = blobs()
    true = np.array([0.5, -0.23, 0.37])                        # um
    moved = ndimage.shift(ref, true / np.asarray(voxel), order=3, mode="nearest")
    found = drift_um(ref, moved, voxel)
    assert np.all(np.abs(found - true) <= 0.1 * np.asarray(voxel)), (found, true)
    back = registered(moved, found, voxel)
    core = (slice(4, -4), slice(8, -8), slice(8, -8))
    assert np.abs(back[core] - ref[core]).max() < 0.1 * ref.max()
