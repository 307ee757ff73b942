"""Every code block of README.md and docs/ runs as a reader would run it (tests/integration/doc_blocks.py).

These run last (tests/integration/conftest.py): the examples take the shared cell wherever their
protocols take it. docs/widefield.md runs on the widefield instrument, in test_widefield.py; the bash
blocks that start their own servers in test_docs_servers.py, docs/deployment.md in test_deployment.py.
"""
import pytest
import yaml

from doc_blocks import REPO, code_blocks, doc_pages, run_bash, run_python, session_env
from operando.engine.config import Config
from operando.engine.instrument_file import parse_instrument
from operando.engine.scenario import parse_scenario

pytestmark = pytest.mark.integration

# page -> how its blocks run: python in a profile session on the test instrument; bash on the test
# instrument ("instrument"), on a port block and home of its own ("fresh", for blocks that start
# servers) or with Redis and the queue server ("queue"); yaml through the loader named.
PAGES = {
    "README.md": {"python": "instrument", "bash": "fresh (test_docs_servers.py)"},
    "docs/README.md": {},
    "docs/quickstart.md": {"python": "instrument", "bash": "fresh (test_docs_servers.py)"},
    "docs/profile.md": {"python": "instrument", "bash": "queue"},
    "docs/plans.md": {"python": "instrument"},
    "docs/queries.md": {"python": "instrument", "bash": "instrument"},
    "docs/analysis.md": {"python": "instrument"},
    "docs/hardware.md": {"python": "instrument", "yaml": "instrument file"},
    "docs/scenarios.md": {"yaml": "scenario", "bash": "fresh (test_docs_servers.py)"},
    "docs/widefield.md": {"python": "widefield instrument (test_widefield.py)"},
    "docs/deployment.md": {"bash": "PostgreSQL and HAProxy (test_deployment.py)"},
}


def _page(name):
    return REPO / name


def test_every_code_block_is_run_by_a_test():
    for page in doc_pages():
        name = str(page.relative_to(REPO))
        for lang, _, line in code_blocks(page):
            assert lang in ("python", "bash", "yaml", "text"), f"{name}:{line}: give the block a language"
            if lang != "text":
                assert lang in PAGES.get(name, {}), f"{name}:{line}: a {lang} block no test runs (add it to PAGES)"


@pytest.mark.parametrize("name", [n for n, how in PAGES.items() if how.get("python") == "instrument"])
def test_python_blocks(name, instrument, instrument_file, tmp_path):
    out = run_python(_page(name), session_env(instrument["config"], instrument_file), tmp_path)
    expected = {"docs/quickstart.md": "(21, 256, 256) uint16 success", "README.md": "telemetry samples",
                "docs/plans.md": "refused: z_um=250.0 um is outside the allowed range",
                "docs/queries.md": "volume rows", "docs/hardware.md": "confocal: ", "docs/profile.md": "%"}
    if name in expected:
        assert expected[name] in out, out[-3000:]


def test_yaml_blocks_are_what_the_loaders_take():
    for lang, code, line in code_blocks(_page("docs/hardware.md")):
        if lang == "yaml":
            inst = parse_instrument(yaml.safe_load(code), Config())
            assert inst.prefixes == {"confocal": "LAB1:CONF:", "potentiostat": "LAB1:PSTAT1:"} and not inst.loopback_ports
    for lang, code, line in code_blocks(_page("docs/scenarios.md")):
        if lang == "yaml":
            scenario = parse_scenario(yaml.safe_load(code))
            assert [s.plan for s in scenario.steps] == ["zstack", "cycling_zstack"]


def test_bash_blocks_on_the_test_instrument(instrument, instrument_file, tmp_path):
    out = run_bash(_page("docs/queries.md"), session_env(instrument["config"], instrument_file), tmp_path)
    assert "matching runs shown" in out and "exit code 3: no such run" in out
    assert list((tmp_path / "exports").glob("*.ome.tif")) and list((tmp_path / "reports").rglob("index.html"))


def test_the_queue_server_block(instrument, instrument_file, tmp_path):
    """Redis and the queue server on loopback, the profile's startup files in its worker, a zstack
    queued: its run is in Tiled."""
    from system_packages import debian_command

    from tiled.queries import Key

    debian_command("redis-server", "redis-server")
    base = instrument["config"].ca_base_port + 560
    env = session_env(instrument["config"], instrument_file, REDIS_PORT=base, QS_PORT=base + 1, QS_INFO_PORT=base + 2,
                      TMPDIR=tmp_path)
    out = run_bash(_page("docs/profile.md"), env, tmp_path / "work", timeout=150)
    assert "Startup code was successfully loaded" in out and "Plan state: completed" in out
    uid = next(line.split("'")[1] for line in out.splitlines() if "New run was open:" in line)
    run = instrument["client"]["raw"][uid]
    assert run.metadata["start"]["plan_name"] == "zstack" and run.metadata["stop"]["exit_status"] == "success"
    assert run["primary"]["confocal_apd_reflection"].shape == (5, 64, 64)
    assert len(instrument["client"]["raw"].search(Key("uid") == uid)) == 1

