"""Documents between processes over 0MQ: a forwarding proxy (0MQ's own XSUB/XPUB device) bound to
127.0.0.1, bluesky's ``Publisher`` in the session and ``RemoteDispatcher`` in analysis workers.

bluesky's ``bluesky-0MQ-proxy`` binds every interface and bluesky serialises documents with pickle
(anyone who can reach the port could make a worker run code); here the proxy binds loopback (or
the interface given) and documents travel as JSON.
"""
from __future__ import annotations

import json

import numpy as np


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def serialize(doc: dict) -> bytes:
    return json.dumps(doc, default=_plain).encode()


def deserialize(data: bytes) -> dict:
    return json.loads(data)


def run_proxy(in_port: int, out_port: int, host: str = "127.0.0.1") -> None:
    """Forward every message published to ``in_port`` to the subscribers of ``out_port`` (blocks)."""
    import zmq

    context = zmq.Context()
    frontend = context.socket(zmq.XSUB)
    frontend.bind(f"tcp://{host}:{in_port}")
    backend = context.socket(zmq.XPUB)
    backend.bind(f"tcp://{host}:{out_port}")
    zmq.proxy(frontend, backend)


def publisher(host: str, in_port: int):
    """A RunEngine subscriber publishing every document to the proxy."""
    from bluesky.callbacks.zmq import Publisher

    return Publisher(f"{host}:{in_port}", serializer=serialize)


def dispatcher(host: str, out_port: int):
    """Receives the proxy's documents; ``.subscribe(callback)`` then ``.start()`` (blocks)."""
    from bluesky.callbacks.zmq import RemoteDispatcher

    return RemoteDispatcher(f"{host}:{out_port}", deserializer=deserialize)
