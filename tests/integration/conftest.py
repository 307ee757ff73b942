"""The simulated instrument and a Tiled server, started once per session and stopped by PID."""
import pytest

from operando.devices.potentiostat import Potentiostat
from operando.engine.instrument import simulated_instrument
from operando.engine.session import make_run_engine


@pytest.fixture(scope="session")
def instrument(test_config):
    with simulated_instrument(test_config) as (scope, client, procs):
        scope.apd.timing_mode.set("fast").wait(5)
        RE, writer = make_run_engine(test_config, client)
        yield {"config": test_config, "scope": scope, "client": client, "RE": RE, "writer": writer,
               "procs": procs}
    for p in procs:
        assert not p.alive(), f"{p.name} (pid {p.pid}) still running after teardown"


@pytest.fixture(scope="session")
def pstat(instrument):
    p = Potentiostat(instrument["config"].pv_prefix + "PSTAT:", name="pstat")
    p.wait_for_connection(timeout=10)
    yield p
    p.accel.set(1.0).wait(5)
    p.destroy()
