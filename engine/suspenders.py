"""Suspend a run while a controller is unreachable; resume it when the controller is back.

``SuspendWhileDisconnected`` watches the Channel Access connections of a device's signals (ophyd's
metadata callbacks: the control layer's own disconnect and reconnect, no polling of the IOC). A dead
IOC suspends the RunEngine at once: it rewinds to the last checkpoint (each z-plane is one) and waits.
When the control layer has reconnected them all, the settings the restarted controller lost are put back
(``devices.restore``) and the run goes on from that checkpoint: the interrupted plane is taken
again, the potentiostat's protocol is not restarted. With ``deadline_s``, a controller unreachable
longer than that ends the run (exit_status 'fail', the reason saying so) instead of waiting for ever.

bluesky's ``SuspenderBase`` makes its asyncio event from the control layer's thread and gives the
RunEngine's loop 0.1 s to do it; a loss reported while the loop is busy longer (a slow document
callback on a loaded machine) was dropped, and the plan then waited for ever on a move that could
not finish. Here the request needs no answer from the loop: the suspension's wait is a coroutine
run in the loop that watches the connection state the callbacks keep.
"""
from __future__ import annotations

import asyncio
import math
import time

import bluesky.plan_stubs as bps
from bluesky.suspenders import SuspenderBase

from operando.devices.restore import UNREACHABLE_GRACE_S, lost_connection

RECONNECT_SLEEP_S = 1.0     # margin after the last channel reconnects (the IOC's own clients reconnect too)
POLL_S = 0.05               # how often the suspended RunEngine looks at the connection state, s


class SuspensionExpired(RuntimeError):
    """A controller stayed unreachable longer than its suspender's deadline."""


def restore_plan(device):
    """Put back, one at a time, the settings a restarted controller lost (RestoresSettings)."""
    for signal, value in getattr(device, "settings_to_put", lambda: [])():
        yield from bps.mv(signal, value)


class SuspendWhileDisconnected(SuspenderBase):
    """Suspend when any signal of ``device`` loses its connection; resume ``sleep`` s after all of
    them are connected again (the control layer reconnects each channel on its own schedule), once
    the device's lost settings have been put back. ``deadline_s`` (s, > 0; None: no limit): a
    controller unreachable that long fails the run."""

    def __init__(self, device, *, sleep: float = RECONNECT_SLEEP_S, deadline_s: float | None = None, **kwargs):
        if deadline_s is not None and not (isinstance(deadline_s, (int, float)) and math.isfinite(deadline_s)
                                           and deadline_s > 0):
            raise ValueError(f"deadline_s: the longest a controller may stay unreachable, s; must be > 0 "
                             f"(or None for no limit), got {deadline_s!r}")
        self.device = device
        self.signals = [walk.item for walk in device.walk_signals()]
        self.deadline_s = deadline_s
        self._lost_at: float | None = None       # monotonic time of the loss being waited out
        self._back_at: float | None = None       # monotonic time all channels were connected again
        self._waiting = False                    # a suspension (or a plan start) waits on this loss
        self._expired: str | None = None
        super().__init__(self.signals[0], sleep=sleep, post_plan=self._after_suspension,
                         tripped_message=f"{device.name}: its controller is unreachable (IOC down?); "
                                         "the run goes on when it is back", **kwargs)

    def __repr__(self):
        # not SuspenderBase's: its post_plan is a method of this object (its repr would recurse)
        return f"{type(self).__name__}({self.device.name}, sleep={self._sleep}, deadline_s={self.deadline_s})"

    def install(self, RE, *, event_type=None):
        with self._lock:
            self.RE = RE
        self.device.watched_by_suspender = True        # devices.restore: lost actions end when it is back
        for signal in self.signals:
            signal.subscribe(self, event_type=signal.SUB_META, run=True)

    def remove(self):
        self.device.watched_by_suspender = False
        for signal in self.signals:
            signal.clear_sub(self)
        with self._lock:
            self.RE = None
            self._tripped = False
            self._back_at = time.monotonic() - self._sleep      # a waiting suspension is released

    def __call__(self, value=None, *, connected=None, **kwargs):
        """Called with a signal's connection metadata (``connected``), never its value."""
        if connected is None:
            return
        up = bool(connected) and all(s.connected for s in self.signals)
        with self._lock:
            RE = self.RE
            if RE is None:
                return
            if up:
                if self._tripped:
                    if self._waiting:
                        print(f"{self.device.name}: its controller is reachable again; the run goes on in "
                              f"{self._sleep} s")
                    # a waiter still sleeping its margin returns by itself; one never started (the run
                    # ended before the RunEngine took the request) must not keep the next loss unasked
                    self._tripped, self._back_at, self._waiting = False, time.monotonic(), False
                return
            self._back_at = None
            if self._tripped:
                return
            self._tripped, self._lost_at, self._expired = True, time.monotonic(), None
            request = RE.state.is_running and not self._waiting
            if request:
                self._waiting = True
            justification = self._get_justification()
        if request:
            RE.request_suspend(self._released, post_plan=self._post_plan, justification=justification)

    async def _released(self):
        """The suspension's wait, in the RunEngine's loop: until every channel has been connected
        for ``sleep`` s, or the deadline has passed (then ``_after_suspension`` ends the run)."""
        try:
            while True:
                with self._lock:
                    now = time.monotonic()
                    if not self._tripped and (self._back_at is None or now - self._back_at >= self._sleep):
                        return
                    if self._tripped and self.deadline_s is not None and now - self._lost_at >= self.deadline_s:
                        self._expired = (f"{self.device.name}: its controller was unreachable for "
                                         f"{self.deadline_s:.1f} s, the suspenders' deadline; the run ends")
                        return
                await asyncio.sleep(POLL_S)
        finally:
            self._waiting = False

    def _after_suspension(self):
        """The post-plan: fail the run if the deadline passed, else put back the lost settings."""
        if self._expired:
            raise SuspensionExpired(self._expired)
        yield from restore_plan(self.device)

    def get_futures(self):
        """What a plan started while the controller is unreachable waits on before it begins."""
        with self._lock:
            if not self._tripped:
                return [], ""
            self._waiting = True
            return [self._released], self._get_justification()

    # SuspenderBase's abstract methods; __call__ above decides without them
    def _should_suspend(self, value):
        return not value

    def _should_resume(self, value):
        return bool(value)

    def _get_justification(self):
        down = [s.name for s in self.signals if not s.connected]
        return f"{self._tripped_message} (disconnected: {', '.join(down) or 'none now'})" if self.tripped else ""


def controllers(*devices) -> list:
    """The parts of ``devices`` with a controller (an IOC) each: a composite microscope's
    ``controller_names`` components, any other device as it is."""
    parts = []
    for device in devices:
        names = getattr(device, "controller_names", None)
        parts.extend([getattr(device, n) for n in names] if names else [device])
    return parts


GUARDED_COMMANDS = ("read", "set", "trigger", "kickoff", "complete", "collect", "locate")


def _watched(obj) -> bool:
    while obj is not None:
        if getattr(obj, "watched_by_suspender", False):
            return True
        obj = getattr(obj, "parent", None)
    return False


def _guard(command):
    async def guarded(msg):
        try:
            return await command(msg)
        except Exception as exc:
            # A call on a device whose controller just died can fail in the RunEngine's loop before
            # the suspender's request (queued by the same loss) is processed; wait for it: the
            # suspension cancels this wait and replays the message from the last checkpoint once the
            # controller is back. If no suspension comes, the error stands.
            if _watched(msg.obj) and lost_connection(getattr(msg.obj, "root", msg.obj), exc):
                await asyncio.sleep(UNREACHABLE_GRACE_S)
            raise
    return guarded


def install_disconnect_suspenders(RE, devices, *, deadline_s: float | None = None) -> list[SuspendWhileDisconnected]:
    """One suspender per device in ``devices`` (see ``controllers``), each with ``deadline_s`` (see
    ``SuspendWhileDisconnected``); returns them. The RunEngine's
    device commands (``GUARDED_COMMANDS``) then leave an error from a just-lost controller to the
    suspender (see ``_guard``); installing twice does not guard twice."""
    suspenders = [SuspendWhileDisconnected(device, deadline_s=deadline_s) for device in devices]
    for suspender in suspenders:
        RE.install_suspender(suspender)
    if not getattr(RE, "_disconnect_guarded", False):
        registry = RE._command_registry          # bluesky has no public getter for a registered command
        for name in GUARDED_COMMANDS:
            RE.register_command(name, _guard(registry[name]))
        RE._disconnect_guarded = True
    return suspenders
