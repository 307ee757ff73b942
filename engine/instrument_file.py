"""The instrument file: which devices a session connects to, under which PV prefixes.

One YAML file (``profiles/profile_operando/instrument.yaml`` unless ``$OPERANDO_INSTRUMENT``
names another) holds what differs between the simulator and a real microscope: the PV
prefixes of each instrument, whether Channel Access is the simulator's loopback block, and
the ports, and whether the session publishes its documents to the 0MQ proxy (`proxy: publish:`)
for analysis workers, and how long a run may stay suspended on an unreachable controller
(`suspenders: deadline_s:`). Keys left out keep the session defaults (``$OPERANDO_HOME``, ``$OPERANDO_CA_PORT``,
``$OPERANDO_TILED_PORT``). Mistakes are refused with the key and what is allowed.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from .config import Config

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "profiles" / "profile_operando" / "instrument.yaml"
DEVICES = ("confocal", "potentiostat", "widefield")
SECTIONS = {"home": (str,), "channel_access": (dict,), "tiled": (dict,), "devices": (dict,), "proxy": (dict,),
            "suspenders": (dict,)}
CHANNEL_ACCESS_KEYS = {"loopback_ports": bool, "base_port": int}
TILED_KEYS = {"port": int}
PROXY_KEYS = {"publish": bool, "host": str}
SUSPENDER_KEYS = {"deadline_s": (int, float)}
TYPE_NAMES = {dict: "a mapping", int: "an integer", bool: "true or false", str: "a string"}


@dataclass(frozen=True)
class Instrument:
    """What a session connects to: the Config (ports, home) and a PV prefix per device (None: not
    connected)."""
    config: Config
    prefixes: dict
    loopback_ports: bool = True
    source: Path | None = None
    publish_to: tuple[str, int] | None = None     # the 0MQ proxy the session publishes its documents to
    suspension_deadline_s: float | None = None    # a run suspended on a lost controller longer than this fails

    def prefix(self, device: str) -> str | None:
        return self.prefixes.get(device)


def instrument_path() -> Path:
    return Path(os.environ.get("OPERANDO_INSTRUMENT", DEFAULT_FILE))


def load_instrument(path: Path | None = None, base: Config | None = None) -> Instrument:
    """Read and check the instrument file (default :func:`instrument_path`)."""
    import yaml

    path = Path(path or instrument_path())
    if not path.is_file():
        raise FileNotFoundError(f"instrument file {path} not found (set OPERANDO_INSTRUMENT to an existing file)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    return parse_instrument(data, base or Config(), path)


def parse_instrument(data, base: Config, source: Path | None = None) -> Instrument:
    where = f"{source}: " if source else ""
    if not isinstance(data, dict):
        raise ValueError(f"{where}the instrument file must be a mapping with keys {sorted(SECTIONS)}")
    _check_keys(data, SECTIONS, where, "")
    config = base
    if "home" in data:
        config = config.with_home(Path(os.path.expanduser(data["home"])))
    ca = data.get("channel_access", {})
    _check_keys(ca, CHANNEL_ACCESS_KEYS, where, "channel_access.")
    if "base_port" in ca:
        config = replace(config, ca_base_port=_port(ca["base_port"], where + "channel_access.base_port"))
    tiled = data.get("tiled", {})
    _check_keys(tiled, TILED_KEYS, where, "tiled.")
    if "port" in tiled:
        config = replace(config, tiled_port=_port(tiled["port"], where + "tiled.port"))
    proxy = data.get("proxy", {})
    _check_keys(proxy, PROXY_KEYS, where, "proxy.")
    host = proxy.get("host", config.host)
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{where}proxy.host: a host name or address without spaces, got {host!r}")
    publish_to = (host, config.proxy_ports[0]) if proxy.get("publish", False) else None
    suspenders = data.get("suspenders", {})
    _check_keys(suspenders, SUSPENDER_KEYS, where, "suspenders.")
    deadline_s = suspenders.get("deadline_s")
    if deadline_s is not None and not (math.isfinite(deadline_s) and deadline_s > 0):
        raise ValueError(f"{where}suspenders.deadline_s: seconds > 0 (leave it out for no limit), got {deadline_s!r}")
    devices = data.get("devices", {"confocal": config.pv_prefix, "potentiostat": config.pv_prefix + "PSTAT:"})
    unknown = set(devices) - set(DEVICES)
    if unknown:
        raise ValueError(f"{where}devices.{sorted(unknown)[0]}: unknown device; allowed: {', '.join(DEVICES)}")
    prefixes = {}
    for name, prefix in devices.items():
        if prefix is None:
            continue
        if not isinstance(prefix, str) or not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"{where}devices.{name}: a PV prefix is a non-empty string without spaces "
                             f"(or null to leave it out), got {prefix!r}")
        prefixes[name] = prefix
    if "confocal" in prefixes:
        config = replace(config, pv_prefix=prefixes["confocal"])
    return Instrument(config, prefixes, ca.get("loopback_ports", True), source, publish_to,
                      None if deadline_s is None else float(deadline_s))


def _check_keys(section, allowed: dict, where: str, path: str) -> None:
    if not isinstance(section, dict):
        raise ValueError(f"{where}{path.rstrip('.')}: must be a mapping with keys {sorted(allowed)}")
    for key, value in section.items():
        if key not in allowed:
            raise ValueError(f"{where}{path}{key}: unknown key; allowed: {', '.join(sorted(allowed))}")
        types = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            kinds = "a number" if float in types else " or ".join(TYPE_NAMES[t] for t in types)
            raise ValueError(f"{where}{path}{key}: must be {kinds}, "
                             f"got {value!r}")


def _port(value: int, name: str) -> int:
    if not 1024 <= value <= 65000:
        raise ValueError(f"{name}: a port between 1024 and 65000, got {value}")
    return value
