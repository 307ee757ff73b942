"""Bring up the simulated instrument and the Tiled server for a session, and take them down."""
from __future__ import annotations

import datetime
from contextlib import contextmanager
from pathlib import Path

from .config import Config, apply_ca_environment
from .processes import WIDEFIELD_PARTS, start_iocs, stop_all, stopped_on_sigterm
from .tiled_server import connect, start_tiled


def run_data_directory(config: Config):
    """Callable giving today's detector folder under the Tiled-readable data directory."""
    return lambda: config.data_dir / datetime.date.today().strftime("%Y/%m/%d")


@contextmanager
def simulated_instrument(config: Config, log_dir: Path | None = None):
    """Start IOCs and Tiled, connect the microscope; yields (scope, client, procs). Stops all on
    exit, SIGTERM included."""
    log_dir = log_dir or config.home / "logs"
    procs = []
    with stopped_on_sigterm():
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


@contextmanager
def simulated_widefield(config: Config, log_dir: Path | None = None):
    """Start the widefield instrument's IOCs (camera, LED, focus lock, potentiostat on an NWO rod
    cell) and Tiled; yields (scope, pstat, client, procs). Stops all on exit, SIGTERM included."""
    from dataclasses import replace

    from operando.devices.potentiostat import Potentiostat
    from operando.devices.widefield import connect_widefield

    config = replace(config, material="NWO")
    log_dir = log_dir or config.home / "logs"
    procs = []
    with stopped_on_sigterm():
        try:
            procs += start_iocs(config, parts=WIDEFIELD_PARTS, log_dir=log_dir)
            procs.append(start_tiled(config, log_dir=log_dir))
            apply_ca_environment(config)
            scope = connect_widefield(prefix=config.pv_prefix, data_directory=run_data_directory(config))
            pstat = Potentiostat(config.pv_prefix + "PSTAT:", name="pstat")
            pstat.wait_for_connection(timeout=10)
            try:
                yield scope, pstat, connect(config), procs
            finally:
                scope.destroy()
                pstat.destroy()
        finally:
            stop_all(procs)


def connect_devices(instrument, timeout: float = 10.0) -> dict:
    """Connect the devices the instrument file names: {"confocal": ConfocalMicroscope,
    "pstat": Potentiostat, "widefield": WidefieldMicroscope} (absent ones left out). A device
    that does not answer raises with its prefix and where to change it."""
    from operando.devices.confocal import ConfocalMicroscope
    from operando.devices.potentiostat import Potentiostat
    from operando.devices.widefield import WidefieldMicroscope

    data_directory = run_data_directory(instrument.config)
    makers = {"confocal": ("confocal", lambda p: ConfocalMicroscope(p, name="confocal", data_directory=data_directory)),
              "potentiostat": ("pstat", lambda p: Potentiostat(p, name="pstat")),
              "widefield": ("widefield", lambda p: WidefieldMicroscope(p, name="widefield",
                                                                       data_directory=data_directory))}
    devices = {}
    for key, (name, make) in makers.items():
        prefix = instrument.prefix(key)
        if prefix is None:
            continue
        device = make(prefix)
        try:
            device.wait_for_connection(timeout=timeout)
        except TimeoutError as exc:
            for d in (*devices.values(), device):
                d.destroy()
            raise RuntimeError(
                f"devices.{key} ({prefix!r}) did not connect within {timeout} s: {exc}. Start the simulator "
                f"(`operando ioc all`) or set the prefix in {instrument.source or 'the instrument file'}") from None
        devices[name] = device
    return devices


@contextmanager
def connected_potentiostat(config: Config):
    """The instrument's potentiostat, connected; its CA channels closed on exit."""
    from operando.devices.potentiostat import Potentiostat

    pstat = Potentiostat(config.pv_prefix + "PSTAT:", name="pstat")
    pstat.wait_for_connection(timeout=10)
    try:
        yield pstat
    finally:
        pstat.destroy()
