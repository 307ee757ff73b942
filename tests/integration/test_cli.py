"""The `operando` console script: `ioc all` and `serve` as a user runs them."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from operando.engine.config import Config
from operando.engine.processes import wait_for_pvs
from operando.engine.tiled_server import wait_for_tiled

pytestmark = pytest.mark.integration
OPERANDO = str(Path(sys.executable).with_name("operando"))


def _start(args, env):
    return subprocess.Popen([OPERANDO, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def test_ioc_all_serves_every_part_and_stops_them_on_sigterm(test_config, tmp_path):
    config = Config(ca_base_port=test_config.ca_base_port + 200, home=tmp_path)
    env = dict(os.environ, OPERANDO_CA_PORT=str(config.ca_base_port), OPERANDO_HOME=str(tmp_path))
    proc = _start(["ioc", "all"], env)
    probes = ["OPR:LASER:Wavelength_RBV", "OPR:SCAN:FrameTime_RBV", "OPR:PZ:Z_RBV", "OPR:APD:SampleSeed_RBV"]
    try:
        wait_for_pvs(config, probes, timeout=30)
    finally:
        code = _stop(proc)
        assert code == 0, proc.stdout.read().decode()[-2000:]
    with pytest.raises(TimeoutError):
        wait_for_pvs(config, probes[:1], timeout=1.5)


def test_serve_requires_the_api_key_kept_in_a_private_file(test_config, tmp_path):
    config = Config(tiled_port=test_config.tiled_port + 200, home=tmp_path)
    env = dict(os.environ, OPERANDO_TILED_PORT=str(config.tiled_port), OPERANDO_HOME=str(tmp_path))
    proc = _start(["serve"], env)
    try:
        wait_for_tiled(config, timeout=60)
        key_file = config.api_key_file
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        url = f"{config.tiled_uri}/api/v1/metadata/"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Apikey {key}"}).status_code == 200
    finally:
        _stop(proc)
    output = proc.stdout.read().decode()
    assert key not in output
