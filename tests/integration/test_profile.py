"""The IPython profile as a scientist uses it, and the same startup files in the queue server."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from system_packages import debian_command

pytestmark = pytest.mark.integration
OPERANDO = str(Path(sys.executable).with_name("operando"))
PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "profile_operando"


def _session(code: str, instrument_file: Path, *, via_cli: bool = True) -> str:
    """Run ``code`` in a fresh profile session (``operando shell`` or plain ``ipython --profile-dir``)."""
    ipython_args = ["--HistoryManager.hist_file=:memory:", "--colors=NoColor", "-c", code]
    argv = ([OPERANDO, "shell", "--", *ipython_args] if via_cli else
            [sys.executable, "-m", "IPython", f"--profile-dir={PROFILE}", *ipython_args])
    env = dict(os.environ, OPERANDO_INSTRUMENT=str(instrument_file))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + "\n" + done.stderr


def _value(out: str, tag: str) -> str:
    return next(line.split(tag, 1)[1].strip() for line in out.splitlines() if line.startswith(tag))


def test_profile_session_records_a_zstack_into_tiled_and_keeps_its_metadata(instrument, instrument_file):
    out = _session("RE.md['operator'] = 'profile-test'\n"
                   "uid, = RE(zstack(confocal, 10, 11, 0.5, pixels=(64, 64), md={'sample': 'profile'}))\n"
                   "print('UID', uid); print('SCAN', RE.md['scan_id'])\n"
                   "print('STORED', catalog[uid]['primary']['confocal_apd_reflection'].shape)\n"
                   "callbacks()", instrument_file)
    uid, scan_id = _value(out, "UID"), int(_value(out, "SCAN"))
    assert _value(out, "STORED") == "(3, 64, 64)"
    listed = [line.split()[-1] for line in out.splitlines() if line[:4].strip().isdigit()]
    assert listed[:3] == ["operando.engine.session.BackgroundTiledWriter",
                          "bluesky.callbacks.best_effort.BestEffortCallback", "operando.engine.progress.StackProgress"]
    assert "zstack scan" in out and "3/3" in out          # the stack's progress bar (stderr)
    start = instrument["client"]["raw"][uid].metadata["start"]
    assert start["operator"] == "profile-test" and start["sample"] == "profile"

    # The next session (plain IPython this time) remembers the metadata; analysis attaches in one line
    # and detaches by its token.
    out = _session("print('OPERATOR', RE.md['operator']); print('SCAN', RE.md['scan_id'])\n"
                   "token = RE.subscribe(ConfocalAnalysis(writer.sink(derived)))\n"
                   "print('ATTACHED', [s.token for s in subscriptions(RE)][-1] == token)\n"
                   "RE.unsubscribe(token)\n"
                   "print('DETACHED', token not in [s.token for s in subscriptions(RE)])",
                   instrument_file, via_cli=False)
    assert _value(out, "OPERATOR") == "profile-test"
    assert int(_value(out, "SCAN")) >= scan_id
    assert _value(out, "ATTACHED") == "True" and _value(out, "DETACHED") == "True"


def test_profile_refuses_a_wrong_prefix_with_what_to_do(instrument, tmp_path):
    config = instrument["config"]
    path = tmp_path / "instrument.yaml"
    path.write_text(f"home: {config.home}\nchannel_access: {{base_port: {config.ca_base_port}}}\n"
                    f"tiled: {{port: {config.tiled_port}}}\ndevices: {{confocal: 'NOPE:'}}\n")
    env = dict(os.environ, OPERANDO_INSTRUMENT=str(path))
    done = subprocess.run([OPERANDO, "shell", "--", "--HistoryManager.hist_file=:memory:", "-c",
                           "print('DEVICES', 'confocal' in dir(), 'RE' in dir())"],
                          env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    text = done.stdout + done.stderr
    assert "DEVICES False False" in text          # IPython goes on after a failed startup file, without them
    assert "devices.confocal ('NOPE:') did not connect" in text and "operando ioc all" in text


def test_queue_server_loads_the_profile_and_stores_a_queued_zstack(instrument, instrument_file, tmp_path):
    from bluesky_queueserver_api import BPlan
    from bluesky_queueserver_api.zmq import REManagerAPI

    redis = debian_command("redis-server", "redis-server")
    base = instrument["config"].ca_base_port + 300
    control, info = f"tcp://127.0.0.1:{base + 1}", f"tcp://127.0.0.1:{base + 2}"
    env = dict(os.environ, OPERANDO_INSTRUMENT=str(instrument_file))
    procs = [subprocess.Popen([redis, "--bind", "127.0.0.1", "--port", str(base), "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, start_new_session=True)]
    log = open(tmp_path / "re-manager.log", "w")
    RM = None
    try:
        procs.append(subprocess.Popen(
            [str(Path(sys.executable).with_name("start-re-manager")), "--startup-dir", str(PROFILE / "startup"),
             "--existing-plans-devices", str(tmp_path / "existing_plans_and_devices.yaml"),
             "--user-group-permissions", str(PROFILE / "startup" / "user_group_permissions.yaml"),
             "--redis-addr", f"127.0.0.1:{base}", "--redis-name-prefix", "operando_test",
             "--zmq-control-addr", control, "--zmq-info-addr", info, "--zmq-publish-console", "OFF"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        RM = REManagerAPI(zmq_control_addr=control, zmq_info_addr=info, timeout_recv=5)
        deadline = time.monotonic() + 60
        while True:
            try:
                RM.status()
                break
            except Exception:
                assert procs[1].poll() is None, (tmp_path / "re-manager.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "RE Manager did not answer in 60 s"
                time.sleep(0.5)
        RM.environment_open()
        RM.wait_for_idle(timeout=90)
        status = RM.status()
        assert status["worker_environment_exists"], (tmp_path / "re-manager.log").read_text()[-3000:]
        allowed = RM.plans_allowed()["plans_allowed"]
        assert {"zstack", "cycling_zstack", "run_protocol", "widefield_timeseries"} <= set(allowed)
        added = RM.item_add(BPlan("zstack", "confocal", 10, 11.5, 0.5, pixels=[48, 48],
                                  md={"sample": "queued", "material": "LCO"}))
        assert added["success"], added
        RM.queue_start()
        RM.wait_for_idle(timeout=120)
        result = RM.history_get()["items"][-1]["result"]
        assert result["exit_status"] == "completed", result
        (uid,) = result["run_uids"]
        run = instrument["client"]["raw"][uid]
        assert run.metadata["start"]["sample"] == "queued"
        assert run.metadata["stop"]["exit_status"] == "success"
        assert run["primary"]["confocal_apd_reflection"].shape == (4, 48, 48)
        RM.environment_close()
        RM.wait_for_idle(timeout=60)
    finally:
        if RM is not None:
            RM.close()
        for p in reversed(procs):
            os.killpg(p.pid, 15)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait(5)
        log.close()
    assert all(p.poll() is not None for p in procs)
