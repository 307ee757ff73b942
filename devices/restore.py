"""Settings a controller loses when it restarts, put back when it is reachable again.

A restarted controller (an IOC process, a rebooted laser) comes back with its defaults: the shutter
closed, the wavelength at its start value, no file open. A device with ``RestoresSettings`` keeps
the last value it saw of each signal named in ``settings_to_restore`` while the controller was
connected, stops following them when the connection drops, and ``resume()`` (called by the
RunEngine when a suspension ends) puts them back, in the order listed, before the plan goes on.
"""
from __future__ import annotations

import logging
import threading
import time

from epics import ca
from ophyd.utils.errors import DisconnectedError

from .ca_gets import ECA_DISCONN, refused_as_disconnected
from .status import ExplainedStatus

log = logging.getLogger(__name__)


class RestoresSettings:
    """Mixin for ophyd Devices; ``settings_to_restore`` holds dotted component names."""

    settings_to_restore: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._settings: dict[str, object] = {}
        self._lost = threading.Event()          # a watched signal disconnected since the last resume
        for attr in self.settings_to_restore:
            signal = self._setting(attr)
            signal.subscribe(self._follow(attr), run=False)
            signal.subscribe(self._watch_connection, event_type=signal.SUB_META, run=False)

    def _setting(self, dotted: str):
        obj = self
        for part in dotted.split("."):
            obj = getattr(obj, part)
        return obj

    def _follow(self, attr):
        def remember(value, **kwargs):
            if not self._lost.is_set():
                self._settings[attr] = value
        return remember

    def _watch_connection(self, *, connected=True, **kwargs):
        if not connected:
            self._lost.set()

    def remember_settings(self) -> None:
        """A fresh baseline (a plan staging the device has just configured it): read every setting."""
        self._lost.clear()
        for attr in self.settings_to_restore:
            self._settings[attr] = self._setting(attr).get(use_monitor=False)

    def settings_to_put(self, timeout: float = 30.0) -> list[tuple[object, object]]:
        """After a lost connection: wait for the controller, return [(signal, remembered value)] in
        ``settings_to_restore`` order and consider them restored; [] if the connection never dropped."""
        if not self._lost.is_set():
            return []
        self.wait_for_connection(timeout=timeout)
        self._lost.clear()
        pairs = [(self._setting(a), self._settings[a]) for a in self.settings_to_restore if a in self._settings]
        log.warning("%s: controller reconnected; putting back %s", self.name,
                    ", ".join(f"{sig.attr_name}={value!r}" for sig, value in pairs))
        return pairs

    def restore_settings(self, timeout: float = 30.0) -> int:
        """Put the remembered settings back (blocking) if the connection dropped; returns how many."""
        pairs = self.settings_to_put(timeout)
        for signal, value in pairs:
            signal.set(value).wait(timeout)
        return len(pairs)

    def stage(self):
        self.remember_settings()
        return super().stage()

    def resume(self):
        """The RunEngine calls this on the devices a plan used, before the suspender's post_plan
        (``engine.suspenders.restore_plan``, for devices it only reached through their signals):
        a detector that must have its file back before resuming gets it here."""
        self.restore_settings()
        return super().resume()


UNREACHABLE_GRACE_S = 2.0


def lost_connection(device, exc: BaseException) -> bool:
    """Whether ``exc``, raised by a device call, comes from its controller being unreachable: the
    device reports itself disconnected, or the control layer failed the call on a connection that
    dropped under it (a timeout waiting for a channel; a get that failed, or that libca refused, with
    ECA_DISCONN: the device may still say connected, its connection callback not yet run)."""
    if not device.connected or isinstance(exc, (DisconnectedError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, ca.ChannelAccessGetFailure):
        return exc.status == ECA_DISCONN
    return refused_as_disconnected(exc)


RECONNECT_POLL_S = 0.1


def _fail_later(status, device, action: str, grace: float) -> None:
    """Fail ``status`` after ``grace`` s, unless a disconnect suspender watches the device: a
    status that fails would end the suspended run (bluesky fails a run on any failed status it
    was given). Under a suspender the status ends instead, as done, once the controller is back:
    the suspension (asked for by the same loss) has rewound the plan by then, and the plan asks
    again. Left pending it hung the run: bluesky's rewind replays the same messages, with the
    same group names, and the replayed wait of that group waited for it too."""
    def fail():
        if getattr(device, "watched_by_suspender", False):
            _end_when_reachable(status, device)
            return
        if not status.done:
            status.set_exception(ConnectionError(f"{device.name}: its controller became unreachable; {action} "
                                                 "not done (install disconnect suspenders to ride through it)"))
    timer = threading.Timer(grace, fail)
    timer.daemon = True
    timer.start()


def _end_when_reachable(status, device) -> None:
    """End ``status`` (done) once ``device`` is connected again (a thread polling every 0.1 s)."""
    def wait():
        while not status.done:
            if device.connected:
                try:
                    status.set_finished()
                except Exception:           # finished meanwhile by its own callback
                    pass
                return
            time.sleep(RECONNECT_POLL_S)
    threading.Thread(target=wait, name=f"{device.name}-reconnect", daemon=True).start()


def unreachable_status(device, action: str, grace: float = UNREACHABLE_GRACE_S):
    """The status of an ``action`` asked of a device whose controller is unreachable right now:
    it fails ``grace`` s later. Raising at once would end the run before a disconnect suspender,
    told of the same loss a moment later, can suspend it; under a suspender it ends when the
    controller is back (see ``_fail_later``), and the rewound plan asks again."""
    status = ExplainedStatus(device)
    _fail_later(status, device, action, grace)
    return status


def fail_when_unreachable(status, device, signal, action: str, grace: float = UNREACHABLE_GRACE_S):
    """Fail ``status`` ``grace`` s after ``signal`` (one of the device's) loses its connection
    while the action runs: a controller that dies mid-move never reports done, and without a
    suspender the run would wait for ever."""
    def watch(*, connected=True, **kwargs):
        if not connected and not status.done:
            _fail_later(status, device, action, grace)

    signal.subscribe(watch, event_type=signal.SUB_META, run=False)
    status.add_callback(lambda st: signal.clear_sub(watch))
    return status
