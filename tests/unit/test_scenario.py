"""Scenario files: the shipped ones load; mistakes are refused with the key and what is allowed."""
from pathlib import Path

import pytest

from operando.engine.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
STEP = {"plan": "zstack", "z_start_um": 10, "z_stop_um": 12, "z_step_um": 0.5}


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_the_shipped_scenarios_load(name):
    scenario = load_scenario(SCENARIOS / name)
    assert scenario.steps or scenario.program == "demo"


def test_the_demo_is_a_scenario_with_every_setting_its_program_reads():
    demo = load_scenario(SCENARIOS / "demo.yaml")
    assert demo.program == "demo" and demo.material == "LCO" and demo.drift_um_per_h == (0.8, -0.5, 0.25)
    p = demo.parameters
    assert set(p) == {"pristine", "cycling", "spectral", "electrolyte", "nmc811", "nwo"}
    assert p["cycling"]["protocol"].splitlines() == ["Charge at C/2 until 4.2 V", "Rest for 10 minutes",
                                                     "Discharge at C/2 until 3.6 V"]
    assert p["nwo"]["roi"] == [610, 250, 700, 700] and p["nmc811"]["sample"]["material"] == "NMC811"


def test_a_step_is_taken_with_its_analysis():
    s = parse_scenario({"name": "x", "cell": {"seed": 7}, "steps": [dict(STEP, analysis="live")]})
    assert s.seed == 7 and s.steps[0].plan == "zstack" and s.steps[0].analysis == "live"
    assert s.steps[0].params == {"z_start_um": 10, "z_stop_um": 12, "z_step_um": 0.5}


@pytest.mark.parametrize("data, message", [
    (["a"], "a scenario is a mapping"),
    ({"steps": [STEP]}, "name: a non-empty string"),
    ({"name": "x", "steps": [STEP], "sample": "S"}, "sample: unknown key; allowed: name, description"),
    ({"name": "x", "instrument": "sted", "steps": [STEP]}, "instrument: one of confocal, widefield, got 'sted'"),
    ({"name": "x", "instrument": [], "steps": [STEP]}, "instrument: one of confocal, widefield, got \\[\\]"),
    ({"name": "x", "steps": [{"plan": ["zstack"]}]}, "steps\\[0\\].plan: unknown plan \\['zstack'\\]"),
    ({"name": "x", "cell": {"material": "NWO"}, "steps": [STEP]}, "cell.material: on the confocal instrument one of"),
    ({"name": "x", "cell": {"seed": -1}, "steps": [STEP]}, "cell.seed: an integer 0 to 2147483647"),
    ({"name": "x", "cell": {"seed": 1.5}, "steps": [STEP]}, "cell.seed: an integer"),
    ({"name": "x", "cell": {"drift_um_per_h": [1, 2]}, "steps": [STEP]}, "cell.drift_um_per_h: three numbers"),
    ({"name": "x", "cell": {"drift_um_per_h": [1, 2, 99]}, "steps": [STEP]}, "within \\+-10 um/h"),
    ({"name": "x", "cell": {"temperature_k": 300}, "steps": [STEP]}, "cell.temperature_k: unknown key"),
    ({"name": "x", "timing": "slow", "steps": [STEP]}, "timing: fast or realistic"),
    ({"name": "x"}, "steps: a non-empty list of steps"),
    ({"name": "x", "steps": []}, "steps: a non-empty list"),
    ({"name": "x", "steps": [{"z_start_um": 1}]}, "steps\\[0\\]: a mapping with a `plan`"),
    ({"name": "x", "steps": [{"plan": "tomography"}]}, "steps\\[0\\].plan: unknown plan 'tomography'; allowed: "),
    ({"name": "x", "steps": [{"plan": "cycling_widefield", "protocol": "Rest for 1 minute"}]},
     "cycling_widefield runs on the widefield instrument"),
    ({"name": "x", "steps": [dict(STEP, z_speed=3)]}, "steps\\[0\\].z_speed: zstack has no parameter 'z_speed'"),
    ({"name": "x", "steps": [dict(STEP, scope="confocal")]}, "steps\\[0\\].scope: devices are given by the instrument"),
    ({"name": "x", "steps": [{"plan": "zstack", "z_start_um": 10}]}, "zstack needs z_stop_um, z_step_um"),
    ({"name": "x", "steps": [dict(STEP, analysis="later")]}, "steps\\[0\\].analysis: live or none"),
    ({"name": "x", "program": "tour"}, "program: one of demo"),
    ({"name": "x", "program": "demo", "steps": [STEP]}, "either steps or a program"),
])
def test_mistakes_are_refused(data, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_files_that_cannot_be_read(tmp_path):
    with pytest.raises(ScenarioError, match="no file"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [x")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)
