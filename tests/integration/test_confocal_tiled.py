"""The confocal instrument over Channel Access, end to end into Tiled (real processes). The stack's
tests run twice: with the session's Tiled (SQLite catalog) and with a Tiled server on a throw-away
PostgreSQL database (tests/integration/postgres.py; skipped with the reason where it cannot be had)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiled.queries import Key

from operando.analysis.volume import threshold_volumes
from operando.engine.config import ca_environment
from operando.engine.readback import frame_file, frames_sha256, read_stack
from operando.plans import PlanParameterError, zstack

pytestmark = pytest.mark.integration

STACK = dict(z_start_um=10.0, z_stop_um=26.0, z_step_um=0.4, pixel_dwell_s=10e-6, pixels=(512, 512),
             pixel_size_um=0.08, wavelength_nm=820.0, power_w=1e-3)
MD = {"sample": "virtual LCO #1", "material": "LCO", "sample_refractive_index": 2.2,
      "electrolyte_refractive_index": 1.42}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def catalog(request, instrument, tmp_path_factory):
    """The session's RunEngine, writer and Tiled client; or the same over a PostgreSQL catalog."""
    if request.param == "sqlite":
        yield instrument
        return
    from dataclasses import replace

    from operando.engine.session import make_run_engine
    from operando.engine.tiled_server import connect, start_tiled
    from postgres import postgres_server

    config = instrument["config"]
    with postgres_server(config.ca_base_port + 830) as uri:
        pg = replace(config, tiled_port=config.ca_base_port + 831, tiled_catalog=uri)
        server = start_tiled(pg, log_dir=tmp_path_factory.mktemp("pg-tiled"))
        try:
            client = connect(pg)
            RE, writer = make_run_engine(pg, client, metadata_dir=tmp_path_factory.mktemp("re_md"))
            yield {**instrument, "config": pg, "client": client, "RE": RE, "writer": writer}
        finally:
            server.stop()


@pytest.fixture(scope="module")
def stack_run(catalog):
    RE, scope = catalog["RE"], catalog["scope"]
    (uid,) = RE(zstack(scope, **STACK, md=MD))
    catalog["writer"].flush()
    assert not catalog["writer"].errors
    run = catalog["client"]["raw"][uid]
    return uid, run, scope


def test_stack_read_through_tiled_is_byte_identical_to_what_the_ioc_wrote(stack_run):
    uid, run, scope = stack_run
    stack = read_stack(run, "confocal_apd_reflection")
    assert stack.shape == (41, 512, 512) and stack.dtype == np.uint16
    recorded = [str(c) for c in run["primary"].read()["confocal_apd_reflection_checksum"].values]
    assert frames_sha256(stack) == recorded
    assert run.metadata["stop"]["exit_status"] == "success"
    assert run.metadata["stop"]["num_events"]["primary"] == 41


def test_descriptor_carries_units_shapes_and_numpy_dtypes(stack_run):
    _, run, _ = stack_run
    keys = run["primary"].descriptors[0]["data_keys"]
    assert all("units" in k for k in keys.values())
    frame = keys["confocal_apd_reflection"]
    assert frame["shape"] == [512, 512] and frame["dtype_numpy"] == "<u2" and frame["units"] == "counts"
    assert keys["confocal_piezo"]["units"] == "um"


def test_piezo_positions_follow_the_requested_planes(stack_run):
    _, run, _ = stack_run
    z = run["primary"].read()["confocal_piezo"].values
    np.testing.assert_allclose(z, np.arange(10.0, 26.01, 0.4), atol=1e-3)


def test_threshold_volume_of_the_central_agglomerate_within_15_percent_of_truth(stack_run):
    _, run, _ = stack_run
    path = frame_file(run, "confocal_apd_reflection")
    truth = json.loads(path.with_name(path.name + ".truth.json").read_text())
    start = run.metadata["start"]
    objects = threshold_volumes(read_stack(run, "confocal_apd_reflection"), STACK["pixel_size_um"],
                                STACK["z_step_um"], n_medium=start["electrolyte_refractive_index"],
                                n_immersion=start["optics"]["n_immersion"],
                                n_particle=start["sample_refractive_index"])
    central = min(truth["agglomerates"], key=lambda a: np.hypot(*a["center_um"][:2]))
    found = min(objects, key=lambda o: np.hypot(o.centroid_um[0] - central["center_um"][0],
                                                o.centroid_um[1] - central["center_um"][1]))
    assert found.volume_um3 == pytest.approx(central["volume_um3"], rel=0.15)


def test_runs_are_found_by_sample_and_material_and_scan_ids_persist(stack_run, catalog):
    uid, run, _ = stack_run
    raw = catalog["client"]["raw"]
    hits = raw.search(Key("start.sample") == MD["sample"]).search(Key("start.material") == "LCO")
    assert uid in list(hits)
    assert list(raw.search(Key("start.material") == "NMC811")) == []     # listed: len() on PostgreSQL is an estimate
    assert catalog["RE"].md["scan_id"] == run.metadata["start"]["scan_id"]


@pytest.mark.parametrize("change, name", [
    ({"pixel_dwell_s": 2e-4}, "pixel_dwell_s"),
    ({"z_stop_um": 150.0}, "z_stop_um"),
    ({"channels": ("raman",)}, "channels"),
    ({"wavelength_nm": 1300.0}, "wavelength_nm"),
])
def test_bad_input_is_refused_before_anything_moves_or_is_written(instrument, change, name):
    scope, RE = instrument["scope"], instrument["RE"]
    data_dir = instrument["config"].data_dir
    files_before = sorted(p for p in data_dir.rglob("*") if p.is_file())
    runs_before = len(instrument["client"]["raw"])
    z_before = scope.piezo.position
    wavelength_before = scope.laser.wavelength_nm.get()
    docs = []
    with pytest.raises(PlanParameterError, match=name):
        RE(zstack(scope, **{**STACK, **change}), lambda n, d: docs.append(n))
    instrument["writer"].flush()
    assert docs == []
    assert scope.piezo.position == z_before
    assert scope.laser.wavelength_nm.get() == wavelength_before
    assert sorted(p for p in data_dir.rglob("*") if p.is_file()) == files_before
    assert len(instrument["client"]["raw"]) == runs_before


def _ca(tool, *args, config):
    env = dict(os.environ, **ca_environment(config))
    exe = str(Path(sys.executable).with_name(tool))
    return subprocess.run([exe, "--no-repeater", *args], env=env, capture_output=True, text=True, timeout=30)


def _value(out) -> float:
    return float(out.stdout.split()[-1].strip("[]"))


def test_an_outside_client_reads_and_writes_the_ioc_pvs(instrument):
    config = instrument["config"]
    out = _ca("caproto-get", "OPR:SCAN:FrameTime_RBV", config=config)
    assert out.returncode == 0, out.stderr
    assert _ca("caproto-put", "OPR:SCAN:Dwell", "2e-5", config=config).returncode == 0
    scope = instrument["scope"]
    scope.scanner.pixel_dwell_s.get(use_monitor=False)
    assert scope.scanner.pixel_dwell_s.get(use_monitor=False) == pytest.approx(2e-5)
    nx, ny = scope.scanner.pixels_x.get(), scope.scanner.pixels_y.get()
    frame_time = _value(_ca("caproto-get", "OPR:SCAN:FrameTime_RBV", config=config))
    assert frame_time == pytest.approx(ny * (nx * 2e-5 + 2e-4), rel=1e-4)
    assert _ca("caproto-put", "OPR:SCAN:Dwell", "1e-5", config=config).returncode == 0


def test_out_of_range_put_is_refused_with_an_alarm_not_clipped(instrument):
    config = instrument["config"]
    before = _value(_ca("caproto-get", "OPR:LASER:Wavelength", config=config))
    refused = _ca("caproto-put", "OPR:LASER:Wavelength", "1500", config=config)
    # caproto-put exits 0 but reports the server's refusal (ECA_PUTFAIL) on stdout
    assert "ECA_PUTFAIL" in refused.stdout and "Limits are set to 680.0 and 1080.0" in refused.stdout
    from caproto import AlarmSeverity, AlarmStatus
    from caproto.sync.client import read

    after = read("OPR:LASER:Wavelength", data_type="time", timeout=5, repeater=False)
    assert after.data[0] == before                       # not clipped to 1080
    assert after.metadata.status == AlarmStatus.WRITE
    assert after.metadata.severity != AlarmSeverity.NO_ALARM
