"""The Tiled server: SQLite (or PostgreSQL) catalog, file + table storage, API key, loopback."""
from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

from .config import CATALOG_VARIABLE, Config
from .processes import ManagedProcess, _spawn
from .tiled_app import catalog_storage

RUNS_CONTAINER = "raw"


def api_key(config: Config) -> str:
    """The server's API key: generated on first use, stored with 0600 permissions."""
    path = config.api_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(24))
    return path.read_text().strip()


def serve_argv(config: Config) -> list[str]:
    """The server process: Tiled's catalog app, key read from the 0600 file (see tiled_app)."""
    api_key(config)
    return [sys.executable, "-m", "operando.engine.tiled_app", "--tiled-dir", str(config.tiled_dir),
            "--data-dir", str(config.data_dir), "--api-key-file", str(config.api_key_file),
            "--host", config.host, "--port", str(config.tiled_port)]


def server_environment(config: Config) -> dict:
    """The server's environment: the catalog URI (which may hold a password) travels here, not on
    the command line that `ps` shows."""
    env = dict(os.environ)
    env.pop(CATALOG_VARIABLE, None)
    if config.tiled_catalog:
        catalog_storage(config.tiled_dir, config.tiled_catalog)       # refuse a malformed URI here
        env[CATALOG_VARIABLE] = config.tiled_catalog
    return env


def start_tiled(config: Config, log_dir: Path | None = None, timeout: float = 60.0) -> ManagedProcess:
    """Start ``tiled serve catalog`` as a child process and wait until it answers. Refused when
    something already listens on the port (another server would answer in its place)."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(1.0)
        if sock.connect_ex((config.host, config.tiled_port)) == 0:
            raise RuntimeError(f"port {config.tiled_port} on {config.host} is already in use (another Tiled "
                               "server?); stop it or choose another port with OPERANDO_TILED_PORT")
    for d in (config.tiled_dir / "files", config.data_dir):
        d.mkdir(parents=True, exist_ok=True)
    proc = _spawn("tiled", serve_argv(config), server_environment(config), log_dir)
    try:
        wait_for_tiled(config, timeout, proc)
    except BaseException:
        proc.stop()
        raise
    return proc


def wait_for_tiled(config: Config, timeout: float, proc: ManagedProcess | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"tiled server exited with {proc.popen.returncode}; see {proc.log_path}")
        try:
            if httpx.get(f"{config.tiled_uri}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"tiled server not answering at {config.tiled_uri} after {timeout} s")
        time.sleep(0.2)


def connect(config: Config):
    """A Tiled client with the server's API key."""
    from tiled.client import from_uri

    return from_uri(config.tiled_uri, api_key=api_key(config))


def runs_container(client, name: str = RUNS_CONTAINER):
    """The CatalogOfBlueskyRuns container runs are written into (created if missing)."""
    from tiled.structures.core import Spec

    if name not in client:
        client.create_container(name, specs=[Spec("CatalogOfBlueskyRuns", version="3.0")])
    return client[name]


def serve_forever(config: Config) -> int:
    """``operando serve``: become the server process (exec), so signals reach it directly."""
    for d in (config.tiled_dir / "files", config.data_dir):
        d.mkdir(parents=True, exist_ok=True)
    argv = serve_argv(config)
    os.execve(argv[0], argv, server_environment(config))
