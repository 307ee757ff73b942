import numpy as np
import pytest

from operando.ioc.sample_buffer import SampleRing
from operando.ioc.technique import Sample


def samples(first, n):
    return [Sample(k, k * 0.1, 3.9, 1e-4, k * 1e-5, 0, 1) for k in range(first, first + n)]


def test_windows_by_sequence_number_across_the_wrap():
    ring = SampleRing(100)
    ring.extend(samples(5, 250))
    assert ring.first_seq == 155
    w = ring.window(160, 50)
    np.testing.assert_array_equal(w["seq_num"], np.arange(160, 210))
    np.testing.assert_allclose(w["time_s"], np.arange(160, 210) * 0.1)
    assert len(ring.window(250, 50)) == 5 and len(ring.window(255, 10)) == 0


def test_overwritten_samples_are_refused_and_gaps_are_refused():
    ring = SampleRing(10)
    ring.extend(samples(0, 30))
    with pytest.raises(ValueError, match="overwritten"):
        ring.window(5, 3)
    with pytest.raises(ValueError, match="out of order"):
        ring.extend(samples(31, 1))
