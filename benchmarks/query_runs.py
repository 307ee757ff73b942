"""Historical queries: 1,000 stored runs searched by material and C-rate (target <= 100 ms).

Starts a Tiled server (SQLite catalog) in a temporary home, stores 1,000 runs through
TiledWriter (start documents with the operando schema's searchable keys, a potentiostat
stream of 50 samples), then times ``operando runs``' query (``engine.catalog.search_runs``)
for one material and C-rate: the search and the first page of matching uids, repeated. Also
times opening one result as a BlueskyRun and reading its stream as a table. Prints medians
and the 90th percentile. Run with `make bench`.
"""
from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from event_model import compose_run

from operando.engine.catalog import search_runs
from operando.engine.config import Config
from operando.engine.tiled_server import connect, runs_container, start_tiled

N_RUNS = 1000
MATERIALS = ("LCO", "NMC811", "NWO", "LFP")
C_RATES = (0.1, 0.5, 1.0, 2.0, 5.0)
PLANS = ("cycling_zstack", "gitt", "cycling_widefield", "ocv_relax")
REPEATS = 30


def documents(i: int):
    """One run's documents: start (searchable keys), a telemetry stream, stop."""
    material, c_rate, plan = MATERIALS[i % 4], C_RATES[(i // 4) % 5], PLANS[(i // 20) % 4]
    bundle = compose_run(metadata={"plan_name": plan, "material": material, "c_rate": c_rate,
                                   "sample_name": f"cell-{i // 10:03d}", "operator": "bench", "scan_id": i + 1,
                                   "protocol": f"Charge at {c_rate}C until 4.2 V"}, time=1.79e9 + 3600.0 * i)
    yield "start", bundle.start_doc
    keys = {k: {"source": "bench", "dtype": "number", "shape": [], "units": u}
            for k, u in (("pstat_time_s", "s"), ("pstat_voltage_v", "V"), ("pstat_current_a", "A"))}
    desc = bundle.compose_descriptor(name="potentiostat", data_keys=keys)
    yield "descriptor", desc.descriptor_doc
    t = np.arange(50.0)
    yield "event_page", desc.compose_event_page(
        data={"pstat_time_s": t, "pstat_voltage_v": 3.7 + 0.01 * t, "pstat_current_a": np.full(50, 1e-4 * c_rate)},
        timestamps={k: t for k in keys}, seq_num=list(range(1, 51)), time=list(1.79e9 + t))
    yield "stop", bundle.compose_stop()


def main() -> int:
    from bluesky_tiled_plugins import TiledWriter

    home = Path(tempfile.mkdtemp(prefix="operando-query-bench-"))
    config = Config(tiled_port=27211).with_home(home)
    proc = start_tiled(config)
    try:
        client = connect(config)
        container = runs_container(client)
        writer = TiledWriter(container, batch_size=100)
        t0 = time.perf_counter()
        for i in range(N_RUNS):
            for name, doc in documents(i):
                writer(name, doc)
        print(f"stored {N_RUNS} runs in {time.perf_counter() - t0:.0f} s")

        expected = N_RUNS // (4 * 5)
        times, open_times = [], []
        for k, (material, c_rate) in zip(range(REPEATS), itertools.cycle(itertools.product(MATERIALS, C_RATES))):
            t0 = time.perf_counter()
            found = search_runs(container, material=material, c_rate=c_rate)
            uids = list(found.keys()[:100])
            times.append(time.perf_counter() - t0)
            assert len(uids) == expected, (material, c_rate, len(uids))
            t0 = time.perf_counter()
            run = found[uids[0]]
            table = run["potentiostat"].read()
            open_times.append(time.perf_counter() - t0)
            assert len(table["pstat_voltage_v"]) == 50 and run.metadata["start"]["material"] == material
        ms = sorted(1e3 * t for t in times)
        print(f"search by material and C-rate over {N_RUNS} runs ({expected} matches, first page of uids): "
              f"median {statistics.median(ms):.1f} ms, p90 {ms[int(0.9 * len(ms))]:.1f} ms, max {ms[-1]:.1f} ms "
              f"({REPEATS} queries; target <= 100 ms)")
        ms = sorted(1e3 * t for t in open_times)
        print(f"open a result as a BlueskyRun and read its potentiostat stream: median {statistics.median(ms):.1f} ms, "
              f"p90 {ms[int(0.9 * len(ms))]:.1f} ms")
        return 0 if statistics.median(times) <= 0.1 else 1
    finally:
        proc.stop()


if __name__ == "__main__":
    sys.exit(main())
