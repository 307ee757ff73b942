"""ConfocalAnalysis on a document stream: stacks assembled from StreamResource/StreamDatum,
a derived run emitted, the same numbers whatever order a replay sends the documents in."""
import h5py
import numpy as np
import pytest
from event_model import compose_run
from operando.analysis.agglomerates import Tracker
from operando.analysis.live import ConfocalAnalysis, half_cycles
from operando.analysis.stack_prep import Registration
from operando.ioc.cell.confocal import ConfocalSample, Illumination
from operando.ioc.cell.electrode import build_electrode
from operando.ioc.cell.halfcell import HalfCell
from operando.ioc.cell.optics import PixelGrid
from operando.ioc.cell.state import halfcell_states
from operando.plans.metadata import SIMULATED_SAMPLE

PIEZO = np.arange(10.0, 17.0, 0.35)
GRID = PixelGrid(128, 128, 0.1, -7.6, 8.0)          # around agglomerate 2 of electrode seed 1


def _documents(tmp_path, n_stacks=3):
    """A cycling-like run: primary planes tagged with their stack, one 'stacks' event per stack."""
    electrode = build_electrode(seed=1)
    cell = HalfCell(electrode)
    sample = ConfocalSample(electrode)
    light = Illumination(820.0, 1e-3, False, True)
    rng = np.random.default_rng(0)
    path = tmp_path / "frames.h5"
    frames, truth, times = [], [], []
    for k in range(n_stacks):
        states = {s.label: s for s in halfcell_states(cell)}
        truth.append(states[2].volume_change)
        times.append(cell.reading.time_s)
        frames += [sample.acquire(GRID, z, light, 10e-6, ["reflection"], rng, states)["reflection"] for z in PIEZO]
        for _ in range(150):
            cell.step_current(0.5 * cell.capacity_ah, 10.0)
    with h5py.File(path, "w") as f:
        f["/entry/reflection/data"] = np.array(frames)
    md = {"plan_name": "cycling_zstack", "sample": SIMULATED_SAMPLE, "material": "LCO", "z_step_um": 0.35,
          "pixel_size_um": 0.1, "wavelength_nm": 820.0,
          "pixel_dwell_s": 10e-6,
          "instrument": {"optics": {"numerical_aperture": 1.4, "n_immersion": 1.518, "pinhole_au": 0.7,
                                    "apd_dead_time_s": 22e-9}},
          "hints": {"dimensions": [(["confocal_piezo"], "primary")]}}
    run = compose_run(metadata=md)
    docs = [("start", run.start_doc)]
    key = "confocal_apd_reflection"
    primary = run.compose_descriptor(name="primary", data_keys={
        key: {"source": "sim", "dtype": "array", "dtype_numpy": "<u2", "shape": [128, 128], "external": "STREAM:"},
        "confocal_piezo": {"source": "sim", "dtype": "number", "shape": []},
        "stack_index": {"source": "sim", "dtype": "integer", "shape": []},
        "stack_position_name": {"source": "sim", "dtype": "string", "shape": []}})
    summary_keys = ("index", "start_time_s", "start_current_a", "start_voltage_v", "start_charge_c")
    stacks = run.compose_descriptor(name="stacks", data_keys={
        f"stack_summary_{k}": {"source": "sim", "dtype": "number", "shape": []} for k in summary_keys})
    docs += [("descriptor", primary.descriptor_doc), ("descriptor", stacks.descriptor_doc)]
    resource = run.compose_stream_resource(mimetype="application/x-hdf5", uri=f"file://localhost{path}",
                                           data_key=key, parameters={"dataset": "/entry/reflection/data"})
    docs.append(("stream_resource", resource.stream_resource_doc))
    datums, events = [], []
    seq = 0
    for k in range(n_stacks):
        for j, z in enumerate(PIEZO):
            seq += 1
            row = k * len(PIEZO) + j
            datum = resource.compose_stream_datum(indices={"start": row, "stop": row + 1})
            datum["descriptor"], datum["seq_nums"] = primary.descriptor_doc["uid"], {"start": seq, "stop": seq + 1}
            datums.append(("stream_datum", datum))
            data = {"confocal_piezo": float(z), "stack_index": k, "stack_position_name": "A"}
            events.append(("event", primary.compose_event(data=data, timestamps={x: 0.0 for x in data}, seq_num=seq)))
        data = {"stack_summary_index": k, "stack_summary_start_time_s": times[k],
                "stack_summary_start_current_a": 1e-4, "stack_summary_start_voltage_v": 4.0,
                "stack_summary_start_charge_c": 0.0}
        events.append(("event", stacks.compose_event(data=data, timestamps={x: 0.0 for x in data}, seq_num=k + 1)))
    live = docs + _interleave(datums, events)
    replay = docs + events + datums          # Tiled's exporter sends the datums last
    stop = [("stop", run.compose_stop())]
    return live + stop, replay + stop, truth


def _interleave(datums, events):
    """Each datum just before the event with its seq_num (what the RunEngine sends)."""
    out, d = [], iter(datums)
    for name, doc in events:
        if "confocal_piezo" in doc["data"]:
            out.append(next(d))
        out.append((name, doc))
    return out


def _analyse(docs, background, figures_dir=None):
    emitted = []
    analysis = ConfocalAnalysis(lambda n, d: emitted.append((n, d)), background=background, figures_dir=figures_dir)
    for name, doc in docs:
        analysis(name, doc)
    analysis.wait(120)
    return analysis, emitted


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return _documents(tmp_path_factory.mktemp("live"))


def test_live_stream_gives_a_derived_run_that_names_the_raw_one(runs, tmp_path):
    live, replay, truth = runs
    analysis, emitted = _analyse(live, background=True, figures_dir=tmp_path)
    assert (tmp_path / "volume_changes.png").stat().st_size > 10_000        # drawn live, from the worker
    names = [n for n, _ in emitted]
    assert names[0] == "start" and names[-1] == "stop" and "descriptor" in names
    start = emitted[0][1]
    assert start["raw_uid"] == live[0][1]["uid"] and start["analysis"] == "confocal"
    assert "tpef" in start["calibration"] and start["parameters"]["match_radius_um"] == 1.0
    descriptors = [d for n, d in emitted if n == "descriptor"]
    assert all("units" in v for d in descriptors for v in d["data_keys"].values())
    rows = [r for r in analysis.volumes if np.hypot(r["x_um"], r["y_um"]) < 1.0]
    assert [r["stack_index"] for r in rows] == [0, 1, 2]
    # The stream gives exactly what the Tracker gives on the same frames ...
    with h5py.File(live[3][1]["uri"].replace("file://localhost", ""), "r") as f:
        frames = f["/entry/reflection/data"][()]
    tracker, registration = Tracker(analysis.geometry), Registration(analysis.geometry.pixel_size_um)
    for k in range(3):
        stack = frames[k * len(PIEZO):(k + 1) * len(PIEZO)]
        drift = registration.measure(stack, PIEZO)
        stack = registration.apply({"r": analysis.geometry.linear_counts(stack)}, drift)["r"]
        tracker.add(stack, PIEZO, 0.0, counts_linear=True, axial_drift_um=drift[2])
    direct = min(tracker.tracks.values(), key=lambda t: np.hypot(*t.reference.xy_um))
    assert [r["dv_v"] for r in rows] == [c.dv_v for c in direct.changes]
    # ... and that is near the truth. This 3.8 um agglomerate is the one that reads high in every
    # setting tried (grain texture under its surface; docs/analysis.md): 1.48 / 1.40 % against
    # 0.72 / 1.34 % here (10 us, 0.1 um pixels, 0.35 um steps); test_agglomerates holds accuracy.
    rel = (1 + np.array(truth)) / (1 + truth[0]) - 1
    np.testing.assert_allclose([r["dv_v"] for r in rows], rel, atol=0.01)


def test_replay_order_gives_the_same_numbers(runs):
    live, replay, truth = runs
    a, _ = _analyse(live, background=False)
    b, _ = _analyse(replay, background=False)
    assert [r["dv_v"] for r in a.volumes] == [r["dv_v"] for r in b.volumes]
    assert len(a.volumes) > 0


def test_half_cycles_split_by_current_sign_and_keep_the_starting_state():
    class S:
        def __init__(self, i):
            self.current_a = i
    stacks = [S(0), S(1), S(1), S(1), S(0), S(-1), S(-1), S(-1)]
    assert half_cycles(stacks, 3) == [("charge", [0, 1, 2, 3]), ("discharge", [4, 5, 6, 7])]
