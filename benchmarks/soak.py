"""Soak: 200 z-stacks (fast mode, 5 planes of 64 x 64) back to back in one cycling run while the
potentiostat samples at 1 kHz, everything through Channel Access, TiledWriter and Tiled. Reports
per block of 20 stacks the wall time per stack, this process's resident memory and open file
descriptors, and the IOCs' and Tiled's memory; at the end whether every stack, plane and telemetry
sample is in Tiled. Exits 1 if memory or descriptors grew past the limits below, throughput fell,
or anything is missing. Run with `make bench`."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np


N_STACKS = 200
BLOCK = 20
RSS_GROWTH_LIMIT_MB = 60          # this process, first block to last
FD_GROWTH_LIMIT = 5
SLOWDOWN_LIMIT = 1.5              # last block's time per stack / the second block's


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> int:
    from cycling_instrument import cycling_instrument
    from operando.plans.cycling_zstack import cycling_zstack

    with cycling_instrument(27400, "OPK:", batch_size=50, home_prefix="operando-soak-") as bench:
        scope, client, procs, pstat, RE, writer = (bench.scope, bench.client, bench.procs, bench.pstat, bench.RE,
                                                   bench.writer)
        blocks, stamps = [], []

        def watch(name, doc):
            if name == "event" and doc.get("data", {}).get("stack_summary_n_planes") is not None:
                stamps.append(time.perf_counter())
                if len(stamps) % BLOCK == 0:
                    blocks.append({"stacks": len(stamps), "rss_mb": rss_mb(), "fds": open_fds(),
                                   "iocs_mb": sum(rss_mb(p.pid) for p in procs if p.name.startswith("ioc-")),
                                   "tiled_mb": next(rss_mb(p.pid) for p in procs if p.name == "tiled"),
                                   "queued": writer.queue.qsize()})
                if len(stamps) == N_STACKS:
                    pstat.stop_cmd.put(1)          # the protocol ends after this round: the run closes

        RE.subscribe(watch)
        t0 = time.perf_counter()
        (uid,) = RE(cycling_zstack(scope, pstat, "Rest for 10 hours", [{"name": "S", "x_um": 0.0, "y_um": 0.0}],
                                   z_start_um=10.0, z_stop_um=12.0, z_step_um=0.5, pixels=(64, 64),
                                   pixel_size_um=0.25, pixel_dwell_s=2e-6, sample_rate_hz=1000, accel=1))
        acquired = time.perf_counter() - t0
        writer.flush(timeout=600)
        flushed = time.perf_counter() - t0
        import gc

        gc.collect()
        drained_mb = rss_mb()           # the writer's backlog gone: what stays is not the queue
        run = client["raw"][uid]
        stacks = run["stacks"].read()
        planes = np.asarray(run["primary"]["confocal_apd_reflection"].read()).shape[0]
        seq = np.asarray(run["potentiostat"].read()["pstat_seq_num"])
    per_stack = np.diff([t0] + stamps)
    print(f"{len(stamps)} stacks in {acquired:.1f} s ({flushed:.1f} s with the writer's flush); "
          f"{planes} planes, {seq.size} telemetry samples at 1 kHz in Tiled")
    print("stacks  s/stack  RSS MB  fds  IOCs MB  Tiled MB  queued docs")
    for b in blocks:
        k = b["stacks"]
        print(f"{k:6d}  {per_stack[k - BLOCK:k].mean():7.3f}  {b['rss_mb']:6.1f}  {b['fds']:3d}  {b['iocs_mb']:7.1f}  "
              f"{b['tiled_mb']:8.1f}  {b['queued']:11d}")
    first, last = blocks[0], blocks[-1]
    growth = last["rss_mb"] - first["rss_mb"]
    slowdown = per_stack[-BLOCK:].mean() / per_stack[BLOCK:2 * BLOCK].mean()
    contiguous = bool(seq.size) and np.array_equal(seq, np.arange(seq[0], seq[0] + seq.size))
    ok = (len(stacks["time"]) >= N_STACKS and planes == 5 * len(stacks["time"]) and contiguous
          and growth < RSS_GROWTH_LIMIT_MB and last["fds"] - first["fds"] <= FD_GROWTH_LIMIT
          and slowdown < SLOWDOWN_LIMIT)
    print(f"RSS {first['rss_mb']:.1f} -> {last['rss_mb']:.1f} MB (+{growth:.1f}, limit {RSS_GROWTH_LIMIT_MB}); "
          f"fds {first['fds']} -> {last['fds']}; time per stack, last block / second: {slowdown:.2f} "
          f"(limit {SLOWDOWN_LIMIT}); telemetry contiguous: {contiguous}; {'OK' if ok else 'FAILED'}")
    print(f"RSS once the writer had drained its queue: {drained_mb:.1f} MB ({drained_mb - first['rss_mb']:+.1f} "
          "against the first block); the queue column is the writer's backlog behind the RunEngine")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
