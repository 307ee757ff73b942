"""The IPython profile as a scientist uses it (the queue server loading the same startup files is
test_docs.py::test_the_queue_server_block, docs/profile.md's example)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


CTRL_C_SESSION = """
import time
from bluesky.utils import RunEngineInterrupted
RE.subscribe(lambda name, doc: print('DOC', name, flush=True) if name == 'event' else None)
plan = cycling_zstack(confocal, pstat, 'Rest for 2 hours', [{'name': 'C', 'x_um': 0.0, 'y_um': 0.0}], accel=20,
                      sample_rate_hz=10, z_start_um=10.0, z_stop_um=12.0, z_step_um=0.5, pixels=(64, 64),
                      pixel_dwell_s=2e-6)
try:
    RE(plan)
except RunEngineInterrupted:
    print('PAUSED', RE.state, pstat.state.get(use_monitor=False), flush=True)
time.sleep(1.0)
print('RESUMING', flush=True)
try:
    RE.resume()
except RunEngineInterrupted:
    print('PAUSED-AGAIN', RE.state, flush=True)
t0 = time.time()
RE.abort('operator pressed Ctrl-C and aborted')   # returns once Tiled holds the run
state, shutter = (s.read()[s.name] for s in (pstat.state, confocal.laser.shutter))
print('ABORTED', round(state['timestamp'] - t0, 3), round(shutter['timestamp'] - t0, 3), state['value'],
      shutter['value'], flush=True)
"""


def test_ctrl_c_pauses_resume_continues_and_abort_opens_the_circuit(instrument, instrument_file, pstat):
    """Ctrl-C twice in a profile session (SIGINT to the IPython process) pauses at once while the
    potentiostat keeps cycling; RE.resume() goes on (the protocol is not restarted); Ctrl-C again,
    then RE.abort(): open circuit and shutter closed within 0.5 s, the run stored with exit_status
    'abort' and every telemetry sample up to the abort, contiguous."""
    import signal
    import time

    env = dict(os.environ, OPERANDO_INSTRUMENT=str(instrument_file))
    proc = subprocess.Popen([OPERANDO, "shell", "--", "--HistoryManager.hist_file=:memory:", "--colors=NoColor",
                             "-c", CTRL_C_SESSION], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL)
    lines = []

    def wait_for(marker, count=1):
        """The words from ``marker`` on, in its count-th line (anywhere in the line: another thread's
        print may have no newline yet)."""
        seen = 0
        while True:
            line = proc.stdout.readline()
            if not line:
                said = [x for x in lines if not x.startswith(" ") and "File" not in x]
                pytest.fail(f"session ended waiting for {marker!r}:\n" + "".join(said[-40:]))
            lines.append(line)
            if marker in line:
                seen += 1
                if seen == count:
                    return line[line.index(marker):].split()

    def ctrl_c_twice():
        """Two SIGINTs 0.5 s apart (bluesky counts a second one only if its handler runs > 0.1 s
        after the first's, which a loaded host may not keep to with 0.2 s between them)."""
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)

    try:
        wait_for("DOC", 12)
        ctrl_c_twice()
        paused = wait_for("PAUSED")
        assert paused[1:] == ["paused", "Running"]              # the cell keeps cycling while paused
        wait_for("RESUMING")
        wait_for("DOC", 5)
        ctrl_c_twice()
        assert wait_for("PAUSED-AGAIN")[1] == "paused"
        aborted = wait_for("ABORTED")
        proc.wait(60)
    finally:
        proc.kill()
    # the IOCs' timestamps of the potentiostat's and the shutter's last change, after RE.abort()
    assert 0 < float(aborted[1]) < 0.5 and float(aborted[2]) < 0.5 and aborted[3:] == ["Aborted", "Closed"], aborted
    instrument["writer"].flush()
    run = instrument["client"]["raw"].values()[-1]
    assert run.metadata["stop"]["exit_status"] == "abort"
    seq = run["potentiostat"].read()["pstat_seq_num"].values
    assert seq.size and (seq == seq[0] + np.arange(seq.size)).all()
    assert seq[-1] == int(pstat.run_end_seq.get(use_monitor=False))     # every sample up to the abort
    print(f"Ctrl-C: paused with the cell running, resumed, aborted; open circuit {float(aborted[1]):.3f} s "
          f"after RE.abort; {seq.size} telemetry samples, contiguous")
