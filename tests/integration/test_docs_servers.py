"""The bash blocks of README.md, docs/quickstart.md and docs/scenarios.md, which start their own
instrument and servers: each on a port block and home of its own (not the session's shared cell), so
this module need not run last with the other pages (test_docs.py)."""
from pathlib import Path

import pytest

from doc_blocks import REPO, run_bash, session_env
from operando.engine.config import Config

pytestmark = pytest.mark.integration


def _page(name):
    return REPO / name


@pytest.mark.parametrize("name, offset", [("README.md", 500), ("docs/quickstart.md", 520), ("docs/scenarios.md", 540)])
def test_bash_blocks_that_start_their_own_servers(name, offset, test_config, tmp_path):
    config = Config(ca_base_port=test_config.ca_base_port + offset, tiled_port=test_config.ca_base_port + offset + 11,
                    home=tmp_path / "home")
    out = run_bash(_page(name), session_env(config), tmp_path / "work")
    if name == "docs/quickstart.md":
        assert "connected: confocal (OPR:), pstat (OPR:PSTAT:)" in out
    if name == "docs/scenarios.md":
        assert "[('widefield_timeseries', 'success'), ('cycling_widefield', 'success')]" in out
        _scenario_runs_are_in_tiled(tmp_path / "work" / "var" / "nwo-fronts", config)
    if name == "README.md":
        assert out.count("checked with make -n") == 2


def _scenario_runs_are_in_tiled(out, config):
    """What `operando run` recorded: runs.json, a report per run, and the runs (raw and analysed) in the
    Tiled catalog it left under OUT/home, read back by a new server."""
    import json

    from operando.engine.tiled_server import connect, start_tiled

    records = json.loads((out / "runs.json").read_text())
    assert all(Path(r["report"]).is_file() for r in records)
    assert any("nm/s" in line for line in records[1]["analysis"])           # fronts, analysed live
    home = config.with_home(out / "home")
    server = start_tiled(home)
    try:
        client = connect(home)
        run = client["raw"][records[1]["uid"]]
        assert run.metadata["start"]["material"] == "NWO" and run.metadata["stop"]["exit_status"] == "success"
        assert run["widefield"]["widefield_camera_image"].shape[0] == run.metadata["stop"]["num_events"]["widefield"]
        assert len(client["derived"]) == 1
    finally:
        server.stop()
