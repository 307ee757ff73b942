"""The simulated potentiostat itself: the cell, the technique it runs, its sample buffer and its
watchdog, ticking in a thread of its own. No EPICS here.

The potentiostat IOC (``ioc.potentiostat``) is its driver: in the same process (``operando ioc
potentiostat``), or in another one over an authenticated link (``ioc.firmware_link``) so that the
IOC can die and be restarted while the instrument runs on, as a real potentiostat's firmware
outlives its host software; the restarted IOC finds the technique still running and every sample
still in the buffer. All commands go through ``call(name, *args)``, whichever side calls.

Units: seconds (wall time for ticks and the watchdog, cell time for samples), volts, amperes,
coulombs; ``accel`` cell seconds per wall second.
"""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager

from .cell.electrode import build_electrode
from .cell.halfcell import HalfCell
from .cell.rod_cell import RodCell
from .cell.rods import build_rod_electrode
from .firmware_link import Refused
from .sample_buffer import SampleRing
from .technique import TechniqueRunner

BUFFER_CAPACITY = 2_000_000     # samples kept (112 MB; 33 min at 1 kHz, 55 h at 10 Hz)
MAX_TICK_S = 0.1                # slowest tick (s): the readbacks move at >= 10 Hz
MIN_TICK_S = 0.02
LATE_TICK_WALL_S = 0.5          # most wall time one late tick of the physics stands for (s)
CHUNK_WALL_S = 0.05             # physics after which a tick ends early, to let commands in (s)
COMMAND_WAIT_S = 1.0            # longest the physics waits for a command to take the lock (s)
MAX_CURRENT_A = 0.6             # Gamry Reference 600
CLIENT_STOP_MESSAGE = "stopped by the client"    # a deliberate end, not a fault
SETTINGS = {"sample_rate_hz": (1.0, 1000.0), "accel": (1.0, 100000.0), "watchdog_enable": (0, 1),
            "watchdog_timeout_s": (0.2, 3600.0)}
COMMANDS = ("info", "status", "configure", "start", "stop", "heartbeat", "window")


def build_cell(material: str = "LCO", seed: int = 1, n_agglomerates: int = 8, active_mass_mg: float = 3.0):
    """The virtual cell: a half cell of LCO/NMC811 agglomerates, or NWO rods (an anode, 1.2-2.8 V)."""
    if material == "NWO":
        return RodCell(build_rod_electrode(seed), active_mass_kg=active_mass_mg * 1e-6, seed=seed)
    electrode = build_electrode(seed=seed, material=material, n_agglomerates=n_agglomerates)
    return HalfCell(electrode, active_mass_kg=active_mass_mg * 1e-6, seed=seed)


def tick_interval_s(sample_rate_hz: float) -> float:
    """Wall time between ticks: the sample period, but no faster than 50 Hz (samples between ticks
    are interpolated by the runner) and no slower than 10 Hz."""
    return min(max(1.0 / sample_rate_hz, MIN_TICK_S), MAX_TICK_S)


class PotentiostatFirmware:
    """Runs cycling techniques on ``cell``: telemetry in SI units, charging positive. Outside a
    technique the cell rests at open circuit and is still sampled."""

    def __init__(self, cell: HalfCell | RodCell):
        self.cell = cell
        self.boot_time = time.time()
        self.samples = SampleRing(BUFFER_CAPACITY)
        self.settings = {"sample_rate_hz": 10.0, "accel": 1.0, "watchdog_enable": 1, "watchdog_timeout_s": 5.0}
        self.technique_text = "{}"
        self.state, self.message, self.step_text = "Idle", "idle", "open circuit"
        self.run_start = self.run_end = -1
        self._lock = threading.Lock()       # held while the cell advances or a technique starts/stops
        self._queue = threading.Condition()  # guards _waiting: commands waiting for _lock
        self._waiting = 0
        self.runner = self._idle_runner(0, 0, 0)
        self._last_heartbeat = time.monotonic()
        self._technique_active = False
        self._halt = threading.Event()
        self._thread = None

    # --- the on-board loop ------------------------------------------------------------
    def start_ticking(self) -> "PotentiostatFirmware":
        self._thread = threading.Thread(target=self._loop, name="potentiostat-firmware", daemon=True)
        self._thread.start()
        return self

    def halt(self) -> None:
        self._halt.set()

    def _loop(self):
        """Tick, then rest one tick interval (commands from the link need the lock). Each tick
        advances the cell by the wall time since the last, so cell time runs at ``accel`` times wall
        time whatever a tick costs; a tick that came late (a busy host, a costly step) stands for at
        most LATE_TICK_WALL_S: cell time then lags instead of a longer tick making the next longer."""
        last = time.monotonic()
        while not self._halt.wait(tick_interval_s(self.settings["sample_rate_hz"])):
            now = time.monotonic()
            self.catch_up(min(now - last, LATE_TICK_WALL_S) * self.settings["accel"])
            last = now

    def catch_up(self, dt_cell_s: float) -> None:
        """Advance the cell by dt_cell_s in ticks of at most MAX_TICK_S of wall time's worth that
        each end after CHUNK_WALL_S of physics (a step near a cut-off costs ~100 times more per cell
        second than one in mid-charge), letting every command that waits for the instrument in
        between: a stop or a buffer read waits for one such tick. Physics slower than accel stops
        after LATE_TICK_WALL_S (cell time then lags). The watchdog judges the heartbeats as of the
        start: those sent meanwhile may be queued behind a command that waited for a tick."""
        start = time.monotonic()
        left = dt_cell_s
        while left > 1e-9 * dt_cell_s and time.monotonic() - start < LATE_TICK_WALL_S:
            deadline = time.monotonic() + CHUNK_WALL_S
            left -= self.tick(min(left, MAX_TICK_S * self.settings["accel"]), start,
                              enough=lambda: time.monotonic() >= deadline)
            with self._queue:
                self._queue.wait_for(lambda: self._waiting == 0, timeout=COMMAND_WAIT_S)

    @contextmanager
    def _held(self):
        """The instrument's lock for a command: counted while it waits, so catch_up lets it in."""
        with self._queue:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._queue:
                self._waiting -= 1
                self._queue.notify_all()
        try:
            yield
        finally:
            self._lock.release()

    def tick(self, dt_cell_s: float, now: float, enough=None) -> float:
        """Advance the cell by dt_cell_s under the running technique (or at rest), or less when
        ``enough()`` says so (TechniqueRunner.advance), keep the samples; returns the cell seconds
        advanced (all of dt_cell_s when the technique ended in it)."""
        with self._lock:
            running = self.state == "Running"
            if (running and self.settings["watchdog_enable"]
                    and now - self._last_heartbeat > self.settings["watchdog_timeout_s"]):
                self.runner.abort("watchdog: no heartbeat from the controlling client")
            self.runner.sample_interval_s = self._interval_s()
            advanced = dt_cell_s
            if self.runner.state == "running":
                self.samples.extend(self.runner.advance(dt_cell_s, enough))
                if self.runner.state == "running":
                    advanced = self.runner.advanced_s
            step = self.runner.step
            if step is not None:
                self.step_text = step.get("text", "")
            if running and self.runner.state in ("done", "aborted"):
                self._end_technique()
        return advanced

    def _idle_runner(self, seq, step, cycle) -> TechniqueRunner:
        idle = {"voltage_window_v": [-100.0, 100.0],
                "steps": [{"kind": "ocv", "text": "open circuit", "duration_s": None}]}
        return TechniqueRunner(self.cell, idle, self._interval_s(), max_substep_s=5.0, first_seq_num=seq,
                               first_step_index=step, first_cycle=cycle)

    def _interval_s(self) -> float:
        return self.settings["accel"] / self.settings["sample_rate_hz"]

    def _end_technique(self):
        """The technique ended (done, compliance, watchdog, Stop): open circuit, then report it."""
        if not self._technique_active:
            return
        self._technique_active = False
        self.state = "Done" if self.runner.state == "done" else "Aborted"
        self.message = self.runner.message or "technique complete"
        self.run_end = self.runner.seq_num - 1
        r = self.runner
        self.runner = self._idle_runner(r.seq_num, r.step_index + 1, r.cycle)
        self.step_text = "open circuit"

    # --- commands (``call``) ------------------------------------------------------------
    def call(self, name: str, *args):
        if name not in COMMANDS:
            raise Refused(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
        return getattr(self, name)(*args)

    def info(self) -> dict:
        """What does not change while the instrument runs, and its settings."""
        lo, hi = self.cell.material.voltage_window_v
        return {"capacity_ah": self.cell.capacity_ah, "v_min": lo, "v_max": hi, "max_current_a": MAX_CURRENT_A,
                "boot_time": self.boot_time, "technique": self.technique_text, **self.settings}

    def status(self) -> dict:
        """The readbacks and the cell's packed state (ioc.cell.state), consistent with one another."""
        with self._held():
            r = self.cell.reading
            return {"state": self.state, "message": self.message, "step_text": self.step_text,
                    "time_s": r.time_s, "voltage_v": r.voltage_v, "current_a": r.current_a, "charge_c": r.charge_c,
                    "cycle": self.runner.cycle, "step_index": self.runner.step_index,
                    "seq_num": self.runner.seq_num - 1, "run_start": self.run_start, "run_end": self.run_end,
                    "boot_time": self.boot_time, "cell_state": self.cell.packed_state()}

    def configure(self, name: str, value) -> None:
        if name not in SETTINGS:
            raise Refused(f"unknown setting {name!r}; known: {', '.join(SETTINGS)}")
        lo, hi = SETTINGS[name]
        if not lo <= value <= hi:
            raise Refused(f"{name} must be in [{lo}, {hi}], not {value!r}")
        with self._held():
            self.settings[name] = type(lo)(value) if isinstance(lo, int) else float(value)

    def heartbeat(self) -> None:
        self._last_heartbeat = time.monotonic()

    def start(self, technique_text: str) -> None:
        """Run a compiled technique (JSON, ``operando.plans.protocol.to_technique``) from the next sample."""
        with self._held():
            if self.state == "Running":
                raise Refused("a technique is already running; Stop it first")
            try:
                technique = json.loads(technique_text)
                self._check(technique)
            except (ValueError, KeyError, TypeError) as exc:
                self.message = f"refused: {exc}"
                raise Refused(str(exc)) from None
            r = self.runner
            self.runner = TechniqueRunner(self.cell, technique, self._interval_s(), first_seq_num=r.seq_num,
                                          max_substep_s=getattr(self.cell, "TECHNIQUE_SUBSTEP_S", 2.0),
                                          first_step_index=r.step_index + 1, first_cycle=r.cycle)
            self.technique_text = technique_text
            self._last_heartbeat = time.monotonic()
            self._technique_active = True
            self.run_start, self.run_end = r.seq_num, -1
            self.step_text = self.runner.step["text"] if self.runner.step else ""
            self.message, self.state = "running", "Running"

    def _check(self, technique):
        """The instrument's own limits, whatever the client validated."""
        lo, hi = self.cell.material.voltage_window_v
        w = technique["voltage_window_v"]
        if not (lo <= w[0] < w[1] <= hi):
            raise ValueError(f"voltage window {w} outside the cell's [{lo}, {hi}] V")

        def walk(steps):
            if not steps:
                raise ValueError("no steps")
            for s in steps:
                if s["kind"] == "loop":
                    walk(s["steps"])
                elif s["kind"] == "cc" and not 0 < abs(s["current_a"]) <= MAX_CURRENT_A:
                    raise ValueError(f"{s['text']!r}: |current| must be in (0, {MAX_CURRENT_A}] A")
                elif s["kind"] == "cv" and not lo <= s["voltage_v"] <= hi:
                    raise ValueError(f"{s['text']!r}: hold voltage outside [{lo}, {hi}] V")
                elif s["kind"] not in ("loop", "cc", "cv", "ocv"):
                    raise ValueError(f"unknown step kind {s['kind']!r}")
        walk(technique["steps"])

    def stop(self) -> None:
        """Open the relay now (at most one tick of physics away): the technique ends Aborted with
        CLIENT_STOP_MESSAGE."""
        with self._held():
            if self._technique_active:
                self.runner.abort(CLIENT_STOP_MESSAGE)
                self._end_technique()

    def window(self, first_seq: int, max_samples: int):
        """Samples first_seq ... (at most max_samples) as a numpy record array (sample_buffer.FIELDS)."""
        with self._held():
            try:
                return self.samples.window(int(first_seq), int(max_samples)).copy()
            except ValueError as exc:
                raise Refused(str(exc)) from None


def main(argv=None):
    """Run the instrument on its own, serving its driver over the link (ioc.firmware_link)."""
    import argparse

    from .firmware_link import serve_firmware

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port of the driver link")
    parser.add_argument("--interface", default="127.0.0.1", help="interface to bind (default %(default)s)")
    add_cell_arguments(parser)
    args = parser.parse_args(argv)
    serve_firmware(PotentiostatFirmware(cell_from_arguments(args)).start_ticking(), (args.interface, args.port))


def add_cell_arguments(parser) -> None:
    """The command-line options that choose the virtual cell (build_cell)."""
    parser.add_argument("--material", default="LCO", choices=["LCO", "NMC811", "NWO"],
                        help="NWO: rods of Nb14W3O44 for the widefield microscope (an anode: 1.2-2.8 V)")
    parser.add_argument("--seed", type=int, default=1, help="electrode seed (geometry, heterogeneity)")
    parser.add_argument("--n-agglomerates", type=int, default=8)
    parser.add_argument("--active-mass-mg", type=float, default=3.0)


def cell_from_arguments(args):
    return build_cell(args.material, args.seed, args.n_agglomerates, args.active_mass_mg)


if __name__ == "__main__":
    main()
