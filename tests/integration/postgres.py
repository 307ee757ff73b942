"""A throw-away PostgreSQL server for tests: the Debian server binaries (installed where missing,
or the test skipped with the reason), a cluster initialised in a temporary directory, listening
on 127.0.0.1 only, password authentication, stopped by the PID in its postmaster.pid."""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from system_packages import debian_command

USER = "operando"


def server_binaries() -> Path:
    """The directory of initdb/pg_ctl/postgres (Debian keeps them off PATH, per major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        debian_command("pg_ctlcluster", "postgresql")        # installs the server, or skips
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("Debian package 'postgresql' installed but no /usr/lib/postgresql/*/bin/initdb")
    return Path(found[-1]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the Debian 'postgres' user then."""
    if os.geteuid() != 0:
        return argv
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    return ["runuser", "-u", "postgres", "--", *argv]


@contextmanager
def postgres_server(port: int):
    """Yields ``postgresql://operando:<password>@127.0.0.1:<port>/operando``; removes it all on exit."""
    bin_dir = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="operando-pg-"))
    data, log = root / "data", root / "server.log"
    password = secrets.token_hex(16)
    (root / "pw").write_text(password)
    if os.geteuid() == 0:
        os.chmod(root, 0o700)
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(root / "pw", "postgres", "postgres")
    pid = None
    try:
        subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256",
                                        f"--pwfile={root / 'pw'}", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                                        "-o", f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
                                              f"{root} -c fsync=off", "start"]),
                       check=True, capture_output=True, timeout=120)
        pid = int((data / "postmaster.pid").read_text().split()[0])
        env = dict(os.environ, PGPASSWORD=password)
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER,
                        USER], check=True, capture_output=True, timeout=60, env=env)
        yield f"postgresql://{USER}:{password}@127.0.0.1:{port}/{USER}"
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{exc.cmd[-1]} failed: {exc.stderr.decode()[-500:]} {log.read_text()[-500:] if log.exists() else ''}")
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGINT)                  # "fast" shutdown of the postmaster
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
