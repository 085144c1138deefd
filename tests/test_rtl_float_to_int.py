"""FloatToInt_rtl (hw/rtl/float_to_int.sv) against the op's numpy golden model in Verilator,
bit for bit: mode sign q = (x >= 0) (-0.0 -> 1); mode quant q = clamp(RNE(x * 2^Frac)) to
INT8 / UINT8 / INT24 (the golden model's float32
container holds integers exactly only below 2^24). Random vectors over many binades plus directed ones: ties k + 1/2 (k
even and odd, both signs) and their float32 neighbours, 0.5 and its neighbours, +-0, the
saturation edges (max + 1/2 and neighbours, min - 1/2 and neighbours), huge and tiny values;
random valid/ready stalls, and a stall-free rerun of the same build checking II=1."""
import re
import shutil

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_shapes import InferShapes

from rtl.float_vectors import f32
from rtl.runner import pack_words, run_unit

from hw.ops.float_to_int import FloatToInt_rtl

F32MAX = np.finfo(np.float32).max


def make_model(name, ch, pe, vecs, mode, odt, frac=0):
    shape = list(vecs) + [ch]
    node = helper.make_node(
        "FloatToInt_rtl", ["x"], ["q"], name=name, domain="hw.ops", backend="fpgadataflow",
        NumChannels=ch, PE=pe, numInputVectors=list(vecs), mode=mode, outputDataType=odt,
        Frac=frac)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("q", TensorProto.FLOAT, shape)])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("x", DataType["FLOAT32"])
    return model


def neighbours(v) -> np.ndarray:
    """v and its float32 neighbours below and above."""
    v = f32(v)
    return np.concatenate([v, np.nextafter(v, f32(-np.inf)), np.nextafter(v, f32(np.inf))])


def directed(odt: str, frac: int) -> np.ndarray:
    dt = DataType[odt]
    lo, hi = int(dt.min()), int(dt.max())
    s = 2.0 ** -frac
    k = np.concatenate([np.arange(-9, 10), [lo, lo + 1, hi - 1, hi, 2 ** 20 + 1, -(2 ** 21) - 2]])
    v = [neighbours((k + 0.5) * s), neighbours([0.5 * s, -0.5 * s, 1.5 * s, -1.5 * s]),
         neighbours([(hi + 0.5) * s, (lo - 0.5) * s, (hi + 1) * s, (lo - 1) * s, hi * s, lo * s]),
         [0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30, F32MAX, -F32MAX, 2.0 ** -126, -(2.0 ** -126),
          2.0 ** 31, -(2.0 ** 31), 2.0 ** 32, -(2.0 ** 32), 2.0 ** 33]]
    return f32(np.concatenate([f32(x) for x in v]))


def random_values(rng, n) -> np.ndarray:
    """Random sign, exponent and fraction over binades 2^-40 .. 2^40, and whole range."""
    e = rng.integers(-40, 41, n)
    v = f32(rng.choice([-1.0, 1.0], n) * rng.uniform(1, 2, n) * 2.0 ** e)
    bits = rng.integers(0x00800000, 0x7F800000, n // 4).astype(np.uint32)
    bits |= (rng.integers(0, 2, n // 4).astype(np.uint32) << 31)
    return np.concatenate([v, bits.view(np.float32)])


def run_case(tmp_path, mode, odt, frac, pe, seed, stall=0.3, stall2=None, ch=8):
    rng = np.random.default_rng(seed)
    x = random_values(rng, 600)
    if mode == "quant":
        x = np.concatenate([directed(odt, frac), x])
    else:
        x = np.concatenate([neighbours([0.0, -0.0, 1.0, -1.0, 2.0 ** -126, -(2.0 ** -126)]),
                            [F32MAX, -F32MAX], x])
    x = x[(x == 0) | (np.abs(x) >= np.finfo(np.float32).tiny)]   # the golden refuses subnormals
    x = f32(np.concatenate([x, random_values(rng, 4 * ch)[: -x.size % ch]]))
    rows = x.size // ch
    model = make_model("f2i0", ch, pe, (1, rows), mode, odt, frac)
    op = getCustomOp(model.graph.node[0])
    assert isinstance(op, FloatToInt_rtl)
    op.verify_node()
    model = model.transform(InferShapes())
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    shape = op.get_normal_input_shape()
    ctx = {"x": x.reshape(shape)}
    op.execute_node(ctx, model.graph)
    q = ctx["q"]
    dt = DataType[odt]
    if mode == "quant":      # the vectors reach both saturations, ties both ways, the middle
        assert (q == dt.min()).sum() > 10 and (q == dt.max()).sum() > 10
        t = x.astype(np.float64) * 2.0 ** frac
        tie = (t - np.floor(t) == 0.5) & (t > dt.min()) & (t < dt.max())
        assert (tie & (q.reshape(-1) > t)).sum() > 5 and (tie & (q.reshape(-1) < t)).sum() > 5
    else:
        assert q.reshape(-1)[1] == 1 and q.reshape(-1)[0] == 1   # +0.0, -0.0
    ins = {"in0_V": pack_words(x.view(np.uint32).astype(np.int64).reshape(-1, pe), 32)}
    outs = {"out0_V": pack_words(q.reshape(-1, pe), dt.bitwidth())}
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    build = tmp_path / "sim"
    build.mkdir()
    run_unit(top="f2i0", sources=op.get_rtl_file_list(abspath=True), params={}, inputs=ins,
             outputs=outs, build_dir=build, stall=stall, seed=seed,
             reruns=None if stall2 is None else [(stall2, seed + 1)])
    return op, build


def test_sign_pe4_stalls_then_ii1(tmp_path):
    op, build = run_case(tmp_path, "sign", "BINARY", 0, pe=4, seed=3, stall2=0.0)
    cycles = int(re.search(r"case passed in (\d+) cycles", (build / "test.log").read_text())[1])
    exp = op.get_exp_cycles()
    assert exp <= cycles <= exp + op.LATENCY + 20 + 3, f"{cycles} cycles for {exp} words"


@pytest.mark.parametrize("odt,frac,pe", [("INT8", 3, 2), ("UINT8", -2, 1), ("INT24", 0, 4)])
def test_quant_stalls(tmp_path, odt, frac, pe):
    run_case(tmp_path, "quant", odt, frac, pe=pe, seed=5 + pe, stall=0.4)


def test_golden_by_hand():
    model = make_model("g0", 4, 2, (1, 2), "quant", "INT4", frac=1)
    op = getCustomOp(model.graph.node[0])
    x = f32([[[0.25, 0.75, -0.25, -0.75], [3.75, 3.76, -4.25, -4.26]]])
    # x*2 = 0.5 -> 0, 1.5 -> 2, -0.5 -> -0, -1.5 -> -2; 7.5 -> 8 -> 7, 7.52 -> 7, -8.5 -> -8, -8.52 -> -8
    assert op.golden(x).tolist() == [[[0, 2, 0, -2], [7, 7, -8, -8]]]
    assert op.core_params(model)["MODE"] == 1 and op.core_params(model)["OUT_MIN"] == -8
