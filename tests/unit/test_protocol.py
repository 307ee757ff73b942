import pytest

from operando.plans.protocol import (CellLimits, ConstantCurrent, Loop, ProtocolError, Rest, VoltageHold,
                                     gitt_protocol, iterate_steps, parse_protocol, validate_protocol)

LCO_CELL = CellLimits(min_voltage_v=2.5, max_voltage_v=4.5, max_current_a=0.6, capacity_ah=1.4e-3)

GOOD = """
# formation, then two cycles
Rest for 10 minutes
Repeat 2 times {
    Charge at C/2 until 4.2 V
    Hold at 4.2 V until C/50 or 2 hours
    Discharge at 2C until 3.0 V or 40 min
}
"""


def test_good_protocol_parses_to_si_steps():
    p = parse_protocol(GOOD)
    assert p[0] == Rest("Rest for 10 minutes", 600.0, line=3)
    loop = p[1]
    assert isinstance(loop, Loop) and loop.times == 2
    charge, hold, discharge = loop.steps
    assert isinstance(charge, ConstantCurrent) and charge.sign == 1 and charge.current.c_rate == 0.5
    assert charge.until_voltage_v == 4.2 and charge.max_duration_s is None
    assert isinstance(hold, VoltageHold) and hold.voltage_v == 4.2
    assert hold.current_floor.to_amperes(1.4e-3) == pytest.approx(2.8e-5) and hold.max_duration_s == 7200
    assert discharge.sign == -1 and discharge.current.c_rate == 2 and discharge.max_duration_s == 2400
    validate_protocol(p, LCO_CELL)
    steps = list(iterate_steps(p))
    assert [c for c, _ in steps] == [0, 0, 0, 0, 1, 1, 1]


def test_currents_in_amperes_and_capacity_cut_offs():
    (step,) = parse_protocol("Discharge at 0.25 mA for 1 hour or until 3.5 V or 0.2 mAh")
    assert step.current.amperes == pytest.approx(2.5e-4)
    assert (step.max_duration_s, step.until_voltage_v, step.max_capacity_ah) == (3600, 3.5, pytest.approx(2e-4))


def test_gitt_is_a_loop_of_pulse_and_rest():
    p = parse_protocol(gitt_protocol("Charge at C/10", "10 minutes", "1 hour", 12))
    validate_protocol(p, LCO_CELL)
    assert p[0].times == 12 and [type(s) for s in p[0].steps] == [ConstantCurrent, Rest]


@pytest.mark.parametrize("text, fragment", [
    ("Charge at C/2 until 4.8 V", "safe window"),
    ("Discharge at 2C until 1.0 V", "safe window"),
    ("Charge at 1000C until 4.2 V", "outside (0, 0.6] A"),
    ("Charge at 0 mA until 4.2 V", "outside (0, 0.6] A"),
    ("Charge at C/2", "not a step"),
    ("Charge at fast until 4.2 V", "C-rate"),
    ("Charge at C/2 until 4.2", "cut-off"),
    ("Hold at 4.2 until C/50", "voltage"),
    ("Rest for ten minutes", "duration"),
    ("Rest for -5 minutes", "duration"),
    ("Rest for nan s", "duration"),
    ("Jump at C/2 until 4.2 V", "not a step"),
    ("Charge at C/0 until 4.2 V", "n > 0 hours"),
    ("Repeat 2 times {\nRest for 1 s", "never closed"),
    ("Rest for 1 s\n}", "without a matching"),
    ("Repeat 0 times {\nRest for 1 s\n}", "repeat count"),
    ("Repeat 2 times {\n}", "empty Repeat"),
    ("", "no steps"),
    ("Charge at C/2 until 4.2 V or 4.1 V", "same kind"),
])
def test_bad_steps_are_refused_with_the_step_named(text, fragment):
    with pytest.raises(ProtocolError, match=fragment.replace("(", r"\(").replace("]", r"\]")):
        validate_protocol(parse_protocol(text), LCO_CELL)


def test_error_names_the_line():
    with pytest.raises(ProtocolError, match=r"line 3 'Charge at C/2 until 9 V'"):
        validate_protocol(parse_protocol("Rest for 1 s\n\nCharge at C/2 until 9 V"), LCO_CELL)
