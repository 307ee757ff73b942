"""`operando run --scenario`: a bad file refused before anything runs. A shipped scenario run end to end,
its runs found in Tiled, is docs/scenarios.md's example (test_docs.py)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from operando.engine.config import Config

pytestmark = pytest.mark.integration
OPERANDO = str(Path(sys.executable).with_name("operando"))
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _env(config):
    return dict(os.environ, OPERANDO_CA_PORT=str(config.ca_base_port), OPERANDO_TILED_PORT=str(config.tiled_port))


def test_a_bad_value_is_refused_before_anything_is_recorded(test_config, tmp_path):
    config = Config(ca_base_port=test_config.ca_base_port + 400, tiled_port=test_config.ca_base_port + 411)
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: too deep\nsteps:\n  - plan: run_protocol\n    protocol: Rest for 1 minute\n"
                        "  - plan: zstack\n    z_start_um: 10\n    z_stop_um: 500\n    z_step_um: 0.5\n")
    out = tmp_path / "out"
    done = subprocess.run([OPERANDO, "run", "--scenario", str(scenario), "--out", str(out)], env=_env(config),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "steps[1] (zstack): z_stop_um=500.0 um is outside the allowed range" in done.stderr
    assert "nothing was run" in done.stderr
    assert not (out / "runs.json").exists()
    assert not list((out / "home" / "data").rglob("*.h5"))
    unknown = subprocess.run([OPERANDO, "run", "--scenario", str(tmp_path / "none.yaml"), "--out", str(out)],
                             env=_env(config), capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "--scenario: no file" in unknown.stderr
