"""Session configuration: ports, PV prefixes and directories, from the environment.

Everything binds to 127.0.0.1 and uses non-default EPICS ports (the defaults are
5064/5065), so several test runs or instruments on one host do not collide.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

CATALOG_VARIABLE = "OPERANDO_TILED_CATALOG"
IOC_PART_ORDER = ("laser", "scanner", "piezo", "apd", "potentiostat", "stage", "camera", "led", "focus")


@dataclass(frozen=True)
class Config:
    """Where things live and which ports they use."""
    home: Path = field(default_factory=lambda: Path(os.environ.get("OPERANDO_HOME", Path.home() / ".operando")))
    # Read when a Config is made (not when this module is imported): a process may set them later.
    ca_base_port: int = field(default_factory=lambda: int(os.environ.get("OPERANDO_CA_PORT", 5170)))
    tiled_port: int = field(default_factory=lambda: int(os.environ.get("OPERANDO_TILED_PORT", 8123)))
    host: str = "127.0.0.1"
    pv_prefix: str = field(default_factory=lambda: os.environ.get("OPERANDO_PV_PREFIX", "OPR:"))
    sample_seed: int = 1
    material: str = "LCO"
    drift_um_per_h: tuple[float, float, float] = (0.0, 0.0, 0.0)   # simulated sample drift x, y, z (um/h)
    # Tiled's catalog and table storage: None = SQLite files in tiled_dir; or a PostgreSQL URI
    # (postgresql://user:password@host:port/database). Passed to the server in its environment.
    tiled_catalog: str | None = field(default_factory=lambda: os.environ.get(CATALOG_VARIABLE) or None)

    @property
    def ca_repeater_port(self) -> int:
        return self.ca_base_port

    def ioc_port(self, part: str) -> int:
        """Each IOC has its own UDP/TCP port: unicast searches on one host reach only
        one socket per port, so IOCs sharing a port would hide each other."""
        return self.ca_base_port + 1 + IOC_PART_ORDER.index(part)

    @property
    def firmware_port(self) -> int:
        """TCP port of the simulated potentiostat's driver link (ioc.firmware_link)."""
        return self.ca_base_port + 10

    @property
    def proxy_ports(self) -> tuple[int, int]:
        """The 0MQ document proxy's (in, out) ports: sessions publish to in, workers read out."""
        return self.ca_base_port + 12, self.ca_base_port + 13

    @property
    def data_dir(self) -> Path:
        """Detector files (readable by Tiled)."""
        return self.home / "data"

    @property
    def tiled_dir(self) -> Path:
        return self.home / "tiled"

    @property
    def backup_dir(self) -> Path:
        return self.home / "backup"

    @property
    def tiled_uri(self) -> str:
        return f"http://{self.host}:{self.tiled_port}"

    @property
    def api_key_file(self) -> Path:
        return self.tiled_dir / "api_key"

    def with_home(self, home: Path) -> "Config":
        return replace(self, home=Path(home))


def ca_environment(config: Config, server_part: str | None = None, also=()) -> dict[str, str]:
    """EPICS Channel Access variables for loopback-only traffic on the configured ports.

    Clients search every IOC's port (``host:port`` entries), and those of the configs in
    ``also`` (a client of two instruments); ``server_part`` selects the port an IOC process
    serves on.
    """
    server_port = config.ioc_port(server_part) if server_part else config.ca_base_port + 1
    search = [f"{c.host}:{c.ioc_port(p)}" for c in (config, *also) for p in IOC_PART_ORDER]
    return {
        "EPICS_CA_ADDR_LIST": " ".join(search),
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CAS_INTF_ADDR_LIST": config.host,
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_ADDR_LIST": config.host,
        "EPICS_CA_SERVER_PORT": str(server_port),
        "EPICS_CAS_SERVER_PORT": str(server_port),
        "EPICS_CA_REPEATER_PORT": str(config.ca_repeater_port),
        "EPICS_CAS_BEACON_PORT": str(config.ca_repeater_port),
        "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024),
    }


def apply_ca_environment(config: Config, also=()) -> None:
    """Set the CA variables in this process; call before pyepics creates its context. A process
    that will talk to several instruments lists the others in ``also``."""
    current = os.environ.get("EPICS_CA_ADDR_LIST", "").split()
    env = ca_environment(config, also=also)
    wanted = env["EPICS_CA_ADDR_LIST"].split()
    if set(wanted) <= set(current):      # keep a wider list set up earlier (both instruments)
        env["EPICS_CA_ADDR_LIST"] = " ".join(current)
    os.environ.update(env)
