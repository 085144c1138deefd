"""ShortcutAdd_rtl (hw/rtl/shortcut_add.sv) against its numpy golden model in Verilator:
    r = clamp((A1[c]*x + B1[c]) >> S1, LO1, HI1);  y = clamp((A2*(r+s) + B2) >> S2, out)
PE=1 and PE>1, 2 frames, random valid/ready stalls and a stall-free run checking II=1; directed
boundary vectors (tests/rtl/affine_vectors.py) for both roundings and clamps."""
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

from rtl.affine_vectors import boundary_inputs, vectors_by_channel
from rtl.runner import pack_words, run_unit

from hw.ops.shortcut_add import ShortcutAdd_rtl




def make_model(name, ch, pe, vecs, xdt, sdt, odt, a1, b1, s1, lo1, hi1, a2=1, b2=0, s2=0,
               ram_style="auto"):
    shape = list(vecs) + [ch]
    node = helper.make_node(
        "ShortcutAdd_rtl", ["x", "s"], ["y"], name=name, domain="hw.ops", backend="fpgadataflow",
        NumChannels=ch, PE=pe, numInputVectors=list(vecs), in0DataType=xdt, in1DataType=sdt,
        outputDataType=odt, A1=[int(v) for v in a1], B1=[int(v) for v in b1], S1=s1, LO1=lo1,
        HI1=hi1, A2=a2, B2=b2, S2=s2, ram_style=ram_style)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(t, TensorProto.FLOAT, shape) for t in ("x", "s")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("x", DataType[xdt])
    model.set_tensor_datatype("s", DataType[sdt])
    model.set_tensor_datatype("y", DataType[odt])
    return model


def rand_dt(rng, dt, shape):
    """Uniform values of `dt`, with its extremes forced into the first elements."""
    dt = DataType[dt]
    v = rng.integers(int(dt.min()), int(dt.max()) + 1, size=shape)
    flat = v.reshape(-1)
    flat[:4] = [dt.min(), dt.max(), dt.min(), dt.max()]
    return v


def run_case(tmp_path, ch, pe, xdt, sdt, odt, affine2, stall, seed, frames=2, vecs=(1, 3, 3),
             ram_style="auto"):
    rng = np.random.default_rng(seed)
    s1 = int(rng.integers(8, 21))
    # A1/2^S1 in +-[0.02, 0.25]: the branch range covers both clamps and the middle
    a1 = (rng.uniform(0.02, 0.25, ch) * (1 << s1) * rng.choice([-1, 1], ch)).astype(np.int64)
    b1 = (rng.uniform(-40, 40, ch) * (1 << s1)).astype(np.int64)
    model = make_model("sc0", ch, pe, vecs, xdt, sdt, odt, a1, b1, s1, -128, 127, *affine2,
                       ram_style=ram_style)
    node = model.graph.node[0]
    op = getCustomOp(node)
    assert isinstance(op, ShortcutAdd_rtl)
    op.verify_node()
    intf = op.get_verilog_top_module_intf_names()
    assert [n for n, _ in intf["s_axis"]] == ["in0_V", "in1_V"]
    assert [n for n, _ in intf["m_axis"]] == ["out0_V"]
    model = model.transform(InferShapes()).transform(InferDataTypes())
    assert model.get_tensor_shape("y") == list(vecs) + [ch]
    assert model.get_tensor_datatype("y") == DataType[odt]
    node = model.graph.node[0]
    op = getCustomOp(node)
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    shape = op.get_normal_input_shape()
    ins0, ins1, outs = [], [], []
    ys = []
    for _ in range(frames):
        x = rand_dt(rng, xdt, shape)
        s = rand_dt(rng, sdt, shape)
        ctx = {"x": x.astype(np.float32), "s": s.astype(np.float32)}
        op.execute_node(ctx, model.graph)  # golden
        y = ctx["y"]
        assert y.dtype == np.float32 and y.shape == shape
        ys.append(y)
        q = (a1 * x.astype(np.int64) + b1) >> s1
        assert (q < -128).any() and (q > 127).any(), "first clamp not exercised on both ends"
        ins0 += pack_words(x.reshape(-1, pe), DataType[xdt].bitwidth())
        ins1 += pack_words(s.reshape(-1, pe), DataType[sdt].bitwidth())
        outs += pack_words(y.reshape(-1, pe), DataType[odt].bitwidth())
    yall = np.concatenate(ys)
    odtt = DataType[odt]
    assert (yall == odtt.min()).any() and (yall == odtt.max()).any(), "no saturation exercised"
    assert ((yall > odtt.min()) & (yall < odtt.max())).any()
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    build = tmp_path / "sim"
    build.mkdir()
    for f in op.get_mem_file_list():
        shutil.copy(f, build)
    run_unit(top=node.name, sources=op.get_rtl_file_list(abspath=True), params={},
            inputs={"in0_V": ins0, "in1_V": ins1}, outputs={"out0_V": outs},
             build_dir=build, stall=stall, seed=seed)
    return op, build


def test_golden_formula():
    """The golden model against the formula by hand (floor shifts, both clamps)."""
    model = make_model("g0", 2, 1, [1, 1, 2], "INT8", "INT4", "INT4", [3, -5], [1, 7], 2, -3, 2)
    op = getCustomOp(model.graph.node[0])
    x = np.array([[[[10, 10], [-7, 1]]]])
    s = np.array([[[[1, -8], [7, 7]]]])
    # r: (31>>2=7->2, -43>>2=-11->-3), (-20>>2=-5->-3, 2>>2=0); y = clamp(r+s, -8, 7)
    assert op.golden(x, s).tolist() == [[[[3, -8], [4, 7]]]]
    assert op.get_exp_cycles() == 4
    assert op.get_instream_width_padded(0) == 8 and op.get_outstream_width_padded() == 8


def test_errors_name_node():
    model = make_model("bad7", 6, 4, [1, 2, 2], "INT8", "INT8", "INT8", [1] * 6, [0] * 6, 8, -128, 127)
    with pytest.raises(ValueError, match="bad7.*PE=4.*NumChannels=6"):
        getCustomOp(model.graph.node[0]).verify_node()
    model = make_model("bad8", 4, 2, [1, 2, 2], "INT8", "INT8", "INT8", [1] * 3, [0] * 4, 8, -128, 127)
    with pytest.raises(ValueError, match="bad8.*A1/B1 need 4"):
        getCustomOp(model.graph.node[0]).verify_node()
    model = make_model("bad9", 4, 2, [1, 2, 2], "INT8", "INT8", "INT8", [1] * 4, [0] * 4, 8, 5, 1)
    with pytest.raises(ValueError, match="bad9.*LO1=5 > HI1=1"):
        getCustomOp(model.graph.node[0]).verify_node()


def test_shortcut_add_pe1_stalls(tmp_path):
    run_case(tmp_path, ch=4, pe=1, xdt="INT12", sdt="INT8", odt="INT8", affine2=(1, 0, 0),
             stall=0.3, seed=3, ram_style="block")


def test_shortcut_add_pe4_affine_stalls(tmp_path):
    """PE=4, unsigned branch, second affine y = clamp((-3*(r+s) + 100) >> 2, UINT7)."""
    op, _ = run_case(tmp_path, ch=16, pe=4, xdt="UINT10", sdt="INT9", odt="UINT7",
                     affine2=(-3, 100, 2), stall=0.3, seed=5)
    w = op.widths()
    assert op.dsp_estimation() == 4 * 1 + 4 and op.bram_estimation() == 0
    assert op.lut_estimation() > 0 and w["R_BITS"] == 8


def test_shortcut_add_pe2_no_stalls_ii1(tmp_path):
    op, build = run_case(tmp_path, ch=8, pe=2, xdt="INT11", sdt="INT8", odt="INT8",
                         affine2=(1, 0, 0), stall=0.0, seed=7, vecs=(1, 4, 4),
                         ram_style="distributed")
    cycles = int(re.search(r"case passed in (\d+) cycles", (build / "test.log").read_text())[1])
    exp = 2 * op.get_exp_cycles()  # two frames
    # + pipeline latency (10: 1 + two 4-stage affine lanes + output register) + the 20 cycles
    # tb_axis watches for extra words after the last
    assert exp <= cycles <= exp + 20 + 13, f"{cycles} cycles for {exp} words: not II=1"


def test_shortcut_add_directed_boundaries(tmp_path):
    """Both stages at their boundaries: A1 x + B1 = k 2^S1 - 1 / exactly / + 1 (B1 built so),
    x one below / at / above each jump of r incl. the LO1-1/LO1/HI1/HI1+1 clamps and the extremes
    of INT12, and s chosen so that r + s = -129, -128, 127, 128 (the saturation edges)."""
    rng = np.random.default_rng(11)
    ch, pe, s1, xdt, sdt, odt = 6, 2, 12, "INT12", "INT8", "INT8"
    xlo, xhi = -2048, 2047
    a1 = (rng.uniform(0.5, 1.5, ch) * 3 * 255 * (1 << s1) / (xhi - xlo)).astype(np.int64) | 1
    xt = rng.integers(-600, 600, ch)
    b1 = (np.array([(0, -1, 1)[c % 3] for c in range(ch)]) - a1 * xt).astype(np.int64)
    x = vectors_by_channel([boundary_inputs(a1[c], b1[c], s1, -128, 127, xlo, xhi)
                            for c in range(ch)], rng, xlo, xhi)
    x = np.concatenate([x, rng.integers(xlo, xhi + 1, size=(-len(x) % 4, ch))])
    p = a1 * x + b1
    r = np.clip(p >> s1, -128, 127)
    target = np.array([-129, -128, 127, 128, 0])[np.arange(x.size).reshape(x.shape) % 5]
    sv = np.clip(target - r, -128, 127)
    for k in (0, -1, 1):
        hit = ((p - k) % (1 << s1) == 0) & (np.abs(p >> s1) < 127)
        assert hit.any(), f"no A1 x + B1 = k 2^S1 {k:+d} inside the clamps"
    for v in (-129, -128, 127, 128):
        assert ((p >> s1) == v).any() and ((r + sv) == v).any(), v
    vecs = (1, len(x))
    model = make_model("scd", ch, pe, vecs, xdt, sdt, odt, a1, b1, s1, -128, 127)
    model = model.transform(InferShapes()).transform(InferDataTypes())
    node = model.graph.node[0]
    op = getCustomOp(node)
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    shape = op.get_normal_input_shape()
    ctx = {"x": x.reshape(shape).astype(np.float32), "s": sv.reshape(shape).astype(np.float32)}
    op.execute_node(ctx, model.graph)
    assert np.array_equal(ctx["y"].reshape(x.shape), np.clip(r + sv, -128, 127))
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    build = tmp_path / "sim"
    build.mkdir()
    for f in op.get_mem_file_list():
        shutil.copy(f, build)
    run_unit(top=node.name, sources=op.get_rtl_file_list(abspath=True), params={},
             inputs={"in0_V": pack_words(x.reshape(-1, pe), 12), "in1_V": pack_words(sv.reshape(-1, pe), 8)},
             outputs={"out0_V": pack_words(ctx["y"].reshape(-1, pe), 8)}, build_dir=build,
             stall=0.3, seed=11)
