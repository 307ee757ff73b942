"""Tiled on PostgreSQL (catalog and table storage), two server processes over the one database and
the one data directory: the foundation's stack (frames registered as external HDF5, metadata
searchable) written through one server and read, byte for byte, through the other. A real
PostgreSQL server on loopback (tests/integration/postgres.py); skipped with the reason printed
where it cannot be installed."""
from dataclasses import replace

import h5py
import numpy as np
import pytest
from tiled.queries import Key

from operando.engine.readback import frame_file, frames_sha256, read_stack
from operando.engine.session import make_run_engine
from operando.engine.tiled_server import connect, start_tiled
from operando.plans import zstack
from postgres import postgres_server

pytestmark = pytest.mark.integration

STACK = dict(z_start_um=10.0, z_stop_um=18.0, z_step_um=0.5, pixel_dwell_s=5e-6, pixels=(256, 256),
             pixel_size_um=0.16, wavelength_nm=820.0, power_w=1e-3)        # 17 planes


@pytest.fixture(scope="module")
def servers(instrument, tmp_path_factory):
    """(config A, config B, their processes): two Tiled servers on one PostgreSQL database, sharing the session's
    home (its data directory, where the detector writes, and Tiled's array files)."""
    config = instrument["config"]
    with postgres_server(config.ca_base_port + 820) as uri:
        a = replace(config, tiled_port=config.ca_base_port + 821, tiled_catalog=uri)
        b = replace(config, tiled_port=config.ca_base_port + 822, tiled_catalog=uri)
        logs = tmp_path_factory.mktemp("pg-tiled-logs")
        procs = [start_tiled(a, log_dir=logs / "a"), start_tiled(b, log_dir=logs / "b")]
        try:
            yield a, b, procs
        finally:
            for p in procs:
                p.stop()


def record_stack(instrument, config, tmp_path, sample):
    RE, writer = make_run_engine(config, connect(config), metadata_dir=tmp_path / "re_md")
    (uid,) = RE(zstack(instrument["scope"], **STACK, md={"sample": sample, "material": "LCO"}))
    writer.flush()
    assert not writer.errors, writer.errors
    return uid


def test_a_stack_written_through_one_server_reads_identical_through_the_other(instrument, servers, tmp_path):
    a, b, _ = servers
    uid = record_stack(instrument, a, tmp_path, "virtual LCO #pg-a")
    run_a, run_b = connect(a)["raw"][uid], connect(b)["raw"][uid]
    stack_a = read_stack(run_a, "confocal_apd_reflection")
    stack_b = read_stack(run_b, "confocal_apd_reflection")
    assert stack_a.shape == (17, 256, 256) and stack_a.dtype == np.uint16
    recorded = [str(c) for c in run_a["primary"].read()["confocal_apd_reflection_checksum"].values]
    assert frames_sha256(stack_a) == recorded == frames_sha256(stack_b)
    with h5py.File(frame_file(run_a, "confocal_apd_reflection"), "r", locking=False) as f:
        np.testing.assert_array_equal(f["/entry/reflection/data"][:], stack_b)     # the IOC's own file
    assert run_b.metadata["stop"]["exit_status"] == "success"
    keys = run_b["primary"].descriptors[0]["data_keys"]
    assert keys["confocal_apd_reflection"]["units"] == "counts" and keys["confocal_piezo"]["units"] == "um"
    # Searchable metadata, in either server; the session's SQLite catalog does not have the run.
    for config in (a, b):
        found = connect(config)["raw"].search(Key("sample") == "virtual LCO #pg-a")
        assert list(found) == [uid]
    assert uid not in instrument["client"]["raw"]


def test_a_run_written_through_the_second_server_is_in_the_first(instrument, servers, tmp_path):
    a, b, _ = servers
    uid = record_stack(instrument, b, tmp_path, "virtual LCO #pg-b")
    run = connect(a)["raw"][uid]
    assert run.metadata["start"]["sample"] == "virtual LCO #pg-b"
    z = run["primary"].read()["confocal_piezo"].values
    np.testing.assert_allclose(z, np.arange(10.0, 18.01, 0.5), atol=1e-3)
    both = connect(a)["raw"].search(Key("material") == "LCO").search(Key("plan_name") == "zstack")
    # Listed, not len(): Tiled on PostgreSQL may answer len() of a container from the planner's
    # statistics, which ignore the query (seen: 1 for these two runs).
    assert uid in both and len(list(both)) == 2


def test_the_database_password_is_on_no_command_line_and_in_no_log(servers):
    a, _, procs = servers
    password = a.tiled_catalog.split(":")[2].split("@")[0]
    for proc in procs:
        assert password not in open(f"/proc/{proc.pid}/cmdline").read()
        assert password not in proc.log_path.read_text()
        assert "PostgreSQL 127.0.0.1" in proc.log_path.read_text()        # it says where the catalog is
