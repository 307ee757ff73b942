"""The 1-D rod diffusion model of the analysis (the seed's phase-field comparison, Fig. 3g-i)."""
import numpy as np
import pytest

from operando.analysis import rod_model as M

# The seed's simulated lithiation front velocities from x = 0.08 (Fig. 3i, blue), um/s.
SEED_MODEL_UM_S = {1: 0.50, 5: 0.93, 20: 1.90}


@pytest.mark.parametrize("c_rate", [1, 5, 20])
def test_front_velocities_within_30_percent_of_the_seeds_model(c_rate):
    run = M.simulate(M.seed_diffusivity_m2_s, 20.4, c_rate, 0.08, 60 if c_rate == 1 else 30)
    v, met = M.front_velocity_um_s(run, 0.08)
    assert v == pytest.approx(SEED_MODEL_UM_S[c_rate], rel=0.3)
    assert met == pytest.approx(10.2 / v, rel=0.15)        # the two fronts meet in the middle


def test_from_x_014_the_rod_stays_uniform():
    run = M.simulate(M.seed_diffusivity_m2_s, 20.4, 5, 0.14, 20)
    assert M.uniform_after_s(run, 0.01) <= 5.0


def test_lithium_enters_at_the_imposed_rate():
    run = M.simulate(M.seed_diffusivity_m2_s, 20.4, 5, 0.3, 60)
    assert run.x[-1].mean() - run.x[0].mean() == pytest.approx(5 * 60 / 3600, rel=1e-9)
    assert np.all(np.diff(run.x[-1][:102]) <= 1e-12)        # highest at the ends while lithiating
