"""Batch re-analysis: runs per minute for `operando analyze --query ... --workers N`, N = 1 and 2.

Records N_RUNS short cycling z-stack runs on the simulated instrument (the session's fast mode),
then replays all of them through the confocal analysis into derived runs with one worker process
and with two (engine/batch.py), and prints runs/min for each and their ratio. Run with `make bench`.
"""
from __future__ import annotations

import os
import sys


N_RUNS = 6
STACK = dict(z_start_um=10.0, z_stop_um=19.0, z_step_um=0.3, pixels=(256, 256), pixel_size_um=0.08,
             pixel_dwell_s=10e-6)


def main() -> int:
    from cycling_instrument import cycling_instrument
    from operando.engine.batch import analyse_many, matching_runs
    from operando.plans.cycling_zstack import cycling_zstack

    with cycling_instrument(27800, "OPBA:", home_prefix="operando-batch-") as bench:
        scope, client, pstat, RE, writer, config = (bench.scope, bench.client, bench.pstat, bench.RE, bench.writer,
                                                    bench.config)
        for k in range(N_RUNS):
            protocol = "Charge at 1C for 20 minutes" if k % 2 == 0 else "Discharge at 1C for 20 minutes"
            RE(cycling_zstack(scope, pstat, protocol, [{"name": "B", "x_um": -5.0, "y_um": 3.0}], accel=120,
                              sample_rate_hz=10, operator="batch benchmark", **STACK))
        writer.flush()
        uids = matching_runs(client, {"operator": "batch benchmark"})
        assert len(uids) == N_RUNS, uids
        print(f"{cpus()} CPUs; {N_RUNS} runs recorded, each {len(client['raw'][uids[0]]['stacks'].read()['time'])}"
              f" stacks (the first run) of {STACK['pixels'][0]}x{STACK['pixels'][1]} x 31 planes")
        rates = {}
        for workers in (1, 2):
            took = analyse_many(config, uids, workers, f"derived-batch-{workers}", report=lambda line: None)
            rates[workers] = N_RUNS / took * 60
            print(f"--workers {workers}: {N_RUNS} runs in {took:.1f} s = {rates[workers]:.2f} runs/min")
    print(f"ratio 2 / 1 workers: {rates[2] / rates[1]:.2f}")
    return 0


def cpus() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
