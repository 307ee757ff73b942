"""Surface-to-core fronts of the virtual cell's truth (no EPICS): the table in
docs/cell-electrochemistry.md. For each material and C-rate, a fresh cell is charged and then
discharged between its cut-offs; the first active imaged agglomerate's shells give the front.

    .venv/bin/python docs/scripts/front_velocities.py
"""
import numpy as np

from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.fronts import galvanostatic_front
from operando.ioc.cell.halfcell import HalfCell

WINDOWS = {"LCO": (4.2, 3.0), "NMC811": (4.3, 2.8)}


def main(seed: int = 1):
    print("| material | C-rate | agglomerate R (um) | delithiation front (nm/s), spread | lithiation front (nm/s), spread |")
    print("|---|---|---|---|---|")
    for material, (top, bottom) in WINDOWS.items():
        for rate in (0.5, 1.0, 2.0):
            cell = HalfCell(build_electrode(seed=seed, material=material))
            k = int(np.nonzero(cell.imaged & (cell.i0_scale > 0))[0][0])
            out = galvanostatic_front(cell, k, rate, top)
            for _ in range(60):
                cell.rest(30.0)
            back = galvanostatic_front(cell, k, -rate, bottom)
            cells = [f"{f['velocity_m_s'] * 1e9:.1f} ({f['spread_s']:.0f} s)" if np.isfinite(f["velocity_m_s"])
                     and f["spread_s"] > 60 else f"uniform ({f['spread_s']:.0f} s)" for f in (out, back)]
            print(f"| {material} | {rate:g}C | {cell.solid.radii_m[k] * 1e6:.2f} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
