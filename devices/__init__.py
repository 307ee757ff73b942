"""operando.devices"""
import logging

from ophyd.signal import EpicsSignalBase

from . import ca_gets

ca_gets.install()      # before any device reads a channel (see ca_gets: pyepics's stuck get)

# A read of a connected channel may wait 10 s for its answer (ophyd's default: 2 s), as facility
# profiles set it: on a host whose cores are all busy (analysis, IOCs, tests) a CA get was seen to
# take longer than 2 s, and the timeout failed the run as if the controller were gone. Reaching a
# channel keeps ophyd's 1 s: a lost controller is still reported at once (a dropped channel fails
# a pending get immediately, not after the timeout).
READ_TIMEOUT_S = 10.0
try:
    EpicsSignalBase.set_defaults(timeout=READ_TIMEOUT_S, connection_timeout=1.0)
except RuntimeError as exc:       # ophyd: only before the first signal; those made earlier keep 2 s
    logging.getLogger(__name__).warning("ophyd's read timeout left at its default: %s", exc)
