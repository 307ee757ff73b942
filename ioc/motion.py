"""Put-callback motion shared by the simulated axes (objective piezo, sample stage)."""
from __future__ import annotations

import asyncio

from caproto import AlarmSeverity, AlarmStatus
from caproto._data import CannotExceedLimits

UPDATE_PERIOD_S = 0.005


async def travel(group, instance, value: float, readback, dmov, velocity: float, settle_s: float,
                 limits: tuple[float, float], axis: str) -> float:
    """Move readback to value at velocity (units/s), settle, then DMOV=1; refuse values outside
    limits with an alarm. ``group._stop_requested`` ends the move where it is; a new setpoint
    while moving supersedes the move in progress (it stops where it is, and the new one starts from
    there), as a motor controller retargets: one move at a time drives the readback and DMOV."""
    lo, hi = limits
    if not lo <= value <= hi:
        await instance.alarm.write(status=AlarmStatus.WRITE, severity=AlarmSeverity.MINOR_ALARM)
        raise CannotExceedLimits(f"{axis}={value} outside soft limits [{lo}, {hi}]")
    group._move_serial = getattr(group, "_move_serial", 0) + 1
    serial = group._move_serial
    group._stop_requested = False
    await dmov.write(0)
    start = readback.value
    duration = abs(value - start) / velocity
    steps = max(1, int(duration / UPDATE_PERIOD_S))
    position = start
    for k in range(1, steps + 1):
        await asyncio.sleep(duration / steps)
        if group._stop_requested or group._move_serial != serial:
            break
        position = start + (value - start) * k / steps
        await readback.write(position)
    if group._move_serial != serial:          # superseded: the newer move ends with DMOV=1
        return position
    await asyncio.sleep(settle_s)
    if group._move_serial == serial:
        await dmov.write(1)
    return position
