"""Unit tests of the Bi-Real bridges in hw/transforms.py against the model's numpy goldens."""
import numpy as np
import pytest

from hw.transforms import BIG, _round_half_even_thresholds, requant_thresholds
from model.custom_op import fixed_point_requant


def _mt(acc, T, qmin):
    """MultiThreshold semantics: qmin + number of thresholds <= acc (per channel)."""
    return qmin + (acc[:, :, None] >= T[None, :, :]).sum(-1)


@pytest.mark.parametrize("shift", [0, 1, 7, 16])
def test_requant_thresholds_equal_fixed_point_requant(shift):
    rng = np.random.default_rng(shift)
    C, bits = 6, 8
    A = rng.integers(0, 2 ** 12, C)
    A[0] = 0                                      # constant channel
    B = rng.integers(-2 ** (shift + 10), 2 ** (shift + 10), C)
    acc = np.arange(-3000, 3001)[None, :].repeat(C, 0).T.astype(np.int64)   # [N, C]
    want = fixed_point_requant(acc.astype(np.float64), A, B, shift, 0, bits, 0, axis=1)
    T = requant_thresholds(A, B, shift, bits)
    assert T.shape == (C, 2 ** bits - 1) and np.all(np.diff(T, axis=1) >= 0)
    got = _mt(acc, T, -(2 ** (bits - 1)))
    np.testing.assert_array_equal(got, want)
    assert np.abs(T).max() <= BIG


def test_requant_thresholds_reject_negative_multiplier():
    from model.errors import BiRealError
    with pytest.raises(BiRealError, match="negative"):
        requant_thresholds(np.array([-1]), np.array([0]), 4, 8)


@pytest.mark.parametrize("ratio", [16, 49, 4, 64])
def test_global_pool_thresholds_round_half_even(ratio):
    """sum m on the input grid; output = round_half_even(m / ratio) (qonnx Quant's ROUND)."""
    v = np.arange(-127, 128, dtype=np.float64)
    T = (_round_half_even_thresholds(float(ratio), v) - 0.5)
    m = np.arange(-128 * ratio - 50, 128 * ratio + 50, dtype=np.float64)
    want = np.clip(np.round(m / ratio), -128, 127)        # numpy rounds half to even
    got = -128 + (m[:, None] >= T[None, :]).sum(1)
    np.testing.assert_array_equal(got, want)
