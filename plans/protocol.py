"""Cycling protocols written like PyBaMM experiment strings, parsed and validated up front.

One step per line; loops as ``Repeat N times { ... }`` (nestable); ``#`` starts a comment.

    Rest for 10 minutes
    Repeat 2 times {
        Charge at C/2 until 4.2 V
        Hold at 4.2 V until C/50 or 2 hours
        Discharge at 2C until 3.0 V
    }

Steps: ``Charge|Discharge at <C-rate or current> until <V> V | for <duration>`` (cut-offs may be
combined with ``or``, plus ``<capacity> mAh``); ``Hold at <V> V until <C-rate or current> |
for <duration>``; ``Rest for <duration>``. Currents are SI internally, charging positive
(Battery Data Format); every error names the offending step and what is allowed.
"""
from __future__ import annotations

import json

import math
import re
from dataclasses import dataclass, field

from .validation import PlanParameterError


class ProtocolError(PlanParameterError):
    """A protocol step that cannot be run; the message names the step."""


@dataclass(frozen=True)
class CellLimits:
    """What the cell and the instrument allow: voltage window (V), current limit (A),
    nominal capacity (A h) that defines 1C."""
    min_voltage_v: float
    max_voltage_v: float
    max_current_a: float
    capacity_ah: float


@dataclass(frozen=True)
class Current:
    """A current given either as a C-rate (multiples of capacity per hour) or in amperes."""
    c_rate: float | None = None
    amperes: float | None = None

    def to_amperes(self, capacity_ah: float) -> float:
        return self.amperes if self.amperes is not None else self.c_rate * capacity_ah

    def __str__(self):
        return f"{self.c_rate:g}C" if self.c_rate is not None else f"{self.amperes * 1e3:g} mA"


@dataclass(frozen=True)
class ConstantCurrent:
    """Galvanostatic step; sign +1 charge, -1 discharge; cut-offs may be None."""
    text: str
    sign: int
    current: Current
    until_voltage_v: float | None = None
    max_duration_s: float | None = None
    max_capacity_ah: float | None = None
    line: int = 0


@dataclass(frozen=True)
class VoltageHold:
    """Potentiostatic step ending when |current| falls below the floor or after max_duration_s."""
    text: str
    voltage_v: float
    current_floor: Current | None = None
    max_duration_s: float | None = None
    line: int = 0


@dataclass(frozen=True)
class Rest:
    """Open circuit for duration_s."""
    text: str
    duration_s: float
    line: int = 0


@dataclass(frozen=True)
class Loop:
    times: int
    steps: tuple = field(default_factory=tuple)


Step = ConstantCurrent | VoltageHold | Rest

_UNITS_S = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "min": 60, "minute": 60, "minutes": 60,
            "h": 3600, "hour": 3600, "hours": 3600}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_DURATION = re.compile(rf"^({_NUMBER})\s*(s|sec|seconds?|min|minutes?|h|hours?)$", re.I)
_VOLTAGE = re.compile(rf"^({_NUMBER})\s*V$", re.I)
_CAPACITY = re.compile(rf"^({_NUMBER})\s*(mAh|Ah)$", re.I)
_CRATE = re.compile(rf"^(?:C/({_NUMBER})|({_NUMBER})\s*C)$", re.I)
_AMPS = re.compile(rf"^({_NUMBER})\s*(A|mA|uA|µA)$")
_CURRENT_STEP = re.compile(r"^(Charge|Discharge)\s+at\s+(.+?)\s+(until|for)\s+(.+)$", re.I)
_HOLD_STEP = re.compile(r"^Hold\s+at\s+(.+?)\s+(until|for)\s+(.+)$", re.I)
_REST_STEP = re.compile(r"^Rest\s+for\s+(.+)$", re.I)
_REPEAT = re.compile(r"^Repeat\s+(\d+)\s+times?\s*\{$", re.I)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def parse_duration_s(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"expected a duration such as '10 minutes', got {text!r}")
    return _number(m.group(1)) * _UNITS_S[m.group(2).lower()]   # inf for 1e308 h: refused by validation


def parse_current(text: str) -> Current:
    text = text.strip()
    m = _CRATE.match(text)
    if m:
        if m.group(1):
            hours = _number(m.group(1))
            if not hours > 0 or not math.isfinite(1.0 / hours):
                raise ValueError(f"C/n needs n > 0 hours, got {text!r}")
            return Current(c_rate=1.0 / hours)
        return Current(c_rate=_number(m.group(2)))
    m = _AMPS.match(text)
    if m:
        scale = {"A": 1.0, "mA": 1e-3, "uA": 1e-6, "µA": 1e-6}[m.group(2)]
        return Current(amperes=_number(m.group(1)) * scale)
    raise ValueError(f"expected a C-rate ('C/2', '2C') or a current ('0.5 mA'), got {text!r}")


def _parse_step(text: str, line: int) -> Step:
    m = _REST_STEP.match(text)
    if m:
        return Rest(text, parse_duration_s(m.group(1)), line)
    m = _CURRENT_STEP.match(text)
    if m:
        sign = 1 if m.group(1).lower() == "charge" else -1
        current = parse_current(m.group(2))
        kwargs = {}
        for i, clause in enumerate(re.split(r"\s+or\s+", m.group(4))):
            clause = re.sub(r"^until\s+", "", clause.strip(), flags=re.I)
            if i == 0 and m.group(3).lower() == "for" or _DURATION.match(clause):
                key, value = "max_duration_s", parse_duration_s(clause)
            elif _VOLTAGE.match(clause):
                key, value = "until_voltage_v", _number(_VOLTAGE.match(clause).group(1))
            elif _CAPACITY.match(clause):
                c = _CAPACITY.match(clause)
                key, value = "max_capacity_ah", _number(c.group(1)) * (1e-3 if c.group(2).lower() == "mah" else 1)
            else:
                raise ValueError(f"cannot read the cut-off {clause!r}: use '<V> V', a duration or '<mAh> mAh'")
            if key in kwargs:
                raise ValueError(f"two cut-offs of the same kind: {clause!r}")
            kwargs[key] = value
        return ConstantCurrent(text, sign, current, **kwargs, line=line)
    m = _HOLD_STEP.match(text)
    if m:
        v = _VOLTAGE.match(m.group(1).strip())
        if not v:
            raise ValueError(f"a hold needs a voltage such as '4.2 V', got {m.group(1)!r}")
        floor, duration = None, None
        for i, clause in enumerate(re.split(r"\s+or\s+", m.group(3))):
            clause = re.sub(r"^until\s+", "", clause.strip(), flags=re.I)
            if i == 0 and m.group(2).lower() == "for" or _DURATION.match(clause):
                duration = parse_duration_s(clause)
            else:
                floor = parse_current(clause)
        return VoltageHold(text, _number(v.group(1)), floor, duration, line)
    raise ValueError("not a step: use 'Charge|Discharge at ... until|for ...', 'Hold at <V> V until ...', "
                     "'Rest for ...' or 'Repeat N times {'")


def parse_protocol(text: str) -> tuple:
    """Parse protocol text into a tuple of steps and Loops (no validation against limits)."""
    if not isinstance(text, str):
        raise ProtocolError(f"protocol must be text (one step per line), got {type(text).__name__}")
    stack: list[list] = [[]]
    loops: list[tuple[int, int]] = []          # (times, line number)
    lines = text.splitlines()
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            if _REPEAT.match(line):
                times = int(_REPEAT.match(line).group(1))
                if not 1 <= times <= 100_000:
                    raise ValueError(f"repeat count must be 1-100000, got {times}")
                loops.append((times, number))
                stack.append([])
            elif line == "}":
                if not loops:
                    raise ValueError("'}' without a matching 'Repeat N times {'")
                times, _ = loops.pop()
                body = stack.pop()
                if not body:
                    raise ValueError("empty Repeat block")
                stack[-1].append(Loop(times, tuple(body)))
            else:
                stack[-1].append(_parse_step(line, number))
        except ValueError as exc:
            raise ProtocolError(f"protocol line {number} {line!r}: {exc}") from None
    if loops:
        raise ProtocolError(f"protocol line {loops[-1][1]}: 'Repeat' block is never closed with '}}'")
    if not stack[0]:
        raise ProtocolError("protocol has no steps")
    return tuple(stack[0])


def iterate_steps(protocol: tuple):
    """Yield (cycle_index, step) in execution order; a cycle is one pass through the outermost loop body."""
    def walk(items, cycle):
        for item in items:
            if isinstance(item, Loop):
                for k in range(item.times):
                    yield from walk(item.steps, cycle + k if cycle is not None else k)
            else:
                yield (cycle or 0), item
    yield from walk(protocol, None)


def validate_protocol(protocol: tuple, limits: CellLimits) -> None:
    """Check every step against the cell's voltage window and the instrument's current limit."""
    def check_current(step, current: Current):
        amps = current.to_amperes(limits.capacity_ah)
        if not 0 < amps <= limits.max_current_a:
            raise ProtocolError(f"line {step.line} {step.text!r}: current {str(current)} = {amps:.3g} A is outside "
                                f"(0, {limits.max_current_a:g}] A")

    def check_voltage(step, volts):
        if not limits.min_voltage_v <= volts <= limits.max_voltage_v:
            raise ProtocolError(f"line {step.line} {step.text!r}: {volts:g} V is outside the cell's safe window "
                                f"[{limits.min_voltage_v:g}, {limits.max_voltage_v:g}] V")

    def check_duration(step, seconds):
        if seconds is not None and not 0 < seconds <= 30 * 24 * 3600:
            raise ProtocolError(f"line {step.line} {step.text!r}: duration {seconds:g} s is outside (0, 30 days]")

    def walk(items):
        for item in items:
            if isinstance(item, Loop):
                walk(item.steps)
            elif isinstance(item, ConstantCurrent):
                check_current(item, item.current)
                if item.until_voltage_v is None and item.max_duration_s is None and item.max_capacity_ah is None:
                    raise ProtocolError(f"line {item.line} {item.text!r}: needs a cut-off (voltage, duration or capacity)")
                if item.until_voltage_v is not None:
                    check_voltage(item, item.until_voltage_v)
                check_duration(item, item.max_duration_s)
                if item.max_capacity_ah is not None and not 0 < item.max_capacity_ah <= 10 * limits.capacity_ah:
                    raise ProtocolError(f"line {item.line} {item.text!r}: capacity cut-off outside (0, 10 x nominal]")
            elif isinstance(item, VoltageHold):
                check_voltage(item, item.voltage_v)
                if item.current_floor is None and item.max_duration_s is None:
                    raise ProtocolError(f"line {item.line} {item.text!r}: needs a current floor or a duration")
                if item.current_floor is not None:
                    check_current(item, item.current_floor)
                check_duration(item, item.max_duration_s)
            else:
                check_duration(item, item.duration_s)
    walk(protocol)


def gitt_protocol(pulse: str, pulse_duration: str, rest_duration: str, pulses: int) -> str:
    """GITT as protocol text: ``pulses`` x (current pulse, open-circuit rest)."""
    return (f"Repeat {pulses} times {{\n    {pulse} for {pulse_duration}\n"
            f"    Rest for {rest_duration}\n}}\n")


MAX_TECHNIQUE_CHARS = 65536      # the potentiostat's Technique PV (JSON text)


def to_technique(protocol: tuple, limits: CellLimits) -> dict:
    """Compile a validated protocol into the potentiostat's technique (JSON-able, SI, currents in A).

    This is what a vendor program downloads to the instrument: C-rates are resolved with the
    cell's nominal capacity, loops stay loops, and each step keeps its text for the log.
    """
    validate_protocol(protocol, limits)

    def compile_items(items):
        out = []
        for item in items:
            if isinstance(item, Loop):
                out.append({"kind": "loop", "times": item.times, "steps": compile_items(item.steps)})
            elif isinstance(item, ConstantCurrent):
                out.append({"kind": "cc", "text": item.text,
                            "current_a": item.sign * item.current.to_amperes(limits.capacity_ah),
                            "until_voltage_v": item.until_voltage_v, "max_duration_s": item.max_duration_s,
                            "max_capacity_ah": item.max_capacity_ah})
            elif isinstance(item, VoltageHold):
                out.append({"kind": "cv", "text": item.text, "voltage_v": item.voltage_v,
                            "current_floor_a": (item.current_floor.to_amperes(limits.capacity_ah)
                                                if item.current_floor else None),
                            "max_duration_s": item.max_duration_s})
            else:
                out.append({"kind": "ocv", "text": item.text, "duration_s": item.duration_s})
        return out

    technique = {"version": 1, "capacity_ah": limits.capacity_ah,
                 "voltage_window_v": [limits.min_voltage_v, limits.max_voltage_v],
                 "max_current_a": limits.max_current_a, "steps": compile_items(protocol)}
    size = len(json.dumps(technique))
    if size > MAX_TECHNIQUE_CHARS:
        raise ProtocolError(f"protocol compiles to a technique of {size} characters; the potentiostat holds at most "
                            f"{MAX_TECHNIQUE_CHARS}: write repeated steps as 'Repeat N times {{ ... }}'")
    return technique
