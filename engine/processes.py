"""Start and stop the simulated instrument and the Tiled server as child processes."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from operando.ioc.firmware_link import KEY_VARIABLE

from .config import Config, ca_environment

IOC_PARTS = ("laser", "scanner", "piezo", "stage", "apd", "potentiostat")
WIDEFIELD_PARTS = ("led", "focus", "potentiostat", "camera")
PART_SUFFIXES = {"potentiostat": "PSTAT:", "camera": "CAM:", "led": "LED:", "focus": "FOCUS:"}
DEPENDENT_PARTS = ("apd", "camera")   # detectors that connect to the other parts: started last
PART_COMPONENTS = {"stage": "xy"}               # parts under another name in the composite


def part_prefix(config: Config, part: str) -> str:
    """PV prefix of an instrument part: the session prefix plus the suffix the
    composite device declares for it (ConfocalMicroscope.laser -> "LASER:")."""
    from operando.devices.confocal import ConfocalMicroscope

    if part in PART_SUFFIXES:
        return config.pv_prefix + PART_SUFFIXES[part]
    return config.pv_prefix + getattr(ConfocalMicroscope, PART_COMPONENTS.get(part, part)).suffix


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen
    log_path: Path | None = None
    argv: tuple[str, ...] = ()
    env: dict | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the process group, then SIGKILL after ``timeout`` s."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL the process group (a crash: nothing is shut down cleanly)."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5.0)

    def restart(self) -> None:
        """Start the same command again (same arguments, environment and log) in this object, so
        the lists that hold it stop the new process."""
        self.stop()
        self.popen = _popen(self.argv, self.env, self.log_path)


def _popen(argv, env: dict, log_path: Path | None) -> subprocess.Popen:
    if log_path is None:
        return subprocess.Popen(list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:   # the child keeps its own descriptor
        return subprocess.Popen(list(argv), env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _spawn(name: str, argv: list[str], env: dict, log_dir: Path | None) -> ManagedProcess:
    log_path = None if log_dir is None else log_dir / f"{name}.log"
    return ManagedProcess(name, _popen(argv, env, log_path), log_path, tuple(argv), env)


def ioc_argv(part: str, config: Config, extra: list[str] | None = None,
             parts=IOC_PARTS, standalone: bool = False) -> list[str]:
    """The command of one IOC; ``standalone``: a potentiostat IOC with its instrument in-process."""
    argv = [sys.executable, "-m", f"operando.ioc.{part}", "--prefix", part_prefix(config, part)]
    if part == "apd":
        argv += ["--laser-prefix", part_prefix(config, "laser"), "--scanner-prefix", part_prefix(config, "scanner"),
                 "--piezo-prefix", part_prefix(config, "piezo"), "--stage-prefix", part_prefix(config, "stage"),
                 "--seed", str(config.sample_seed),
                 "--material", config.material]
        if "potentiostat" in parts:
            argv += ["--cell-state-pv", part_prefix(config, "potentiostat") + "CellState_RBV"]
        if any(config.drift_um_per_h):
            argv += ["--drift-um-per-h", ",".join(repr(float(v)) for v in config.drift_um_per_h)]
    if part == "camera":
        argv += ["--led-prefix", part_prefix(config, "led"), "--focus-prefix", part_prefix(config, "focus"),
                 "--seed", str(config.sample_seed)]
        if "potentiostat" in parts:
            argv += ["--cell-state-pv", part_prefix(config, "potentiostat") + "CellState_RBV"]
    if part == "focus":
        argv += ["--seed", str(config.sample_seed)]
    if part == "potentiostat" and standalone:
        argv += ["--seed", str(config.sample_seed), "--material", config.material]
    elif part == "potentiostat":
        argv += ["--firmware", f"{config.host}:{config.firmware_port}"]
    return argv + list(extra or [])


def firmware_argv(config: Config) -> list[str]:
    """The simulated potentiostat itself (cell, technique, samples), which outlives its IOC."""
    return [sys.executable, "-m", "operando.ioc.potentiostat_firmware", "--port", str(config.firmware_port),
            "--interface", config.host, "--seed", str(config.sample_seed), "--material", config.material]


def child_environment(config: Config, part: str | None = None) -> dict:
    env = dict(os.environ)
    env.update(ca_environment(config, part))
    env.setdefault("PYTHONUNBUFFERED", "1")
    # One BLAS thread per simulator process: ten of them share the host's cores, and OpenBLAS's
    # idle threads spin (a render-bound test here: 58 s of CPU for 33 s with 2 threads, 29 s with 1).
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def start_iocs(config: Config, parts=IOC_PARTS, log_dir: Path | None = None,
               timeout: float = 30.0) -> list[ManagedProcess]:
    """Start one process per IOC and wait for their PVs; the detectors (APD controller, camera)
    start once the parts they connect to answer."""
    procs = [_spawn("ca-repeater", [sys.executable, "-m", "caproto.commandline.repeater", "-q"],
                    child_environment(config), log_dir)]
    key = {KEY_VARIABLE: secrets.token_hex(16)}       # shared by the potentiostat and its IOC only
    if "potentiostat" in parts:
        procs.append(_spawn("firmware-potentiostat", firmware_argv(config), {**child_environment(config), **key},
                            log_dir))
    ordered = [p for p in parts if p not in DEPENDENT_PARTS] + [p for p in parts if p in DEPENDENT_PARTS]
    try:
        for part in ordered:
            if part in DEPENDENT_PARTS:
                wait_for_pvs(config, [part_prefix(config, p) + PROBE_PV[p] for p in parts
                                      if p not in DEPENDENT_PARTS], timeout, procs)
            env = {**child_environment(config, part), **(key if part == "potentiostat" else {})}
            procs.append(_spawn(f"ioc-{part}", ioc_argv(part, config, parts=parts), env, log_dir))
        wait_for_pvs(config, [part_prefix(config, p) + PROBE_PV[p] for p in parts], timeout, procs)
    except BaseException:
        stop_all(procs)
        raise
    return procs


PROBE_PV = {"laser": "Wavelength_RBV", "scanner": "FrameTime_RBV", "piezo": "Z_RBV", "stage": "Y:RBV",
            "apd": "SampleSeed_RBV", "camera": "SampleSeed_RBV", "led": "Power_RBV", "focus": "Error_RBV",
            "potentiostat": "Capacity_RBV"}


def wait_for_pvs(config: Config, names: list[str], timeout: float, procs=()) -> None:
    """Block until every PV answers a caget over loopback, or raise TimeoutError."""
    from caproto.sync.client import read

    env = ca_environment(config)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            # The repeater is one per host and port: it exits if another already serves.
            dead = [p.name for p in procs if not p.alive() and p.name != "ca-repeater"]
            if dead:
                raise RuntimeError(f"process(es) exited during start-up: {dead}; see their logs")
            try:
                read(pending[0], timeout=0.3, repeater=False)
                pending.pop(0)
            except Exception:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PVs not reachable after {timeout} s: {pending}")
                time.sleep(0.1)
    finally:
        _restore_environment(old)


def _restore_environment(old: dict) -> None:
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def restart_ioc(config: Config, procs: list[ManagedProcess], part: str, timeout: float = 30.0) -> ManagedProcess:
    """Stop the IOC of ``part`` among ``procs`` and start it again (a fresh simulated device, except
    the potentiostat: its IOC is a driver, the instrument runs on); returns once its PVs answer."""
    (proc,) = [p for p in procs if p.name == f"ioc-{part}"]
    proc.restart()
    wait_for_pvs(config, [part_prefix(config, part) + PROBE_PV[part]], timeout, [proc])
    return proc


def power_cycle_potentiostat(config: Config, procs: list[ManagedProcess], timeout: float = 30.0) -> ManagedProcess:
    """Restart the simulated potentiostat itself: a new cell at open circuit, its technique and
    samples gone. Returns once its IOC shows the new instrument (BootTime_RBV changed)."""
    from caproto.sync.client import read

    (proc,) = [p for p in procs if p.name == "firmware-potentiostat"]
    pv = part_prefix(config, "potentiostat") + "BootTime_RBV"
    env = ca_environment(config)
    old_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        before = float(read(pv, timeout=5, repeater=False).data[0])
        proc.restart()
        deadline = time.monotonic() + timeout
        while float(read(pv, timeout=5, repeater=False).data[0]) in (before, 0.0):
            if time.monotonic() > deadline or not proc.alive():
                raise TimeoutError(f"the potentiostat did not come back within {timeout} s; see {proc.log_path}")
            time.sleep(0.1)
    finally:
        _restore_environment(old_env)
    return proc


@contextmanager
def stopped_on_sigterm():
    """Inside: SIGTERM raises SystemExit(143) in the main thread, so the ``finally`` clauses that
    stop the child processes run. (Python's default ends the process at once; the children, each in
    its own session so a Ctrl-C in the terminal reaches only the session, would run on.) Leaves a
    handler someone else installed alone; does nothing outside the main thread."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def stop_all(procs: list[ManagedProcess]) -> None:
    for p in reversed(procs):
        p.stop()
