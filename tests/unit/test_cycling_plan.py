"""cycling_zstack without hardware: the messages it sends, in order, and its refusals (fake devices)."""
import numpy as np
import pytest
from ophyd.sim import make_fake_device

from operando.devices.confocal import ConfocalMicroscope
from operando.devices.potentiostat import Potentiostat
from operando.plans import PlanParameterError
from operando.plans.cycling_zstack import cycling_zstack

PROTOCOL = "Charge at C/2 until 4.2 V\nDischarge at C/2 until 3.6 V"
POSITIONS = [{"name": "A", "x_um": -8.0, "y_um": -8.0}, {"name": "B", "x_um": 8.0, "y_um": 8.0}]
STACK = dict(z_start_um=10.0, z_stop_um=11.0, z_step_um=0.5, pixels=(64, 64), pixel_size_um=0.2)


@pytest.fixture
def devices():
    scope = make_fake_device(ConfocalMicroscope)("OPR:", name="confocal")
    pstat = make_fake_device(Potentiostat)("OPR:PSTAT:", name="pstat")
    for sig, value in ((pstat.min_voltage_v, 3.0), (pstat.max_voltage_v, 4.4), (pstat.max_current_a, 0.6),
                       (pstat.capacity_ah, 4.1e-4), (scope.piezo.low_limit_um, 0.0),
                       (scope.piezo.high_limit_um, 100.0), (pstat.state, "Running")):
        sig.sim_put(value)
    return scope, pstat


class FakeStatus:
    """A completion status the test finishes (then the instrument reports Done)."""
    def __init__(self, pstat=None):
        self.done = False
        self.pstat = pstat

    def finish(self):
        self.done = True
        if self.pstat is not None:
            self.pstat.state.sim_put("Done")


def default_reply(msg):
    """What the fake instrument answers: readings, locations, a completion status; sets applied
    (Stop aborts the technique)."""
    if msg.command == "read":
        return msg.obj.read()
    if msg.command == "locate":
        return msg.obj.locate()
    if msg.command == "complete":
        return FakeStatus(msg.obj)
    if msg.command == "set":
        msg.obj.set(*msg.args) if not hasattr(msg.obj, "sim_put") else msg.obj.sim_put(*msg.args)
        if msg.obj.name == "pstat_stop_cmd":
            msg.obj.root.state.sim_put("Aborted")
    return None


def drive(plan, rounds=2, fail_at=None, hook=None):
    """Run a plan without a RunEngine against the fake devices; the protocol 'completes' after
    ``rounds`` collects; ``fail_at`` = (command, n, exception) is thrown into the plan at the n-th
    such message; ``hook(msg)`` sees every message after the default reply."""
    msgs, counts, status, collects = [], {}, None, 0
    reply = None
    injected = type(fail_at[2]) if fail_at else ()
    while True:
        try:
            msg = plan.send(reply)
        except StopIteration:
            return msgs
        except injected:                 # re-raised by the plan after its clean-up
            return msgs
        msgs.append(msg)
        counts[msg.command] = counts.get(msg.command, 0) + 1
        if fail_at and msg.command == fail_at[0] and counts[msg.command] == fail_at[1]:
            try:
                msg = plan.throw(fail_at[2])
                msgs.append(msg)
                fail_at = None
            except type(fail_at[2]):
                return msgs
        reply = default_reply(msg)
        if msg.command == "complete":
            status = reply
        elif msg.command == "collect" and status is not None:
            collects += 1
            if collects == rounds:         # the protocol ends after this many rounds of stacks
                status.finish()
        if hook is not None:
            hook(msg)


def names(msgs, command):
    return [m.obj.name if m.obj is not None else None for m in msgs if m.command == command]


def test_message_order_checkpoints_and_cleanup(devices):
    scope, pstat = devices
    msgs = drive(cycling_zstack(scope, pstat, PROTOCOL, POSITIONS, operator="t", **STACK), rounds=2)
    commands = [m.command for m in msgs]
    assert commands.index("stage") < commands.index("open_run") < commands.index("kickoff")
    assert set(names(msgs, "stage")) >= {"pstat", "confocal"}
    assert commands.index("monitor") < commands.index("kickoff")
    # every plane: a checkpoint, then the piezo moves, then the frame is triggered
    for k, m in enumerate(msgs):
        if m.command == "trigger" and m.obj.name == "confocal_apd":
            back = [x for x in msgs[:k] if x.command in ("checkpoint", "set")][::-1]
            assert any(x.command == "set" and x.obj.name == "confocal_piezo" for x in back[:3])
            assert any(x.command == "checkpoint" for x in back[:6])
    # two rounds x two positions x three planes, one summary event per stack
    saves = [m for m in msgs if m.command == "create"]
    assert [m.kwargs["name"] for m in saves].count("stacks") == 4
    assert [m.kwargs["name"] for m in saves].count("primary") == 12
    assert names(msgs, "collect").count("pstat") >= 2
    # the shutter closes and everything staged is unstaged after the run closes
    shutter = [m.args[0] for m in msgs if m.command == "set" and m.obj.name == "confocal_laser_shutter"]
    assert shutter[0] == "Open" and shutter[-1] == "Closed"
    assert commands.index("close_run") < max(i for i, c in enumerate(commands) if c == "unstage")
    assert {"pstat", "confocal"} <= set(names(msgs, "unstage"))


@pytest.mark.parametrize("where", [("trigger", 3), ("collect", 1), ("read", 20)])
def test_an_exception_anywhere_still_opens_the_circuit_and_closes_the_shutter(devices, where):
    scope, pstat = devices
    plan = cycling_zstack(scope, pstat, PROTOCOL, POSITIONS, operator="t", **STACK)
    msgs = drive(plan, rounds=3, fail_at=(*where, RuntimeError("boom")))
    after = msgs[[m.command for m in msgs].index(where[0]):]
    assert {"pstat", "confocal"} <= set(names(after, "unstage"))
    assert "close_run" in [m.command for m in after]


def test_stop_condition_ends_the_protocol_by_opening_the_circuit(devices):
    scope, pstat = devices
    pstat.cell_time_s.sim_put(0.0)
    plan = cycling_zstack(scope, pstat, PROTOCOL, POSITIONS[:1], operator="t", max_cell_time_s=100.0, **STACK)

    def hook(msg):
        if msg.command == "collect":               # cell time passes between rounds
            pstat.cell_time_s.sim_put(pstat.cell_time_s.get() + 60.0)

    msgs = drive(plan, rounds=1000, hook=hook)
    stop = [m for m in msgs if m.command == "set" and m.obj.name == "pstat_stop_cmd"]
    assert stop, "the plan must stop the protocol when the stop condition is met"
    assert [m.kwargs["name"] for m in msgs if m.command == "create"].count("stacks") == 2   # at 0 s and 60 s


BAD = [
    ("protocol", dict(protocol="Charge at C/2 until 5.2 V"), "5.2"),
    ("protocol", dict(protocol="Charge at 9000C until 4.2 V"), "current"),
    ("protocol", dict(protocol="Boil at 4 V"), "Boil"),
    ("protocol", dict(protocol=""), "no steps"),
    ("positions", dict(positions=[]), "positions"),
    ("positions", dict(positions="A"), "positions"),
    ("positions", dict(positions=[{"name": "A", "x_um": 0.0}]), "y_um"),
    ("positions", dict(positions=[{"name": "", "x_um": 0.0, "y_um": 0.0}]), "name"),
    ("positions", dict(positions=[{"name": "A", "x_um": 0.0, "y_um": 0.0}] * 2), "twice"),
    ("positions", dict(positions=[{"name": "A", "x_um": 9e9, "y_um": 0.0}]), "x_um"),
    ("positions", dict(positions=[{"name": "A", "x_um": float("nan"), "y_um": 0.0}]), "x_um"),
    ("positions", dict(positions=[{"name": "A", "x_um": 0.0, "y_um": 0.0, "colour": 1}]), "colour"),
    ("positions", dict(positions=[{"name": "A", "x_um": 0.0, "y_um": 0.0, "z_stop_um": 500.0}]), "z_stop_um"),
    ("positions", dict(positions=[{"name": "A", "x_um": 0.0, "y_um": 0.0, "label": "big"}]), "label"),
    ("z_step_um", dict(z_step_um=0.0), "z_step_um"),
    ("z_start_um", dict(z_start_um=-5.0), "z_start_um"),
    ("channels", dict(channels=("infrared",)), "channels"),
    ("pixel_dwell_s", dict(pixel_dwell_s=1.0), "pixel_dwell_s"),
    ("pixels", dict(pixels=(64,)), "pixels"),
    ("pixel_size_um", dict(pixel_size_um=-1.0), "pixel_size_um"),
    ("wavelength_nm", dict(wavelength_nm=532.0), "wavelength_nm"),
    ("power_w", dict(power_w=5.0), "power_w"),
    ("interval_s", dict(interval_s=-1.0), "interval_s"),
    ("max_cycles", dict(max_cycles=0), "max_cycles"),
    ("max_cycles", dict(max_cycles=1.5), "max_cycles"),
    ("max_cell_time_s", dict(max_cell_time_s=float("inf")), "max_cell_time_s"),
    ("accel", dict(accel=0.0), "accel"),
    ("sample_rate_hz", dict(sample_rate_hz=5000.0), "sample_rate_hz"),
    ("sample", dict(sample={"name": "x"}), "material"),
    ("sample", dict(sample={"name": "x", "material": "LFP", "electrode": {}, "electrolyte": {}}), "material"),
    ("sample", dict(sample={"name": "x", "material": "LCO", "electrode": {"active_mass_fraction": 2},
                            "electrolyte": {}}), "active_mass_fraction"),
    ("operator", dict(operator=""), "operator"),
    ("md", dict(md={"sample": "S1"}), "md: sample set by the plan"),
    ("md", dict(md={"z_step_um": 0.1, "note": "ok"}), "md: z_step_um"),
]


@pytest.mark.parametrize("parameter, change, words", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_refused_before_the_first_message(devices, parameter, change, words):
    scope, pstat = devices
    kwargs = dict(protocol=PROTOCOL, positions=POSITIONS, operator="t", **STACK)
    kwargs.update(change)
    plan = cycling_zstack(scope, pstat, **kwargs)
    with pytest.raises(PlanParameterError) as err:
        next(plan)
    assert words in str(err.value)
    assert np.isclose(scope.xy.x.setpoint.get(), 0.0)                    # nothing moved


def test_interval_starts_rounds_every_interval_of_cell_time(devices):
    scope, pstat = devices
    pstat.cell_time_s.sim_put(0.0)
    plan = cycling_zstack(scope, pstat, PROTOCOL, POSITIONS[:1], operator="t", interval_s=100.0, **STACK)
    starts = []

    def hook(msg):
        if msg.command in ("sleep", "trigger"):
            pstat.cell_time_s.sim_put(pstat.cell_time_s.get() + (10.0 if msg.command == "sleep" else 5.0))
        elif msg.command == "set" and msg.obj.name == "stack_index":
            starts.append(pstat.cell_time_s.get())

    drive(plan, rounds=3, hook=hook)
    assert len(starts) == 3
    np.testing.assert_allclose(starts, [0.0, 100.0, 200.0], atol=10.0)
