"""Bluesky plans for operando microscopy (plain generator functions)."""
from .cycling import run_protocol
from .cycling_zstack import cycling_zstack
from .dark import dark_frames
from .electrolyte import electrolyte_stack
from .estimate import estimate_cycling_zstack, estimate_zstack, protocol_cell_time_s
from .metadata import SIMULATED_SAMPLE, start_metadata
from .positions import multi_position
from .protocol import CellLimits, ProtocolError, gitt_protocol, parse_protocol, validate_protocol
from .relaxation import gitt, ocv_relax
from .spectral import spectral_reflectivity
from .validation import PlanParameterError
from .zstack import validate_zstack, zstack

__all__ = ["CellLimits", "PlanParameterError", "ProtocolError", "SIMULATED_SAMPLE", "cycling_zstack", "dark_frames",
           "electrolyte_stack", "estimate_cycling_zstack", "estimate_zstack", "gitt", "gitt_protocol", "multi_position",
           "ocv_relax", "parse_protocol", "protocol_cell_time_s", "run_protocol", "spectral_reflectivity",
           "start_metadata", "validate_protocol", "validate_zstack", "zstack"]
