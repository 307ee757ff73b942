"""Simulated potentiostat (Gamry/BioLogic-like) cycling the virtual cell: its EPICS driver.

The instrument (``ioc.potentiostat_firmware``: the cell, the technique runner, the sample buffer,
the watchdog) runs in this process, or in its own process reached over ``ioc.firmware_link``
(``--firmware HOST:PORT``, how ``operando ioc all`` and the tests start it) so that this IOC can
be killed and restarted while the technique runs on. A compiled technique (JSON, see
``operando.plans.protocol.to_technique``) is written to Technique and started with Start=1; it
runs on board at ``Accel`` x wall time, sampling every 1/SampleRate wall seconds into a buffer of
sequence-numbered samples that a client reads window by window (BufStart put, then the Buf:*
arrays), so no sample is lost whatever CA monitors drop. Stop=1, the end of the technique, and
the watchdog (no Heartbeat put within WatchdogTimeout while running) leave the cell at open
circuit. Outside a technique the cell rests at open circuit and is still sampled.
"""
from __future__ import annotations

import asyncio
import functools
import logging

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from .common import ioc_arguments, ranged, serve, text
from .firmware_link import FirmwareLink, Unreachable
from .potentiostat_firmware import (CLIENT_STOP_MESSAGE, MAX_CURRENT_A, PotentiostatFirmware, add_cell_arguments,
                                    cell_from_arguments, tick_interval_s)

log = logging.getLogger(__name__)

BUFFER_WINDOW = 10000           # samples per Buf:* read
STATES = ["Idle", "Running", "Done", "Aborted"]
__all__ = ["PotentiostatIOC", "CLIENT_STOP_MESSAGE"]
NOT_ANSWERING = "instrument not answering"
FIRMWARE_WAIT_S = 30.0          # how long a starting IOC waits for its instrument


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
    boot_time = pvproperty(value=0.0, name="BootTime_RBV", read_only=True, units="s", precision=3,
                           doc="When the instrument started (Unix time; 0 until this IOC reached it): "
                               "a client sees a restart")
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

    def __init__(self, *args, instrument, **kwargs):
        """``instrument``: a PotentiostatFirmware, or a FirmwareLink to one in another process."""
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        self._exchange = asyncio.Lock()     # one command-and-readback at a time, in order
        self._boot = None

    async def _call(self, name, *args):
        """A command to the instrument, off the event loop (the link blocks)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, functools.partial(self.instrument.call, name, *args))
        except Unreachable as exc:
            if self.message.value != NOT_ANSWERING:
                log.warning("%s", exc)
                await self.message.write(NOT_ANSWERING)
            raise

    # --- the readback loop ------------------------------------------------------------
    @time_s.startup
    async def time_s(self, instance, async_lib):
        while True:
            try:
                async with self._exchange:
                    status = await self._call("status")
                    if status["boot_time"] != self._boot:     # first contact, or a new instrument
                        await self._show_info(await self._call("info"))
                    await self._publish(status)
            except Unreachable:
                pass                       # _call said so in Message_RBV; try again next tick
            await asyncio.sleep(tick_interval_s(self.sample_rate.value))

    async def _show_info(self, info):
        """Constants and settings of the instrument, as it holds them (a restarted IOC finds them)."""
        self._boot = info["boot_time"]
        await self.capacity.write(info["capacity_ah"])
        await self.v_min.write(info["v_min"])
        await self.v_max.write(info["v_max"])
        await self.max_current.write(info["max_current_a"])
        for pv, key in ((self.sample_rate, "sample_rate_hz"), (self.accel, "accel"),
                        (self.watchdog_enable, "watchdog_enable"), (self.watchdog_timeout, "watchdog_timeout_s")):
            if pv.value != info[key]:
                await pv.write(info[key])
        if self.technique.value != info["technique"]:
            await self.technique.write(info["technique"])
        await self.boot_time.write(info["boot_time"])

    async def _publish(self, s):
        await self.time_s.write(s["time_s"])
        await self.voltage.write(s["voltage_v"])
        await self.current.write(s["current_a"])
        await self.charge.write(s["charge_c"])
        await self.cycle.write(s["cycle"])
        await self.step_index.write(s["step_index"])
        await self.seq_num.write(s["seq_num"])
        await self.cell_state.write(s["cell_state"])
        for pv, key in ((self.run_start, "run_start"), (self.run_end, "run_end")):
            if pv.value != s[key]:
                await pv.write(s[key])
        for pv, key in ((self.step_text, "step_text"), (self.message, "message")):
            if pv.value != s[key][:255]:
                await pv.write(s[key][:255])
        if self.state.value != s["state"]:          # last: a client that sees the state finds the rest
            await self.state.write(s["state"])

    async def _command(self, name, *args):
        """Send a command, then publish the instrument's answer before the put completes."""
        async with self._exchange:
            try:
                result = await self._call(name, *args)
            finally:
                try:
                    await self._publish(await self._call("status"))
                except Unreachable:
                    pass
        return result

    # --- commands ---------------------------------------------------------------------
    @start.putter
    async def start(self, instance, value):
        if value:
            await self._command("start", self.technique.value)
        return 0

    @stop.putter
    async def stop(self, instance, value):
        if value:      # the relay opens now; the put completes once the instrument reports it
            await self._command("stop")
        return 0

    @heartbeat.putter
    async def heartbeat(self, instance, value):
        await self._call("heartbeat")
        return value

    async def _configure(self, name, value):
        if self._boot is not None:         # before first contact the values come from the instrument
            await self._call("configure", name, value)
        return value

    @sample_rate.putter
    async def sample_rate(self, instance, value):
        return await self._configure("sample_rate_hz", value)

    @accel.putter
    async def accel(self, instance, value):
        return await self._configure("accel", value)

    @watchdog_enable.putter
    async def watchdog_enable(self, instance, value):
        return await self._configure("watchdog_enable", value)

    @watchdog_timeout.putter
    async def watchdog_timeout(self, instance, value):
        return await self._configure("watchdog_timeout_s", value)

    @buf_start.putter
    async def buf_start(self, instance, value):
        """Load samples value ... value + BUFFER_WINDOW - 1 (those that exist) into Buf:*."""
        await self.buf_n.write(0)          # nothing valid unless the instrument answers
        window = await self._call("window", value, BUFFER_WINDOW)
        n = len(window)
        for pv, f in ((self.buf_seq, "seq_num"), (self.buf_time, "time_s"), (self.buf_voltage, "voltage_v"),
                      (self.buf_current, "current_a"), (self.buf_charge, "charge_c"),
                      (self.buf_cycle, "cycle"), (self.buf_step, "step_index")):
            await pv.write(window[f] if n else np.zeros(1))
        await self.buf_n.write(n)
        return value


def main(argv=None):
    parser = ioc_arguments(PotentiostatIOC.__doc__, "OPR:PSTAT:")
    parser.add_argument("--firmware", metavar="HOST:PORT",
                        help="drive an instrument running in another process (ioc.potentiostat_firmware; "
                             "key in OPERANDO_FIRMWARE_KEY) instead of one in this process")
    add_cell_arguments(parser)
    args = parser.parse_args(argv)
    if args.firmware:
        host, _, port = args.firmware.rpartition(":")
        instrument = FirmwareLink((host, int(port)))
        instrument.wait(FIRMWARE_WAIT_S)
    else:
        instrument = PotentiostatFirmware(cell_from_arguments(args)).start_ticking()
    serve(PotentiostatIOC(prefix=args.prefix, instrument=instrument), args.interface, args.verbose)


if __name__ == "__main__":
    main()
