"""docs/deployment.md run as a reader would, on a port block and home of its own (its own IOCs, so it
needs not run last with the other pages)."""
import re
from dataclasses import replace

import pytest

from doc_blocks import REPO, run_bash, session_env
from operando.engine.config import Config
from operando.engine.tiled_server import connect, start_tiled
from postgres import postgres_server
from system_packages import debian_command

pytestmark = pytest.mark.integration


def test_the_deployment_page_on_postgresql_with_workers_and_haproxy(test_config, tmp_path):
    """docs/deployment.md on a port block and home of its own, with a throw-away PostgreSQL server
    (tests/integration/postgres.py) as the lab's database and HAProxy from Debian: the worker's
    derived run of the session's cycling run is in the PostgreSQL catalog, analysed less than a stack
behind the acquisition; both Tiled processes behind
    HAProxy answered requests sent to HAProxy's port."""
    debian_command("haproxy", "haproxy")
    base = test_config.ca_base_port + 580
    config = Config(ca_base_port=base, tiled_port=base + 11, home=tmp_path / "home")
    with postgres_server(base + 14) as uri:
        env = session_env(config, OPERANDO_TILED_CATALOG=uri, TILED_BACKEND_PORTS=f"{base + 15} {base + 16}")
        out = run_bash(REPO / "docs" / "deployment.md", env, tmp_path / "work", timeout=300)
        work = tmp_path / "work"
        raw_uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("raw run "))
        assert "derived run stored live" in out, out[-3000:]
        behind = [float(m) for m in re.findall(r"\(([0-9.]+) stacks behind\)", (work / "worker.log").read_text())]
        assert len(behind) >= 3 and max(behind) < 1.0, behind      # the worker kept up, stack by stack
        requests = (work / "haproxy.log").read_text()
        served = {name: requests.count(f"tiled_processes/{name} ") for name in ("a", "b")}
        assert served["a"] >= 4 and served["b"] >= 4, served       # round robin over both processes
        # The database holds what the page recorded (read by a new Tiled process over it).
        server = start_tiled(replace(config, tiled_catalog=uri))
        try:
            client = connect(config)
            run = client["raw"][raw_uid]
            assert run.metadata["stop"]["exit_status"] == "success"
            derived = [client["derived"][u] for u in client["derived"]]
            assert [d.metadata["start"]["raw_uid"] for d in derived] == [raw_uid]
        finally:
            server.stop()
