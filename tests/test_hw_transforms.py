"""Unit tests of the Bi-Real bridges in hw/transforms.py against the model's numpy goldens."""
import numpy as np
import pytest

from hw.thresholds import BIG, _round_half_even_thresholds, requant_thresholds
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


def _mt_maxpool_model():
    from onnx import TensorProto
    from onnx import helper as oh
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    C = 4
    x = oh.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, 6, 6])
    y = oh.make_tensor_value_info("y", TensorProto.FLOAT, [1, C, 3, 3])
    mt = oh.make_node("MultiThreshold", ["x", "thr"], ["q"], domain="qonnx.custom_op.general",
                      out_dtype="INT8", out_bias=-128.0, data_layout="NCHW", name="MT")
    mp = oh.make_node("MaxPool", ["q"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                      pads=[1, 1, 1, 1], name="Pool")
    g = oh.make_graph([mt, mp], "g", [x], [y],
                      value_info=[oh.make_tensor_value_info("q", TensorProto.FLOAT, [1, C, 6, 6])])
    m = ModelWrapper(oh.make_model(g))
    m.set_initializer("thr", np.tile(np.arange(-127, 128, dtype=np.float32), (C, 1)))
    m.set_tensor_datatype("x", DataType["INT10"])
    return m.transform(InferShapes()).transform(InferDataTypes())


def test_maxpool_on_unsigned_is_exact_through_finn_pool():
    """Stem MaxPool(3, s2, pad 1) on negative codes: FINN pads 0, exact only on unsigned codes."""
    from qonnx.core.onnx_exec import execute_onnx
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
    from hw.transforms import MaxPoolOnUnsigned
    m = _mt_maxpool_model()
    rng = np.random.default_rng(0)
    x = rng.integers(-300, 100, (1, 4, 6, 6)).astype(np.float32)   # mostly negative codes
    want = execute_onnx(m, {"x": x})["y"]
    assert (want < 0).any()
    m2 = m.transform(MaxPoolOnUnsigned())
    assert [n.op_type for n in m2.graph.node] == ["MultiThreshold", "MaxPool", "Add"]
    np.testing.assert_array_equal(execute_onnx(m2, {"x": x})["y"], want)
    m3 = m2.transform(InferPool()).transform(InferConvInpGen())
    assert "FMPadding" in [n.op_type for n in m3.graph.node]
    np.testing.assert_array_equal(execute_onnx(m3, {"x": x})["y"], want)


def test_verifier_follows_an_offset_moved_past_the_maxpool():
    """hw.verify: after MaxPoolOnUnsigned the threshold output is the reference + 128 exactly
    (the offset moved past the pool); the verifier reports that tensor exact with its offset,
    and still calls any other difference a difference."""
    from hw.transforms import MaxPoolOnUnsigned
    from hw.verify import _hit_equal, const_offset, full_context, match_tensors
    m = _mt_maxpool_model()
    x = np.random.default_rng(1).integers(-300, 100, (1, 4, 6, 6)).astype(np.float32)
    ref = full_context(m, x)["q"].astype(np.float64)
    ctx = full_context(m.transform(MaxPoolOnUnsigned()), x)
    assert not any(h[0] == "q" for h in match_tensors(ctx, ref, "q"))   # not equal as it is
    assert const_offset(ctx["q"], ref, 1.0) == 128.0
    assert _hit_equal(ctx, ("q", "same", 1.0, 128.0), ref, False)
    assert not _hit_equal(ctx, ("q", "same", 1.0, 127.0), ref, False)
    assert const_offset(ctx["q"] * 2, ref, 2.0) == 256.0                 # with a po2 scale
    bad = ctx["q"].copy()
    bad.flat[7] += 1                                                     # one element off
    assert const_offset(bad, ref, 1.0) is None
    assert const_offset(ctx["q"] + 0.5, ref, 1.0) is None                # not an integer
    assert const_offset(ref, ref, 1.0) is None                           # equal: no offset


def test_sum_pool_helpers():
    """hw.sum_pool: the sum type holds 4x the input range; only tap-shared weights qualify."""
    import numpy as np
    from qonnx.core.datatype import DataType

    from hw.sum_pool import sum_datatype, tap_shared
    assert sum_datatype(DataType["INT8"], 4) == DataType["INT10"]        # [-512, 508]
    assert sum_datatype(DataType["UINT8"], 4) == DataType["UINT10"]      # [0, 1020]
    assert sum_datatype(DataType["INT2"], 9) == DataType["INT6"]         # [-18, 9]
    w = np.tile(np.arange(12.0).reshape(3, 4), (4, 1))                   # 4 taps x 3 channels
    assert tap_shared(w, 4)
    w[7, 2] += 1
    assert not tap_shared(w, 4) and not tap_shared(w[:10], 4)


def test_sum_pool_in_tiny_partition(hw_model):
    """The tiny net's downsample is SWG (depthwise) -> Pool(AccPool, INT8 -> INT10) -> MVAU
    with MW = channels (not 4 x channels); hw_model passed every step bit-exact."""
    from qonnx.custom_op.registry import getCustomOp
    pools = [n for n in hw_model.graph.node if n.op_type == "Pool"]
    assert len(pools) == 1
    p = getCustomOp(pools[0])
    assert p.get_nodeattr("Function") == "AccPool"
    assert (p.get_nodeattr("InputDataType"), p.get_nodeattr("OutputDataType")) == ("INT8", "INT10")
    swg = hw_model.find_producer(pools[0].input[0])
    assert getCustomOp(swg).get_nodeattr("depthwise") == 1
    mv = getCustomOp(hw_model.find_consumer(pools[0].output[0]))
    assert mv.get_nodeattr("MW") == p.get_nodeattr("Channels")
    assert mv.get_nodeattr("inputDataType") == "INT10"
