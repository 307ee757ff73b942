"""The widefield analysis chain on rendered frames of the rod cell (no IOCs): elongation and the
fronts of a two-ended and a one-ended rod against the truth, through WidefieldAnalysis."""
import numpy as np
import pytest
from event_model import compose_run

from operando.analysis.widefield_live import WidefieldAnalysis
from operando.ioc.cell.rod_cell import RodCell
from operando.ioc.cell.rod_state import unpack_rod_state
from operando.ioc.cell.rods import build_rod_electrode
from operando.ioc.cell.widefield import CameraGrid, WidefieldSample


def documents(path, n, pixel_um):
    """The documents of a widefield run whose frames and cell times are in ``path``."""
    bundle = compose_run(metadata={"pixel_size_um": pixel_um})
    keys = {"cam_image": ("/entry/image/data", [1, 1]), "cam_cell_time_s": ("/entry/instrument/cell_time_s", [])}
    desc = bundle.compose_descriptor(name="widefield", data_keys={
        k: {"source": "", "dtype": "array" if shape else "number", "shape": shape, "external": "STREAM:"}
        for k, (_, shape) in keys.items()})
    docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    for k, (dataset, _) in keys.items():
        docs.append(("stream_resource", {"uid": k, "data_key": k, "mimetype": "application/x-hdf5",
                                         "uri": f"file://localhost{path}", "parameters": {"dataset": dataset}}))
    for k in keys:
        docs.append(("stream_datum", {"uid": f"{k}/0", "stream_resource": k, "descriptor": desc.descriptor_doc["uid"],
                                      "indices": {"start": 0, "stop": n}, "seq_nums": {"start": 1, "stop": n + 1}}))
    return docs + [("stop", bundle.compose_stop())]


@pytest.fixture(scope="module")
def lithiation(tmp_path_factory):
    """5C lithiation from x = 0.08 imaged every 0.2 s for 40 s (binned 2 x 2, half LED power)."""
    import h5py

    electrode = build_rod_electrode(1)
    cell = RodCell(electrode, x0=0.08)
    sample = WidefieldSample(electrode)
    grid = CameraGrid(min_x=400, size_x=1100, binning=2)
    rng = np.random.default_rng(3)
    frames, times, states = [], [], []
    for _ in range(200):
        state = unpack_rod_state(cell.packed_state())
        frames.append(sample.frame(grid, state, 0.008, 0.5, rng))
        times.append(cell.reading.time_s)
        states.append(state)
        cell.step_current(-5 * cell.capacity_ah, 0.2)
    path = tmp_path_factory.mktemp("wf") / "frames.h5"
    with h5py.File(path, "w") as f:
        f["/entry/image/data"] = np.array(frames)
        f["/entry/instrument/cell_time_s"] = np.array(times)
    analysis = WidefieldAnalysis()
    for name, doc in documents(path, len(frames), grid.pixel_um):
        analysis(name, doc)
    return electrode, np.array(times), states, analysis


def true_front_um_s(times, states, label, length_um, from_end):
    """Front velocity from one end in the truth: first node below x_start + 0.005, fitted from 1 um
    inside to 1 um before the far end."""
    rows = np.array([s.rods[label].x[::(1 if from_end == 0 else -1)] for s in states])
    dl = length_um / rows.shape[1]
    depth = np.array([np.argmax(r < 0.085) * dl if (r < 0.085).any() else np.nan for r in rows])
    ok = np.isfinite(depth) & (depth > 1.0) & (depth < length_um - 1.0)
    return np.polyfit(times[ok], depth[ok], 1)[0]


def test_elongation_within_0_3_points(lithiation):
    electrode, times, states, analysis = lithiation
    for rod in electrode.rods:
        rows = [r for r in analysis.rows if r["rod"] == rod.label]
        true = np.array([s.rods[rod.label].length_um(rod.length_um) for s in states])
        measured = np.array([r["elongation"] for r in rows])
        assert np.max(np.abs(measured - (true / true[0] - 1))) < 0.003


def test_fronts_of_a_two_ended_and_a_one_ended_rod(lithiation):
    electrode, times, states, analysis = lithiation
    both = sorted(f["velocity_nm_s"] for f in analysis.fronts if f["rod"] == 1)
    truth = sorted(true_front_um_s(times[:110], states[:110], 1, 20.4, e) * 1e3 for e in (0, 1))
    assert len(both) == 2
    for m, t in zip(both, truth):
        assert m == pytest.approx(t, rel=0.15)
    one = [f for f in analysis.fronts if f["rod"] == 2]
    assert len(one) == 1                                    # rod 2 takes lithium at one end only
    t_one = true_front_um_s(times, states, 2, 17.9, 0) * 1e3
    assert one[0]["velocity_nm_s"] == pytest.approx(t_one, rel=0.15)


def test_rod_ends_pass_over_a_bright_neighbour_at_the_profile_edge():
    """A cut-off fragment reaching the end of the profile: the rod's own end is found, not the edge;
    an end with no crossing inside the profile is NaN, never an index error."""
    from operando.analysis.rods import end_positions

    s = np.arange(200) * 0.25
    profile = np.full(200, 100.0)
    profile[30:150] = 1000.0          # the rod: steps between 7.25 and 7.5, and 37.25 and 37.5
    profile[170:] = 900.0             # a fragment 5 um beyond, running off the profile
    a, b = end_positions(s, profile)
    assert 7.25 <= a <= 7.5 and 37.25 <= b <= 37.5
    profile[150:] = 1000.0            # bright to the very edge: no end on that side
    a, b = end_positions(s, profile)
    assert 7.25 <= a <= 7.5 and np.isnan(b)
