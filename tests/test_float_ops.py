"""Layer classes of the float32 path (hw/ops/float_shortcut_add.py, float_to_int.py): their
numpy golden models against PyTorch doing the same ops (the deployed model's order)."""
import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw.ops.float_shortcut_add import f32_bits


def _node(op, n_in, **attrs):
    ins = [f"in{i}" for i in range(n_in)]
    node = helper.make_node(op, ins, ["out"], domain="hw.ops", name=f"{op}_0", **attrs)
    vi = [helper.make_tensor_value_info(t, TensorProto.FLOAT, [1, 16, 16, 8]) for t in ins + ["out"]]
    g = helper.make_graph([node], "g", vi[:-1], [vi[-1]])
    m = ModelWrapper(helper.make_model(g))
    return getCustomOp(m.graph.node[0])


def _fsa(a, b, residual=True):
    return _node("FloatShortcutAdd", 1 + residual, NumChannels=8, PE=2, numInputVectors=[1, 16, 16],
                 in0DataType="INT12", A=f32_bits(a), B=f32_bits(b), has_residual=int(residual))


@pytest.mark.parametrize("residual", [True, False])
def test_float_shortcut_add_matches_torch(residual):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.01, 0.2, 8).astype(np.float32)
    b = rng.normal(0, 1, 8).astype(np.float32)
    c = rng.integers(-2047, 2048, (1, 16, 16, 8)).astype(np.float32)
    x = rng.normal(0, 2, (1, 16, 16, 8)).astype(np.float32)
    op = _fsa(a, b, residual)
    op.verify_node()
    ctx = {"in0": c, "in1": x}
    op.execute_node(ctx, None)
    t = torch.add(torch.mul(torch.from_numpy(c), torch.from_numpy(a)), torch.from_numpy(b))
    if residual:
        t = torch.add(t, torch.from_numpy(x))
    assert ctx["out"].dtype == np.float32
    assert np.array_equal(ctx["out"].view(np.uint32), t.numpy().view(np.uint32))
    assert op.get_exp_cycles() == 256 * 4


def test_float_shortcut_add_names_bad_values():
    a = np.full(8, 3e38, np.float32)
    op = _fsa(a, np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="FloatShortcutAdd_0.*NaN/inf"):
        op.execute_node({"in0": np.full((1, 16, 16, 8), 2047, np.float32),
                         "in1": np.zeros((1, 16, 16, 8), np.float32)}, None)
    with pytest.raises(ValueError, match="not an integer"):
        _fsa(np.ones(8, np.float32), np.zeros(8, np.float32)).execute_node(
            {"in0": np.full((1, 16, 16, 8), 0.5, np.float32), "in1": np.zeros((1, 16, 16, 8), np.float32)}, None)


def test_float_to_int_sign_and_quant():
    ties = [0.25, 0.75, 1.25, -0.25, -1.25, 63.75]            # x * 2 = k + 1/2: round half to even
    x = np.array([-0.0, 0.0, -1e-3, 1.5, 2.5, -2.5, 0.125, 200.0, -300.0] + ties, np.float32)
    x = np.resize(x, (1, 16, 16, 8))
    s = _node("FloatToInt", 1, NumChannels=8, PE=8, numInputVectors=[1, 16, 16], mode="sign",
              outputDataType="BINARY")
    s.verify_node()
    ctx = {"in0": x}
    s.execute_node(ctx, None)
    assert np.array_equal(ctx["out"], torch.where(torch.from_numpy(x) >= 0, 1.0, 0.0).numpy())
    assert ctx["out"].reshape(-1)[0] == 1.0                    # -0.0 >= 0
    q = _node("FloatToInt", 1, NumChannels=8, PE=4, numInputVectors=[1, 16, 16], mode="quant",
              Frac=1, outputDataType="INT8")
    q.verify_node()
    q.execute_node(ctx, None)
    ref = torch.clamp(torch.round(torch.from_numpy(x) * 2.0), -128, 127).numpy()  # half to even
    assert np.array_equal(ctx["out"], ref)
    assert ctx["out"].reshape(-1)[9:15].tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, 128.0 - 1]
