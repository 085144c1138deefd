"""FloatShortcutAdd_rtl (hw/rtl/float_shortcut_add.sv) against the op's numpy golden model in
Verilator, floats bit for bit:  y = RN(f32(c)*A[ch]);  y = RN(y + B[ch]);  out = RN(y + x).
PE 1 / 4 with the residual, PE 2 without (unsigned accumulator, no stalls: II=1), random
valid/ready stalls, random vectors plus directed ones (tests/rtl/float_vectors.py): ties to
even in the multiply and both adds (both directions), +0/-0 results, cancellation, |c| at
the accumulator type's extremes, large and small magnitudes."""
import re
import shutil

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from rtl.float_vectors import by_channel, f32, fsa_constants, fsa_directed
from rtl.runner import pack_words, run_unit

from hw.ops.float_shortcut_add import FloatShortcutAdd_rtl, f32_bits

RES_PROPS = ("mul_tie_up", "mul_tie_down", "add1_tie_up", "add1_tie_down", "add1_cancel",
             "neg_zero", "c_extreme", "add2_tie_up", "add2_tie_down", "pos_zero_out",
             "neg_zero_out", "add2_cancel")


def make_model(name, ch, pe, vecs, cdt, a, b, residual, ram_style="auto"):
    shape = list(vecs) + [ch]
    ins = ["c", "x"] if residual else ["c"]
    node = helper.make_node(
        "FloatShortcutAdd_rtl", ins, ["y"], name=name, domain="hw.ops", backend="fpgadataflow",
        NumChannels=ch, PE=pe, numInputVectors=list(vecs), in0DataType=cdt, A=f32_bits(a),
        B=f32_bits(b), has_residual=int(residual), ram_style=ram_style)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(t, TensorProto.FLOAT, shape) for t in ins],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("c", DataType[cdt])
    if residual:
        model.set_tensor_datatype("x", DataType["FLOAT32"])
    return model


def bits(v) -> np.ndarray:
    return f32(v).view(np.uint32).astype(np.int64)


def run_case(tmp_path, ch, pe, cdt, residual, stall, seed, n_random=64, ram_style="auto",
             stall2=None):
    """Build once, run with `stall`; if stall2 is given, run the same build again with it."""
    rng = np.random.default_rng(seed)
    dt = DataType[cdt]
    cmin, cmax = int(dt.min()), int(dt.max())
    a, b, c0 = fsa_constants(ch, rng, cmax)
    cs, xs, hits = fsa_directed(a, b, c0, cmin, cmax, rng, residual)
    if residual:
        for prop in RES_PROPS:
            assert hits.get(prop, 0) > 0, f"directed vectors miss {prop}: {hits}"
    else:
        assert hits["mul_tie_up"] and hits["mul_tie_down"] and hits["c_extreme"], hits
    c = by_channel(cs, lambda k, n: rng.integers(cmin, cmax + 1, n))
    rows = c.shape[0] + n_random
    c = np.concatenate([c, rng.integers(cmin, cmax + 1, (n_random, ch))])
    x = None
    if residual:
        x = by_channel(xs, lambda k, n: f32(rng.normal(0, 3, n)))
        x = np.concatenate([x, f32(rng.normal(0, 3, (n_random, ch)) * 10.0 ** rng.integers(-3, 4, (n_random, ch)))])
    vecs = (1, rows)
    model = make_model("fsa0", ch, pe, vecs, cdt, a, b, residual, ram_style)
    op = getCustomOp(model.graph.node[0])
    assert isinstance(op, FloatShortcutAdd_rtl)
    op.verify_node()
    names = [n for n, _ in op.get_verilog_top_module_intf_names()["s_axis"]]
    assert names == (["in0_V", "in1_V"] if residual else ["in0_V"])
    model = model.transform(InferShapes()).transform(InferDataTypes())
    assert model.get_tensor_datatype("y") == DataType["FLOAT32"]
    node = model.graph.node[0]
    op = getCustomOp(node)
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    shape = op.get_normal_input_shape()
    ctx = {"c": c.reshape(shape).astype(np.float32)}
    if residual:
        ctx["x"] = x.reshape(shape)
    op.execute_node(ctx, model.graph)   # golden
    y = ctx["y"]
    assert y.dtype == np.float32 and y.shape == shape
    ins = {"in0_V": pack_words(c.reshape(-1, pe), dt.bitwidth())}
    if residual:
        ins["in1_V"] = pack_words(bits(x).reshape(-1, pe), 32)
    outs = {"out0_V": pack_words(bits(y).reshape(-1, pe), 32)}
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    build = tmp_path / "sim"
    build.mkdir()
    for f in op.get_mem_file_list():
        shutil.copy(f, build)
    run_unit(top=node.name, sources=op.get_rtl_file_list(abspath=True), params={},
             inputs=ins, outputs=outs, build_dir=build, stall=stall, seed=seed,
             reruns=None if stall2 is None else [(stall2, seed + 1)])
    return op, build, hits


def test_golden_and_attrs():
    """The golden model by hand (a tie to even in the multiply, -0.0 and +0.0 results)."""
    a = f32([1 + 2.0 ** -23, -1.0])
    b = f32([0.0, -0.0])
    model = make_model("g0", 2, 1, (1, 2), "INT8", a, b, True)
    op = getCustomOp(model.graph.node[0])
    c = np.array([[[3, 0], [0, 0]]])
    x = f32([[[1.0, -0.0], [-0.0, 0.0]]])
    y = op.golden(c, x)
    # 3*(1+2^-23) = 3 + 3*2^-23, ulp 2^-22 -> tie, rounds to the even 3 + 2^-21... : 3+4*2^-23
    assert y[0, 0, 0] == f32(3 + 4 * 2.0 ** -23) + f32(1.0)
    assert np.signbit(y[0, 0, 1]) and y[0, 0, 1] == 0       # (-0) + (-0) + (-0) = -0
    assert not np.signbit(y[0, 1, 1]) and y[0, 1, 1] == 0   # (-0) + (-0) + (+0) = +0
    assert op.get_exp_cycles() == 4
    assert op.get_instream_width_padded(0) == 8 and op.get_outstream_width_padded() == 32
    assert op.core_params(model)["HAS_RESIDUAL"] == 1


def test_pe4_residual_stalls(tmp_path):
    """PE=4, INT24 accumulator (|c| up to 2^23), constants in block RAM, 40 % stalls."""
    op, _, _ = run_case(tmp_path, ch=8, pe=4, cdt="INT24", residual=True, stall=0.4, seed=5,
                        ram_style="block")
    assert op.dsp_estimation() == 8 and op.bram_estimation() >= 1 and op.lut_estimation() > 0


def test_pe1_no_residual_stalls_ii1(tmp_path):
    """PE=1, no residual, UINT16 accumulator (zero-extended): 30 % stalls, then the same
    build without stalls, one word per cycle."""
    op, build, _ = run_case(tmp_path, ch=8, pe=1, cdt="UINT16", residual=False, stall=0.3,
                            seed=7, ram_style="distributed", stall2=0.0)
    cycles = int(re.search(r"case passed in (\d+) cycles", (build / "test.log").read_text())[1])
    exp = op.get_exp_cycles()
    # + latency (21) + the 20 cycles tb_axis watches for extra words after the last
    assert exp <= cycles <= exp + op.LATENCY[0] + 20 + 3, f"{cycles} cycles for {exp} words"


def test_bad_accumulator_type_names_node():
    model = make_model("bad1", 2, 1, (1, 2), "INT26", f32([1, 1]), f32([0, 0]), True)
    with pytest.raises(ValueError, match="bad1.*INT26"):
        getCustomOp(model.graph.node[0]).verify_node()


@pytest.mark.parametrize("pe,yosys", [(1, 1690 + 101), (4, 6007 + 401)])
def test_lut_estimate_near_yosys(pe, yosys):
    """The LUT model against Yosys synth_xilinx xc7 (LUT + SRL) of C=64, INT12, residual,
    measured 2026-12-02 (sim.synth.synth_node): within 15 %."""
    rng = np.random.default_rng(0)
    model = make_model("est", 64, pe, (1, 8, 8), "INT12", f32(rng.uniform(0.01, 1, 64)),
                       f32(rng.normal(0, 1, 64)), True)
    op = getCustomOp(model.graph.node[0])
    est = op.lut_estimation()
    assert abs(est - yosys) <= 0.15 * yosys, (est, yosys)
    assert op.int_bits() == 11 and op.dsp_estimation() == pe   # 24 x 11: one DSP48 per lane
