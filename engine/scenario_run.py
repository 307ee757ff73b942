"""``operando run --scenario FILE --out DIR``: start the simulated instrument, run the file's steps,
store every run in Tiled (``DIR/home`` unless --home), analyse live where asked, write a report
per run (``DIR/reports``) and ``DIR/runs.json``; stop everything it started."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from .config import Config
from .scenario import Scenario, plan_for, preflight


def run_scenario(scenario: Scenario, out_dir: Path, config: Config) -> int:
    """Run ``scenario``; returns 0 when every step ended with exit_status success."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if scenario.program == "demo":
        from .demo import run_demo

        return run_demo(config, scenario.timing, out_dir, scenario)
    config = replace(config, material=scenario.material, sample_seed=scenario.seed,
                     drift_um_per_h=scenario.drift_um_per_h)
    t0 = time.monotonic()
    print(f"scenario {scenario.name!r}: {len(scenario.steps)} steps on the {scenario.instrument} instrument, "
          f"{scenario.material} cell (seed {scenario.seed}); data in {config.home}", flush=True)
    records = []
    with _instrument(scenario, config) as (devices, client):
        preflight(scenario.steps, devices)
        print("every step's parameters checked by its plan; starting", flush=True)
        from .session import make_run_engine

        RE, writer = make_run_engine(config, client)
        for i, step in enumerate(scenario.steps):
            records.append(_run_step(i, step, scenario, devices, RE, writer, client, out_dir))
    _save_records(out_dir / "runs.json", records)
    ok = all(r["exit_status"] == "success" for r in records)
    print(f"\nscenario finished in {time.monotonic() - t0:.0f} s: {len(records)} runs "
          f"({'all succeeded' if ok else 'NOT all succeeded'}); {out_dir / 'runs.json'}, reports in "
          f"{out_dir / 'reports'}", flush=True)
    return 0 if ok else 1


@contextmanager
def _instrument(scenario: Scenario, config: Config):
    """The simulated instrument of the scenario: ({"scope", "pstat"}, Tiled client)."""
    if scenario.instrument == "widefield":
        from .instrument import simulated_widefield

        with simulated_widefield(config) as (scope, pstat, client, _):
            yield {"scope": scope, "pstat": pstat}, client
        return
    from .instrument import connected_potentiostat, simulated_instrument

    with simulated_instrument(config) as (scope, client, _), connected_potentiostat(config) as pstat:
        scope.apd.timing_mode.set(scenario.timing).wait(5)
        yield {"scope": scope, "pstat": pstat}, client


def _run_step(i, step, scenario, devices, RE, writer, client, out_dir) -> dict:
    from .analyze import summary_lines
    from .report import write_report

    print(f"\n--- step {i}: {step.plan}" + (" (analysed live)" if step.analysis == "live" else "") + " ---",
          flush=True)
    t0 = time.monotonic()
    plan = plan_for(step, devices)
    lines = []
    if step.analysis == "live":
        from .session import analysed_run

        uid, run, analysis = analysed_run(RE, writer, client, plan, _analysis_factory(scenario.instrument))
        lines = summary_lines(analysis)
        print("\n".join(lines))
    else:
        (uid,) = RE(plan)
        writer.flush()
        run = client["raw"][uid]
    stop = run.metadata.get("stop") or {}
    start = run.metadata["start"]
    report = write_report(client, run, out_dir / "reports" / f"scan{start.get('scan_id', 0)}_{uid[:8]}")
    print(f"run {uid} (scan {start.get('scan_id')}): {stop.get('exit_status')}, "
          f"{sum((stop.get('num_events') or {}).values())} events, {time.monotonic() - t0:.0f} s; report {report}",
          flush=True)
    return {"step": i, "plan": step.plan, "uid": uid, "scan_id": start.get("scan_id"),
            "exit_status": stop.get("exit_status"), "num_events": stop.get("num_events"),
            "wall_time_s": round(time.monotonic() - t0, 1), "report": str(report.resolve()), "analysis": lines}


def _analysis_factory(instrument: str):
    if instrument == "widefield":
        from operando.analysis.widefield_live import WidefieldAnalysis

        return WidefieldAnalysis
    from operando.analysis.live import ConfocalAnalysis

    return ConfocalAnalysis


def _save_records(path: Path, records: list[dict]) -> None:
    """Append this run's records to runs.json (earlier scenario runs into the same folder are kept)."""
    earlier = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(earlier + records, indent=1))
