"""Make sure every data key a device describes carries ``units``."""
from __future__ import annotations


class UnitsInDescribe:
    """Mixin for ophyd Devices: fills ``units`` ("" for enums and text) where the PV has none."""

    def describe(self):
        return _with_units(super().describe())

    def describe_configuration(self):
        return _with_units(super().describe_configuration())


def _with_units(description: dict) -> dict:
    for key in description.values():
        if not key.get("units"):
            key["units"] = ""
    return description
