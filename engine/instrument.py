"""Bring up the simulated instrument and the Tiled server for a session, and take them down."""
from __future__ import annotations

import datetime
from contextlib import contextmanager
from pathlib import Path

from .config import Config, apply_ca_environment
from .processes import start_iocs, stop_all
from .tiled_server import connect, start_tiled


def run_data_directory(config: Config):
    """Callable giving today's detector folder under the Tiled-readable data directory."""
    return lambda: config.data_dir / datetime.date.today().strftime("%Y/%m/%d")


@contextmanager
def simulated_instrument(config: Config, log_dir: Path | None = None):
    """Start IOCs and Tiled, connect the microscope; yields (scope, client). Stops all on exit."""
    log_dir = log_dir or config.home / "logs"
    procs = []
    try:
        procs += start_iocs(config, log_dir=log_dir)
        procs.append(start_tiled(config, log_dir=log_dir))
        apply_ca_environment(config)
        from operando.devices.confocal import connect_confocal

        scope = connect_confocal(prefix=config.pv_prefix, data_directory=run_data_directory(config))
        try:
            yield scope, connect(config), procs
        finally:
            scope.destroy()    # close Channel Access before the IOCs go away
    finally:
        stop_all(procs)
