"""The potentiostat firmware's clock: cell time runs at ``accel`` times wall time (no EPICS).

The firmware's loop runs against a simulated wall clock, so the test is exact whatever the host's
load: each tick costs some wall time, and the host stalls the loop now and then."""
import json
import threading
import time
from types import SimpleNamespace

import pytest

from operando.ioc import potentiostat_firmware as pf
from operando.plans.protocol import CellLimits, parse_protocol, to_technique


class SimulatedWall:
    """Wall clock and halt event of the firmware's loop: each wait lasts what it asks plus the
    next of ``delays_s`` (a tick's cost, a stall of the host); the loop halts when they run out."""

    def __init__(self, delays_s):
        self.now, self.delays = 100.0, list(delays_s)

    def monotonic(self):
        return self.now

    def wait(self, timeout_s):
        if not self.delays:
            return True
        self.now += timeout_s + self.delays.pop(0)
        return False


def running_firmware(material="LCO", protocol="Charge at 1C for 1 hour", **settings):
    """An instrument (seed 1) running ``protocol`` with ``settings`` (sample_rate_hz 10 unless given)."""
    firmware = pf.PotentiostatFirmware(pf.build_cell(material, seed=1))
    firmware.settings.update({"sample_rate_hz": 10.0, **settings})
    info = firmware.info()
    limits = CellLimits(info["v_min"], info["v_max"], pf.MAX_CURRENT_A, info["capacity_ah"])
    firmware.start(json.dumps(to_technique(parse_protocol(protocol), limits)))
    return firmware


def run_loop(monkeypatch, material, protocol, sample_rate_hz, delays_s, accel=16.0):
    """Cell seconds the firmware ran, and wall seconds it took, for ticks delayed by ``delays_s``."""
    firmware = running_firmware(material, protocol, accel=accel, sample_rate_hz=sample_rate_hz, watchdog_enable=0)
    wall = SimulatedWall(delays_s)
    monkeypatch.setattr(pf, "time", SimpleNamespace(monotonic=wall.monotonic, time=wall.monotonic))
    firmware._halt = wall
    start_cell, start_wall = firmware.status()["time_s"], wall.now
    firmware._loop()
    assert firmware.status()["state"] == "Running", firmware.status()["message"]
    return firmware.status()["time_s"] - start_cell, wall.now - start_wall


@pytest.mark.parametrize("material, sample_rate_hz, protocol", [("NWO", 10.0, "Discharge at 2C for 1 hour"),
                                                                ("LCO", 2.0, "Charge at 2C for 1 hour")])
def test_a_tick_costing_wall_time_does_not_slow_the_cell(monkeypatch, material, sample_rate_hz, protocol):
    """50 ticks that cost 0.03-0.3 s each: the cell advances accel x the wall time, to 1e-9. Before,
    a tick stood for at most the tick interval (0.1 s), so each lost its own cost (a clean clone's
    widefield run: 12-13 instead of 16 cell-s per wall-s)."""
    costs = [0.03, 0.05, 0.3, 0.1, 0.04] * 10
    cell_s, wall_s = run_loop(monkeypatch, material, protocol, sample_rate_hz, costs)
    assert wall_s == pytest.approx(50 * 0.1 + sum(costs))
    assert cell_s == pytest.approx(16.0 * wall_s, rel=1e-9)


def test_a_stalled_host_makes_cell_time_lag_by_the_stall_beyond_the_cap(monkeypatch):
    """A 3-s stall (the host, not the physics) advances the cell by LATE_TICK_WALL_S only: cell time
    lags by the rest instead of one huge step making the next tick longer."""
    costs = [0.02] * 20 + [3.0] + [0.02] * 20
    cell_s, wall_s = run_loop(monkeypatch, "NWO", "Discharge at 2C for 1 hour", 10.0, costs)
    lost_s = 3.0 + 0.1 - pf.LATE_TICK_WALL_S
    assert cell_s == pytest.approx(16.0 * (wall_s - lost_s), rel=1e-9)


def test_a_command_waits_for_one_tick_of_a_late_catch_up_not_all_of_it():
    """A late tick stands for up to LATE_TICK_WALL_S; its physics runs in ticks of at most
    MAX_TICK_S of wall time's worth, each ending early after CHUNK_WALL_S of physics, and a command
    that waits for the instrument (here ``status``; a stop, a buffer read) gets in after the first
    of them. Before, it waited for the whole late tick: on stop 20's CI a buffer read at accel 600
    was not answered within 10 s."""
    firmware = running_firmware(accel=100.0, watchdog_enable=0)
    start_s = firmware.status()["time_s"]
    seen, ticks = [], []
    command = threading.Thread(target=lambda: seen.append(firmware.status()["time_s"]))
    advance = firmware.runner.advance

    def advance_with_a_command_waiting(dt_cell_s, enough=None):
        if not ticks:                       # the first tick holds the lock: the command waits
            command.start()
            while firmware._waiting == 0:
                time.sleep(0.001)
        samples = advance(dt_cell_s, enough)
        ticks.append(firmware.runner.advanced_s)
        return samples

    firmware.runner.advance = advance_with_a_command_waiting
    late_cell_s = pf.LATE_TICK_WALL_S * 100.0                  # 50 cell-s, ticks of at most 10
    firmware.catch_up(late_cell_s)
    command.join(5)
    assert len(ticks) >= 5 and max(ticks) <= pf.MAX_TICK_S * 100.0 + 1e-9
    assert seen == [pytest.approx(start_s + ticks[0], abs=1e-9)]
    assert firmware.status()["time_s"] == pytest.approx(start_s + sum(ticks), abs=1e-9)


def test_a_costly_stretch_of_physics_ends_its_tick_early_and_cell_time_lags(monkeypatch):
    """Physics that costs more than accel allows (a step near its cut-off; here every sub-step
    stalls the wall clock 0.11 s): each tick ends after its first sub-step past CHUNK_WALL_S, and
    the catch-up ends after LATE_TICK_WALL_S of wall time, leaving the rest of the cell time."""
    firmware = running_firmware(accel=100.0, watchdog_enable=0)
    wall = SimulatedWall([])
    monkeypatch.setattr(pf, "time", SimpleNamespace(monotonic=wall.monotonic, time=wall.monotonic))
    physics = firmware.runner._physics

    def costly_physics(step, dt):
        wall.now += 0.11
        return physics(step, dt)

    firmware.runner._physics = costly_physics
    start_s, ticks = firmware.status()["time_s"], []
    tick = firmware.tick

    def counted_tick(*args, **kwargs):
        ticks.append(tick(*args, **kwargs))
        return ticks[-1]

    firmware.tick = counted_tick
    firmware.catch_up(pf.LATE_TICK_WALL_S * 100.0)
    advanced = firmware.status()["time_s"] - start_s
    assert len(ticks) == 5 and all(t == pytest.approx(firmware.runner.max_substep_s) for t in ticks[1:])
    assert advanced == pytest.approx(sum(ticks)) and advanced < 0.25 * pf.LATE_TICK_WALL_S * 100.0


def test_the_watchdog_judges_a_catch_up_by_the_heartbeats_before_it(monkeypatch):
    """Ticks that cost 0.3 s each of a watchdog that expects a heartbeat every 0.2 s: heartbeats sent
    meanwhile may wait behind a command that waits for the physics, so the catch-up runs on; the
    next one, with still no heartbeat, opens the circuit."""
    firmware = running_firmware(accel=100.0, watchdog_enable=1, watchdog_timeout_s=0.2)
    wall = SimulatedWall([])
    monkeypatch.setattr(pf, "time", SimpleNamespace(monotonic=wall.monotonic, time=wall.monotonic))
    advance = firmware.runner.advance

    def slow_advance(dt_cell_s, enough=None):
        wall.now += 0.3
        return advance(dt_cell_s, enough)

    firmware.runner.advance = slow_advance
    firmware.heartbeat()
    firmware.catch_up(pf.LATE_TICK_WALL_S * 100.0)
    assert firmware.status()["state"] == "Running"
    firmware.catch_up(pf.LATE_TICK_WALL_S * 100.0)
    assert firmware.status()["state"] == "Aborted" and "watchdog" in firmware.status()["message"]
