"""Parameter checks that run before a plan sends its first message.

Every error names the parameter, the value and the allowed range, so a user
can fix the call; nothing has moved and nothing has been written.
"""
from __future__ import annotations

import math
from numbers import Real


class PlanParameterError(ValueError):
    """A plan parameter is outside what the instrument allows."""


def check_number(name: str, value, low: float, high: float, units: str = "") -> float:
    """``value`` as a float if it is a finite number within [low, high]."""
    unit = f" {units}" if units else ""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise PlanParameterError(f"{name} must be a number in [{low}, {high}]{unit}, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise PlanParameterError(f"{name}={value!r}{unit} is outside the allowed range [{low}, {high}]{unit}")
    return value


def check_integer(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanParameterError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise PlanParameterError(f"{name}={value} is outside the allowed range [{low}, {high}]")
    return value


def check_choices(name: str, values, allowed) -> tuple[str, ...]:
    """A non-empty tuple of distinct names, each one of ``allowed``."""
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    if not values:
        raise PlanParameterError(f"{name} must name at least one of {sorted(allowed)}")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise PlanParameterError(f"{name}: unknown {unknown}; allowed are {sorted(allowed)}")
    if len(set(values)) != len(values):
        raise PlanParameterError(f"{name} lists a value twice: {values}")
    return values
