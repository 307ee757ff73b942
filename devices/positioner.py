"""Positioners that are done when the controller's DMOV returns to 1 (objective piezo, stage axes).

Done is taken from the DMOV monitor, not from the put callback: caproto sends monitor
updates through a queue that a put reply can overtake, so on a put callback the
readback could still show a position on the way. DMOV and the readback share that
queue, so DMOV=1 arrives after the final readback.
"""
from ophyd import Component as Cpt, EpicsSignal, EpicsSignalRO
from ophyd.pv_positioner import PVPositioner

from .restore import RestoresSettings, fail_when_unreachable, lost_connection, unreachable_status
from .units import UnitsInDescribe


class DmovPositioner(RestoresSettings, UnitsInDescribe, PVPositioner):
    """Readback in um under the device's own name; ``limits`` are the controller's soft limits.
    Subclasses declare ``setpoint`` and ``readback``."""

    done = Cpt(EpicsSignalRO, "DMOV", kind="omitted", auto_monitor=True)
    done_value = 1
    stop_signal = Cpt(EpicsSignal, "Stop", kind="omitted")
    stop_value = 1
    velocity_um_s = Cpt(EpicsSignal, "Velocity", kind="config")
    settle_time_s = Cpt(EpicsSignal, "SettleTime", kind="config")
    low_limit_um = Cpt(EpicsSignal, "LLM", kind="config")
    high_limit_um = Cpt(EpicsSignal, "HLM", kind="config")
    # the position itself is not restored: a rewound plan moves it again
    settings_to_restore = ("velocity_um_s", "settle_time_s", "low_limit_um", "high_limit_um")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.readback.name = self.name   # the position's data key is the device name

    def move(self, position, wait=False, timeout=None, moved_cb=None):
        """As PVPositioner.move; with the controller unreachable (now or during the move), a status
        that fails 2 s later (devices.restore) instead of an error raised in the RunEngine's loop or
        a move that never ends."""
        try:
            if not self.connected:
                raise ConnectionError(f"{self.name}: controller unreachable")
            status = super().move(position, wait=wait, timeout=timeout, moved_cb=moved_cb)
            return fail_when_unreachable(status, self, self.done, f"move to {position}") if not wait else status
        except Exception as exc:
            if wait or not lost_connection(self, exc):      # not a lost controller: the error stands
                raise
            return unreachable_status(self, f"move to {position}")

    @property
    def limits(self):
        return (float(self.low_limit_um.get()), float(self.high_limit_um.get()))

    @property
    def egu(self):
        return "um"
