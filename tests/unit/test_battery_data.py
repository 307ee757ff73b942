import csv

import numpy as np
import pytest

from operando.analysis.battery_data import write_bdf_csv


def test_bdf_csv_has_si_columns_and_capacity_in_ah(tmp_path):
    n = 5
    cols = {"pstat_time_s": np.arange(n) * 10.0, "pstat_voltage_v": np.linspace(3.6, 4.0, n),
            "pstat_current_a": np.full(n, 2e-4), "pstat_charge_c": np.arange(n) * 2e-3,
            "pstat_cycle": np.zeros(n, int), "pstat_step_index": np.array([0, 0, 1, 1, 1]),
            "pstat_seq_num": np.arange(7, 7 + n)}
    path = write_bdf_csv(tmp_path / "cell.csv", cols, prefix="pstat_")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["Test Time / s", "Voltage / V", "Current / A", "Net Capacity / Ah",
                       "Cycle Count / 1", "Step Count / 1", "Record Index / 1"]
    assert len(rows) == n + 1
    assert float(rows[-1][3]) == pytest.approx(8e-3 / 3600)
    assert rows[3][5] == "1" and rows[-1][6] == "11"


def test_missing_column_is_named(tmp_path):
    with pytest.raises(ValueError, match="pstat_voltage_v"):
        write_bdf_csv(tmp_path / "x.csv", {"pstat_time_s": [0.0]}, prefix="pstat_")
