"""The potentiostat firmware's clock: cell time runs at ``accel`` times wall time (no EPICS).

The firmware's loop runs against a simulated wall clock, so the test is exact whatever the host's
load: each tick costs some wall time, and the host stalls the loop now and then."""
import json
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


def run_loop(monkeypatch, material, protocol, sample_rate_hz, delays_s, accel=16.0):
    """Cell seconds the firmware ran, and wall seconds it took, for ticks delayed by ``delays_s``."""
    firmware = pf.PotentiostatFirmware(pf.build_cell(material, seed=1))
    firmware.settings.update(accel=accel, sample_rate_hz=sample_rate_hz, watchdog_enable=0)
    info = firmware.info()
    limits = CellLimits(info["v_min"], info["v_max"], pf.MAX_CURRENT_A, info["capacity_ah"])
    firmware.start(json.dumps(to_technique(parse_protocol(protocol), limits)))
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
