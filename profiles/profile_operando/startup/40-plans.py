"""The plans (plain generator functions; docs/plans.md) and bluesky's own."""
from bluesky.plan_stubs import mv, mvr, rd  # noqa: F401
from bluesky.plans import count, scan  # noqa: F401

from operando.plans import (cycling_zstack, dark_frames, electrolyte_stack, estimate_cycling_zstack,  # noqa: F401
                            gitt, multi_position, ocv_relax, run_protocol, spectral_reflectivity, zstack)
from operando.plans.widefield import cycling_widefield, voltage_hold, widefield_timeseries  # noqa: F401
