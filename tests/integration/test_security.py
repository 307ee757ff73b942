"""Security of a running instrument: every server socket on loopback, the Tiled API key only in its
0600 file (not in logs, journals or the repository)."""
import os
import re
import socket
import struct
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LISTEN = "0A"          # TCP state in /proc/net/tcp


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:
        return socket.inet_ntoa(struct.pack("<I", int(hex_address, 16)))
    words = b"".join(struct.pack("<I", int(hex_address[i:i + 8], 16)) for i in range(0, 32, 8))
    return socket.inet_ntop(socket.AF_INET6, words)


def server_sockets(pid: int) -> list[tuple[str, str, int]]:
    """(protocol, local address, port) of the TCP sockets listening and UDP sockets bound by ``pid``,
    from /proc (Linux)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/net/{proto}") as table:
            next(table)
            for line in table:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if inode in inodes and (proto.startswith("udp") or state == LISTEN):
                    address, port = local.split(":")
                    found.append((proto, _address(address), int(port, 16)))
    return found


def test_every_server_of_the_instrument_listens_on_loopback_only(instrument):
    """Tiled's HTTP port and each IOC's Channel Access TCP and UDP ports are bound to 127.0.0.1
    (the CA client sockets an IOC opens towards other IOCs may bind elsewhere: they serve nothing)."""
    config = instrument["config"]
    server_ports = {config.tiled_port} | {config.ioc_port(p) for p in ("laser", "scanner", "piezo", "stage", "apd",
                                                                      "potentiostat")} | {config.firmware_port}
    seen = {}
    for proc in instrument["procs"]:
        if proc.name == "ca-repeater" or not proc.alive():
            continue
        for proto, address, port in server_sockets(proc.pid):
            if proto.startswith("tcp") or port in server_ports:
                seen[(proc.name, proto, port)] = address
    assert {name for name, _, _ in seen} >= {"tiled", "ioc-piezo", "ioc-potentiostat", "ioc-apd",
                                                   "firmware-potentiostat"}
    exposed = {k: a for k, a in seen.items() if a != "127.0.0.1"}
    assert not exposed, f"servers not on loopback: {exposed}"
    assert config.tiled_port in {port for (name, _, port) in seen if name == "tiled"}


def test_the_potentiostat_answers_only_a_driver_with_its_key(instrument):
    """The instrument behind the potentiostat IOC takes commands (start, stop, configure) only over
    an authenticated link: a client without the session's key is refused before any command."""
    from multiprocessing.connection import AuthenticationError, Client

    config = instrument["config"]
    with pytest.raises(AuthenticationError):
        Client((config.host, config.firmware_port), authkey=b"not-the-key")
    (firmware,) = [p for p in instrument["procs"] if p.name == "firmware-potentiostat"]
    assert firmware.alive()
    assert str(firmware.env["OPERANDO_FIRMWARE_KEY"]) not in " ".join(firmware.argv)   # not on the command line


def test_the_api_key_is_private_and_written_nowhere_else(instrument):
    config = instrument["config"]
    key_file = config.api_key_file
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{48}", key)
    leaks = []
    for path in config.home.rglob("*"):
        if path.is_file() and path != key_file and path.suffix in ("", ".log", ".jsonl", ".json", ".txt", ".yaml"):
            try:
                if key in path.read_text(errors="ignore"):
                    leaks.append(path)
            except OSError:
                pass
    assert not leaks, f"the API key is written in {leaks}"


def test_no_secret_is_committed():
    """No API key, token or private key in the repository's tracked files."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(r"(?<![0-9a-f])[0-9a-f]{48}(?![0-9a-f])|BEGIN [A-Z ]*PRIVATE KEY|api_key\s*[:=]\s*['\"]\w{16,}")
    hits = []
    for name in files:
        path = REPO / name
        if path.suffix in (".png", ".h5", ".tif", ".csv") or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="ignore").splitlines(), start=1):
            if pattern.search(line):
                hits.append(f"{name}:{number}")
    assert not hits, hits
