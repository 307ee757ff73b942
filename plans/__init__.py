"""Bluesky plans for operando microscopy (plain generator functions)."""
from .validation import PlanParameterError
from .zstack import zstack, validate_zstack

__all__ = ["PlanParameterError", "zstack", "validate_zstack"]
