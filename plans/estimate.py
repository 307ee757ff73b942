"""How long will it take? Duration estimates printed before a long run (like pymmcore-plus's
``estimate_sequence_duration``): from the plan's parameters, nothing touched.

Voltage cut-offs end steps at an unknown time: a constant-current step to a cut-off is taken
to pass CC_FRACTION of a full charge (1/C-rate hours); a hold to a current floor HOLD_S.
"""
from __future__ import annotations

from dataclasses import dataclass

from .protocol import ConstantCurrent, Loop, Rest, VoltageHold, parse_protocol
from .zstack import ZStackSettings

CC_FRACTION = 0.9
HOLD_S = 1800.0
PLANE_OVERHEAD_S = 0.06       # per plane: piezo step and settle, CA round trips, file write (measured, docs/benchmarks.md)
STAGE_MOVE_S = 0.3


def protocol_cell_time_s(protocol: str, capacity_ah: float) -> float:
    """Expected cell time (s) of a protocol."""
    def walk(items) -> float:
        total = 0.0
        for item in items:
            if isinstance(item, Loop):
                total += item.times * walk(item.steps)
            elif isinstance(item, Rest):
                total += item.duration_s
            elif isinstance(item, VoltageHold):
                total += item.max_duration_s if item.max_duration_s is not None else HOLD_S
            elif isinstance(item, ConstantCurrent):
                amps = item.current.to_amperes(capacity_ah)
                full = CC_FRACTION * 3600.0 * capacity_ah / amps
                candidates = [full] if item.until_voltage_v is not None else []
                if item.max_duration_s is not None:
                    candidates.append(item.max_duration_s)
                if item.max_capacity_ah is not None:
                    candidates.append(3600.0 * item.max_capacity_ah / amps)
                total += min(candidates) if candidates else full
        return total
    return walk(parse_protocol(protocol))


def stack_wall_time_s(stack: ZStackSettings, frame_overhead_s: float = PLANE_OVERHEAD_S) -> float:
    """Expected wall time (s) of one z-stack: scan time plus a per-plane overhead."""
    return stack.stack_time_s() + len(stack.z_positions_um) * frame_overhead_s


@dataclass(frozen=True)
class DurationEstimate:
    wall_s: float
    cell_s: float | None = None
    stacks: int | None = None
    stack_s: float | None = None

    def __str__(self) -> str:
        parts = [f"about {_hms(self.wall_s)} of wall time"]
        if self.cell_s is not None:
            parts.append(f"{_hms(self.cell_s)} of cell time")
        if self.stacks is not None:
            parts.append(f"~{self.stacks} stacks of {self.stack_s:.1f} s")
        return ", ".join(parts)


def _hms(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


def estimate_zstack(stack: ZStackSettings) -> DurationEstimate:
    t = stack_wall_time_s(stack)
    return DurationEstimate(wall_s=t, stacks=1, stack_s=t)


def estimate_cycling_zstack(protocol: str, capacity_ah: float, stacks: list[ZStackSettings], accel: float = 1.0,
                            max_cell_time_s: float | None = None) -> DurationEstimate:
    """Stacks at each position back to back while the protocol runs at ``accel``."""
    cell = protocol_cell_time_s(protocol, capacity_ah)
    if max_cell_time_s is not None:
        cell = min(cell, max_cell_time_s)
    wall = cell / accel
    round_s = sum(stack_wall_time_s(s) + STAGE_MOVE_S for s in stacks)
    rounds = max(1, int(wall // round_s) + 1)
    return DurationEstimate(wall_s=max(wall, round_s), cell_s=cell, stacks=rounds * len(stacks),
                            stack_s=round_s / len(stacks))
