"""Cycling made visible: a C/2 charge of the virtual LCO cell while the confocal microscope stacks.

Starts the simulated instrument and Tiled, runs "Charge at C/2 until 4.2 V" on the
potentiostat at 300x cell time, records z-stacks back to back until the charge ends, and
saves one PNG with voltage vs capacity and one agglomerate's surface reflectivity and
volume vs cell time. The volumes come from the images (threshold analysis), not from the
simulator; the truth recorded beside the frames is drawn for comparison.

    .venv/bin/python docs/scripts/cycling_visible.py --out var/figures
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from operando.engine.config import Config, apply_ca_environment

STACK = dict(z_start_um=10.0, z_stop_um=18.0, z_step_um=0.5, pixels=(128, 128), pixel_size_um=0.3,
             pixel_dwell_s=1e-5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/figures"))
    parser.add_argument("--accel", type=float, default=300.0)
    args = parser.parse_args(argv)
    config = Config(ca_base_port=25170, tiled_port=25181).with_home(Path(tempfile.mkdtemp(prefix="operando-")))
    apply_ca_environment(config)

    import h5py
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from operando.analysis.volume import threshold_volumes
    from operando.devices.potentiostat import Potentiostat
    from operando.engine.instrument import simulated_instrument
    from operando.engine.readback import frame_file
    from operando.engine.session import make_run_engine
    from operando.plans import zstack
    from operando.plans.cycling import cell_limits
    from operando.plans.protocol import parse_protocol, to_technique

    with simulated_instrument(config) as (scope, client, _):
        RE, writer = make_run_engine(config, client)
        scope.apd.timing_mode.set("fast").wait(5)
        pstat = Potentiostat(config.pv_prefix + "PSTAT:", name="pstat")
        pstat.wait_for_connection(timeout=10)
        pstat.accel.set(args.accel).wait(5)
        pstat.load_technique(to_technique(parse_protocol("Charge at C/2 until 4.2 V"), cell_limits(pstat))).wait(5)
        stacks = []
        pstat.kickoff().wait(10)
        done = pstat.complete()
        while not done.done:
            t0 = float(pstat.cell_time_s.get(use_monitor=False))
            (uid,) = RE(zstack(scope, **STACK, md={"sample": "cycling_visible", "material": "LCO"}))
            stacks.append((uid, 0.5 * (t0 + float(pstat.cell_time_s.get(use_monitor=False)))))
        done.wait(60)
        samples = pstat.read_samples(pstat._first, pstat._last)
        writer.flush()
        pstat.destroy()

        start = client["raw"][stacks[0][0]].metadata["start"]
        first = np.asarray(client["raw"][stacks[0][0]]["primary"]["confocal_apd_reflection"].read())
        objects = threshold_volumes(first, STACK["pixel_size_um"], STACK["z_step_um"], n_medium=1.42,
                                    n_immersion=start["optics"]["n_immersion"], n_particle=2.2)
        target = max((o for o in objects if not o.touches_edge), key=lambda o: o.volume_um3)
        times, volumes, surface, frame_files = [], [], [], []
        for uid, t in stacks:
            stack = np.asarray(client["raw"][uid]["primary"]["confocal_apd_reflection"].read())
            objs = threshold_volumes(stack, STACK["pixel_size_um"], STACK["z_step_um"], n_medium=1.42,
                                     n_immersion=start["optics"]["n_immersion"], n_particle=2.2)
            o = min(objs, key=lambda o: np.hypot(o.centroid_um[0] - target.centroid_um[0],
                                                 o.centroid_um[1] - target.centroid_um[1]))
            # The agglomerate does not move: its surface is read in the same column every time.
            ix = int(round(target.centroid_um[0] / STACK["pixel_size_um"] + (STACK["pixels"][0] - 1) / 2))
            iy = int(round(target.centroid_um[1] / STACK["pixel_size_um"] + (STACK["pixels"][1] - 1) / 2))
            column = stack[:, iy - 2:iy + 3, ix - 2:ix + 3].mean(axis=(1, 2))
            times.append(t)
            volumes.append(o.volume_um3)
            surface.append(column.max())
            frame_files.append(frame_file(client["raw"][uid], "confocal_apd_reflection"))

    # Truth for comparison (this script is a demonstration, so it may look): the nearest
    # agglomerate's Delta V / V when each stack was recorded.
    import json
    truth = json.loads(frame_files[0].with_name(frame_files[0].name + ".truth.json").read_text())
    agg = min(truth["agglomerates"], key=lambda a: np.hypot(a["center_um"][0] - target.centroid_um[0],
                                                            a["center_um"][1] - target.centroid_um[1]))
    true_dv = []
    for path in frame_files:
        with h5py.File(path.with_name(path.name + ".truth.h5"), "r") as f:
            true_dv.append(float(np.mean(f[f"agglomerate_{agg['label']}/volume_change"][()])))
    true_dv = np.array(true_dv)

    v0, s0 = volumes[0], surface[0]
    capacity_mah = samples["charge_c"] / 3.6 - samples["charge_c"][0] / 3.6
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].plot(capacity_mah * 1e3, samples["voltage_v"])
    ax[0].set(xlabel="capacity (uAh)", ylabel="voltage (V)", title="C/2 charge, LCO half cell")
    ax[1].plot(np.array(times) / 60, np.array(surface) / s0, "o-")
    ax[1].set(xlabel="cell time (min)", ylabel="surface reflection / initial",
              title=f"agglomerate {agg['label']}: surface, 820 nm")
    ax[2].plot(np.array(times) / 60, (np.array(volumes) / v0 - 1) * 100, "o-",
               label="threshold volume from images")
    ax[2].plot(np.array(times) / 60, (true_dv - true_dv[0]) * 100, "k--", label="simulator truth")
    ax[2].set(xlabel="cell time (min)", ylabel="Delta V / V (%)", title="volume")
    ax[2].legend()
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "cycling_visible.png"
    fig.savefig(out, dpi=90)
    print(f"{len(stacks)} stacks over {times[-1] / 60:.0f} min of cell time; charge "
          f"{capacity_mah[-1] * 1e3:.0f} uAh; surface reflection x{surface[-1] / s0:.2f}; "
          f"Delta V/V from images {100 * (volumes[-1] / v0 - 1):+.1f} %, truth {100 * (true_dv[-1] - true_dv[0]):+.1f} %")
    print(f"figure: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
