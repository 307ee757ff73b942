"""Stack preparation: projection, attenuation correction, axial scale, drift registration."""
import numpy as np
from scipy import ndimage

from operando.analysis.stack_prep import (attenuation_corrected, drift_um, fourier_shifted,
                                          max_intensity_projection, physical_depth_um)


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
    back = fourier_shifted(moved, -found / np.asarray(voxel))
    core = (slice(4, -4), slice(8, -8), slice(8, -8))
    assert np.abs(back[core] - ref[core]).max() < 0.1 * ref.max()


def test_the_virtual_samples_drift_is_registered_from_its_stacks():
    """Counted stacks of the virtual electrode (seed 1, 24 x 24 um field, 20 us dwell) from two
    planes above the coverslip: lateral drift found within 15 nm (phase correlation of the
    windowed projections; measured 3-6 nm), axial within 5 nm (coverslip reflection; 2-3 nm)."""
    from operando.analysis.stack_prep import Registration, coverslip_piezo_um
    from operando.ioc.cell.apd import CHANNELS
    from operando.ioc.cell.confocal import COVERSLIP_PIEZO_UM, ConfocalSample, Illumination
    from operando.ioc.cell.electrode import build_electrode
    from operando.ioc.cell.optics import PixelGrid

    sample = ConfocalSample(build_electrode(seed=1), drift_um_per_h=(0.8, -0.5, 2.0))
    grid = PixelGrid(300, 300, 0.08, 0.0, 3.0)
    light = Illumination(820.0, 1e-3, False, True)
    piezo = np.arange(9.4, 20.21, 0.3)
    rng = np.random.default_rng(1)

    def stack(elapsed_s):
        drift = sample.drift_um(elapsed_s)
        rates = [sample.expected_rates(grid, z, light, ["reflection"], None, drift)["reflection"] for z in piezo]
        return CHANNELS["reflection"].count(np.stack(rates), 20e-6, rng)

    registration = Registration(grid.pixel_size_um)
    first = stack(0.0)
    assert abs(coverslip_piezo_um(first, piezo) - COVERSLIP_PIEZO_UM) < 0.005
    assert registration.measure(first, piezo) == (0.0, 0.0, 0.0)
    for elapsed in (120.0, 600.0):
        found = np.array(registration.measure(stack(elapsed), piezo))
        true = sample.drift_um(elapsed)
        assert np.all(np.abs(found[:2] - true[:2]) < 0.015), (found, true)
        assert abs(found[2] - true[2]) < 0.005, (found, true)
    assert np.isnan(coverslip_piezo_um(first[2:], piezo[2:]))        # coverslip not in the stack: no axial drift


def test_registration_moves_frames_back_laterally_onto_the_first_stacks_pixels():
    from operando.analysis.stack_prep import Registration

    ref = blobs()
    true = (0.37, -0.21, 0.5)                                # um: x, y and z (z is left to the analyses)
    moved = ndimage.shift(ref, (0.0, true[1] / 0.1, true[0] / 0.1), order=3, mode="nearest")
    back = Registration(0.1).apply({"reflection": moved}, true)["reflection"]
    core = (slice(4, -4), slice(8, -8), slice(8, -8))
    assert back.dtype == np.float32
    assert np.abs(back[core] - ref[core]).max() < 0.02 * ref.max()
