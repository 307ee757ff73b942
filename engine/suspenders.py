"""Suspend a run while a controller is unreachable; resume it when the controller is back.

``SuspendWhileDisconnected`` watches the Channel Access connections of a device's signals (ophyd's
metadata callbacks: the control layer's own disconnect and reconnect, no polling). A dead IOC
suspends the RunEngine at once: it rewinds to the last checkpoint (each z-plane is one) and waits.
When the control layer has reconnected them all, the settings the restarted controller lost are put back
(``devices.restore``) and the run goes on from that checkpoint: the interrupted plane is taken
again, the potentiostat's protocol is not restarted.
"""
from __future__ import annotations

import asyncio

import bluesky.plan_stubs as bps
from bluesky.suspenders import SuspenderBase

from operando.devices.restore import UNREACHABLE_GRACE_S, lost_connection

RECONNECT_SLEEP_S = 1.0     # margin after the last channel reconnects (the IOC's own clients reconnect too)


def restore_plan(device):
    """Put back, one at a time, the settings a restarted controller lost (RestoresSettings)."""
    for signal, value in getattr(device, "settings_to_put", lambda: [])():
        yield from bps.mv(signal, value)


class SuspendWhileDisconnected(SuspenderBase):
    """Suspend when any signal of ``device`` loses its connection; resume ``sleep`` s after all of
    them are connected again (the control layer reconnects each channel on its own schedule), once
    the device's lost settings have been put back."""

    def __init__(self, device, *, sleep: float = RECONNECT_SLEEP_S, **kwargs):
        self.device = device
        self.signals = [walk.item for walk in device.walk_signals()]
        super().__init__(self.signals[0], sleep=sleep, post_plan=lambda: restore_plan(device),
                         tripped_message=f"{device.name}: its controller is unreachable (IOC down?); "
                                         "the run goes on when it is back", **kwargs)

    def install(self, RE, *, event_type=None):
        with self._lock:
            self.RE = RE
        self.device.watched_by_suspender = True        # devices.restore: leave lost actions pending
        for signal in self.signals:
            signal.subscribe(self, event_type=signal.SUB_META, run=True)

    def remove(self):
        self.device.watched_by_suspender = False
        for signal in self.signals[1:]:
            signal.clear_sub(self)
        super().remove()

    def __call__(self, value=None, *, connected=None, **kwargs):
        """Called with a signal's connection metadata (``connected``), never its value."""
        if connected is not None:
            super().__call__(bool(connected) and all(s.connected for s in self.signals))

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


def install_disconnect_suspenders(RE, devices) -> list[SuspendWhileDisconnected]:
    """One suspender per device in ``devices`` (see ``controllers``); returns them. The RunEngine's
    device commands (``GUARDED_COMMANDS``) then leave an error from a just-lost controller to the
    suspender (see ``_guard``); installing twice does not guard twice."""
    suspenders = [SuspendWhileDisconnected(device) for device in devices]
    for suspender in suspenders:
        RE.install_suspender(suspender)
    if not getattr(RE, "_disconnect_guarded", False):
        registry = RE._command_registry          # bluesky has no public getter for a registered command
        for name in GUARDED_COMMANDS:
            RE.register_command(name, _guard(registry[name]))
        RE._disconnect_guarded = True
    return suspenders
