"""Positioners whose move ends on the controller's put completion (objective piezo, stage axes).

The controller answers a put to the setpoint once the axis has travelled and settled (DMOV is
back to 1 by then); that answer ends the move, and the position is then read with a CA get, so it
is final, never a value on the way (caproto sends monitor updates through a queue that a put
reply can overtake). DMOV's monitor only tells whether the axis is moving. It used to end the move
too, on its 0 -> 1 transition: after a controller restart under load a replayed move was seen
never to end (the run waited for ever), and a monitor update that is never delivered, like the
brief 0 of a 1-um step, is the one thing such a move depended on that can go missing.
"""
import logging
import threading

from ophyd import Component as Cpt, EpicsSignal, EpicsSignalRO
from ophyd.pv_positioner import PVPositionerPC

from .restore import RestoresSettings, fail_when_unreachable, lost_connection, unreachable_status
from .units import UnitsInDescribe

log = logging.getLogger(__name__)

POSITION_READ_TIMEOUT_S = 2.0     # one CA get of a move's final position (the controller has just answered)
POSITION_READ_TRIES = 5           # while the controller stays connected


class DmovPositioner(RestoresSettings, UnitsInDescribe, PVPositionerPC):
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

    tolerance_um = 1e-3     # a move the controller ended farther than this from its target failed

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.readback.name = self.name   # the position's data key is the device name
        self._move_id = 0
        self._move_lock = threading.RLock()   # a move's id checked and its end run as one step

    def _setup_move(self, position):
        """Put the setpoint with put completion; the controller's answer ends this move (not an
        earlier one's late answer: each move has its own id, a stop or a new move supersedes it)."""
        with self._move_lock:
            self._move_id += 1
            move_id = self._move_id

        def answered(**kwargs):
            at = self._final_position(move_id)
            with self._move_lock:
                if move_id != self._move_id:
                    return                    # stopped or superseded meanwhile: ended there
                if at is None:
                    if not self.connected:    # the controller went away: fail_when_unreachable ends it
                        return
                    log.error("%s: the controller answered the move but its position cannot be read", self.name)
                    self._done_moving(success=False)      # not a move that never ends
                    return
                self._set_position(at)
                if abs(at - position) > self.tolerance_um:
                    log.error("%s: the controller ended the move at %.4f um, not %.4f um", self.name, at, position)
                self._done_moving(success=abs(at - position) <= self.tolerance_um)

        self.setpoint.put(position, wait=False, callback=answered)

    def _final_position(self, move_id: int) -> float | None:
        """The position (um) the controller ended move ``move_id`` at: a CA get of at most
        POSITION_READ_TIMEOUT_S, asked again while the controller stays connected and the move
        current (a host under full load); None if it cannot be read."""
        for _ in range(POSITION_READ_TRIES):
            if move_id != self._move_id or not self.connected:
                return None
            try:
                return float(self.readback.get(use_monitor=False, timeout=POSITION_READ_TIMEOUT_S))
            except Exception as exc:
                log.warning("%s: position unreadable after the move (%s)", self.name, exc)
        return None

    def stop(self, *, success=False):
        """Stop the axis and end the move in progress now, with ``success`` (ophyd's Device.stop,
        first in PVPositioner's MRO, does not end it; a move left pending was failed by the next
        one, and the RunEngine then failed a run it had suspended and rewound)."""
        with self._move_lock:
            self._move_id += 1                # the stopped move's answer no longer ends anything
        try:
            super().stop(success=success)     # the controller may be gone: the error stands, the move ends
        finally:
            with self._move_lock:
                self._done_moving(success=success)

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
