"""Sustained camera rate: the widefield camera at 100 Hz for 60 s (6,000 frames, 256 x 256, unbinned)
through the IOC, the flyer, TiledWriter and Tiled. Prints stored vs raw frames, dropped frames and
the frame spacing; exits 1 if a frame was lost. Run with `make bench`."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from operando.engine.config import Config, apply_ca_environment

N_FRAMES = 6000


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="operando-camera-bench-"))
    config = Config(ca_base_port=27300, tiled_port=27311, pv_prefix="OPB:").with_home(home)
    apply_ca_environment(config)
    from operando.engine.instrument import simulated_widefield
    from operando.engine.session import make_run_engine
    from operando.plans.widefield import widefield_timeseries

    with simulated_widefield(config) as (scope, _, client, _procs):
        RE, writer = make_run_engine(config, client, batch_size=100)
        t0 = time.perf_counter()
        (uid,) = RE(widefield_timeseries(scope, num_frames=N_FRAMES, frame_rate_hz=100, exposure_s=0.005, binning=1,
                                         roi=(832, 472, 256, 256), collect_every_s=2.0))
        writer.flush()
        wall = time.perf_counter() - t0
        wf = client["raw"][uid]["widefield"]
        numbers = np.asarray(wf["widefield_camera_frame_number"].read())
        raw = np.asarray(wf["widefield_camera_first_raw_frame"].read())
        stamps = np.asarray(wf["widefield_camera_timestamp"].read())
        dropped = int(scope.camera.dropped_frames.get())
    spacing = np.diff(stamps) * 1e3
    complete = np.array_equal(numbers, np.arange(N_FRAMES)) and np.array_equal(raw, np.arange(N_FRAMES))
    print(f"100 Hz for {stamps[-1] - stamps[0]:.2f} s: {len(numbers)} stored frames, raw frames contiguous: "
          f"{complete}, dropped {dropped}; spacing median {np.median(spacing):.2f} ms, "
          f"p99 {np.percentile(spacing, 99):.2f} ms; wall time with the writer's flush {wall:.1f} s")
    return 0 if complete and dropped == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
