"""The demo's widefield part (seed 004): an NWO rod electrode cycled fast on the widefield
scattering microscope, analysed live, checked against the rod cell's truth.

1) 5C lithiation of the cell as after a 2.8 V hold (x = 0.08), 10 Hz frames averaged in pairs at twice the cell's pace:
fronts enter both ends of the 20.4 um rod (Fig. 3). 2) Lithiation at 2C to x ~ 0.7 and a rest (cell
time 200x). 3) 5C delithiation to 2.8 V (cell time 24x): the rods contract, crack and a fragment is cut
off (Fig. 4, 5). Every run is analysed live (WidefieldAnalysis, a derived run in Tiled) and the
cracking run is replayed from Tiled through the same analysis.
"""
from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import urlparse

import numpy as np


def nwo_experiment(p, config, out_dir) -> list:
    """The NWO part with the settings ``p`` (scenarios/demo.yaml, parameters.nwo)."""
    from operando.analysis import rod_figures as figures
    from operando.plans.cycling import run_protocol
    from operando.plans.widefield import cycling_widefield

    from .instrument import simulated_widefield
    from .session import make_run_engine

    print("\n--- NWO rods on the widefield microscope: 5C fronts, 2C lithiation, 5C delithiation and cracks ---",
          flush=True)
    t0 = time.monotonic()
    config = replace(config, material="NWO", pv_prefix=config.pv_prefix.rstrip(":") + "W:")
    checks = []
    with simulated_widefield(config) as (scope, pstat, client, _):
        RE, writer = make_run_engine(config, client)
        camera = dict(frame_rate_hz=10, roi=tuple(p["roi"]), operator="demo", sample_rate_hz=10)
        uid, run, live = _analysed_run(RE, writer, client, cycling_widefield(
            scope, pstat, p["front_protocol"], temporal_binning=2, accel=p["front_accel"], **camera))
        checks += _front_checks(run, live)
        _differential_figure(run, out_dir / "nwo_differential_images_5C_lithiation.png")
        figures.kymograph(live, 1, out_dir / "nwo_kymograph_5C_lithiation.png",
                          "NWO rod, 5C lithiation from x = 0.08: differential line-cut (1/s)")
        RE(run_protocol(pstat, p["prepare_protocol"], accel=p["prepare_accel"], sample_rate_hz=2))
        uid, run, live = _analysed_run(RE, writer, client, cycling_widefield(
            scope, pstat, p["crack_protocol"], accel=p["crack_accel"], **camera))
        replay = _replayed(run)
        identical = replay.rows == live.rows and replay.cracks == live.cracks and replay.fronts == live.fronts
        checks.append(_check("NWO replayed analysis identical to live", float(identical), 1.0, 0.0, "bool"))
        checks += _crack_checks(run, live)
        figures.rod_lengths(live, out_dir / "nwo_elongation_5C_delithiation.png",
                            "NWO rods, 5C delithiation: length change (%)")
        last = run["widefield"]["widefield_camera_image"][-1]
        figures.rod_frame(np.asarray(last), live, out_dir / "nwo_cracked_rods.png", "NWO rods after 5C delithiation")
    print(f"NWO part done in {time.monotonic() - t0:.1f} s", flush=True)
    return checks


def _check(name, measured, truth, tolerance, unit, relative=False):
    from .demo_checks import within

    return within(name, measured, truth, tolerance, unit, relative)


def _analysed_run(RE, writer, client, plan):
    from operando.analysis.widefield_live import WidefieldAnalysis

    from .session import analysed_run

    return analysed_run(RE, writer, client, plan, WidefieldAnalysis)


def _replayed(run):
    from operando.analysis.widefield_live import WidefieldAnalysis

    replay = WidefieldAnalysis()
    for name, doc in run.documents():
        replay(name, doc)
    return replay


def _truth(run):
    from operando.ioc.cell.rod_truth import read_rod_truth
    from operando.ioc.cell.truth import STATE_TRUTH_SUFFIX, TRUTH_SUFFIX, read_truth

    for name, doc in run.documents():
        if name == "stream_resource" and doc["data_key"].endswith("_image"):
            path = urlparse(doc["uri"]).path
            geometry = {r["label"]: r for r in read_truth(path + TRUTH_SUFFIX)["rods"]}
            return read_rod_truth(path + STATE_TRUTH_SUFFIX), geometry
    raise RuntimeError("no camera frames in the run")


def truth_fronts_um_s(truth, label, length_um) -> list[float]:
    """Front velocity (um/s) entering each end of rod ``label`` in the truth: where x first falls
    below its starting value + 0.005, fitted while between 1 um from the end and 1 um from the middle."""
    xs = truth["rods"][label]["x"]
    times = truth["cell_time_s"]
    x0 = float(np.median(xs[0]))
    dl = length_um / xs.shape[1]
    out = []
    for rows in (xs, xs[:, ::-1]):
        depth = np.array([np.argmax(r < x0 + 0.005) * dl if (r < x0 + 0.005).any() else np.nan for r in rows])
        ok = np.isfinite(depth) & (depth > 1.0) & (depth < length_um / 2 - 1.0)
        out.append(float(np.polyfit(times[ok], depth[ok], 1)[0]) if ok.sum() >= 3 else float("nan"))
    return out


def _frames_contiguous(run) -> bool:
    prefix = "widefield_camera_"
    numbers = np.asarray(run["widefield"][prefix + "frame_number"].read())
    return bool(numbers.size > 0 and np.array_equal(numbers, np.arange(numbers.size)))


def _front_checks(run, live) -> list:
    truth, geometry = _truth(run)
    checks = [_check("NWO frames contiguous (5C lithiation)", float(_frames_contiguous(run)), 1.0, 0.0, "bool")]
    true_v = sorted(truth_fronts_um_s(truth, 1, geometry[1]["length_um"]))
    measured = sorted(f["velocity_nm_s"] / 1e3 for f in live.fronts if f["rod"] == 1)
    for k, v in enumerate(true_v):
        m = measured[k] if k < len(measured) else float("nan")
        checks.append(_check(f"NWO 5C lithiation front {k + 1} of the 20.4 um rod", m * 1e3, v * 1e3, 0.15,
                             "nm/s", relative=True))
    checks += _elongation_checks(truth, live, "5C lithiation")
    return checks


def _elongation_checks(truth, live, what) -> list:
    checks = []
    for label, rod in truth["rods"].items():
        rows = [r for r in live.rows if r["rod"] == label]
        if not rows:
            continue
        true = rod["length_um"][rows[-1]["frame"]] / rod["length_um"][0] - 1.0
        checks.append(_check(f"NWO rod {label} elongation after {what}", rows[-1]["elongation"] * 100, true * 100,
                             0.3, "%"))
    return checks


def _crack_checks(run, live) -> list:
    from operando.ioc.cell.rod_truth import frame_step_s

    truth, geometry = _truth(run)
    frame_s = frame_step_s(truth)
    checks = [_check("NWO frames contiguous (5C delithiation)", float(_frames_contiguous(run)), 1.0, 0.0, "bool")]
    checks += _elongation_checks(truth, live, "5C delithiation")
    for label, rod in truth["rods"].items():
        cracks = [c for c in rod["cracks"][-1] if np.isfinite(c[0])]
        measured = [c for c in live.cracks if c["rod"] == label]
        checks.append(_check(f"NWO rod {label} cracks found", len(measured), len(cracks), 0, ""))
        for (face, _, _, start), m in zip(cracks, measured):
            checks.append(_check(f"NWO rod {label} crack time", m["time_s"], start, 2 * frame_s, "s"))
            checks.append(_check(f"NWO rod {label} crack velocity across the rod", m["velocity_nm_s"], 190.0, 0.15,
                                 "nm/s", relative=True))
            checks.append(_check(f"NWO rod {label} crack position", crack_position_error(truth, geometry, label, m, face),
                                 0.0, 0.5, "um"))
            checks.append(_check(f"NWO rod {label} fragment disconnected", float(m["disconnected"]),
                                 float(rod["connected"][-1].min() < 0.5), 0.0, "bool"))
    return checks


def crack_position_error(truth, geometry, label, measured, face) -> float:
    """|measured - true| crack position (um from an end; the analysis does not know which end is 0)."""
    from operando.ioc.cell.rod_state import RodState

    rod = truth["rods"][label]
    k = int(np.argmin(np.abs(truth["cell_time_s"] - measured["time_s"])))
    state = RodState(label, rod["x"][k], rod["connected"][k] > 0.5)
    centres = state.node_centres_um(geometry[label]["length_um"])
    length = state.length_um(geometry[label]["length_um"])
    from_end0 = 0.5 * (centres[int(face)] + centres[int(face) + 1]) + length / 2
    return float(min(abs(measured["position_um"] - from_end0), abs(measured["position_um"] - (length - from_end0))))


def _differential_figure(run, path):
    """Differential images 3, 6 and 9 s after the current starts (1 s apart, seed Fig. 3b)."""
    from operando.analysis import rod_figures
    from operando.analysis.rods import differential_image

    wf = run["widefield"]
    t = np.asarray(wf["widefield_camera_cell_time_s"].read())
    current = run["potentiostat"].read()
    on = np.asarray(current["pstat_current_a"]) != 0
    t0 = float(np.asarray(current["pstat_time_s"])[np.argmax(on)])
    images, labels = [], []
    for after in (3.0, 6.0, 9.0):
        a, b = (int(np.argmin(np.abs(t - (t0 + after + d)))) for d in (-0.5, 0.5))
        images.append(differential_image(wf["widefield_camera_image"][a], wf["widefield_camera_image"][b], t[b] - t[a]))
        labels.append(f"{after:.0f} s")
    rod_figures.differential_images(images, labels, path, "NWO rods, 5C lithiation from x = 0.08: differential images")
