"""``operando`` command line: IOCs, the Tiled server, the demo and replayed analysis."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .config import Config, ca_environment
from .analyze import DERIVED_CONTAINER
from .processes import IOC_PARTS, WIDEFIELD_PARTS
from .worker import ANALYSES


def _config(args) -> Config:
    config = Config()
    if getattr(args, "home", None):
        config = config.with_home(args.home)
    return config


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_ioc(args) -> int:
    config = _config(args)
    if args.part in ("all", "widefield"):
        from dataclasses import replace

        from .processes import start_iocs, stop_all

        parts = IOC_PARTS if args.part == "all" else WIDEFIELD_PARTS
        if args.part == "widefield":
            config = replace(config, material="NWO")

        signal.signal(signal.SIGTERM, _interrupt)     # SIGTERM stops the children like Ctrl-C
        procs = []
        try:
            procs = start_iocs(config, parts=parts, log_dir=config.home / "logs")
            print("IOCs running: " + ", ".join(f"{p.name} (pid {p.pid})" for p in procs), flush=True)
            ports = sorted(config.ioc_port(p) for p in parts)
            print(f"Channel Access on 127.0.0.1, ports {ports[0]}-{ports[-1]}; "
                  "Ctrl-C stops them.", flush=True)
            while True:
                signal.pause()
        except KeyboardInterrupt:
            print("stopping IOCs", flush=True)
        finally:
            stop_all(procs)
        return 0
    os.environ.update(ca_environment(config, args.part))
    from importlib import import_module

    from .processes import ioc_argv

    module = import_module(f"operando.ioc.{args.part}")
    return module.main(ioc_argv(args.part, config, standalone=True)[3:] + args.extra) or 0


def cmd_serve(args) -> int:
    from dataclasses import replace

    from .tiled_app import catalog_storage
    from .tiled_server import serve_forever

    config = _config(args)
    if args.catalog:
        try:
            catalog_storage(config.tiled_dir, args.catalog)
        except ValueError as exc:
            raise CliError(f"--catalog: {exc}", EXIT_USAGE) from None
        config = replace(config, tiled_catalog=args.catalog)
    return serve_forever(config)


PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles" / "profile_operando"


def cmd_shell(args) -> int:
    """``operando shell``: become IPython with the operando profile (exec, so Ctrl-C reaches it)."""
    if args.instrument:
        if not args.instrument.is_file():
            print(f"--instrument: no file {args.instrument}", file=sys.stderr)
            return 2
        os.environ["OPERANDO_INSTRUMENT"] = str(args.instrument.resolve())
    if args.home:
        os.environ["OPERANDO_HOME"] = str(args.home.resolve())
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    argv = [sys.executable, "-m", "IPython", f"--profile-dir={PROFILE_DIR}", *extra]
    os.execv(argv[0], argv)


def cmd_run(args) -> int:
    """Run a scenario file; exit 2 when the file is refused, 1 when a step did not succeed."""
    from .scenario import ScenarioError, load_scenario
    from .scenario_run import run_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    config = _config(args) if args.home else Config().with_home(args.out.resolve() / "home")
    try:
        return run_scenario(scenario, args.out, config)
    except ScenarioError as exc:
        raise CliError(f"{args.scenario}: {exc}; nothing was run", EXIT_USAGE) from None


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(_config(args), args.timing)


EXIT_USAGE, EXIT_NO_RUN, EXIT_NO_SERVER = 2, 3, 4


def c_rate_value(text: str) -> float:
    """--c-rate: a finite number in (0, 1000] (argparse type: refused before anything connects)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"a C-rate in (0, 1000], e.g. 0.5 for C/2; got {text!r}")
    return value


def uid_value(text: str) -> str:
    """A run's uid or a prefix of at least 5 characters (checked before connecting to Tiled)."""
    if len(text.strip()) < 5:
        raise argparse.ArgumentTypeError(f"a run's uid or at least 5 characters of it; got {text!r}")
    return text.strip()


def limit_value(text: str) -> int:
    """--limit: how many runs, 1-10000."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 10000:
        raise argparse.ArgumentTypeError(f"a whole number of runs in [1, 10000]; got {text!r}")
    return value


class CliError(Exception):
    """A message for the user and the exit code scripts see."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _client(config: Config):
    import httpx

    from .tiled_server import connect

    try:
        return connect(config)
    except (httpx.HTTPError, OSError) as exc:
        raise CliError(f"no Tiled server at {config.tiled_uri} ({exc}); start one with `operando serve` "
                       "(same --home / OPERANDO_HOME and OPERANDO_TILED_PORT)", EXIT_NO_SERVER) from None


def _run(client, uid: str):
    from .catalog import find_run

    try:
        return find_run(client, uid)[1]
    except KeyError as exc:
        raise CliError(f"{exc.args[0]} in the raw or derived runs; `operando runs` lists them", EXIT_NO_RUN) from None
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def cmd_analyze(args) -> int:
    """Replay a stored run through the analysis; exit 3 if the run is not in Tiled,
    4 if the server does not answer."""
    from .analyze import analyze_run, summary_lines

    config = _config(args)
    if (args.uid is None) == (args.query is None):
        raise CliError("give a run's UID or --query KEY=VALUE[,...] (not both)", EXIT_USAGE)
    if args.query is not None:
        return _analyze_query(config, args)
    client = _client(config)
    uid = _run(client, args.uid).metadata["start"]["uid"]
    analysis = analyze_run(client, uid, store=not args.no_store)
    print("\n".join(summary_lines(analysis)))
    if not args.no_store:
        print(f"derived run {analysis.documents[0][1]['uid']} (raw_uid {uid}) stored in the 'derived' container")
    return 0


def _analyze_query(config, args) -> int:
    """Every raw run matching --query, in --workers processes; exit 3 when none matches."""
    from .batch import MAX_WORKERS, analyse_many, matching_runs, parse_query

    try:
        terms = parse_query(args.query)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if not 1 <= args.workers <= MAX_WORKERS:
        raise CliError(f"--workers: processes in [1, {MAX_WORKERS}]", EXIT_USAGE)
    if args.no_store:
        raise CliError("--no-store works on one run (UID); --query stores the derived runs", EXIT_USAGE)
    uids = matching_runs(_client(config), terms)
    if not uids:
        raise CliError(f"no raw run matches {terms}; `operando runs` lists them", EXIT_NO_RUN)
    took = analyse_many(config, uids, args.workers, args.container)
    print(f"{len(uids)} runs in {took:.1f} s with {args.workers} worker(s): {len(uids) / took * 60:.2f} runs/min; "
          f"derived runs in the '{args.container}' container")
    return 0


def cmd_proxy(args) -> int:
    """The 0MQ document proxy on 127.0.0.1 (sessions publish, workers subscribe); until killed."""
    from .doc_bus import run_proxy

    config = _config(args)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"0MQ proxy: in {config.host}:{config.proxy_ports[0]}, out {config.host}:{config.proxy_ports[1]}",
          flush=True)
    run_proxy(*config.proxy_ports, host=config.host)
    return 0


def cmd_worker(args) -> int:
    """Analyse the runs the proxy forwards into derived runs in Tiled; catch up on missed ones."""
    from .worker import serve

    names = [n.strip() for n in args.analysis.split(",") if n.strip()]
    unknown = [n for n in names if n not in ANALYSES]
    if not names or unknown:
        raise CliError(f"--analysis: {', '.join(unknown) or 'empty'} not known; choose from {','.join(ANALYSES)}",
                       EXIT_USAGE)
    if not 0 <= args.catch_up_hours <= 24 * 365:
        raise CliError("--catch-up-hours: hours in [0, 8760]", EXIT_USAGE)
    config = _config(args)
    _client(config)                   # exit 4 with the way out when Tiled does not answer
    signal.signal(signal.SIGTERM, _interrupt)
    serve(config, names, args.catch_up_hours, args.container)
    return 0


def cmd_runs(args) -> int:
    """Search stored runs and print a table, newest first."""
    from .catalog import format_table, newest_rows, parse_date, search_runs

    try:
        since = parse_date(args.since, "--since") if args.since else None
        until = parse_date(args.until, "--until", end=True) if args.until else None
        client = _client(_config(args))
        name = DERIVED_CONTAINER if args.derived else "raw"
        if name not in client:
            print(f"no {name} runs yet")
            return 0
        results = search_runs(client[name], material=args.material, c_rate=args.c_rate, plan=args.plan,
                              sample=args.sample, operator=args.operator, since=since, until=until)
        rows = newest_rows(results, args.limit)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if args.uids:
        print("\n".join(full_uid for *_, full_uid in rows))
        return 0
    print(format_table([row[:-1] for row in rows]))
    print(f"{len(rows)} of {len(results)} matching runs shown" + ("" if len(rows) == len(results) else
                                                                  " (newest first; --limit for more)"))
    return 0


def cmd_sync(args) -> int:
    """Store the runs the writer backed up while Tiled was away; exit 1 if one stays pending."""
    from .sync import pending, sync_backups

    config = _config(args)
    client = _client(config)
    done = sync_backups(client, config.backup_dir)
    for s in done:
        print(f"{s.uid[:8]} -> {s.container}: {s.documents} documents, {s.events} events, "
              f"{'complete' if s.complete else 'INCOMPLETE: closed with exit_status fail (its session died)'}"
              f"{', replaced the partial run Tiled held' if s.replaced_partial else ''}")
    left = pending(config.backup_dir)
    print(f"{len(done)} run(s) stored from {config.backup_dir}; {len(left)} pending")
    return 1 if left else 0


def cmd_show(args) -> int:
    from .catalog import derived_runs, describe

    client = _client(_config(args))
    run = _run(client, args.uid)
    print("\n".join(describe(run)))
    start = run.metadata["start"]
    if "raw_uid" not in start:
        for d in derived_runs(client, start["uid"]):
            print(f"derived    {d.metadata['start']['uid']} ({d.metadata['start'].get('analysis', '')})")
    return 0


def cmd_export(args) -> int:
    from .export import export_run

    client = _client(_config(args))
    run = _run(client, args.uid)
    files = export_run(run, args.out, args.format)
    if not files:
        print("nothing to export: the run has no potentiostat telemetry and no images", file=sys.stderr)
        return 1
    for f in files:
        print(f)
    return 0


def cmd_report(args) -> int:
    from .report import write_report

    client = _client(_config(args))
    run = _run(client, args.uid)
    start = run.metadata["start"]
    out = args.out / f"scan{start.get('scan_id', 0)}_{start['uid'][:8]}"
    print(write_report(client, run, out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="operando", description="Operando optical microscopy of batteries: simulated instrument, Tiled, analysis.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  operando ioc all & operando serve &        the simulated confocal microscope and Tiled\n"
               "  operando shell                             IPython with RE, devices, catalog, plans\n"
               "  operando run --scenario scenarios/lco-1c-charge.yaml --out var/lco\n"
               "  operando runs --material LCO --c-rate 0.5  then: show / analyze / report / export UID\n\n"
               "exit codes: 0 done, 1 nothing to do or a step failed, 2 bad arguments or scenario,\n"
               "3 no such run, 4 no Tiled server, 130 interrupted. Docs: docs/README.md")
    parser.add_argument("--home", type=Path, help="data and state directory (default $OPERANDO_HOME or ~/.operando)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ioc", help="run a simulated IOC (one process per instrument part)")
    p.add_argument("part", choices=sorted(set(IOC_PARTS) | set(WIDEFIELD_PARTS)) + ["all", "widefield"],
                   help="one part; all: the confocal microscope and potentiostat (LCO cell); widefield: camera, "
                        "LED, focus lock and potentiostat (NWO rod cell)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="options passed to the IOC")
    p.set_defaults(func=cmd_ioc)
    p = sub.add_parser("serve", help="run the Tiled server (SQLite or PostgreSQL catalog, API key, 127.0.0.1)")
    p.add_argument("--catalog", metavar="postgresql://USER:PASSWORD@HOST:PORT/DB",
                   help="keep the catalog and tables in this PostgreSQL database (several servers may share "
                        "it) instead of SQLite files in $OPERANDO_HOME/tiled; default $OPERANDO_TILED_CATALOG")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("shell", help="IPython with the operando profile: RE, devices, catalog, plans, bec",
                       description="IPython with profiles/profile_operando (the instrument file names the devices). "
                                   "Options after -- go to IPython, e.g. `operando shell -- -c 'print(RE.md)'`.")
    p.add_argument("--instrument", type=Path, help="instrument file (default $OPERANDO_INSTRUMENT or "
                                                   "profiles/profile_operando/instrument.yaml)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="IPython options")
    p.set_defaults(func=cmd_shell)
    p = sub.add_parser("demo", help="the simulated operando experiment end to end (scenarios/demo.yaml), checked "
                                    "against the simulator's truth")
    p.add_argument("--timing", choices=["realistic", "fast"], default=None,
                   help="realistic: the pristine stack at the scanner's pace (~70 s longer); default: "
                        "scenarios/demo.yaml's (fast)")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("run", help="run a scenario file on the simulated instrument (docs/scenarios.md)",
                       description="Start the simulated instrument, run the scenario's steps (plans with their "
                                   "parameters, analysed live where asked), store the runs in Tiled under "
                                   "OUT/home (or --home), write OUT/runs.json and a report per run; stop "
                                   "everything. The file is checked completely before anything starts.")
    p.add_argument("--scenario", type=Path, required=True, help="scenario YAML file, e.g. scenarios/lco-c2-cycle.yaml")
    p.add_argument("--out", type=Path, required=True, help="output folder (runs.json, reports/, home/)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("analyze", help="replay a stored run through the analysis into a derived run")
    p.add_argument("uid", type=uid_value, nargs="?", help="uid (or unique prefix) of the raw run")
    p.add_argument("--no-store", action="store_true", help="print the results without writing a derived run")
    p.add_argument("--query", help="instead of UID: every raw run matching KEY=VALUE[,KEY=VALUE] of its start "
                                   "document, e.g. material=LCO,plan_name=cycling_zstack")
    p.add_argument("--workers", type=int, default=1, help="with --query: processes analysing runs in parallel")
    p.add_argument("--container", default=DERIVED_CONTAINER, help="with --query: container of the derived runs")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("proxy", help="the 0MQ document proxy (127.0.0.1): sessions publish, workers subscribe")
    p.set_defaults(func=cmd_proxy)
    p = sub.add_parser("worker", help="live analysis in this process, fed by the proxy; derived runs into Tiled",
                       description="Analyses the confocal runs the 0MQ proxy forwards (volumes, fronts and electrolyte "
                                   "are computed together) and writes derived runs to Tiled; a run whose start it "
                                   "missed is replayed from Tiled after its end, and on start-up it replays recent "
                                   "runs that have no derived run.")
    p.add_argument("--analysis", default=",".join(ANALYSES),
                   help=f"comma-separated: {','.join(ANALYSES)} (default all)")
    p.add_argument("--catch-up-hours", type=float, default=24.0,
                   help="on start-up, replay finished runs of the last HOURS without a derived run (0: none)")
    p.add_argument("--container", default=DERIVED_CONTAINER,
                   help=f"Tiled container of the derived runs (default {DERIVED_CONTAINER})")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("runs", help="search stored runs (material, C-rate, plan, sample, dates); prints a table",
                       description="Search the runs in Tiled; criteria combine (AND). Newest first.")
    p.add_argument("--material", help="e.g. LCO, NMC811, NWO")
    p.add_argument("--c-rate", type=c_rate_value, help="largest C-rate of the protocol, e.g. 0.5 for C/2")
    p.add_argument("--plan", help="plan name, e.g. cycling_zstack, zstack, gitt")
    p.add_argument("--sample", help="sample name")
    p.add_argument("--operator", help="who ran it")
    p.add_argument("--since", help="started on or after this date (YYYY-MM-DD[THH:MM], local time)")
    p.add_argument("--until", help="started before the end of this date (YYYY-MM-DD[THH:MM])")
    p.add_argument("--limit", type=limit_value, default=20, help="how many runs to list, 1-10000 (default 20)")
    p.add_argument("--derived", action="store_true", help="search the analysis (derived) runs instead")
    p.add_argument("--uids", action="store_true", help="print only the full uids, one per line (for scripts)")
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("sync", help="store in Tiled the runs backed up while it was unreachable "
                                    "($OPERANDO_HOME/backup)")
    p.set_defaults(func=cmd_sync)
    p = sub.add_parser("show", help="a run's metadata, streams, shapes and units, and its analysis runs")
    p.add_argument("uid", type=uid_value, help="uid or unique prefix (raw or derived run)")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("export", help="potentiostat data as BDF-style CSV; images as OME-TIFF or HDF5")
    p.add_argument("uid", type=uid_value, help="uid or unique prefix")
    p.add_argument("--out", type=Path, default=Path("."), help="output folder (default: here)")
    p.add_argument("--format", choices=["ome-tiff", "hdf5"], default="ome-tiff", help="image format")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("report", help="PNG figures and a static HTML page for a run (and its analysis runs)")
    p.add_argument("uid", type=uid_value, help="uid or unique prefix")
    p.add_argument("--out", type=Path, default=Path("reports"), help="folder for the report (default reports/)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"operando {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
