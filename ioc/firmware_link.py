"""The link between the potentiostat's driver (its IOC) and the instrument (its firmware):
``multiprocessing.connection`` over TCP on loopback, authenticated by a shared key (HMAC challenge,
key in OPERANDO_FIRMWARE_KEY), one request and one answer at a time.

The instrument serves any number of drivers one after another: a driver that dies leaves a closed
connection behind, and its successor connects anew to the same running instrument.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from multiprocessing.connection import AuthenticationError, Client, Listener

log = logging.getLogger(__name__)

KEY_VARIABLE = "OPERANDO_FIRMWARE_KEY"


class Refused(Exception):
    """The instrument refused a command (bad technique, already running, samples overwritten)."""


class Unreachable(ConnectionError):
    """The instrument does not answer (not started, restarting, or gone)."""


def link_key() -> bytes:
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        raise RuntimeError(f"{KEY_VARIABLE} is not set: the instrument and its driver share it "
                           "(operando.engine.processes.start_iocs sets it)")
    return key.encode()


def serve_firmware(firmware, address: tuple[str, int]) -> None:
    """Answer drivers' calls on ``address`` until the process ends."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with Listener(address, authkey=link_key()) as listener:
        while True:
            try:
                conn = listener.accept()
            except (AuthenticationError, OSError, EOFError) as exc:
                log.warning("refused a connection: %s", exc)
                continue
            threading.Thread(target=_answer, args=(firmware, conn), daemon=True).start()


def _answer(firmware, conn):
    with conn:
        while True:
            try:
                name, args = conn.recv()
            except (EOFError, OSError):
                return                          # the driver went away
            try:
                reply = ("ok", firmware.call(name, *args))
            except Refused as exc:
                reply = ("refused", str(exc))
            except Exception as exc:            # a bug: tell the driver instead of dropping it
                log.exception("%s%r failed", name, args)
                reply = ("refused", f"{type(exc).__name__}: {exc}")
            try:
                conn.send(reply)
            except OSError:
                return


class FirmwareLink:
    """The driver's end: ``call(name, *args)`` as on the firmware itself; raises Refused as the
    instrument does and Unreachable when it does not answer (each call tries to reconnect once).
    A gone instrument is reported at once (its connection closes); ``timeout_s`` bounds the wait for
    a live one, which under a host's full load was seen to take more than 5 s."""

    def __init__(self, address: tuple[str, int], timeout_s: float = 10.0):
        self.address = address
        self.timeout_s = timeout_s
        self._conn = None
        self._lock = threading.Lock()

    def call(self, name: str, *args):
        with self._lock:
            if self._conn is None:
                self._connect()
            try:
                self._conn.send((name, args))
                if not self._conn.poll(self.timeout_s):
                    raise TimeoutError(f"no answer within {self.timeout_s} s")
                kind, value = self._conn.recv()
            except (EOFError, OSError, TimeoutError) as exc:
                self._close()
                raise Unreachable(f"potentiostat at {self.address[0]}:{self.address[1]}: {exc}") from None
        if kind == "refused":
            raise Refused(value)
        return value

    def wait(self, timeout_s: float) -> dict:
        """Block until the instrument answers (it may still be starting); returns its info."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.call("info")
            except Unreachable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _connect(self):
        try:
            self._conn = Client(self.address, authkey=link_key())
        except (OSError, EOFError, AuthenticationError) as exc:
            raise Unreachable(f"potentiostat at {self.address[0]}:{self.address[1]}: {exc}") from None

    def _close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
        self._conn = None
