"""Analysis speed: one 50 x 512 x 512 reflection stack, fully analysed.

"Fully" = what applies to a single stack: drift measurement (reference projection, coverslip),
segmentation and labelling, every agglomerate's surface fit, exit face and shells (the first
stack of a series, which defines the tracks), then a later stack of the same series with a
drift to register (the per-stack cost during an experiment), and a salt map of one 512 x 512
2PEF plane. Prints seconds and the ratio to the stack's physical
acquisition time at 10 us dwell (50 x 512 x 512 x 10 us = 131 s). Run with `make bench`.
"""
from __future__ import annotations

import time

import numpy as np

from operando.analysis import electrolyte
from operando.analysis.agglomerates import StackGeometry, Tracker
from operando.analysis.stack_prep import Registration
from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.optics import PixelGrid

PLANES, PIXELS, DWELL_S = 50, 512, 10e-6


def main() -> None:
    electrode = build_electrode(seed=1)
    sample = ConfocalSample(electrode)
    grid = PixelGrid(PIXELS, PIXELS, 0.08)
    piezo = 10.0 + 0.35 * np.arange(PLANES)
    rng = np.random.default_rng(0)
    light = Illumination(820.0, 1e-3, False, True)
    drifts = [None, (0.05, -0.03, 0.01)]                      # um: the sample moves between the stacks
    stacks = [np.stack([sample.acquire(grid, z, light, DWELL_S, ["reflection"], rng, None, d)["reflection"]
                        for z in piezo]) for d in drifts]
    geometry = StackGeometry(0.08, 0.35, 1.42, 1.518, 2.2, 820.0, 1.4, 0.7, dead_time_s=22e-9, dwell_s=10e-6)
    tracker, registration = Tracker(geometry), Registration(geometry.pixel_size_um)

    def analyse(stack, time_s):
        drift = registration.measure(stack, piezo)
        frames = registration.apply({"reflection": geometry.linear_counts(stack)}, drift)
        tracker.add(frames["reflection"], piezo, time_s, counts_linear=True, axial_drift_um=drift[2])

    t0 = time.perf_counter()
    analyse(stacks[0], 0.0)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyse(stacks[1], 60.0)
    later = time.perf_counter() - t0
    cal = electrolyte.load_calibration()
    plane = rng.poisson(200.0, size=(PIXELS, PIXELS)).astype(float)
    t0 = time.perf_counter()
    delta = electrolyte.salt_map(plane, plane * 1.01, cal, 1.0) - 1.0
    for track in tracker.tracks.values():
        electrolyte.gradient_near(delta, track.reference.footprint, 0.08)
    salt = time.perf_counter() - t0
    acquisition = PLANES * PIXELS * PIXELS * DWELL_S
    total = first + salt
    print(f"stack {PLANES} x {PIXELS} x {PIXELS}, {len(tracker.tracks)} agglomerates tracked")
    print(f"first stack (drift reference, segment, fit surfaces, exit faces, shells): {first:.2f} s")
    print(f"later stack of the series (drift registered, tracked surfaces, shells):   {later:.2f} s")
    print(f"salt map of one plane + gradients:                          {salt:.2f} s")
    print(f"single stack fully analysed: {total:.2f} s (target <= 2 s); "
          f"{total / acquisition:.4f} of its physical acquisition time ({acquisition:.0f} s at 10 us dwell)")


if __name__ == "__main__":
    main()
