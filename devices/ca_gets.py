"""pyepics: a get that libca refuses no longer blocks every later get of that channel.

pyepics (3.5.10) marks a channel's get "pending" before it asks libca, and a later get of the
same channel and type sends no request while one is pending: it waits for the pending answer.
When libca refuses the request (the channel dropped an instant before: ECA_DISCONN), pyepics
raises but leaves the mark, and no answer ever comes: every get of that channel then times out,
for the life of the process, even after the controller is back. It happens to a get made in the
moment between the control layer losing a controller and ophyd or pyepics noticing (a move's
limit check as an IOC dies): seen in CI as ``Failed to read OPR:PZ:LLM within 2.00 sec`` in
every later test of the worker. ``install()`` wraps ``epics.ca.get_with_metadata`` (through which
PV.get, get_ctrlvars and get_timevars go) so that a refused request ends its pending mark with the
failure, as libca's own failure callback would have.
"""
from __future__ import annotations

import functools
import logging

from epics import ca, dbr

log = logging.getLogger(__name__)

ECA_DISCONN = 192            # Channel Access status "Virtual circuit disconnect" (EPICS caerr.h)


def refused_as_disconnected(exc: BaseException) -> bool:
    """Whether ``exc`` is libca refusing a request because the channel has just dropped."""
    return isinstance(exc, ca.CASeverityException) and exc.msg == ca.message(ECA_DISCONN)


def _end_refused_request(chid, ftype, exc: Exception) -> None:
    """Replace a pending mark left by the refused request with the failure (waiters raise it)."""
    if isinstance(chid, int):
        chid = dbr.chid_t(chid)
    try:
        entry = ca.get_cache(ca.name(chid))
        if ftype is None:
            ftype = ca.field_type(chid)
    except Exception:                     # the channel is gone (cleared, context destroyed)
        return
    if not entry:
        return
    with entry.lock:
        pending = entry.get_results.get(ftype)
        if pending is None or pending[0] is not ca.GET_PENDING:
            return
        status = ECA_DISCONN if refused_as_disconnected(exc) else -1
        pending[0] = ca.ChannelAccessGetFailure(f"get refused by libca: {exc}", chid=chid, status=status)
    log.warning("%s: a get refused by libca (%s); the next get asks again", ca.name(chid), exc.msg)


def install() -> None:
    """Wrap ``epics.ca.get_with_metadata`` once per process (idempotent)."""
    original = ca.get_with_metadata
    if getattr(original, "_ends_refused_requests", False):
        return

    @functools.wraps(original)
    def get_with_metadata(chid, ftype=None, *args, **kwargs):
        try:
            return original(chid, ftype, *args, **kwargs)
        except ca.CASeverityException as exc:
            if exc.fcn == "get":          # PySEVCHK('get', ...): libca refused ca_array_get_callback
                _end_refused_request(chid, ftype, exc)
            raise

    get_with_metadata._ends_refused_requests = True
    ca.get_with_metadata = get_with_metadata
