"""The disconnect suspender with a busy RunEngine loop and a suspension deadline, without IOCs:
the connection callbacks a control layer sends are fired by hand on soft signals."""
import threading
import time

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.status import Status

from operando.devices.restore import unreachable_status

from operando.engine.suspenders import SuspensionExpired, SuspendWhileDisconnected


class LinkedSignal(Signal):
    """A soft signal whose connection state the test sets, with the control layer's callback."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._linked = True

    @property
    def connected(self):
        return self._linked

    def link(self, up: bool):
        self._linked = up
        self._run_subs(sub_type=self.SUB_META, connected=up)


class Controller(Device):
    a = Cpt(LinkedSignal, value=0)
    b = Cpt(LinkedSignal, value=0)


class Axis(Controller):
    """A movable on the linked signals: a move asked while the controller is unreachable gets
    ``unreachable_status`` (as the piezo's and the APD's do); otherwise it is done at once."""

    def set(self, value):
        if not self.connected:
            return unreachable_status(self, f"move to {value}", grace=0.3)
        self.a.put(value)
        status = Status(self)
        status.set_finished()
        return status


@bpp.run_decorator()
def steps(n=40, dt=0.05):
    for _ in range(n):
        yield from bps.checkpoint()
        yield from bps.sleep(dt)


def link_all(device, up: bool):
    for signal in (device.a, device.b):
        signal.link(up)


@pytest.fixture
def engine():
    RE = RunEngine({}, call_returns_result=True)
    RE.record_interruptions = True
    device = Controller(name="ctrl")
    yield RE, device
    RE.clear_suspenders()


def interruption_docs(docs):
    streams = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == "interruptions"}
    return [d["data"]["interruption"] for n, d in docs if n == "event" and d["descriptor"] in streams]


def test_a_loss_while_the_loop_is_busy_still_suspends_and_the_run_resumes(engine):
    """bluesky's own suspender gives the loop 0.1 s to make its event; a loss reported while the
    loop is busy longer than that (a slow callback, a loaded machine) was dropped and the plan
    waited for ever on a move that could not finish. Here the loop is blocked 0.5 s when both
    channels drop: the run still suspends, and resumes when they are back."""
    RE, device = engine
    RE.install_suspender(SuspendWhileDisconnected(device, sleep=0.2))
    docs = []
    times = {}

    def fault():
        time.sleep(0.4)
        RE.loop.call_soon_threadsafe(time.sleep, 0.5)      # the loop busy for 0.5 s
        time.sleep(0.05)
        link_all(device, False)
        times["lost"] = time.monotonic()
        time.sleep(1.0)
        link_all(device, True)
        times["back"] = time.monotonic()

    thread = threading.Thread(target=fault)
    t0 = time.monotonic()
    thread.start()
    result = RE(steps(), lambda name, doc: docs.append((name, doc)))
    thread.join()
    took = time.monotonic() - t0
    assert result.exit_status == "success"
    (reason,) = interruption_docs(docs)
    assert reason.startswith("ctrl: its controller is unreachable") and "ctrl_a" in reason
    # 40 x 0.05 s of plan, plus the outage and the 0.2 s margin after it
    assert took > 2.0 + (times["back"] - times["lost"]) + 0.2 - 0.3


def test_every_outage_of_a_run_is_suspended(engine):
    """Two outages in one run: two suspensions recorded, the run completes; the suspender is not
    left thinking a suspension still waits on the first."""
    RE, device = engine
    RE.install_suspender(SuspendWhileDisconnected(device, sleep=0.1))
    docs = []

    def faults():
        for _ in range(2):
            time.sleep(0.4)
            link_all(device, False)
            time.sleep(0.4)
            link_all(device, True)

    thread = threading.Thread(target=faults)

    def record(name, doc):
        docs.append((name, doc))
        if name == "start":                   # the outages begin once the run has
            thread.start()

    result = RE(steps(60), record)
    thread.join()
    assert result.exit_status == "success"
    assert len(interruption_docs(docs)) == 2


def test_a_move_asked_of_the_lost_controller_ends_when_it_is_back():
    """A move asked just after the controller dropped, before the suspension takes effect, gets a
    status that cannot finish. When the suspension came between that move and its wait, bluesky's
    rewind replayed the same messages with the same group name and the replayed wait waited on
    the old status too: the run hung for ever (seen under load in test_ioc_restart: the replayed
    wait listed the new MoveStatus and the old one). Under a suspender the old status now ends,
    done, once the controller is back (the rewound plan has asked again by then)."""
    axis = Axis(name="axis")
    axis.watched_by_suspender = True          # as SuspendWhileDisconnected.install sets it
    link_all(axis, False)
    status = axis.set(3.0)
    time.sleep(0.6)                           # past its grace: not failed (that would end the run)
    assert not status.done
    link_all(axis, True)
    status.wait(2)
    assert status.success
    unwatched = Axis(name="free")            # without a suspender it fails after its grace
    link_all(unwatched, False)
    with pytest.raises(ConnectionError, match="free: its controller became unreachable; move to 3.0 not done"):
        unwatched.set(3.0).wait(2)


def test_a_suspension_longer_than_its_deadline_fails_the_run_with_the_reason(engine):
    """A controller that does not come back within ``deadline_s`` ends the run: exit_status
    'fail', the reason naming the device and the time waited, instead of waiting for ever."""
    RE, device = engine
    RE.install_suspender(SuspendWhileDisconnected(device, sleep=0.2, deadline_s=1.0))
    docs = []

    def fault():
        time.sleep(0.3)
        link_all(device, False)

    thread = threading.Thread(target=fault)
    thread.start()
    t0 = time.monotonic()
    with pytest.raises(SuspensionExpired, match=r"ctrl: its controller was unreachable for 1\.0 s"):
        RE(steps(), lambda name, doc: docs.append((name, doc)))
    took = time.monotonic() - t0
    thread.join()
    (stop,) = [d for n, d in docs if n == "stop"]
    assert stop["exit_status"] == "fail" and "unreachable for 1.0 s" in stop["reason"]
    assert 1.2 < took < 10.0


def test_repr_names_the_device():
    assert repr(SuspendWhileDisconnected(Controller(name="ctrl"), deadline_s=5.0)) == \
        "SuspendWhileDisconnected(ctrl, sleep=1.0, deadline_s=5.0)"


def test_the_deadline_refuses_a_non_positive_value():
    with pytest.raises(ValueError, match=r"deadline_s.*> 0"):
        SuspendWhileDisconnected(Controller(name="ctrl"), deadline_s=0.0)
