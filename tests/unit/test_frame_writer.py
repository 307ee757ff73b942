import h5py
import numpy as np
import pytest

from operando.ioc.frame_writer import FrameFileWriter, frame_sha256


def test_frames_append_with_checksums_and_the_file_is_never_overwritten(tmp_path):
    w = FrameFileWriter(tmp_path / "run" / "f.h5")
    frames = [np.arange(12, dtype=np.uint16).reshape(3, 4) + k for k in range(3)]
    sums = [w.append({"reflection": f}, {"z_um": float(k)})["reflection"] for k, f in enumerate(frames)]
    with h5py.File(w.path, "r") as f:
        data = f["/entry/reflection/data"][()]
        stored = [s.decode() for s in f["/entry/reflection/sha256"][()]]
        z = f["/entry/instrument/z_um"][()]
    np.testing.assert_array_equal(data, np.stack(frames))
    assert stored == sums == [frame_sha256(f) for f in frames]
    np.testing.assert_array_equal(z, [0.0, 1.0, 2.0])
    with pytest.raises(FileExistsError):
        FrameFileWriter(w.path)
