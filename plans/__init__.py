"""Bluesky plans for operando microscopy (plain generator functions)."""
from .protocol import CellLimits, ProtocolError, parse_protocol, validate_protocol
from .validation import PlanParameterError
from .zstack import validate_zstack, zstack

__all__ = ["CellLimits", "PlanParameterError", "ProtocolError", "parse_protocol", "validate_protocol",
           "validate_zstack", "zstack"]
