"""Scenario files: an experiment on the simulated instrument, written down (``operando run``).

A scenario names the instrument (confocal or widefield), the virtual cell (material, random
seed, drift) and a list of steps, each a plan with its parameters, optionally analysed live:

    name: C/2 cycle of an LCO electrode
    instrument: confocal
    cell: {material: LCO, seed: 3}
    steps:
      - plan: zstack
        z_start_um: 10
        z_stop_um: 20
        z_step_um: 0.5
      - plan: cycling_zstack
        protocol: |
          Charge at C/2 until 4.2 V
        positions: [{name: A, x_um: 0, y_um: 3}]
        accel: 60
        analysis: live

The demo is a scenario whose ``program: demo`` runs the demo's experiments with the
``parameters`` the file gives (``scenarios/demo.yaml``). Everything in the file is checked
when it is loaded (keys, plan names, parameter names); plan values are checked by the plans
themselves, all of them, before the first step starts.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

TOP_KEYS = ("name", "description", "instrument", "cell", "timing", "steps", "program", "parameters")
INSTRUMENTS = {"confocal": ("LCO", "NMC811"), "widefield": ("NWO",)}
CELL_KEYS = ("material", "seed", "drift_um_per_h")
PROGRAMS = ("demo",)
DEVICE_ARGUMENTS = ("scope", "pstat")
DEFAULT_FILE_DIR = Path(__file__).resolve().parents[1] / "scenarios"


def plan_registry() -> dict:
    """Plans a scenario step may name: {name: (generator function, instruments it runs on)}."""
    from operando import plans
    from operando.plans import widefield

    confocal = ("confocal",)
    return {"zstack": (plans.zstack, confocal), "multi_position": (plans.multi_position, confocal),
            "dark_frames": (plans.dark_frames, confocal), "electrolyte_stack": (plans.electrolyte_stack, confocal),
            "cycling_zstack": (plans.cycling_zstack, confocal), "gitt": (plans.gitt, confocal),
            "spectral_reflectivity": (plans.spectral_reflectivity, confocal),
            "run_protocol": (plans.run_protocol, ("confocal", "widefield")),
            "ocv_relax": (plans.ocv_relax, ("confocal", "widefield")),
            "widefield_timeseries": (widefield.widefield_timeseries, ("widefield",)),
            "cycling_widefield": (widefield.cycling_widefield, ("widefield",)),
            "voltage_hold": (widefield.voltage_hold, ("widefield",))}


@dataclass
class Step:
    plan: str
    params: dict
    analysis: str = "none"          # "live": the instrument's analysis subscribed while it runs


@dataclass
class Scenario:
    name: str
    instrument: str = "confocal"
    material: str = "LCO"
    seed: int = 1
    drift_um_per_h: tuple = (0.0, 0.0, 0.0)
    timing: str = "fast"
    steps: list = field(default_factory=list)
    program: str | None = None
    parameters: dict = field(default_factory=dict)
    description: str = ""
    source: Path | None = None


class ScenarioError(ValueError):
    """A scenario file that cannot run; the message names the key and what is allowed."""


def load_scenario(path) -> Scenario:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"--scenario: no file {path} (examples in {DEFAULT_FILE_DIR})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML ({exc})") from None
    scenario = parse_scenario(data, where=f"{path}: ")
    scenario.source = path
    return scenario


def parse_scenario(data, where: str = "") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}a scenario is a mapping with keys {', '.join(TOP_KEYS)}")
    for key in data:
        if key not in TOP_KEYS:
            raise ScenarioError(f"{where}{key}: unknown key; allowed: {', '.join(TOP_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(f"{where}name: a non-empty string naming the experiment")
    instrument = data.get("instrument", "confocal")
    if not isinstance(instrument, str) or instrument not in INSTRUMENTS:       # a list cannot be a dict key
        raise ScenarioError(f"{where}instrument: one of {', '.join(INSTRUMENTS)}, got {instrument!r}")
    cell = data.get("cell", {})
    if not isinstance(cell, dict):
        raise ScenarioError(f"{where}cell: a mapping with keys {', '.join(CELL_KEYS)}")
    for key in cell:
        if key not in CELL_KEYS:
            raise ScenarioError(f"{where}cell.{key}: unknown key; allowed: {', '.join(CELL_KEYS)}")
    material = cell.get("material", INSTRUMENTS[instrument][0])
    if material not in INSTRUMENTS[instrument]:
        raise ScenarioError(f"{where}cell.material: on the {instrument} instrument one of "
                            f"{', '.join(INSTRUMENTS[instrument])}, got {material!r}")
    seed = cell.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
        raise ScenarioError(f"{where}cell.seed: an integer 0 to 2147483647, got {seed!r}")
    drift = cell.get("drift_um_per_h", [0.0, 0.0, 0.0])
    if (not isinstance(drift, list) or len(drift) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= 10 for v in drift)):
        raise ScenarioError(f"{where}cell.drift_um_per_h: three numbers (x, y, z) within +-10 um/h, got {drift!r}")
    timing = data.get("timing", "fast")
    if timing not in ("fast", "realistic"):
        raise ScenarioError(f"{where}timing: fast or realistic, got {timing!r}")
    program = data.get("program")
    if program is not None and program not in PROGRAMS:
        raise ScenarioError(f"{where}program: one of {', '.join(PROGRAMS)}, got {program!r}")
    steps_data = data.get("steps", [])
    if program is None and (not isinstance(steps_data, list) or not steps_data):
        raise ScenarioError(f"{where}steps: a non-empty list of steps ({{plan: NAME, ...parameters}})")
    if program is not None and steps_data:
        raise ScenarioError(f"{where}steps: a scenario has either steps or a program ({program}), not both")
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ScenarioError(f"{where}parameters: a mapping (the program's settings)")
    steps = [_parse_step(s, i, instrument, where) for i, s in enumerate(steps_data)]
    return Scenario(name=name, instrument=instrument, material=material, seed=seed,
                    drift_um_per_h=tuple(float(v) for v in drift), timing=timing, steps=steps, program=program,
                    parameters=parameters, description=str(data.get("description", "")))


def _parse_step(data, i: int, instrument: str, where: str) -> Step:
    at = f"{where}steps[{i}]"
    registry = plan_registry()
    if not isinstance(data, dict) or "plan" not in data:
        raise ScenarioError(f"{at}: a mapping with a `plan` (one of {', '.join(sorted(registry))}) and its parameters")
    params = dict(data)
    plan = params.pop("plan")
    analysis = params.pop("analysis", "none")
    if not isinstance(plan, str) or plan not in registry:
        raise ScenarioError(f"{at}.plan: unknown plan {plan!r}; allowed: {', '.join(sorted(registry))}")
    function, instruments = registry[plan]
    if instrument not in instruments:
        raise ScenarioError(f"{at}.plan: {plan} runs on the {' or '.join(instruments)} instrument, "
                            f"this scenario's is {instrument}")
    if analysis not in ("none", "live"):
        raise ScenarioError(f"{at}.analysis: live or none, got {analysis!r}")
    signature = inspect.signature(function)
    allowed = [n for n, p in signature.parameters.items() if n not in DEVICE_ARGUMENTS
               and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    takes_extra = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    for key in params:
        if key in DEVICE_ARGUMENTS:
            raise ScenarioError(f"{at}.{key}: devices are given by the instrument, not the scenario")
        if key not in allowed and not takes_extra:
            raise ScenarioError(f"{at}.{key}: {plan} has no parameter {key!r}; allowed: {', '.join(allowed)}")
    missing = [n for n, p in signature.parameters.items() if n not in DEVICE_ARGUMENTS and p.default is p.empty
               and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n not in params]
    if missing:
        raise ScenarioError(f"{at}: {plan} needs {', '.join(missing)}")
    return Step(plan, params, analysis)


def plan_for(step: Step, devices: dict):
    """The step's plan generator with the instrument's devices (``scope``, ``pstat``) filled in."""
    function, _ = plan_registry()[step.plan]
    kwargs = dict(step.params)
    for name in DEVICE_ARGUMENTS:
        if name in inspect.signature(function).parameters:
            kwargs[name] = devices[name]
    return function(**kwargs)


def preflight(steps: list[Step], devices: dict) -> None:
    """Check every step's values with the plan's own checks (they run before a plan's first
    message), without running anything: each generator is advanced to its first message and closed."""
    from operando.plans.protocol import ProtocolError
    from operando.plans.validation import PlanParameterError

    for i, step in enumerate(steps):
        gen = plan_for(step, devices)
        try:
            next(gen)
        except StopIteration:
            pass
        except (PlanParameterError, ProtocolError, ValueError, TypeError) as exc:
            raise ScenarioError(f"steps[{i}] ({step.plan}): {exc}") from None
        finally:
            gen.close()
