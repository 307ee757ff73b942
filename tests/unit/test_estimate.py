"""Duration estimates from plan parameters."""
import pytest

from operando.plans.estimate import estimate_cycling_zstack, protocol_cell_time_s, stack_wall_time_s
from operando.plans.zstack import validate_zstack


def test_protocol_time_adds_steps_and_loops():
    text = "Rest for 10 minutes\nRepeat 3 times {\n Charge at 1C for 20 minutes\n Rest for 5 minutes\n}"
    assert protocol_cell_time_s(text, 1e-3) == pytest.approx(600 + 3 * (1200 + 300))


def test_cut_off_steps_take_most_of_a_full_charge_at_their_rate():
    assert protocol_cell_time_s("Charge at C/2 until 4.2 V", 1e-3) == pytest.approx(0.9 * 7200)
    assert protocol_cell_time_s("Charge at C/2 until 4.2 V or 1 hour", 1e-3) == pytest.approx(3600)


def test_cycling_estimate_counts_stacks_of_both_positions():
    stack = validate_zstack(10, 16, 0.5, ("reflection",), 5e-6, (128, 128), 0.2, 820, 1e-3, False)
    per = stack_wall_time_s(stack)
    assert per == pytest.approx(13 * (128 * (128 * 5e-6 + 2e-4)) + 13 * 0.06)
    est = estimate_cycling_zstack("Charge at C/2 until 4.2 V\nDischarge at C/2 until 3.6 V", 4e-4, [stack, stack],
                                  accel=400)
    assert est.cell_s == pytest.approx(2 * 0.9 * 7200)
    assert est.wall_s == pytest.approx(est.cell_s / 400)
    assert est.stacks % 2 == 0 and est.stacks >= 10
    assert "stacks" in str(est)
