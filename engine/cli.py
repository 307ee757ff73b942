"""``operando`` command line: IOCs, the Tiled server, the demo and replayed analysis."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .config import Config, ca_environment
from .processes import IOC_PARTS, WIDEFIELD_PARTS


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
    return module.main(ioc_argv(args.part, config)[3:] + args.extra) or 0


def cmd_serve(args) -> int:
    from .tiled_server import serve_forever

    return serve_forever(_config(args))


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


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(_config(args), args.timing)


def cmd_analyze(args) -> int:
    """Replay a stored run through the confocal analysis; exit 3 if the run is not in Tiled,
    4 if the server does not answer."""
    import httpx

    from .analyze import analyze_run, summary_lines
    from .tiled_server import connect

    config = _config(args)
    try:
        client = connect(config)
    except (httpx.HTTPError, OSError) as exc:
        print(f"no Tiled server at {config.tiled_uri} ({exc}); start one with `operando serve`", file=sys.stderr)
        return 4
    try:
        analysis = analyze_run(client, args.uid, store=not args.no_store)
    except KeyError:
        print(f"no run {args.uid!r} in {config.tiled_uri}/api/v1/metadata/raw", file=sys.stderr)
        return 3
    print("\n".join(summary_lines(analysis)))
    if not args.no_store:
        print(f"derived run {analysis.documents[0][1]['uid']} (raw_uid {args.uid}) stored in the 'derived' container")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="operando", description="Operando optical microscopy of batteries.")
    parser.add_argument("--home", type=Path, help="data and state directory (default $OPERANDO_HOME or ~/.operando)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ioc", help="run a simulated IOC (one process per instrument part)")
    p.add_argument("part", choices=sorted(set(IOC_PARTS) | set(WIDEFIELD_PARTS)) + ["all", "widefield"],
                   help="one part; all: the confocal microscope and potentiostat (LCO cell); widefield: camera, "
                        "LED, focus lock and potentiostat (NWO rod cell)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="options passed to the IOC")
    p.set_defaults(func=cmd_ioc)
    p = sub.add_parser("serve", help="run the Tiled server (SQLite catalog, API key, 127.0.0.1)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("shell", help="IPython with the operando profile: RE, devices, catalog, plans, bec",
                       description="IPython with profiles/profile_operando (the instrument file names the devices). "
                                   "Options after -- go to IPython, e.g. `operando shell -- -c 'print(RE.md)'`.")
    p.add_argument("--instrument", type=Path, help="instrument file (default $OPERANDO_INSTRUMENT or "
                                                   "profiles/profile_operando/instrument.yaml)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="IPython options")
    p.set_defaults(func=cmd_shell)
    p = sub.add_parser("demo", help="start everything, record a z-stack into Tiled, check it, stop")
    p.add_argument("--timing", choices=["realistic", "fast"], default="fast",
                   help="realistic: the pristine stack at the scanner's pace (~70 s longer)")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("analyze", help="replay a stored run through the analysis into a derived run")
    p.add_argument("uid", help="uid (or unique prefix) of the raw run")
    p.add_argument("--no-store", action="store_true", help="print the results without writing a derived run")
    p.set_defaults(func=cmd_analyze)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
