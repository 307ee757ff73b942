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


def test_frames_append_while_a_reader_holds_the_file_open_in_another_process(tmp_path):
    """Tiled and the live analysis open the file (HDF5's default: with a lock) while the IOC appends;
    the writer must not wait for, or fail on, their lock (seen: 'unable to lock file, errno = 11')."""
    import subprocess
    import sys

    w = FrameFileWriter(tmp_path / "f.h5")
    w.append({"image": np.zeros((2, 2), np.uint16)}, {"t": 0.0})
    reader = subprocess.Popen([sys.executable, "-c", "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); "
                               "print('open', flush=True); sys.stdin.read()", str(w.path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        w.append({"image": np.ones((2, 2), np.uint16)}, {"t": 1.0})
    finally:
        reader.communicate("")
    assert w.frames_written == 2


def test_a_block_that_would_take_the_disk_below_its_reserve_is_refused_whole(tmp_path):
    """Disk full: the writer refuses before writing any of the block (ENOSPC, the free space and
    reserve in the message); the frames already in the file stay readable."""
    import errno
    import shutil

    w = FrameFileWriter(tmp_path / "f.h5")
    w.append({"image": np.full((4, 4), 7, np.uint16)}, {"t": 0.0})
    w.min_free_bytes = shutil.disk_usage(tmp_path).free + 2**30
    with pytest.raises(OSError, match=r"MB free; writing .* would leave less than the reserve") as info:
        w.append_many([({"image": np.ones((4, 4), np.uint16)}, {"t": float(k)}) for k in range(3)])
    assert info.value.errno == errno.ENOSPC
    assert w.frames_written == 1
    with h5py.File(w.path, "r") as f:
        np.testing.assert_array_equal(f["/entry/image/data"][()], np.full((1, 4, 4), 7, np.uint16))
