"""Live analysis on a real run: derived run in Tiled, same numbers when replayed, `operando analyze`."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from tiled.queries import Key

from operando.analysis.live import ConfocalAnalysis
from operando.engine.analyze import DERIVED_CONTAINER, analyze_run
from operando.engine.doc_bus import publisher
from operando.engine.readback import frame_file
from operando.engine.tiled_server import runs_container
from operando.ioc.cell.truth import STATE_TRUTH_SUFFIX, TRUTH_SUFFIX
from operando.plans.cycling import run_protocol
from operando.plans.cycling_zstack import cycling_zstack

pytestmark = pytest.mark.integration
OPERANDO = str(Path(sys.executable).with_name("operando"))
POSITION = {"name": "P", "x_um": -5.0, "y_um": 3.0}
STACK = dict(z_start_um=10.0, z_stop_um=19.0, z_step_um=0.3, pixels=(256, 256), pixel_size_um=0.08,
             pixel_dwell_s=10e-6)


def operando_process(config, args, log: Path):
    env = dict(os.environ, OPERANDO_TILED_PORT=str(config.tiled_port), OPERANDO_CA_PORT=str(config.ca_base_port))
    with open(log, "w") as out:
        return subprocess.Popen([OPERANDO, "--home", str(config.home), *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def wait_for_line(log: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{text!r} not in {log}: {log.read_text()[-2000:]}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def workers(instrument, tmp_path_factory):
    """The 0MQ proxy (`operando proxy`) and an analysis worker (`operando worker`) in their own
    processes before the run; a second worker started at the run's second stack (it misses the
    start, and is listening before the run goes on). Each writes into its own derived container."""
    config = instrument["config"]
    logs = tmp_path_factory.mktemp("workers")
    procs = {"proxy": operando_process(config, ["proxy"], logs / "proxy.log")}
    procs["worker"] = operando_process(config, ["worker", "--catch-up-hours", "0", "--container", "derived-worker"],
                                       logs / "worker.log")
    state = {"stacks": 0, "descriptors": set(), "logs": logs, "procs": procs}

    def start_late(name, doc):
        if name == "descriptor" and doc["name"] == "stacks":
            state["descriptors"].add(doc["uid"])
        elif name == "event" and doc["descriptor"] in state["descriptors"]:
            state["stacks"] += 1
            if state["stacks"] == 2:
                procs["late"] = operando_process(config, ["worker", "--catch-up-hours", "0", "--container",
                                                          "derived-late"], logs / "late.log")
                # The run waits for it (this callback runs in the RunEngine): a worker still starting
                # when the stop document goes out never learns the run ended (a clean clone's run of
                # 3 stacks ended first once the cell's clock kept to accel).
                wait_for_line(logs / "late.log", "worker ready")
    state["start_late"] = start_late
    try:
        wait_for_line(logs / "worker.log", "worker ready")
        yield state
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(10)


@pytest.fixture(scope="module")
def analysed(instrument, pstat, workers):
    RE, client, writer = instrument["RE"], instrument["client"], instrument["writer"]
    config = instrument["config"]
    RE(run_protocol(pstat, "Rest for 60 minutes", accel=3000, sample_rate_hz=10))    # salt at its bulk value
    analysis = ConfocalAnalysis(writer.sink(runs_container(client, DERIVED_CONTAINER)))
    tokens = [RE.subscribe(analysis), RE.subscribe(publisher(config.host, config.proxy_ports[0]))]
    time.sleep(1.0)                  # 0MQ: the publisher's connection to the proxy is up before the run
    try:
        (uid,) = RE(cycling_zstack(instrument["scope"], pstat, "Charge at 1C until 4.2 V", [POSITION], accel=120,
                                   sample_rate_hz=10, operator="pytest", **STACK), workers["start_late"])
    finally:
        for token in tokens:
            RE.unsubscribe(token)
    analysis.wait(300)
    writer.flush()
    yield uid, analysis
    # Leave the cell lithiated, as the session's other tests expect to find it.
    RE(run_protocol(pstat, "Discharge at 1C until 3.0 V\nRest for 20 minutes", accel=3000, sample_rate_hz=10))


def test_the_derived_run_is_in_tiled_and_names_the_raw_one(instrument, analysed):
    uid, analysis = analysed
    found = instrument["client"][DERIVED_CONTAINER].search(Key("raw_uid") == uid)
    assert len(found) == 1
    derived = found.values().first()
    start = derived.metadata["start"]
    assert start["analysis"] == "confocal" and start["material"] == "LCO" and start["analysis_version"]
    table = derived["volumes"].read()
    assert len(table["dv_v"]) == len(analysis.volumes) > 0
    np.testing.assert_allclose(table["dv_v"].values, [r["dv_v"] for r in analysis.volumes])
    for key, info in derived["volumes"].metadata["data_keys"].items():
        assert "units" in info, key


def test_swelling_follows_the_truth(instrument, analysed):
    """The largest tracked agglomerates (>= 4.5 um): Delta V / V at the last stack within 0.75 points
    of the truth (relative to the first stack)."""
    uid, analysis = analysed
    run = instrument["client"]["raw"][uid]
    path = frame_file(run, "confocal_apd_reflection")
    truth = json.loads(path.with_name(path.name + TRUTH_SUFFIX).read_text())
    stack_of_frame = run["primary"].read()["stack_index"].values
    last = max(r["stack_index"] for r in analysis.volumes)
    frames = [int(np.nonzero(stack_of_frame == k)[0][0]) for k in (0, last)]
    with h5py.File(path.with_name(path.name + STATE_TRUTH_SUFFIX), "r") as f:
        checked = 0
        for row in (r for r in analysis.volumes if r["stack_index"] == last):
            agg = min(truth["agglomerates"], key=lambda a: np.hypot(a["center_um"][0] - row["x_um"] - POSITION["x_um"],
                                                                    a["center_um"][1] - row["y_um"] - POSITION["y_um"]))
            if 2 * np.prod(agg["semi_axes_um"]) ** (1 / 3) < 4.5:
                continue
            v0, v1 = f[f"agglomerate_{agg['label']}/volume_change"][frames]
            assert row["dv_v"] == pytest.approx((1 + v1) / (1 + v0) - 1, abs=0.0075), agg["label"]
            checked += 1
    assert checked >= 1


def test_replaying_the_stored_run_gives_the_same_numbers(instrument, analysed):
    uid, analysis = analysed
    replay = analyze_run(instrument["client"], uid, store=False)
    assert [r["dv_v"] for r in replay.volumes] == [r["dv_v"] for r in analysis.volumes]
    assert [r["velocity_nm_s"] for r in replay.fronts] == [r["velocity_nm_s"] for r in analysis.fronts]


def test_operando_analyze_on_the_command_line(instrument, analysed):
    uid, _ = analysed
    config = instrument["config"]
    env = dict(os.environ, OPERANDO_HOME=str(config.home), OPERANDO_TILED_PORT=str(config.tiled_port),
               OPERANDO_CA_PORT=str(config.ca_base_port))
    done = subprocess.run([OPERANDO, "analyze", uid], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "dV/V (%)" in done.stdout and f"raw_uid {uid}" in done.stdout
    assert len(instrument["client"][DERIVED_CONTAINER].search(Key("raw_uid") == uid)) == 2
    missing = subprocess.run([OPERANDO, "analyze", "0000dead"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 3 and "no run" in missing.stderr


def _cli(config, *args, timeout=300):
    env = dict(os.environ, OPERANDO_HOME=str(config.home), OPERANDO_TILED_PORT=str(config.tiled_port),
               OPERANDO_CA_PORT=str(config.ca_base_port))
    return subprocess.run([OPERANDO, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_runs_show_and_export_on_the_command_line(instrument, analysed, tmp_path):
    import tifffile

    uid, _ = analysed
    config, run = instrument["config"], instrument["client"]["raw"][uid]
    found = _cli(config, "runs", "--material", "LCO", "--c-rate", "1", "--plan", "cycling_zstack", "--limit", "50")
    assert found.returncode == 0, found.stderr
    assert uid[:8] in found.stdout and "1C" in found.stdout
    assert uid[:8] not in _cli(config, "runs", "--material", "NMC811").stdout
    assert uid[:8] not in _cli(config, "runs", "--c-rate", "0.5").stdout
    bad = _cli(config, "runs", "--since", "yesterday")
    assert bad.returncode == 2 and "--since: a date as YYYY-MM-DD" in bad.stderr

    shown = _cli(config, "show", uid[:10])
    assert shown.returncode == 0, shown.stderr
    assert f"uid        {uid}" in shown.stdout
    n_planes = len(run["primary"]["confocal_apd_reflection"])
    assert "confocal_apd_reflection" in shown.stdout and f"({n_planes}, 256, 256)" in shown.stdout
    assert "derived    " in shown.stdout and "(confocal)" in shown.stdout

    exported = _cli(config, "export", uid, "--out", str(tmp_path / "tif"))
    assert exported.returncode == 0, exported.stderr
    files = [Path(line) for line in exported.stdout.split()]
    csv_path = next(f for f in files if f.suffix == ".csv")
    telemetry = run["potentiostat"].read()
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("Test Time / s,Voltage / V,Current / A")
    assert len(rows) - 1 == len(telemetry["pstat_voltage_v"])
    assert float(rows[-1].split(",")[1]) == pytest.approx(float(telemetry["pstat_voltage_v"][-1]), rel=1e-12)
    tif = next(f for f in files if f.name.endswith(".ome.tif"))
    stacks = run["stacks"].read()
    n_stacks, per_stack = len(stacks["stack_summary_n_planes"]), int(stacks["stack_summary_n_planes"][0])
    with tifffile.TiffFile(tif) as t:
        assert t.series[0].axes == "TZYX" and t.series[0].shape == (n_stacks, per_stack, 256, 256)
        assert "PhysicalSizeZ=\"0.3\"" in t.ome_metadata and "PhysicalSizeX=\"0.08\"" in t.ome_metadata
        data = t.asarray()
    np.testing.assert_array_equal(data[-1], run["primary"]["confocal_apd_reflection"][-per_stack:])

    as_hdf5 = _cli(config, "export", uid[:8], "--out", str(tmp_path / "h5"), "--format", "hdf5")
    assert as_hdf5.returncode == 0, as_hdf5.stderr
    with h5py.File(next(Path(p) for p in as_hdf5.stdout.split() if p.endswith(".h5"))) as f:
        ds = f["primary/confocal_apd_reflection_P"]
        assert ds.shape == data.shape and ds.attrs["units"] == "counts"
        np.testing.assert_array_equal(ds[0], data[0])
        assert json.loads(f.attrs["start"])["uid"] == uid


def test_the_report_opens_in_chromium_with_its_plots(instrument, analysed, tmp_path):
    from system_packages import debian_command

    uid, _ = analysed
    made = _cli(instrument["config"], "report", uid, "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    page = Path(made.stdout.strip())
    text = page.read_text()
    for png in ("electrochemistry.png", "confocal_apd_reflection_P_first.png", "_volumes.png"):
        assert png in text
    assert all((page.parent / name).stat().st_size > 10_000 for name in
               [n.split("'")[0] for n in text.split("<img src='")[1:]])
    chromium = debian_command("chromium", "chromium")
    shot = tmp_path / "report.png"
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1200)
    # The page rendered its figures: plotted lines (colour) and greyscale images, not just text on white.
    coloured = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.25
    assert coloured.mean() > 0.001
    assert (pixels.mean(axis=2) < 0.5).mean() > 0.05


def derived_by(client, container, uid, timeout=240.0):
    """The derived run of ``uid`` in ``container``, once a worker has stored it."""
    deadline = time.monotonic() + timeout
    while True:
        if container in client:
            found = list(client[container].search(Key("raw_uid") == uid).values())
            if found and found[0].metadata.get("stop"):
                assert len(found) == 1, f"{len(found)} derived runs of {uid} in {container}"
                return found[0]
        assert time.monotonic() < deadline, f"no derived run of {uid} in {container} after {timeout} s"
        time.sleep(1.0)


def test_workers_in_other_processes_derive_the_same_volumes_live_and_after_a_late_start(instrument, analysed,
                                                                                       workers):
    """`operando worker` fed over 0MQ: the one listening from the start analyses the run as it
    streams and keeps up (lag in stacks reported per stack); the one started at the second stack
    replays the run from Tiled after its end; one started after the run catches up from Tiled.
    All three derived runs hold the volumes of the session's
    own live analysis, to the last digit."""
    import re

    uid, analysis = analysed
    client = instrument["client"]
    expected = [r["dv_v"] for r in analysis.volumes]
    for container in ("derived-worker", "derived-late"):
        table = derived_by(client, container, uid)["volumes"].read()
        np.testing.assert_array_equal(table["dv_v"].values, expected)
    live_log = (workers["logs"] / "worker.log").read_text()
    lags = [float(m) for m in re.findall(r"\(([0-9.]+) stacks behind\)", live_log)]
    n_stacks = len(instrument["client"]["raw"][uid]["stacks"].read()["time"])
    assert len(lags) == n_stacks, live_log[-2000:]
    assert max(lags[-3:]) < 2.0, lags                  # kept up with the run to its end
    assert f"run {uid[:8]}: derived run stored live, {n_stacks} stacks" in live_log
    assert f"run {uid[:8]}: replayed from Tiled (its start came before this worker)" in \
        (workers["logs"] / "late.log").read_text()
    # A worker started after the run ended catches up from Tiled on start-up: the window reaches 20 s
    # before the run's start (runs in it without a derived run in its container are replayed).
    config = instrument["config"]
    hours = (time.time() - client["raw"][uid].metadata["start"]["time"] + 20.0) / 3600.0
    late = operando_process(config, ["worker", "--catch-up-hours", f"{hours:.5f}", "--container", "derived-catchup"],
                            workers["logs"] / "catchup.log")
    try:
        table = derived_by(client, "derived-catchup", uid)["volumes"].read()
        np.testing.assert_array_equal(table["dv_v"].values, expected)
    finally:
        late.terminate()
        late.wait(10)
    assert "without a worker" in (workers["logs"] / "catchup.log").read_text()
    print(f"worker: {n_stacks} stacks analysed live, lag per stack {min(lags):.2f}-{max(lags):.2f} stacks "
          f"(last {lags[-1]:.2f}); the late worker replayed the run from Tiled; {len(expected)} volume rows each")


def test_batch_reanalysis_by_query_in_worker_processes(instrument, analysed):
    """`operando analyze --query ... --workers 2`: the matching runs replayed in two processes,
    each derived run equal to the live analysis."""
    uid, analysis = analysed
    config = instrument["config"]
    env = dict(os.environ, OPERANDO_TILED_PORT=str(config.tiled_port))
    done = subprocess.run([OPERANDO, "--home", str(config.home), "analyze", "--query", f"uid={uid}", "--workers", "2",
                           "--container", "derived-batch"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 runs in" in done.stdout and "with 2 worker(s)" in done.stdout, done.stdout
    table = derived_by(instrument["client"], "derived-batch", uid, timeout=5)["volumes"].read()
    np.testing.assert_array_equal(table["dv_v"].values, [r["dv_v"] for r in analysis.volumes])
