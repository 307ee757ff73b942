"""Shared fixtures. The Channel Access environment is set before any PV is created."""
import os

import pytest

from operando.engine.config import Config, apply_ca_environment

# A port block per test session (pid-derived) so parallel runs on one host do not collide.
_BASE = 20000 + (os.getpid() % 1000) * 12
TEST_CONFIG = Config(ca_base_port=_BASE, tiled_port=_BASE + 11)
apply_ca_environment(TEST_CONFIG)


@pytest.fixture(scope="session")
def test_config(tmp_path_factory):
    return TEST_CONFIG.with_home(tmp_path_factory.mktemp("operando-home"))
