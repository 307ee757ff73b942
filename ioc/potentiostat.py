"""Simulated potentiostat (Gamry/BioLogic-like) cycling the virtual cell.

It owns the cell's electrochemistry. A compiled technique (JSON, see
``operando.plans.protocol.to_technique``) is written to Technique and started with
Start=1; it runs on board at ``Accel`` x wall time, sampling every 1/SampleRate wall
seconds into a buffer of sequence-numbered samples that a client reads window by
window (BufStart put, then the Buf:* arrays), so no sample is lost whatever CA monitors
drop. Stop=1, the end of the technique, and the watchdog (no Heartbeat put within
WatchdogTimeout while running) leave the cell at open circuit. Outside a technique
the cell rests at open circuit and is still sampled.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from .cell.electrode import build_electrode
from .cell.halfcell import HalfCell
from .cell.rod_cell import RodCell
from .cell.rods import build_rod_electrode
from .common import ioc_arguments, ranged, serve, text
from .sample_buffer import SampleRing
from .technique import TechniqueRunner

log = logging.getLogger(__name__)

BUFFER_WINDOW = 10000           # samples per Buf:* read
BUFFER_CAPACITY = 2_000_000     # samples kept in the IOC (112 MB; 33 min at 1 kHz, 55 h at 10 Hz)
MAX_TICK_WALL_S = 0.1    # most wall time one tick of the physics stands for (s)
MIN_TICK_S = 0.02
MAX_CURRENT_A = 0.6             # Gamry Reference 600
STATES = ["Idle", "Running", "Done", "Aborted"]
CLIENT_STOP_MESSAGE = "stopped by the client"    # Stop=1: a deliberate end, not a fault


def _array(name, dtype, doc, units=""):
    return pvproperty(value=[0] * 1 if dtype is int else [0.0], dtype=dtype, max_length=BUFFER_WINDOW,
                      name=name, read_only=True, doc=doc, **({"units": units} if units else {}))


class PotentiostatIOC(PVGroup):
    """Runs cycling techniques on the virtual cell; telemetry in SI units, charging positive."""

    technique = text("{}", "Compiled technique (JSON)", max_length=65536, name="Technique")
    start = pvproperty(value=0, name="Start", doc="Write 1 to start the loaded technique")
    stop = pvproperty(value=0, name="Stop", doc="Write 1 to stop: open circuit")
    state = pvproperty(value="Idle", enum_strings=STATES, dtype=ChannelType.ENUM, name="State_RBV",
                       read_only=True)
    message = text("idle", "Last event or error", name="Message_RBV", read_only=True, max_length=256)
    step_text = text("open circuit", "Step being run", name="StepText_RBV", read_only=True, max_length=256)
    sample_rate = ranged(10.0, 1.0, 1000.0, "Hz", "Telemetry samples per wall second", name="SampleRate",
                         precision=1)
    accel = ranged(1.0, 1.0, 100000.0, "", "Cell seconds per wall second", name="Accel", precision=1)
    watchdog_enable = pvproperty(value=1, name="WatchdogEnable", doc="1: open circuit when the client is gone")
    watchdog_timeout = ranged(5.0, 0.2, 3600.0, "s", "Heartbeat timeout (wall time)", name="WatchdogTimeout",
                              precision=2)
    heartbeat = pvproperty(value=0, name="Heartbeat", doc="Client writes any value periodically")
    time_s = pvproperty(value=0.0, name="Time_RBV", read_only=True, units="s", precision=3)
    voltage = pvproperty(value=0.0, name="Voltage_RBV", read_only=True, units="V", precision=5)
    current = pvproperty(value=0.0, name="Current_RBV", read_only=True, units="A", precision=9)
    charge = pvproperty(value=0.0, name="Charge_RBV", read_only=True, units="C", precision=6)
    cycle = pvproperty(value=0, name="Cycle_RBV", read_only=True)
    step_index = pvproperty(value=0, name="StepIndex_RBV", read_only=True)
    seq_num = pvproperty(value=-1, name="SeqNum_RBV", read_only=True, doc="Last sample's sequence number")
    run_start = pvproperty(value=-1, name="RunStartSeq_RBV", read_only=True, doc="First sample of the technique")
    run_end = pvproperty(value=-1, name="RunEndSeq_RBV", read_only=True, doc="Last sample of the technique")
    capacity = pvproperty(value=0.0, name="Capacity_RBV", read_only=True, units="A*h", precision=9)
    v_min = pvproperty(value=0.0, name="VMin_RBV", read_only=True, units="V", precision=3)
    v_max = pvproperty(value=0.0, name="VMax_RBV", read_only=True, units="V", precision=3)
    boot_time = pvproperty(value=time.time(), name="BootTime_RBV", read_only=True, units="s", precision=3,
                           doc="When the instrument started (Unix time): a client sees a restart")
    max_current = pvproperty(value=MAX_CURRENT_A, name="MaxCurrent_RBV", read_only=True, units="A", precision=3)
    cell_state = pvproperty(value=[0.0] * 3, dtype=float, max_length=8192, name="CellState_RBV", read_only=True,
                            doc="Electrode x, imaged agglomerates' lithiation profiles, volume changes and salt around them (ioc.cell.state)")
    buf_start = pvproperty(value=0, name="BufStart", doc="First sequence number to load into Buf:*")
    buf_n = pvproperty(value=0, name="Buf:N_RBV", read_only=True, doc="Valid samples in Buf:*")
    buf_seq = _array("Buf:SeqNum", int, "Sequence numbers")
    buf_time = _array("Buf:Time", float, "Cell time", "s")
    buf_voltage = _array("Buf:Voltage", float, "Voltage", "V")
    buf_current = _array("Buf:Current", float, "Current, charging positive", "A")
    buf_charge = _array("Buf:Charge", float, "Net charge passed", "C")
    buf_cycle = _array("Buf:Cycle", int, "Cycle counter")
    buf_step = _array("Buf:Step", int, "Step counter")

    def __init__(self, *args, cell: HalfCell | RodCell, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell = cell
        self.samples = SampleRing(BUFFER_CAPACITY)
        self.runner = self._idle_runner(0, 0, 0)
        self._last_heartbeat = time.monotonic()
        self._technique_active = False
        self._physics = asyncio.Lock()     # held while the cell advances or a technique starts/stops

    def _idle_runner(self, seq, step, cycle) -> TechniqueRunner:
        idle = {"voltage_window_v": [-100.0, 100.0],
                "steps": [{"kind": "ocv", "text": "open circuit", "duration_s": None}]}
        return TechniqueRunner(self.cell, idle, self._interval_s(), max_substep_s=5.0, first_seq_num=seq,
                               first_step_index=step, first_cycle=cycle)

    def _interval_s(self) -> float:
        return self.accel.value / self.sample_rate.value

    def _to_open_circuit(self):
        r = self.runner
        self.runner = self._idle_runner(r.seq_num, r.step_index + 1, r.cycle)

    # --- the on-board loop --------------------------------------------------------------
    @time_s.startup
    async def time_s(self, instance, async_lib):
        await self.capacity.write(self.cell.capacity_ah)
        lo, hi = self.cell.material.voltage_window_v
        await self.v_min.write(lo)
        await self.v_max.write(hi)
        await self.voltage.write(self.cell.reading.voltage_v)
        last = time.monotonic()
        loop = asyncio.get_running_loop()
        while True:
            # Tick at the sample rate, but no faster than 50 Hz: samples between ticks are
            # interpolated by the runner, and the event loop stays free for CA clients.
            await asyncio.sleep(min(max(1.0 / self.sample_rate.value, MIN_TICK_S), 0.1))
            async with self._physics:
                now = time.monotonic()
                # A tick that came late (a busy host) advances the cell by at most MAX_TICK_WALL_S of
                # wall time: cell time then lags instead of a longer tick making the next one longer.
                dt_cell = min(now - last, MAX_TICK_WALL_S) * self.accel.value
                last = now
                running = self.state.value == "Running"
                if running and self.watchdog_enable.value and now - self._last_heartbeat > self.watchdog_timeout.value:
                    self.runner.abort("watchdog: no heartbeat from the controlling client")
                self.runner.sample_interval_s = self._interval_s()
                # The physics runs in a worker thread so that CA clients are answered meanwhile;
                # Start and Stop wait for the lock, so the cell never changes under it.
                samples = (await loop.run_in_executor(None, self.runner.advance, dt_cell)
                           if self.runner.state == "running" else [])
                self._store(samples)
                if running and self.runner.state in ("done", "aborted"):
                    await self._end_technique()
                await self._publish()

    async def _end_technique(self):
        """The technique ended (done, compliance, watchdog, Stop): open circuit, then report it."""
        if not self._technique_active:
            return
        self._technique_active = False
        state = "Done" if self.runner.state == "done" else "Aborted"
        message = self.runner.message or "technique complete"
        end_seq = self.runner.seq_num - 1
        self._to_open_circuit()
        await self.run_end.write(end_seq)
        await self.message.write(message[:255])
        await self.step_text.write("open circuit")
        await self.state.write(state)

    def _store(self, samples):
        self.samples.extend(samples)

    async def _publish(self):
        r = self.cell.reading
        await self.time_s.write(r.time_s)
        await self.voltage.write(r.voltage_v)
        await self.current.write(r.current_a)
        await self.charge.write(r.charge_c)
        await self.cycle.write(self.runner.cycle)
        await self.step_index.write(self.runner.step_index)
        await self.seq_num.write(self.runner.seq_num - 1)
        await self.cell_state.write(self.cell.packed_state())
        step = self.runner.step
        if step is not None and step.get("text") != self.step_text.value:
            await self.step_text.write(step["text"][:255])

    # --- commands ---------------------------------------------------------------------
    @start.putter
    async def start(self, instance, value):
        if not value:
            return 0
        async with self._physics:
            return await self._start()

    async def _start(self):
        if self.state.value == "Running":
            raise RuntimeError("a technique is already running; Stop it first")
        try:
            technique = json.loads(self.technique.value)
            self._check(technique)
        except (ValueError, KeyError, TypeError) as exc:
            await self.message.write(f"refused: {exc}"[:255])
            raise
        r = self.runner
        self.runner = TechniqueRunner(self.cell, technique, self._interval_s(), first_seq_num=r.seq_num,
                                      max_substep_s=getattr(self.cell, "TECHNIQUE_SUBSTEP_S", 2.0),
                                      first_step_index=r.step_index + 1, first_cycle=r.cycle)
        self._last_heartbeat = time.monotonic()
        self._technique_active = True
        await self.run_start.write(r.seq_num)
        await self.run_end.write(-1)
        await self.step_text.write(self.runner.step["text"][:255] if self.runner.step else "")
        await self.message.write("running")
        await self.state.write("Running")
        return 0

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

    @stop.putter
    async def stop(self, instance, value):
        if value:
            async with self._physics:       # at most one tick of physics away
                if self._technique_active:
                    # The relay opens now; the put completes once the instrument reports it.
                    self.runner.abort(CLIENT_STOP_MESSAGE)
                    await self._end_technique()
        return 0

    @heartbeat.putter
    async def heartbeat(self, instance, value):
        self._last_heartbeat = time.monotonic()
        return value

    @buf_start.putter
    async def buf_start(self, instance, value):
        """Load samples value ... value + BUFFER_WINDOW - 1 (those that exist) into Buf:*."""
        window = self.samples.window(value, BUFFER_WINDOW)
        n = len(window)
        for pv, f in ((self.buf_seq, "seq_num"), (self.buf_time, "time_s"), (self.buf_voltage, "voltage_v"),
                      (self.buf_current, "current_a"), (self.buf_charge, "charge_c"),
                      (self.buf_cycle, "cycle"), (self.buf_step, "step_index")):
            await pv.write(window[f] if n else np.zeros(1))
        await self.buf_n.write(n)
        return value


def main(argv=None):
    parser = ioc_arguments(PotentiostatIOC.__doc__, "OPR:PSTAT:")
    parser.add_argument("--material", default="LCO", choices=["LCO", "NMC811", "NWO"],
                        help="NWO: rods of Nb14W3O44 for the widefield microscope (an anode: 1.2-2.8 V)")
    parser.add_argument("--seed", type=int, default=1, help="electrode seed (geometry, heterogeneity)")
    parser.add_argument("--n-agglomerates", type=int, default=8)
    parser.add_argument("--active-mass-mg", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.material == "NWO":
        cell = RodCell(build_rod_electrode(args.seed), active_mass_kg=args.active_mass_mg * 1e-6, seed=args.seed)
    else:
        electrode = build_electrode(seed=args.seed, material=args.material, n_agglomerates=args.n_agglomerates)
        cell = HalfCell(electrode, active_mass_kg=args.active_mass_mg * 1e-6, seed=args.seed)
    serve(PotentiostatIOC(prefix=args.prefix, cell=cell), args.interface, args.verbose)


if __name__ == "__main__":
    main()
