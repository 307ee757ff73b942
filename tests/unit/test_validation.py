import pytest

from operando.plans import PlanParameterError, validate_zstack, zstack

GOOD = dict(z_start_um=10, z_stop_um=20, z_step_um=0.5, channels=("reflection",), pixel_dwell_s=1e-5,
            pixels=(256, 256), pixel_size_um=0.08, wavelength_nm=820, power_w=1e-3, pulsed=False)


@pytest.mark.parametrize("change, names", [
    ({"pixel_dwell_s": 5e-4}, "pixel_dwell_s"),
    ({"pixel_dwell_s": 0.0}, "pixel_dwell_s"),
    ({"pixel_dwell_s": float("nan")}, "pixel_dwell_s"),
    ({"z_stop_um": 120}, "z_stop_um"),
    ({"z_start_um": -1}, "z_start_um"),
    ({"z_step_um": 0}, "z_step_um"),
    ({"channels": ("transmission",)}, "channels"),
    ({"channels": ()}, "channels"),
    ({"wavelength_nm": 1200}, "wavelength_nm"),
    ({"wavelength_nm": "820"}, "wavelength_nm"),
    ({"pixels": (8, 256)}, "pixels[0]"),
    ({"pixels": 256}, "pixels"),
    ({"power_w": 1.0}, "power_w"),
    ({"channels": ("reflection",), "wavelength_nm": 690}, "channels"),
])
def test_bad_parameters_are_refused_with_their_name_and_range(change, names):
    with pytest.raises(PlanParameterError, match=names.replace("[", r"\[")):
        validate_zstack(**{**GOOD, **change})


def test_positions_cover_the_range_inclusive():
    s = validate_zstack(**GOOD)
    assert s.z_positions_um[0] == 10 and s.z_positions_um[-1] == 20 and len(s.z_positions_um) == 21


def test_plan_raises_before_its_first_message():
    plan = zstack(object(), 10, 200, 0.5)
    with pytest.raises(PlanParameterError, match="z_stop_um"):
        next(plan)
