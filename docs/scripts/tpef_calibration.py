"""Calibrate two-photon fluorescence against salt concentration on the virtual instrument.

What one does on the real microscope (seed 000, SI 11): fill a cuvette (here: a sample that is
electrolyte all the way down) with LiPF6 in EC/DMC at known concentrations, record 2PEF at the
imaging settings well inside the liquid, and store counts relative to the 1 M standard. Writes
``analysis/data/tpef_calibration.csv``, which the electrolyte analysis reads.

    .venv/bin/python docs/scripts/tpef_calibration.py
"""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import Electrode
from operando.ioc.cell.optics import PixelGrid

CONCENTRATIONS_M = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0)
SETTINGS = dict(wavelength_nm=1020.0, power_w=20e-3, pixel_dwell_s=10e-6, pixels=128, depth_piezo_um=40.0)
OUT = Path(__file__).resolve().parents[2] / "analysis" / "data" / "tpef_calibration.csv"


def measure(concentration_m: float, rng) -> tuple[float, float]:
    """Mean and standard error of 2PEF counts per pixel of a 128 x 128 frame in the liquid."""
    cuvette = Electrode(material="LCO", agglomerates=(), electrolyte_gap_um=1000.0)
    sample = ConfocalSample(cuvette, salt_concentration_m=concentration_m)
    light = Illumination(SETTINGS["wavelength_nm"], SETTINGS["power_w"], True, True)
    n = SETTINGS["pixels"]
    counts = sample.acquire(PixelGrid(n, n, 0.1), SETTINGS["depth_piezo_um"], light, SETTINGS["pixel_dwell_s"],
                            ["fluorescence"], rng)["fluorescence"].astype(float)
    return counts.mean(), counts.std() / np.sqrt(counts.size)


def main() -> None:
    rng = np.random.default_rng(2026)
    rows = [(c, *measure(c, rng)) for c in CONCENTRATIONS_M]
    ref = next(m for c, m, _ in rows if c == 1.0)
    lines = ["# 2PEF of LiPF6 in EC/DMC (LP30 solvent) vs concentration, relative to 1 M.",
             f"# source: virtual cuvette measured on the simulated confocal (docs/scripts/tpef_calibration.py), "
             f"{datetime.date.today().isoformat()}",
             "# settings: " + ", ".join(f"{k}={v}" for k, v in SETTINGS.items()),
             "concentration_m,relative_signal,relative_error"]
    lines += [f"{c:.3f},{m / ref:.5f},{e / ref:.5f}" for c, m, e in rows]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
