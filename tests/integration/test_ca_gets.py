"""A get asked in the instant a controller dies (libca refuses it: the channel has just dropped)
must not leave the channel unreadable once the controller is back (devices.ca_gets). Each case
runs in its own process (a fresh pyepics context) against a real piezo IOC killed and restarted."""
import json
import subprocess
import sys
import textwrap

import pytest

from operando.engine.config import Config, ca_environment
from operando.engine.processes import child_environment

pytestmark = pytest.mark.integration

CLIENT = textwrap.dedent("""
    import json, subprocess, sys, time
    argv = json.loads(sys.argv[1])
    if argv["fixed"]:
        import operando.devices                      # installs devices.ca_gets
    from epics import ca
    from ophyd import EpicsSignal

    def ioc():
        return subprocess.Popen(argv["ioc"], env=argv["ioc_env"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def wait(predicate, timeout):
        t0 = time.monotonic()
        while not predicate():
            assert time.monotonic() - t0 < timeout, "timed out"
            time.sleep(0.02)

    proc = ioc()
    llm = EpicsSignal(argv["pv"], name="llm", auto_monitor=False)
    llm.wait_for_connection(timeout=30)
    out = {"before": llm.get(use_monitor=False)}
    pv = llm._read_pv
    proc.kill(); proc.wait()
    wait(lambda: not ca.isConnected(pv.chid), 10)   # libca knows; the get below is the race's get
    try:
        ca.get_with_metadata(pv.chid, ftype=pv.ftype, wait=True, timeout=0.5)
        out["refused"] = "no error"
    except Exception as exc:
        out["refused"] = f"{type(exc).__name__}: {exc}"
    proc = ioc()
    try:
        wait(lambda: llm.connected, 60)
        out["after"] = []
        for _ in range(3):
            try:
                out["after"].append(llm.get(use_monitor=False, timeout=2.0))
            except Exception as exc:
                out["after"].append(f"{type(exc).__name__}: {exc}")
    finally:
        proc.kill(); proc.wait()
    print(json.dumps(out))
""")


def run_client(test_config, fixed: bool) -> dict:
    config = Config(ca_base_port=test_config.ca_base_port + 850, home=test_config.home)
    prefix = "CAG:PZ:"
    argv = {"fixed": fixed, "pv": prefix + "LLM", "ioc_env": child_environment(config, "piezo"),
            "ioc": [sys.executable, "-m", "operando.ioc.piezo", "--prefix", prefix]}
    repeater = subprocess.Popen([sys.executable, "-m", "caproto.commandline.repeater", "-q"],
                                env=child_environment(config), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        done = subprocess.run([sys.executable, "-c", CLIENT, json.dumps(argv)], capture_output=True, text=True,
                              env={**child_environment(config), **ca_environment(config)}, timeout=180)
    finally:
        repeater.kill()
        repeater.wait()
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_get_refused_as_the_controller_dies_leaves_the_channel_readable_when_it_is_back(test_config):
    out = run_client(test_config, fixed=True)
    print(out)
    assert out["before"] == 0.0
    assert "Virtual circuit disconnect" in out["refused"], out     # libca refused the request
    assert out["after"] == [0.0, 0.0, 0.0], out


def test_without_the_fix_the_channel_stays_unreadable(test_config):
    """The pyepics behaviour devices.ca_gets works around (pyepics 3.5.10): if this fails, pyepics
    has fixed it and ca_gets can go."""
    out = run_client(test_config, fixed=False)
    print(out)
    assert "Virtual circuit disconnect" in out["refused"], out
    assert all("Failed to read CAG:PZ:LLM" in str(a) for a in out["after"]), out
