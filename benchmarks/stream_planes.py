"""Streaming throughput: 512x512 two-channel planes IOC -> HDF5 -> documents -> Tiled.

Prints planes/s end to end in `fast` mode, planes/s for plain h5py writing the
same frames on the same disk, their ratio, and the per-plane overhead in
`realistic` mode as a fraction of pixels x dwell. Run with `make bench`.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from operando.engine.config import Config, apply_ca_environment

N_PLANES = 40


def plain_h5py_planes_per_s(directory: Path, frames: np.ndarray) -> float:
    path = directory / "plain.h5"
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        ds = {c: f.create_dataset(f"/entry/{c}/data", shape=(0, *frames.shape[1:]),
                                  maxshape=(None, *frames.shape[1:]), chunks=(1, *frames.shape[1:]),
                                  dtype=frames.dtype) for c in ("reflection", "fluorescence")}
        for k, frame in enumerate(frames):
            for d in ds.values():
                d.resize(k + 1, axis=0)
                d[k] = frame
            f.flush()
    os.sync()
    return len(frames) / (time.perf_counter() - t0)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="operando-bench-"))
    config = Config(ca_base_port=27100, tiled_port=27111).with_home(home)
    apply_ca_environment(config)
    from operando.engine.instrument import simulated_instrument
    from operando.engine.readback import read_stack
    from operando.engine.session import make_run_engine
    from operando.plans import zstack

    with simulated_instrument(config) as (scope, client, _):
        RE, writer = make_run_engine(config, client)
        scope.apd.timing_mode.set("fast").wait(5)
        args = dict(channels=("reflection", "fluorescence"), pixels=(512, 512), pixel_size_um=0.08,
                    pixel_dwell_s=10e-6, wavelength_nm=1020.0, power_w=5e-3, pulsed=True)
        RE(zstack(scope, 10.0, 10.0 + 0.25 * 4, 0.25, **args))          # warm-up
        writer.flush()
        t0 = time.perf_counter()
        (uid,) = RE(zstack(scope, 10.0, 10.0 + 0.25 * (N_PLANES - 1), 0.25, **args))
        writer.flush()
        fast = N_PLANES / (time.perf_counter() - t0)
        frames = read_stack(client["raw"][uid], "confocal_apd_reflection")
        plain = plain_h5py_planes_per_s(home, frames)

        scope.apd.timing_mode.set("realistic").wait(5)
        real_args = dict(args, pixels=(256, 256), channels=("reflection",), wavelength_nm=820.0, pulsed=False)
        n_real = 10
        t0 = time.perf_counter()
        RE(zstack(scope, 10.0, 10.0 + 0.4 * (n_real - 1), 0.4, **real_args))
        per_plane = (time.perf_counter() - t0) / n_real
        writer.flush()
        scan = 256 * 256 * 10e-6
        steps = []
        for k in range(20):
            t0 = time.perf_counter()
            scope.piezo.move(10.0 + 0.4 * (k % 2)).wait(10)
            steps.append(time.perf_counter() - t0)
        settle = scope.piezo.settle_time_s.get()
    print(f"fast mode, 512x512 x 2 channels, {N_PLANES} planes: {fast:.2f} planes/s end to end (into Tiled)")
    print(f"plain h5py, same frames, same disk:           {plain:.1f} planes/s")
    print(f"ratio end-to-end / plain h5py:                {fast / plain:.3f}")
    print(f"realistic mode, 256x256 at 10 us: {per_plane * 1e3:.0f} ms per plane for {scan * 1e3:.0f} ms of "
          f"pixels x dwell -> overhead {per_plane / scan - 1:.2f} of pixels x dwell "
          "(includes 200 us line flyback = 0.08, piezo move and settle, RunEngine and documents)")
    print(f"piezo 0.4 um step through ophyd: median {np.median(steps) * 1e3:.1f} ms "
          f"(settle time {settle * 1e3:.1f} ms, travel 0.2 ms)")


if __name__ == "__main__":
    main()
