"""Debian packages a test needs (Redis, Chromium), installed where missing or the test skipped."""
import pytest

APT_LOCK = "/tmp/operando-tests-apt.lock"


def debian_command(command: str, package: str) -> str:
    """Path of a command from a Debian package, installed with apt-get where missing (CI runs as
    root); skips the test with the reason printed when the platform cannot provide it."""
    import os
    import shutil
    import subprocess
    import sys

    path = shutil.which(command) or shutil.which(command, path="/usr/sbin:/usr/bin")
    if path:
        return path
    reason = None
    if not shutil.which("apt-get"):
        reason = f"{command} missing and no apt-get to install Debian package {package!r}"
    elif os.geteuid() != 0:
        reason = f"{command} missing; installing Debian package {package!r} needs root"
    else:
        import fcntl

        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        # one apt-get at a time across the test workers (two at once: "Could not get lock
        # /var/lib/apt/lists/lock", and a test skipped for it); the next finds the package there
        with open(APT_LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = shutil.which(command) or shutil.which(command, path="/usr/sbin:/usr/bin")
            argvs = [] if path else [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]]
            for argv in argvs:
                done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
                if done.returncode != 0:
                    reason = f"`{' '.join(argv)}` failed: {done.stderr.strip()[-300:]}"
                    break
        path = shutil.which(command) or shutil.which(command, path="/usr/sbin:/usr/bin")
        if path is None and reason is None:
            reason = f"Debian package {package!r} installed but {command} not found"
    if path is None:
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return path

