"""`operando run --scenario`: a shipped scenario file end to end, and a bad one refused before anything runs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from operando.engine.config import Config
from operando.engine.tiled_server import connect, start_tiled

pytestmark = pytest.mark.integration
OPERANDO = str(Path(sys.executable).with_name("operando"))
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _env(config):
    return dict(os.environ, OPERANDO_CA_PORT=str(config.ca_base_port), OPERANDO_TILED_PORT=str(config.tiled_port))


def _shortened(name: str, tmp_path) -> Path:
    """A shipped scenario with smaller images and a faster cell clock (same steps, same plans)."""
    import yaml

    data = yaml.safe_load((SCENARIOS / name).read_text())
    data["steps"] = [step for step in data["steps"] if step["plan"] != "run_protocol"]   # the salt's rest
    for step in data["steps"]:
        if "pixels" in step:
            step.update(pixels=[128, 128], pixel_size_um=0.16)
        if step["plan"] == "cycling_zstack":
            step["accel"] = 400
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_lco_scenario_runs_end_to_end_and_stores_its_runs(test_config, tmp_path):
    config = Config(ca_base_port=test_config.ca_base_port + 400, tiled_port=test_config.ca_base_port + 411)
    out = tmp_path / "out"
    scenario = _shortened("lco-1c-charge.yaml", tmp_path)
    done = subprocess.run([OPERANDO, "run", "--scenario", str(scenario), "--out", str(out)],
                          env=_env(config), capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = json.loads((out / "runs.json").read_text())
    assert [r["plan"] for r in records] == ["zstack", "cycling_zstack"]
    assert all(r["exit_status"] == "success" for r in records)
    cycling = records[1]
    assert any("dV/V (%)" in line for line in cycling["analysis"])
    assert all(Path(r["report"]).is_file() for r in records)
    # Everything it started is stopped; its runs are in the Tiled catalog under OUT/home.
    server = start_tiled(config.with_home(out / "home"))
    try:
        client = connect(config.with_home(out / "home"))
        run = client["raw"][cycling["uid"]]
        assert run.metadata["start"]["material"] == "LCO" and run.metadata["start"]["operator"] == "scenario"
        assert run["primary"]["confocal_apd_reflection"].shape[1:] == (128, 128)
        assert len(client["derived"]) == 1
    finally:
        server.stop()


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
