"""A Tiled server is not started over a port something else already answers on."""
import socket
from dataclasses import replace

import pytest

from operando.engine.config import Config
from operando.engine.tiled_server import start_tiled


def test_a_busy_port_is_refused_with_the_way_out(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port {port} .* already in use.*OPERANDO_TILED_PORT"):
            start_tiled(replace(Config(home=tmp_path), tiled_port=port))
    assert not (tmp_path / "tiled").exists()          # refused before anything was written
