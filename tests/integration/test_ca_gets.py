"""A get asked in the instant a controller dies (libca refuses it: the channel has just dropped)
must not leave the channel unreadable once the controller is back (devices.ca_gets). The check
runs in its own process (a fresh pyepics context) against a real piezo IOC, killed and restarted:
during the one outage a get of HLM is refused before the fix is installed and a get of LLM after,
so the two channels differ in nothing but the fix."""
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

    def refused_get(signal):
        pv = signal._read_pv              # what PV.get does once its connection check has passed
        try:
            ca.get_with_metadata(pv.chid, ftype=pv.ftype, wait=True, timeout=0.5)
            return "no error"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    def reads(signal):
        out = []
        for _ in range(3):
            try:
                out.append(signal.get(use_monitor=False, timeout=2.0))
            except Exception as exc:
                out.append(f"{type(exc).__name__}: {exc}")
        return out

    proc = ioc()
    signals = {key: EpicsSignal(argv["prefix"] + key, name=key, auto_monitor=False) for key in ("LLM", "HLM")}
    for s in signals.values():
        s.wait_for_connection(timeout=30)
    out = {"before": {k: s.get(use_monitor=False) for k, s in signals.items()}, "refused": {}}
    proc.kill(); proc.wait()
    wait(lambda: not any(ca.isConnected(s._read_pv.chid) for s in signals.values()), 10)
    out["refused"]["HLM"] = refused_get(signals["HLM"])     # pyepics as it is
    import operando.devices                                 # installs devices.ca_gets
    out["refused"]["LLM"] = refused_get(signals["LLM"])
    proc = ioc()
    try:
        wait(lambda: all(s.connected for s in signals.values()), 60)
        out["after"] = {k: reads(s) for k, s in signals.items()}
    finally:
        proc.kill(); proc.wait()
    print(json.dumps(out))
""")


def test_a_get_refused_as_the_controller_dies_leaves_the_channel_readable_when_it_is_back(test_config):
    config = Config(ca_base_port=test_config.ca_base_port + 850, home=test_config.home)
    prefix = "CAG:PZ:"
    argv = {"prefix": prefix, "ioc_env": child_environment(config, "piezo"),
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
    out = json.loads(done.stdout.strip().splitlines()[-1])
    print(out)
    assert out["before"] == {"LLM": 0.0, "HLM": 100.0}
    for key in ("LLM", "HLM"):                               # libca refused both requests
        assert "Virtual circuit disconnect" in out["refused"][key], out
    assert out["after"]["LLM"] == [0.0, 0.0, 0.0], out     # with the fix: read again once back
    # Without it, for the life of the process (pyepics 3.5.10; if this fails, pyepics has fixed it
    # and devices.ca_gets can go).
    assert all(f"Failed to read {prefix}HLM" in str(a) for a in out["after"]["HLM"]), out
