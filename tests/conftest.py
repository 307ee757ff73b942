"""Shared fixtures. The Channel Access environment is set before any PV is created."""
import os

# One BLAS thread per process: the two test workers, the IOCs and Tiled share 2 cores, and OpenBLAS's
# spinning threads took a core from the other worker (58 s of CPU for a 33-s test, 29 s with one).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")     # processes the tests start
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from operando.engine.config import Config, apply_ca_environment  # noqa: E402

threadpool_limits(1)                                   # this process, if numpy was loaded already

# Every fixed port stays below Linux's ephemeral range (32768-60999): there, any outgoing connection
# (HTTP to Tiled, Channel Access, PostgreSQL) may hold the port a server is about to bind (seen: the
# widefield potentiostat's link at 35730, EADDRINUSE on a power cycle). A worker (gw0..gw3) has 1000
# ports: the instrument at +0..+13, the tests' own blocks up to +831, the widefield instrument at
# +900..+913; a session (pid-derived) takes one of 3 slots of 4 workers: 20000-31913.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
_SESSION_PID = os.getppid() if "PYTEST_XDIST_WORKER" in os.environ else os.getpid()
assert _WORKER < 4, "the port plan has room for 4 xdist workers"
_BASE = 20000 + ((_SESSION_PID % 3) * 4 + _WORKER) * 1000
TEST_CONFIG = Config(ca_base_port=_BASE, tiled_port=_BASE + 11)
# The widefield instrument (its own IOCs, potentiostat and Tiled server) on a second port block and
# PV prefix (a client searching both blocks must not find two potentiostats under one name).
WIDEFIELD_CONFIG = Config(ca_base_port=_BASE + 900, tiled_port=_BASE + 911, material="NWO", pv_prefix="OPW:")
apply_ca_environment(TEST_CONFIG, also=(WIDEFIELD_CONFIG,))


@pytest.fixture(scope="session")
def test_config(tmp_path_factory):
    return TEST_CONFIG.with_home(tmp_path_factory.mktemp("operando-home"))


@pytest.fixture(scope="session")
def widefield_config(tmp_path_factory):
    return WIDEFIELD_CONFIG.with_home(tmp_path_factory.mktemp("operando-widefield-home"))
