"""The simulated instrument and a Tiled server, started once per session and stopped by PID."""
import pytest

from operando.devices.potentiostat import Potentiostat
from operando.engine.instrument import simulated_instrument
from operando.engine.session import make_run_engine


@pytest.fixture(scope="session")
def instrument(test_config):
    with simulated_instrument(test_config) as (scope, client, procs):
        scope.apd.timing_mode.set("fast").wait(5)
        # Its own metadata folder: profile sessions started by tests write home/re_md meanwhile.
        RE, writer = make_run_engine(test_config, client, metadata_dir=test_config.home / "re_md_pytest")
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


@pytest.fixture
def instrument_file(instrument, tmp_path):
    """An instrument file for the session instrument (its ports and prefixes), as a user writes one."""
    config = instrument["config"]
    path = tmp_path / "instrument.yaml"
    path.write_text(f"home: {config.home}\n"
                    f"channel_access: {{loopback_ports: true, base_port: {config.ca_base_port}}}\n"
                    f"tiled: {{port: {config.tiled_port}}}\n"
                    f"devices: {{confocal: '{config.pv_prefix}', potentiostat: '{config.pv_prefix}PSTAT:'}}\n")
    return path


def pytest_collection_modifyitems(items):
    """The docs' examples run last: they leave the shared cell wherever their protocols take it."""
    items.sort(key=lambda item: item.path.name == "test_docs.py")
