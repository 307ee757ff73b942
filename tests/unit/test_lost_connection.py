"""Which errors of a device call mean its controller is unreachable (devices.restore.lost_connection):
those the RunEngine's guard and the devices leave to a disconnect suspender instead of failing."""
from types import SimpleNamespace

import pytest
from epics import ca

from operando.devices.restore import lost_connection

CONNECTED, DROPPED = SimpleNamespace(connected=True), SimpleNamespace(connected=False)


@pytest.mark.parametrize("device, exc, lost", [
    (DROPPED, ValueError("anything"), True),                 # the device says so
    (CONNECTED, TimeoutError("no answer"), True),
    (CONNECTED, ConnectionError("gone"), True),
    # libca refused the request: the channel dropped before the device's connection callback ran
    (CONNECTED, ca.CASeverityException("get", "Virtual circuit disconnect"), True),
    (CONNECTED, ca.ChannelAccessGetFailure("Get failed; status code: 192", chid=None, status=192), True),
    (CONNECTED, ca.CASeverityException("get", "Read access denied"), False),
    (CONNECTED, ca.ChannelAccessGetFailure("Get failed; status code: 8", chid=None, status=8), False),
    (CONNECTED, ValueError("3 outside the soft limits"), False),
])
def test_lost_connection(device, exc, lost):
    assert lost_connection(device, exc) is lost
