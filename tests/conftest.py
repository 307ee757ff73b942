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

# A port block per test session (pid-derived) so parallel runs on one host do not collide; under
# pytest-xdist each worker (gw0, gw1, ...) has its own instruments, 1000 ports above the previous
# worker's (a session's blocks reach _BASE + 831 and _BASE + 12013).
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
_SESSION_PID = os.getppid() if "PYTEST_XDIST_WORKER" in os.environ else os.getpid()
_BASE = 20000 + (_SESSION_PID % 500) * 24 + _WORKER * 1000
TEST_CONFIG = Config(ca_base_port=_BASE, tiled_port=_BASE + 11)
# The widefield instrument (its own IOCs, potentiostat and Tiled server) on a second port block and
# PV prefix (a client searching both blocks must not find two potentiostats under one name).
WIDEFIELD_CONFIG = Config(ca_base_port=_BASE + 12000, tiled_port=_BASE + 12011, material="NWO", pv_prefix="OPW:")
apply_ca_environment(TEST_CONFIG, also=(WIDEFIELD_CONFIG,))


@pytest.fixture(scope="session")
def test_config(tmp_path_factory):
    return TEST_CONFIG.with_home(tmp_path_factory.mktemp("operando-home"))


@pytest.fixture(scope="session")
def widefield_config(tmp_path_factory):
    return WIDEFIELD_CONFIG.with_home(tmp_path_factory.mktemp("operando-widefield-home"))
