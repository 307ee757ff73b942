"""Potentiostat as a flyer: the protocol runs on board; collect returns every sample once.

The technique (compiled protocol, see ``operando.plans.protocol.to_technique``) is set with
``configure({"technique": json_text})`` or ``load_technique(dict)``; ``kickoff`` starts it
and a heartbeat for the instrument's watchdog; ``complete`` finishes when the instrument
reports Done (fails on Aborted, with its message); ``collect`` reads the instrument's
sample buffer window by window from the technique's first to its last sequence number.
Columns follow Battery Data Format habits: time s, voltage V, current A (charging
positive), net charge C, cycle and step counters that never reset.
"""
from __future__ import annotations

import json
import logging
import threading
import time

import numpy as np
from ophyd import Component as Cpt, Device, EpicsSignal, EpicsSignalRO, Staged
from ophyd.status import DeviceStatus, Status

from .status import ExplainedStatus
from .units import UnitsInDescribe

log = logging.getLogger(__name__)

CLIENT_STOP_MESSAGE = "stopped by the client"    # what the instrument reports after a Stop put


class PotentiostatRestarted(RuntimeError):
    """The instrument restarted while a technique of ours ran: the protocol did not finish (the
    cell is at open circuit) and samples it had not handed over are gone."""

COLUMNS = {  # data key suffix: (buffer component, units, dtype)
    "seq_num": ("buf_seq", "", "integer"),
    "time_s": ("buf_time", "s", "number"),
    "voltage_v": ("buf_voltage", "V", "number"),
    "current_a": ("buf_current", "A", "number"),
    "charge_c": ("buf_charge", "C", "number"),
    "cycle": ("buf_cycle", "", "integer"),
    "step_index": ("buf_step", "", "integer"),
}


class Potentiostat(UnitsInDescribe, Device):
    technique = Cpt(EpicsSignal, "Technique", string=True, put_complete=True, kind="omitted",
                    auto_monitor=False)
    start_cmd = Cpt(EpicsSignal, "Start", put_complete=True, kind="omitted")
    stop_cmd = Cpt(EpicsSignal, "Stop", put_complete=True, kind="omitted")
    state = Cpt(EpicsSignalRO, "State_RBV", string=True, auto_monitor=True, kind="omitted")
    message = Cpt(EpicsSignalRO, "Message_RBV", string=True, kind="omitted")
    step_text = Cpt(EpicsSignalRO, "StepText_RBV", string=True, kind="omitted")
    voltage_v = Cpt(EpicsSignalRO, "Voltage_RBV", auto_monitor=True, kind="hinted")
    current_a = Cpt(EpicsSignalRO, "Current_RBV", kind="normal")
    cell_time_s = Cpt(EpicsSignalRO, "Time_RBV", kind="normal")
    charge_c = Cpt(EpicsSignalRO, "Charge_RBV", kind="normal")
    cycle = Cpt(EpicsSignalRO, "Cycle_RBV", kind="normal")
    step_index = Cpt(EpicsSignalRO, "StepIndex_RBV", kind="normal")
    seq_num = Cpt(EpicsSignalRO, "SeqNum_RBV", kind="omitted")
    run_start_seq = Cpt(EpicsSignalRO, "RunStartSeq_RBV", kind="omitted")
    boot_time = Cpt(EpicsSignalRO, "BootTime_RBV", kind="omitted")
    run_end_seq = Cpt(EpicsSignalRO, "RunEndSeq_RBV", kind="omitted")
    sample_rate_hz = Cpt(EpicsSignal, "SampleRate", put_complete=True, kind="config")
    accel = Cpt(EpicsSignal, "Accel", put_complete=True, kind="config")
    watchdog_enable = Cpt(EpicsSignal, "WatchdogEnable", put_complete=True, kind="config")
    watchdog_timeout_s = Cpt(EpicsSignal, "WatchdogTimeout", put_complete=True, kind="config")
    heartbeat = Cpt(EpicsSignal, "Heartbeat", kind="omitted")
    capacity_ah = Cpt(EpicsSignalRO, "Capacity_RBV", kind="config")
    min_voltage_v = Cpt(EpicsSignalRO, "VMin_RBV", kind="config")
    max_voltage_v = Cpt(EpicsSignalRO, "VMax_RBV", kind="config")
    max_current_a = Cpt(EpicsSignalRO, "MaxCurrent_RBV", kind="config")
    buf_start = Cpt(EpicsSignal, "BufStart", put_complete=True, kind="omitted")
    buf_n = Cpt(EpicsSignalRO, "Buf:N_RBV", kind="omitted")
    buf_seq = Cpt(EpicsSignalRO, "Buf:SeqNum", kind="omitted")
    buf_time = Cpt(EpicsSignalRO, "Buf:Time", kind="omitted")
    buf_voltage = Cpt(EpicsSignalRO, "Buf:Voltage", kind="omitted")
    buf_current = Cpt(EpicsSignalRO, "Buf:Current", kind="omitted")
    buf_charge = Cpt(EpicsSignalRO, "Buf:Charge", kind="omitted")
    buf_cycle = Cpt(EpicsSignalRO, "Buf:Cycle", kind="omitted")
    buf_step = Cpt(EpicsSignalRO, "Buf:Step", kind="omitted")

    def __init__(self, *args, stream_name: str = "potentiostat", **kwargs):
        super().__init__(*args, **kwargs)
        self.stream_name = stream_name
        self._first = self._last = self._next = None
        self._boot = None
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread = None

    # --- loading ---------------------------------------------------------------------
    def load_technique(self, technique: dict) -> Status:
        return self.technique.set(json.dumps(technique))

    # --- flyer protocol ----------------------------------------------------------------
    def kickoff(self) -> DeviceStatus:
        """Start the loaded technique; done once the instrument runs it."""
        status = ExplainedStatus(self)

        def started(put_status):
            try:
                check(put_status)
            except Exception as exc:        # a callback that raises would leave the status pending forever
                status.set_exception(exc)

        def check(put_status):
            if not put_status.success:
                status.set_exception(put_status.exception() or RuntimeError("start refused"))
                return
            # Generous timeouts: a busy host can hold an answer for seconds; the RunEngine waits on this.
            if self.state.get(use_monitor=False, timeout=10.0) != "Running":
                status.set_exception(RuntimeError(f"{self.name}: technique refused: "
                                                  f"{self.message.get(use_monitor=False, timeout=10.0)}"))
                return
            self._first = int(self.run_start_seq.get(use_monitor=False, timeout=10.0))
            self._boot = float(self.boot_time.get(use_monitor=False, timeout=10.0))
            # The first technique since staging (or any, unstaged) starts the record; later techniques
            # of a staged plan continue it, open-circuit stretches in between included.
            if self._next is None or self._staged != Staged.yes:
                self._next = self._first
            self._last = None
            self._start_heartbeat()
            status.set_finished()

        self.start_cmd.set(1).add_callback(started)
        return status

    def complete(self) -> Status:
        """Done when the technique ends: Done, or Aborted by a client's Stop (a plan that reached its
        stop condition, or its clean-up after an abort: a deliberate end, so a RunEngine abort is not
        turned into a failed status by the open circuit it causes); fails with the instrument's
        message when it aborted for any other reason (compliance, watchdog), and with
        PotentiostatRestarted when the instrument restarted under the technique."""
        result = ExplainedStatus(self)

        def ended(value=None, **kwargs):
            if value in ("Done", "Aborted") and not result.done:
                # A stale monitor value may still tell of the previous technique: read the state
                # and which technique it is about (one stopped before its first sample ends at
                # first - 1, so the end's sequence number cannot tell).
                if (self.state.get(use_monitor=False) not in ("Done", "Aborted")
                        or int(self.run_start_seq.get(use_monitor=False)) != self._first
                        or self.restarted_since_kickoff()):
                    return
                end = int(self.run_end_seq.get(use_monitor=False))
                self._stop_heartbeat()
                self._last = end
                message = self.message.get(use_monitor=False)
                if value == "Done" or message == CLIENT_STOP_MESSAGE:
                    result.set_finished()
                else:
                    result.set_exception(RuntimeError(f"{self.name}: technique aborted: {message}"))

        def restarted(value=None, **kwargs):
            if self._boot is not None and value and value != self._boot and not result.done:   # 0: not known yet
                self._stop_heartbeat()
                result.set_exception(self._restarted_error())

        subscriptions = [(self.state, self.state.subscribe(ended, run=True)),
                         (self.boot_time, self.boot_time.subscribe(restarted, run=True))]
        result.add_callback(lambda status: [signal.unsubscribe(cid) for signal, cid in subscriptions])
        return result

    def _restarted_error(self) -> PotentiostatRestarted:
        collected = "none" if self._next is None or self._next <= self._first else f"{self._first}-{self._next - 1}"
        return PotentiostatRestarted(
            f"{self.name}: the potentiostat restarted during the technique (started at sample {self._first}): the "
            f"protocol did not finish and the cell is at open circuit; samples collected before: {collected}; "
            "any taken after them were lost with the instrument")

    def restarted_since_kickoff(self) -> bool:
        """Whether the instrument restarted since our technique started (its boot time changed)."""
        boot = float(self.boot_time.get(use_monitor=False))
        return self._boot is not None and boot != 0 and boot != self._boot    # 0: the IOC has not reached it yet

    def describe_collect(self):
        return {self.stream_name: {
            f"{self.name}_{key}": {"source": getattr(self, attr).pvname, "dtype": dtype, "shape": [],
                                   "units": units}
            for key, (attr, units, dtype) in COLUMNS.items()}}

    def read_samples(self, first: int, last: int) -> dict[str, np.ndarray]:
        """Samples first..last (sequence numbers, inclusive) from the instrument's buffer."""
        chunks = {k: [] for k in COLUMNS}
        seq = first
        while seq <= last:
            self.buf_start.set(seq).wait(10)
            n = int(self.buf_n.get(use_monitor=False))
            if n == 0:
                raise RuntimeError(f"{self.name}: sample {seq} not in the instrument's buffer "
                                   f"(its IOC says: {self.message.get(use_monitor=False)})")
            n = min(n, last - seq + 1)
            for key, (attr, _, _) in COLUMNS.items():
                chunks[key].append(np.asarray(getattr(self, attr).get(use_monitor=False))[:n])
            seq += n
        out = {k: np.concatenate(v) if v else np.array([]) for k, v in chunks.items()}
        if len(out["seq_num"]) and not np.array_equal(out["seq_num"], np.arange(first, last + 1)):
            raise RuntimeError(f"{self.name}: buffer returned non-contiguous sequence numbers")
        return out

    def collect(self):
        """One event per sample of the technique not collected yet, in order (timestamps: collection
        time). May be called while the technique runs (what has been sampled so far) and again
        later: across calls every sample is returned exactly once."""
        if self._first is None or self._next is None:
            raise RuntimeError(f"{self.name}: collect before kickoff")
        if self.restarted_since_kickoff():      # the new instrument's samples are not this technique's
            return
        last = self._last
        if last is None:
            last = int(self.run_end_seq.get(use_monitor=False))
            if last < self._first:                   # still running: up to the latest sample
                last = int(self.seq_num.get(use_monitor=False))
        if last < self._next:
            return
        samples = self.read_samples(self._next, last)
        self._next = last + 1
        now = time.time()
        for k in range(len(samples["seq_num"])):
            data = {f"{self.name}_{key}": samples[key][k].item() for key in COLUMNS}
            yield {"time": now, "data": data, "timestamps": {key: now for key in data}}

    def open_circuit(self, timeout: float = 5.0) -> None:
        """Stop whatever runs: the instrument disconnects the cell (idempotent)."""
        self._stop_heartbeat()
        self.stop_cmd.set(1).wait(timeout)

    def stage(self):
        """Start a new record: collect returns samples from the next kickoff on, including the
        open-circuit stretches between techniques of the same staged plan (e.g. GITT)."""
        self._next = None
        return super().stage()

    def unstage(self):
        """A plan that staged the potentiostat leaves the cell at open circuit, however it ends."""
        self.open_circuit()
        return super().unstage()

    def stop(self, *, success=False):
        """Open circuit now."""
        self._stop_heartbeat()
        self.stop_cmd.put(1)
        super().stop(success=success)

    # --- watchdog heartbeat ---------------------------------------------------------------
    def _start_heartbeat(self):
        self._stop_heartbeat()
        period = max(0.05, float(self.watchdog_timeout_s.get()) / 4)
        self._heartbeat_stop = stop = threading.Event()

        def beat():
            k = 0
            while not stop.wait(period):
                k += 1
                try:
                    self.heartbeat.put(k)
                except Exception as exc:     # the instrument unreachable: keep beating for when it is back
                    log.warning("%s: heartbeat not delivered (%s)", self.name, exc)

        self._heartbeat_thread = threading.Thread(target=beat, name=f"{self.name}-heartbeat", daemon=True)
        self._heartbeat_thread.start()

    def _stop_heartbeat(self):
        self._heartbeat_stop.set()
