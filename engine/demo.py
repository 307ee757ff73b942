"""The demo: an operando experiment on a virtual LCO half cell, stored in Tiled and checked.

Starts the IOCs and a Tiled server. 1) Records a z-stack of the pristine electrode at the
seed's imaging parameters (820 nm, 10 us dwell, 80 nm pixels), reads it back through Tiled,
compares it byte for byte with the checksums the controller recorded, and sizes the
agglomerates against the virtual cell's truth. 2) Runs a C/2 charge and discharge on the
potentiostat (cell time 400x wall time) while z-stacks are recorded back to back at two
stage positions; prints each stack's cell time and voltage, and checks the stored run
(every telemetry sample once, stacks inside the protocol, the truth's lithiation followed).
Stops everything it started.
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
CYCLING_PROTOCOL = "Charge at C/2 until 4.2 V\nRest for 10 minutes\nDischarge at C/2 until 3.6 V"
CYCLING_POSITIONS = [{"name": "A", "x_um": -8.0, "y_um": -8.0}, {"name": "B", "x_um": 8.0, "y_um": 8.0}]
CYCLING_STACK = dict(z_start_um=10.0, z_stop_um=16.0, z_step_um=0.5, pixels=(128, 128), pixel_size_um=0.2,
                     pixel_dwell_s=5e-6)
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
        ok = identical and _cycling_experiment(config, scope, RE, writer, client)
    print(f"\ndemo finished in {time.monotonic() - t0:.1f} s; all processes stopped")
    return 0 if ok else 1


def _cycling_experiment(config, scope, RE, writer, client) -> bool:
    """Part 2: cycling with interleaved z-stacks at two positions; returns whether the checks hold."""
    import h5py

    from operando.devices.potentiostat import Potentiostat
    from operando.ioc.cell.truth import STATE_TRUTH_SUFFIX
    from operando.plans.cycling_zstack import cycling_zstack

    from .readback import frame_file

    print("\n--- operando: C/2 charge and discharge, z-stacks at two positions ---", flush=True)
    pstat = Potentiostat(config.pv_prefix + "PSTAT:", name="pstat")
    pstat.wait_for_connection(timeout=10)
    scope.apd.timing_mode.set("fast").wait(5)
    try:
        from operando.plans.cycling import cell_limits
        from operando.plans.cycling_zstack import validate_acquisition
        from operando.plans.estimate import estimate_cycling_zstack

        _, stacks = validate_acquisition(scope, CYCLING_POSITIONS, CYCLING_STACK["z_start_um"],
                                         CYCLING_STACK["z_stop_um"], CYCLING_STACK["z_step_um"], ("reflection",),
                                         CYCLING_STACK["pixel_dwell_s"], CYCLING_STACK["pixels"],
                                         CYCLING_STACK["pixel_size_um"], 820.0, 1e-3, False)
        print(f"estimate: {estimate_cycling_zstack(CYCLING_PROTOCOL, cell_limits(pstat).capacity_ah, stacks, 400)}",
              flush=True)
        t0 = time.monotonic()
        (uid,) = RE(cycling_zstack(scope, pstat, CYCLING_PROTOCOL, CYCLING_POSITIONS, accel=400,
                                   sample_rate_hz=10, operator="demo", **CYCLING_STACK))
        writer.flush()
        run = client["raw"][uid]
        stacks = run["stacks"].read()
        tele = run["potentiostat"].read()
        print(f"run uid {uid}  scan_id {run.metadata['start']['scan_id']}  ({time.monotonic() - t0:.0f} s)")
        print(f"stored in Tiled at {config.tiled_uri}/api/v1/metadata/raw/{uid}; streams {sorted(run)}")
        print("stack  position  cell time (min)  voltage (V)  current (mA)  electrode x (truth)")
        path = frame_file(run, f"{scope.apd.name}_reflection")
        with h5py.File(path.with_name(path.name + STATE_TRUTH_SUFFIX), "r") as f:
            electrode_x = f["electrode_x"][()]
        planes = int(stacks["stack_summary_n_planes"].values[0])      # every stack has the same z range
        for k in range(len(stacks["stack_summary_index"])):
            print(f"{k:>5}  {str(stacks['stack_summary_position_name'].values[k]):>8}  "
                  f"{stacks['stack_summary_start_time_s'].values[k] / 60:>15.1f}  "
                  f"{stacks['stack_summary_start_voltage_v'].values[k]:>11.3f}  "
                  f"{stacks['stack_summary_start_current_a'].values[k] * 1e3:>12.3f}  "
                  f"{electrode_x[k * planes]:>19.3f}")
        seq = tele["pstat_seq_num"].values
        t = tele["pstat_time_s"].values
        contiguous = bool(np.array_equal(seq, np.arange(seq[0], seq[0] + len(seq))))
        inside = bool(np.all(stacks["stack_summary_start_time_s"].values >= t[0])
                      and np.all(stacks["stack_summary_start_time_s"].values <= t[-1]))
        cycled = bool(electrode_x.min() < 0.75 and electrode_x[-1] > electrode_x.min() + 0.1)
        print(f"{len(seq)} telemetry samples, contiguous: {contiguous}; {len(stacks['stack_summary_index'])} stacks, "
              f"all started inside the protocol: {inside}; truth x {electrode_x[0]:.3f} -> "
              f"{electrode_x.min():.3f} -> {electrode_x[-1]:.3f}: {cycled}")
        return contiguous and inside and cycled
    finally:
        pstat.destroy()

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
