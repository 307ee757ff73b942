"""The IPython profile as a scientist uses it (the queue server loading the same startup files is
test_docs.py::test_the_queue_server_block, docs/profile.md's example)."""
import os
import subprocess
import sys
from pathlib import Path

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
