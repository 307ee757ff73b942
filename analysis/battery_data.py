"""Potentiostat telemetry as a Battery Data Format (BDF) style CSV.

Headers follow BDF's "Quantity / unit" habit; time in s, voltage in V, current in A with
charging positive, net capacity in A h, and cycle and step counters that never reset, so
the file loads in the usual battery-data tools.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

BDF_COLUMNS = (
    ("Test Time / s", "time_s", 1.0),
    ("Voltage / V", "voltage_v", 1.0),
    ("Current / A", "current_a", 1.0),
    ("Net Capacity / Ah", "charge_c", 1.0 / 3600.0),
    ("Cycle Count / 1", "cycle", 1),
    ("Step Count / 1", "step_index", 1),
    ("Record Index / 1", "seq_num", 1),
)


def write_bdf_csv(path: Path, columns: dict, prefix: str = "") -> Path:
    """Write the potentiostat columns (``{prefix}time_s``, ``{prefix}voltage_v``, ...) as BDF-style CSV.

    Raises ValueError naming a missing column or when the columns differ in length.
    """
    data = {}
    for header, key, scale in BDF_COLUMNS:
        name = prefix + key
        if name not in columns:
            raise ValueError(f"column {name!r} missing; have {sorted(columns)}")
        data[header] = np.asarray(columns[name]) * scale
    lengths = {len(v) for v in data.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns differ in length: { {k: len(v) for k, v in data.items()} }")
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([header for header, _, _ in BDF_COLUMNS])
        for row in zip(*data.values()):
            writer.writerow([int(v) if isinstance(s, int) else repr(float(v))
                             for v, (_, _, s) in zip(row, BDF_COLUMNS)])
    return path
