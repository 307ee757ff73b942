"""Start-document metadata of operando runs: one documented schema (docs/metadata.md).

Top-level keys are flat where users search (``material``, ``c_rate``, ``operator``,
``sample_name``, ``plan_name``); the full description nests under ``sample``,
``electrochemistry`` and ``instrument``.
"""
from __future__ import annotations

from .protocol import ConstantCurrent, iterate_steps, parse_protocol
from .validation import PlanParameterError, check_number

MATERIALS = ("LCO", "NMC811", "NWO")

# The virtual cell of the simulator (ioc.cell): what a user would write on the cell's label.
SIMULATED_SAMPLE = {
    "name": "virtual-LCO-halfcell",
    "material": "LCO",
    "refractive_index": 2.2,        # pristine particle at 820 nm
    "electrode": {"active_mass_mg": 3.0, "active_mass_fraction": 0.2, "thickness_um": 100.0,
                  "loading_mg_cm2": 2.65, "area_cm2": 1.13, "binder": "PTFE", "conductive_additive": "carbon black"},
    "electrolyte": {"name": "LP30", "salt": "LiPF6", "salt_m": 1.0, "solvent": "EC:DMC 1:1 v/v",
                    "refractive_index": 1.42},
    "counter_electrode": "Li metal",
}

# The virtual NWO cell of the widefield microscope (seed 004 Methods: rods, 20 % in carbon + PTFE).
SIMULATED_NWO_SAMPLE = {
    "name": "virtual-NWO-halfcell",
    "material": "NWO",
    "formula": "Nb14W3O44",
    "electrode": {"active_mass_mg": 3.0, "active_mass_fraction": 0.2, "thickness_um": 170.0, "area_cm2": 0.196,
                  "binder": "PTFE", "conductive_additive": "Super P carbon", "morphology": "rods ~20 x 3.5 um"},
    "electrolyte": {"name": "LP30", "salt": "LiPF6", "salt_m": 1.0, "solvent": "EC:DMC 1:1 v/v",
                    "refractive_index": 1.42},
    "counter_electrode": "Li metal",
}


def check_sample(sample: dict) -> dict:
    """A sample description with the schema's required keys and sane numbers."""
    if not isinstance(sample, dict):
        raise PlanParameterError(f"sample must be a dict (see docs/metadata.md), got {type(sample).__name__}")
    for key in ("name", "material", "electrode", "electrolyte"):
        if key not in sample:
            raise PlanParameterError(f"sample: missing {key!r} (see docs/metadata.md)")
    if not isinstance(sample["name"], str) or not sample["name"].strip():
        raise PlanParameterError("sample['name'] must be a non-empty string")
    if sample["material"] not in MATERIALS:
        raise PlanParameterError(f"sample['material'] must be one of {list(MATERIALS)}, got {sample['material']!r}")
    electrode = sample["electrode"]
    if not isinstance(electrode, dict):
        raise PlanParameterError("sample['electrode'] must be a dict")
    if "active_mass_fraction" in electrode:
        check_number("sample['electrode']['active_mass_fraction']", electrode["active_mass_fraction"], 0.0, 1.0)
    for key in ("active_mass_mg", "thickness_um", "loading_mg_cm2", "area_cm2"):
        if key in electrode:
            check_number(f"sample['electrode'][{key!r}]", electrode[key], 0.0, 1e6)
    if not isinstance(sample["electrolyte"], dict):
        raise PlanParameterError("sample['electrolyte'] must be a dict")
    return sample


def protocol_c_rate(protocol_text: str) -> float | None:
    """The largest C-rate of the protocol's constant-current steps (None if none is given as a C-rate)."""
    rates = [item.current.c_rate for _, item in iterate_steps(parse_protocol(protocol_text))
             if isinstance(item, ConstantCurrent) and item.current.c_rate is not None]
    return max(rates) if rates else None


def start_metadata(plan_name: str, *, sample: dict, operator: str, protocol: str | None = None,
                   technique: dict | None = None, instrument: dict | None = None, extra: dict | None = None) -> dict:
    """The start document's metadata (everything JSON-serialisable)."""
    sample = check_sample(sample)
    if not isinstance(operator, str) or not operator.strip():
        raise PlanParameterError("operator must be a non-empty string (who ran the experiment)")
    md = {
        "plan_name": plan_name,
        "sample_name": sample["name"],
        "material": sample["material"],
        "operator": operator,
        "sample": sample,
        "instrument": instrument or {},
    }
    if protocol is not None:
        md["protocol"] = protocol
        md["c_rate"] = protocol_c_rate(protocol)
        md["electrochemistry"] = {"protocol": protocol, "technique": technique,
                                  "capacity_ah": (technique or {}).get("capacity_ah")}
    md.update(extra or {})
    return md
