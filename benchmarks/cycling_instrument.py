"""The simulated confocal instrument and its potentiostat, started for a benchmark on its own
ports and home: scope in fast mode, the potentiostat connected, a RunEngine writing to Tiled."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from operando.engine.config import Config, apply_ca_environment


@contextmanager
def cycling_instrument(ca_base_port: int, pv_prefix: str, *, batch_size: int = 10, home_prefix="operando-bench-"):
    """Yields a namespace: config, scope, client, procs, pstat, RE, writer (Tiled on ca_base_port + 11)."""
    config = Config(ca_base_port=ca_base_port, tiled_port=ca_base_port + 11,
                    pv_prefix=pv_prefix).with_home(Path(tempfile.mkdtemp(prefix=home_prefix)))
    apply_ca_environment(config)
    from operando.devices.potentiostat import Potentiostat
    from operando.engine.instrument import simulated_instrument
    from operando.engine.session import make_run_engine

    with simulated_instrument(config) as (scope, client, procs):
        scope.apd.timing_mode.set("fast").wait(5)
        pstat = Potentiostat(config.pv_prefix + "PSTAT:", name="pstat")
        pstat.wait_for_connection(timeout=10)
        RE, writer = make_run_engine(config, client, batch_size=batch_size)
        try:
            yield SimpleNamespace(config=config, scope=scope, client=client, procs=procs, pstat=pstat, RE=RE,
                                  writer=writer)
        finally:
            pstat.destroy()
