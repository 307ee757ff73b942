"""The demo: a confocal z-stack of a virtual LCO electrode, stored in Tiled and checked.

Starts the IOCs and a Tiled server, records a stack at the seed's imaging
parameters (820 nm, 10 us dwell, 80 nm pixels), reads it back through Tiled,
compares it byte for byte with the checksums the controller recorded, sizes
the agglomerates and compares them with the virtual cell's truth, then stops
everything it started.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from .config import Config

DEMO_STACK = dict(z_start_um=10.0, z_stop_um=26.0, z_step_um=0.4, channels=("reflection",),
                  pixel_dwell_s=10e-6, pixels=(512, 512), pixel_size_um=0.08, wavelength_nm=820.0,
                  power_w=1e-3)
DEMO_SAMPLE = {"sample": "virtual LCO electrode #1", "material": "LCO",
               "sample_refractive_index": 2.2, "electrolyte": "LP30", "electrolyte_refractive_index": 1.42,
               "operator": "demo"}


def run_demo(config: Config, timing: str = "realistic") -> int:
    from bluesky.callbacks import LiveTable

    from operando.analysis.volume import threshold_volumes
    from operando.plans import zstack

    from .instrument import simulated_instrument
    from .readback import frames_sha256, read_stack
    from .session import make_run_engine

    t0 = time.monotonic()
    with simulated_instrument(config) as (scope, client, procs):
        print(f"instrument up in {time.monotonic() - t0:.1f} s: "
              + ", ".join(f"{p.name} pid {p.pid}" for p in procs), flush=True)
        RE, writer = make_run_engine(config, client)
        scope.apd.timing_mode.set(timing).wait(5)
        (uid,) = RE(zstack(scope, **DEMO_STACK, md=DEMO_SAMPLE),
                    LiveTable([scope.piezo.name, f"{scope.apd.name}_reflection_max_count"]))
        writer.flush()
        run = client["raw"][uid]
        stack = read_stack(run, f"{scope.apd.name}_reflection")
        table = run["primary"].read()
        recorded = [str(c) for c in table[f"{scope.apd.name}_reflection_checksum"].values]
        identical = frames_sha256(stack) == recorded
        print(f"\nrun uid {uid}  scan_id {run.metadata['start']['scan_id']}")
        print(f"stored in Tiled at {config.tiled_uri}/api/v1/metadata/raw/{uid}")
        print(f"stack {stack.shape} {stack.dtype}; byte-identical to what the controller wrote: {identical}")
        if not identical:
            print(f"  first plane: recorded {recorded[0]!r}, read back {frames_sha256(stack)[0]!r}")

        truth = _truth_for(run, f"{scope.apd.name}_reflection")
        start = run.metadata["start"]
        objects = threshold_volumes(stack, DEMO_STACK["pixel_size_um"], DEMO_STACK["z_step_um"],
                                    n_medium=start["electrolyte_refractive_index"],
                                    n_immersion=start["optics"]["n_immersion"],
                                    n_particle=start["sample_refractive_index"])
        print("\nagglomerate  true V (um^3)  threshold V (um^3)  ratio")
        for agg in truth["agglomerates"]:
            obj = min(objects, key=lambda o: np.hypot(o.centroid_um[0] - agg["center_um"][0],
                                                      o.centroid_um[1] - agg["center_um"][1]))
            print(f"{agg['label']:>11}  {agg['volume_um3']:>12.1f}  {obj.volume_um3:>18.1f}  "
                  f"{obj.volume_um3 / agg['volume_um3']:.2f}")
    print(f"\ndemo finished in {time.monotonic() - t0:.1f} s; all processes stopped")
    return 0 if identical else 1


def _truth_for(run, data_key: str) -> dict:
    """The virtual cell's truth sidecar beside the run's frame file (demo check only)."""
    import json

    from operando.ioc.cell.truth import TRUTH_SUFFIX

    from .readback import frame_file

    path = frame_file(run, data_key)
    return json.loads(path.with_name(path.name + TRUTH_SUFFIX).read_text())


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--timing", choices=["realistic", "fast"], default="realistic")
    args = parser.parse_args(argv)
    config = Config() if args.home is None else Config().with_home(args.home)
    return run_demo(config, args.timing)


if __name__ == "__main__":
    sys.exit(main())
