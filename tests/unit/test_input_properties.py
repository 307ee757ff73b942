"""Property-based tests (hypothesis) of the two parsers users feed by hand: protocol text and scenario
files. Whatever the input, the answer is a parsed result or the parser's own error with a message;
well-formed steps come back with their values in SI units."""
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from operando.engine.scenario import ScenarioError, load_scenario, parse_scenario, plan_registry
from operando.plans.protocol import (CellLimits, ConstantCurrent, ProtocolError, Rest, VoltageHold, iterate_steps,
                                     parse_protocol, to_technique)

LCO = CellLimits(min_voltage_v=2.5, max_voltage_v=4.5, max_current_a=0.6, capacity_ah=1.4e-3)
SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = ["Charge", "Discharge", "Hold", "Rest", "Repeat", "at", "for", "until", "or", "times", "{", "}",
         "C/2", "2C", "C/0", "0.5 mA", "4.2 V", "10 minutes", "1e400 s", "nan", "-1 h", "3 mAh", "C/50", "\n", "#"]
number = st.one_of(st.floats().map(repr), st.integers(-10**30, 10**30).map(str),
                   st.sampled_from(["0", "-0", "1e-320", "1e400", "nan", "inf", ".5", "5.", "+2", "1e3", ""]))
current = st.one_of(st.tuples(number, st.sampled_from(["C", " C", " mA", " A", " uA", " µA", " mV"])).map("".join),
                    number.map("C/{}".format))
clause = st.tuples(number, st.sampled_from([" V", " s", " min", " minutes", " h", " mAh", " Ah", "", " kg"])
                   ).map("".join)
step = st.one_of(
    st.builds("{} at {} {} {}{}".format, st.sampled_from(["Charge", "Discharge", "charge"]), current,
              st.sampled_from(["until", "for"]), clause, st.one_of(st.just(""), clause.map(" or {}".format))),
    st.builds("Hold at {} V until {} or {}".format, number, current, clause),
    st.builds("Rest for {}".format, clause))
lines = st.lists(st.one_of(step, step, step, st.builds("Repeat {} times {{".format, number), st.just("}"),
                           st.sampled_from(WORDS)), min_size=0, max_size=8).map("\n".join)
# Step-shaped text with odd numbers (zero, negative, huge, tiny, NaN, missing), words of the grammar in any
# order, and free text.
protocol_text = st.one_of(lines, st.text(max_size=200), st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join))


@SETTINGS
@given(protocol_text)
def test_any_protocol_text_parses_or_is_refused_with_a_protocol_error(text):
    try:
        technique = to_technique(parse_protocol(text), LCO)
    except ProtocolError as exc:
        assert str(exc)
        return
    for step in technique["steps"]:
        for key, value in step.items():
            if isinstance(value, float):
                assert math.isfinite(value), (key, step)


UNITS_S = {"s": 1, "seconds": 1, "min": 60, "minutes": 60, "h": 3600, "hours": 3600}
amount = st.floats(min_value=0.01, max_value=500, allow_nan=False).map(lambda v: float(f"{v:.3g}"))


@st.composite
def current_step(draw):
    """(text, expected step): a galvanostatic step with a C-rate or mA current and one or two cut-offs."""
    sign = draw(st.sampled_from([1, -1]))
    if draw(st.booleans()):
        rate = draw(st.sampled_from([0.05, 0.1, 0.2, 0.5, 1, 2, 5]))
        text, amps = (f"C/{1 / rate:g}" if rate < 1 else f"{rate:g}C"), rate * LCO.capacity_ah
    else:
        ma = draw(st.floats(min_value=0.001, max_value=500).map(lambda v: float(f"{v:.3g}")))
        text, amps = f"{ma:g} mA", ma * 1e-3
    volts = draw(st.floats(min_value=2.5, max_value=4.5).map(lambda v: round(v, 3)))
    unit = draw(st.sampled_from(sorted(UNITS_S)))
    duration = draw(amount)
    step = f"{'Charge' if sign > 0 else 'Discharge'} at {text} until {volts:g} V or {duration:g} {unit}"
    return step, ConstantCurrent, {"current_a": sign * amps, "until_voltage_v": volts,
                                   "max_duration_s": duration * UNITS_S[unit]}


@st.composite
def rest_or_hold(draw):
    unit = draw(st.sampled_from(sorted(UNITS_S)))
    duration = draw(amount)
    if draw(st.booleans()):
        return f"Rest for {duration:g} {unit}", Rest, {"duration_s": duration * UNITS_S[unit]}
    volts = draw(st.floats(min_value=2.5, max_value=4.5).map(lambda v: round(v, 3)))
    return (f"Hold at {volts:g} V until C/50 or {duration:g} {unit}", VoltageHold,
            {"voltage_v": volts, "current_floor_a": LCO.capacity_ah / 50, "max_duration_s": duration * UNITS_S[unit]})


@SETTINGS
@given(st.lists(st.one_of(current_step(), rest_or_hold()), min_size=1, max_size=6),
       st.integers(min_value=1, max_value=50))
def test_well_formed_steps_come_back_in_si_units(steps, times):
    text = f"Repeat {times} times {{\n" + "\n".join("    " + s for s, _, _ in steps) + "\n}\n"
    parsed = parse_protocol(text)
    flat = list(iterate_steps(parsed))
    assert len(flat) == times * len(steps)
    assert [c for c, _ in flat] == [k for k in range(times) for _ in steps]
    assert [type(s) for _, s in flat[:len(steps)]] == [kind for _, kind, _ in steps]
    (loop,) = to_technique(parsed, LCO)["steps"]
    for compiled, (_, _, expected) in zip(loop["steps"], steps):
        for key, value in expected.items():
            assert compiled[key] == pytest.approx(value, rel=1e-9), (key, compiled)


# --- scenario files ------------------------------------------------------------------------------

leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                 st.text(max_size=20), st.sampled_from(sorted(plan_registry())))
KEYS = ["name", "description", "instrument", "cell", "parameters", "material", "seed", "drift_um_per_h", "timing",
        "steps", "program", "plan", "analysis", "z_start_um", "z_stop_um", "z_step_um", "protocol", "positions", "x"]
yaml_like = st.recursive(leaf, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=5)), max_leaves=20)


@SETTINGS
@given(yaml_like)
def test_any_scenario_data_loads_or_is_refused_with_a_scenario_error(data):
    try:
        scenario = parse_scenario(data)
    except ScenarioError as exc:
        assert str(exc)
        return
    assert scenario.steps or scenario.program


GOOD = {"name": "x", "cell": {"material": "LCO", "seed": 3},
        "steps": [{"plan": "zstack", "z_start_um": 10, "z_stop_um": 12, "z_step_um": 0.5},
                  {"plan": "run_protocol", "protocol": "Rest for 1 minute"}]}


def _paths(data, prefix=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, prefix + (i,))
    yield prefix


@SETTINGS
@given(st.sampled_from([p for p in _paths(GOOD) if p]), leaf)
def test_a_good_scenario_with_one_value_replaced_loads_or_is_refused(tmp_path_factory, path, value):
    import copy

    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    file = tmp_path_factory.mktemp("scenario") / "s.yaml"
    file.write_text(yaml.safe_dump(data))
    try:
        load_scenario(file)
    except ScenarioError as exc:
        assert str(exc)
