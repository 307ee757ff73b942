"""The potentiostat IOC and its flyer: protocols run on board, every sample collected once."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from caproto.sync import client as ca_sync

from operando.engine.config import ca_environment
from operando.plans.cycling import run_protocol
from operando.plans.protocol import ProtocolError

pytestmark = pytest.mark.integration


def test_protocol_runs_on_board_and_every_sample_reaches_tiled(instrument, pstat):
    RE = instrument["RE"]
    # From the lithiated state whatever the session's earlier tests left (a cell left above 4.1 V
    # ends the charge at its first sample: seen once, 4.184 V).
    RE(run_protocol(pstat, "Discharge at 1C until 3.0 V\nRest for 10 minutes", accel=3000, sample_rate_hz=10))
    protocol = "Charge at 2C until 4.1 V\nHold at 4.1 V for 3 minutes\nRest for 2 minutes"
    (uid,) = RE(run_protocol(pstat, protocol, accel=600, sample_rate_hz=20, md={"sample": "pstat test"}))
    instrument["writer"].flush()
    run = instrument["client"]["raw"][uid]
    table = run["potentiostat"].read()
    seq = table["pstat_seq_num"].values
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    v, i, t = (table[f"pstat_{k}"].values for k in ("voltage_v", "current_a", "time_s"))
    steps = table["pstat_step_index"].values
    first = steps[0]
    charge_v = v[steps == first + 0]
    assert 4.1 <= charge_v[-1] < 4.15                                 # cut-off ended the step
    assert np.allclose(i[steps == first][1:], 2 * pstat.capacity_ah.get())
    hold = steps == first + 1
    assert np.allclose(v[hold], 4.1, atol=1e-6)
    assert t[hold][-1] - t[steps == first][-1] == pytest.approx(180, abs=1e-6)   # hold for 3 minutes
    assert np.all(i[steps == first + 2][1:] == 0)
    assert run.metadata["stop"]["exit_status"] == "success"
    assert pstat.state.get(use_monitor=False) == "Done"
    keys = run["potentiostat"].descriptors[0]["data_keys"]
    assert keys["pstat_current_a"]["units"] == "A" and keys["pstat_time_s"]["units"] == "s"


def test_bad_protocol_is_refused_before_anything_runs(instrument, pstat):
    before = int(pstat.seq_num.get(use_monitor=False))
    docs = []
    with pytest.raises(ProtocolError, match="safe window"):
        instrument["RE"](run_protocol(pstat, "Charge at C/2 until 5.0 V"), lambda n, d: docs.append(n))
    assert docs == [] and pstat.state.get(use_monitor=False) != "Running"
    assert int(pstat.run_start_seq.get(use_monitor=False)) <= before        # nothing was started


def test_watchdog_opens_the_circuit_when_the_client_dies(instrument, pstat):
    config = instrument["config"]
    pstat.watchdog_timeout_s.set(1.0).wait(5)
    client = textwrap.dedent("""
        import json, time
        from operando.devices.potentiostat import Potentiostat
        from operando.plans.cycling import cell_limits
        from operando.plans.protocol import parse_protocol, to_technique
        p = Potentiostat("OPR:PSTAT:", name="pstat"); p.wait_for_connection(timeout=10)
        p.accel.set(10).wait(5)
        p.load_technique(to_technique(parse_protocol("Charge at C/5 for 10 hours"), cell_limits(p))).wait(5)
        p.kickoff().wait(10)
        print("running", flush=True)
        time.sleep(600)
    """)
    env = dict(os.environ, **ca_environment(config))
    proc = subprocess.Popen([sys.executable, "-c", client], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "running"
        assert pstat.state.get(use_monitor=False) == "Running"
        time.sleep(2.5)                                  # heartbeats keep it running past the timeout
        assert pstat.state.get(use_monitor=False) == "Running"
        proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        while pstat.state.get(use_monitor=False) == "Running" and time.monotonic() - killed < 10:
            time.sleep(0.05)
        detected = time.monotonic() - killed
    finally:
        proc.kill()
        pstat.watchdog_timeout_s.set(5.0).wait(5)
        pstat.accel.set(1.0).wait(5)
    assert pstat.state.get(use_monitor=False) == "Aborted"
    assert "watchdog" in pstat.message.get(use_monitor=False)
    assert detected < 1.0 + 0.5                          # timeout + one sample period + slack
    time.sleep(0.3)
    assert ca_sync.read("OPR:PSTAT:Current_RBV", repeater=False, timeout=5).data[0] == 0.0


def test_charging_changes_what_the_microscope_records(instrument, pstat):
    """Potentiostat -> cell state over CA -> APD rendering -> HDF5 -> Tiled, checked on the truth."""
    import h5py

    from operando.engine.readback import frame_file, read_stack
    from operando.plans import zstack

    RE, scope, raw = instrument["RE"], instrument["scope"], instrument["client"]["raw"]
    stack = dict(pixels=(128, 128), pixel_size_um=0.3, pixel_dwell_s=1e-5)

    def record():
        (uid,) = RE(zstack(scope, 10.0, 18.0, 0.5, **stack))
        instrument["writer"].flush()
        run = raw[uid]
        return read_stack(run, "confocal_apd_reflection"), frame_file(run, "confocal_apd_reflection")

    def truth(path):
        with h5py.File(path.with_name(path.name + ".truth.h5"), "r") as f:
            groups = [k for k in f if k.startswith("agglomerate_")]
            return ({k: f[k]["x_shells"][-1].mean() for k in groups},
                    {k: f[k]["volume_change"][-1] for k in groups}, f["cell_time_s"][()])

    # Whatever earlier tests left, start lithiated: discharge to 3.0 V and relax.
    RE(run_protocol(pstat, "Discharge at 1C until 3.0 V\nRest for 30 minutes", accel=1200, sample_rate_hz=20))
    before, path_before = record()
    RE(run_protocol(pstat, "Charge at 2C until 4.2 V", accel=1200, sample_rate_hz=20))
    after, path_after = record()
    x_before, _, _ = truth(path_before)
    x_after, dv, t_cell = truth(path_after)
    active = [k for k in x_after if x_before[k] - x_after[k] > 0.2]
    assert len(active) >= 4                                   # the active agglomerates were delithiated
    assert all(dv[k] > 0.005 for k in active)                 # and swelled (LCO)
    assert np.all(np.diff(t_cell) >= 0)
    # Brighter surfaces after charge: the top 0.1 % of counts rises with surface reflectance
    assert np.percentile(after, 99.9) > 1.05 * np.percentile(before, 99.9)


def test_one_kilohertz_is_collected_once_each(instrument, pstat):
    """The IOC posts 1000 samples per second for 20 s of wall time; collect yields each once."""
    from operando.plans.cycling import cell_limits
    from operando.plans.protocol import parse_protocol, to_technique

    pstat.sample_rate_hz.set(1000).wait(5)
    pstat.accel.set(1).wait(5)
    try:
        pstat.load_technique(to_technique(parse_protocol("Charge at C/5 for 20 s"), cell_limits(pstat))).wait(5)
        pstat.kickoff().wait(10)
        pstat.complete().wait(120)
        events = list(pstat.collect())
    finally:
        pstat.sample_rate_hz.set(10).wait(5)
    seq = np.array([e["data"]["pstat_seq_num"] for e in events])
    t = np.array([e["data"]["pstat_time_s"] for e in events])
    assert len(seq) == 20001                                   # 0 ... 20 s every 1 ms, both ends
    np.testing.assert_array_equal(seq, np.arange(seq[0], seq[0] + len(seq)))
    np.testing.assert_allclose(np.diff(t), 1e-3, atol=1e-9)


def test_complete_ends_cleanly_on_a_stop_and_fails_on_a_fault(instrument, pstat):
    """A Stop put (a plan's stop condition, or the clean-up after RE.abort) ends the technique as
    asked: complete() succeeds, so an abort is not turned into a failed status. The watchdog's abort is
    a fault: complete() fails with the instrument's message."""
    from operando.plans.cycling import cell_limits
    from operando.plans.protocol import parse_protocol, to_technique

    technique = to_technique(parse_protocol("Rest for 1 hour"), cell_limits(pstat))
    pstat.load_technique(technique).wait(5)
    pstat.kickoff().wait(10)
    done = pstat.complete()
    pstat.stop_cmd.set(1).wait(5)
    done.wait(5)
    assert done.success
    pstat.watchdog_timeout_s.set(0.3).wait(5)
    try:
        pstat.load_technique(technique).wait(5)
        pstat.kickoff().wait(10)
        done = pstat.complete()
        pstat._stop_heartbeat()                     # the client falls silent
        with pytest.raises(Exception):
            done.wait(5)
        assert "watchdog" in str(done.exception())
    finally:
        pstat.watchdog_timeout_s.set(5.0).wait(5)
