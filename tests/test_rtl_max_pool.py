"""MaxPool_rtl (hw/rtl/max_pool.sv) against its numpy golden model (checked against an
independent numpy max over the windows) in Verilator:  out[c] = max over the K*K window of in[c] + OFFSET.

The input stream is laid out as FINN's depthwise SWG sends it, (C/PE, K*K, PE) words per
output pixel. Directed windows in the first frame: all-equal at the type's min and at its
max, the max in the first / in the last element, min and max in one window; the offsets
push the result onto both edges of the output type. Random valid/ready stalls, several
frames back to back, signed and unsigned inputs, C/PE = 1 and > 1, K*K = 1, and a stall-free
run checking II=1 against get_exp_cycles."""
import re

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from rtl.runner import pack_words, run_unit

from hw.ops.max_pool import MaxPool_rtl


def make_model(ch, pe, k, odims, idt, odt, offset, name="mp0", sum_=False):
    k2 = k[0] * k[1]
    ishape, oshape = [1, *odims, k2 * ch], [1, *odims, ch]
    node = helper.make_node(
        "SumPool_rtl" if sum_ else "MaxPool_rtl", ["x"], ["y"], name=name, domain="hw.ops",
        backend="fpgadataflow", Channels=ch, PE=pe, KernelSize=list(k),
        Function="AccPool" if sum_ else "MaxPool", OutImgDims=list(odims),
        InputDataType=idt, OutputDataType=odt, OFFSET=offset)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ishape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, oshape)])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("x", DataType[idt])
    model.set_tensor_datatype("y", DataType[odt])
    return model


def directed(x, dt):
    """Boundary windows into the first pixels of x (OH, OW, K2, C) (as many as fit)."""
    lo, hi = int(dt.min()), int(dt.max())
    pix = x.reshape(-1, *x.shape[-2:])
    cases = [lambda w: w.fill(lo), lambda w: w.fill(hi)]          # all-equal windows

    def first(w):          # max in the first element, the rest one below
        w[:] = hi - 1
        w[0] = hi

    def last(w):           # max in the last element only
        w[:] = lo
        w[-1] = lo + 1

    def both(w):           # min and max in one window, max before min
        w[:] = lo
        w[len(w) // 2] = hi
    cases += [first, last, both]
    for i, c in enumerate(cases[: len(pix)]):
        c(pix[i])


def swg_layout(x, pe):
    """Windows (pixels, K2, C) -> the depthwise SWG's (pixels, C/PE, K2, PE) layout (its
    tensor and its stream of PE-lane words)."""
    npix, k2, ch = x.shape
    return x.reshape(npix, k2, ch // pe, pe).transpose(0, 2, 1, 3)


def run_case(tmp_path, ch, pe, k, odims, idt, odt, offset, stall, seed, frames=3, sum_=False):
    model = make_model(ch, pe, k, odims, idt, odt, offset, sum_=sum_)
    node = model.graph.node[0]
    op = getCustomOp(node)
    assert isinstance(op, MaxPool_rtl)
    op.verify_node()
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    idt_, odt_ = DataType[idt], DataType[odt]
    k2 = k[0] * k[1]
    rng = np.random.default_rng(seed)
    ins, outs = [], []
    for f in range(frames):
        x = rng.integers(idt_.min(), idt_.max() + 1, (*odims, k2, ch))
        if f == 0:
            directed(x, idt_)
        xs = swg_layout(x.reshape(-1, k2, ch), pe)
        xin = xs.reshape(1, *odims, k2 * ch).astype(np.float32)
        ctx = {"x": xin, "y": np.zeros(op.get_normal_output_shape(), np.float32)}
        op.execute_node(ctx, model.graph)    # golden (numpy) on the SWG layout
        y = ctx["y"]
        ref = x.sum(axis=-2) if sum_ else x.max(axis=-2)       # independent of op.golden
        assert np.array_equal(y.reshape(*odims, ch), ref + offset)
        assert odt_.allowed(y.min()) and odt_.allowed(y.max())
        ins += pack_words(xs.reshape(-1, pe), idt_.bitwidth())
        outs += pack_words(y.reshape(-1, pe), odt_.bitwidth())
    op.generate_hdl(model, "xczu7ev-ffvc1156-2-e", 5.0)
    build = tmp_path / "sim"
    run_unit(top=node.name, sources=op.get_rtl_file_list(abspath=True), params={},
             inputs={"in0_V": ins}, outputs={"out0_V": outs}, build_dir=build, stall=stall,
             seed=seed, timeout_cycles=2000)
    return op, build, len(ins), frames


def test_maxpool_bireal18_stem_stalls(tmp_path):
    """The bireal18 stem: UINT8 codes, 3x3 window, OFFSET -128 into FINN's INT10."""
    run_case(tmp_path, ch=8, pe=4, k=(3, 3), odims=(2, 3), idt="UINT8", odt="INT10",
             offset=-128, stall=0.3, seed=31)


def test_maxpool_offset_to_both_edges_stalls(tmp_path):
    """UINT8 - 128 into INT8 exactly: all-0 windows give -128, all-255 windows give 127."""
    run_case(tmp_path, ch=6, pe=2, k=(3, 3), odims=(2, 2), idt="UINT8", odt="INT8",
             offset=-128, stall=0.3, seed=32)


def test_maxpool_signed_no_offset_stalls(tmp_path):
    """Signed comparison (negative codes), plain max pool, C/PE = 1."""
    run_case(tmp_path, ch=4, pe=4, k=(3, 3), odims=(3, 2), idt="INT4", odt="INT4",
             offset=0, stall=0.3, seed=33)


def test_maxpool_signed_negative_offset_edges(tmp_path):
    """INT3 - 4 = [-8, -1], INT4's lower edge and one below zero; 2x2 window."""
    run_case(tmp_path, ch=6, pe=3, k=(2, 2), odims=(2, 2), idt="INT3", odt="INT4",
             offset=-4, stall=0.3, seed=34)


def test_maxpool_positive_offset_top_edge(tmp_path):
    """UINT4 + 16 = [16, 31], UINT5's upper edge."""
    run_case(tmp_path, ch=4, pe=2, k=(3, 3), odims=(2, 2), idt="UINT4", odt="UINT5",
             offset=16, stall=0.3, seed=35)


def test_maxpool_k1_passthrough(tmp_path):
    """K*K = 1: every word opens and closes its window."""
    run_case(tmp_path, ch=4, pe=2, k=(1, 1), odims=(3, 3), idt="INT5", odt="INT6",
             offset=15, stall=0.3, seed=36)


def test_maxpool_no_stalls_ii1(tmp_path):
    op, build, words, frames = run_case(tmp_path, ch=8, pe=4, k=(3, 3), odims=(3, 3),
                                        idt="UINT8", odt="INT10", offset=-128, stall=0.0,
                                        seed=37)
    cycles = int(re.search(r"case passed in (\d+) cycles", (build / "test.log").read_text())[1])
    # one input word per cycle: get_exp_cycles (= words per frame) x frames, + latency 2
    # and the 20 cycles tb_axis watches for extra words after the last
    assert words == frames * op.get_exp_cycles()
    assert words <= cycles <= words + 20 + 4, f"{cycles} cycles for {words} words: not II=1"


def test_sumpool_downsample_int8_stalls(tmp_path):
    """SumPool_rtl, the downsample's 2x2 sum pool: INT8 into INT10 exactly (all -128 windows
    give -512, all 127 give 508), C/PE = 4, random stalls."""
    from hw.ops.max_pool import SumPool_rtl
    op, *_ = run_case(tmp_path, ch=8, pe=2, k=(2, 2), odims=(2, 3), idt="INT8", odt="INT10",
                      offset=0, stall=0.3, seed=38, sum_=True)
    assert isinstance(op, SumPool_rtl) and op.out_range() == (-512, 508)


def test_sumpool_unsigned_offset_3x3_stalls(tmp_path):
    """SumPool_rtl with a 3x3 window (running sum UINT4 + 4 bits) and an offset to INT9's
    lower edge: 9 * [0, 15] - 256 = [-256, -121]."""
    run_case(tmp_path, ch=4, pe=4, k=(3, 3), odims=(2, 2), idt="UINT4", odt="INT9",
             offset=-256, stall=0.3, seed=39, sum_=True)


def test_sumpool_errors_name_node():
    model = make_model(4, 2, (2, 2), (2, 2), "INT8", "INT9", 0, sum_=True)
    with pytest.raises(ValueError, match=r"mp0.*INT9.*\[-512, 508\]"):
        getCustomOp(model.graph.node[0]).verify_node()


def test_maxpool_errors_name_node():
    model = make_model(8, 4, (3, 3), (2, 2), "UINT8", "INT8", -127)
    with pytest.raises(ValueError, match=r"mp0.*INT8.*\[-127, 128\]"):
        getCustomOp(model.graph.node[0]).verify_node()
    model = make_model(6, 4, (3, 3), (2, 2), "UINT8", "INT10", 0)
    with pytest.raises(ValueError, match="mp0.*PE=4.*Channels=6"):
        getCustomOp(model.graph.node[0]).verify_node()


def pool_add_graph(offset, add_dt, const=None):
    """FINN Pool(MaxPool, UINT8, 3x3, C=4, PE=4) -> ElementwiseAdd(constant) as the
    bireal18 stem has them. PE = C: then the abstract Pool's im2col input order and
    MaxPool_rtl's depthwise SWG order are the same tensor."""
    ch, odims = 4, [2, 2]
    pool = helper.make_node(
        "Pool", ["x"], ["p"], name="Pool_0", domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", Channels=ch, PE=4, KernelSize=[3, 3], Function="MaxPool",
        OutImgDims=odims, InputDataType="UINT8", OutputDataType="UINT8", BatchSize=1)
    add = helper.make_node(
        "ElementwiseAdd", ["p", "c"], ["y"], name="Add_0", domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", lhs_shape=[1, *odims, ch], rhs_shape=[1], out_shape=[1, *odims, ch],
        lhs_dtype="UINT8", rhs_dtype="INT8", out_dtype=add_dt, lhs_style="input",
        rhs_style="const", PE=1)
    graph = helper.make_graph(
        [pool, add], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *odims, 9 * ch])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, *odims, ch])],
        value_info=[helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, *odims, ch])])
    model = ModelWrapper(helper.make_model(graph))
    model.set_initializer("c", np.array([offset] if const is None else const, np.float32))
    for t, dt in (("x", "UINT8"), ("p", "UINT8"), ("c", "INT8"), ("y", add_dt)):
        model.set_tensor_datatype(t, DataType[dt])
    return model


@pytest.mark.parametrize("offset, add_dt, const, absorbed", [
    (-128, "INT10", None, True),     # the stem: absorbed, FINN's INT10 kept
    (-128, "INT8", None, True),      # tight type still holds [-128, 127]
    (-127, "INT8", None, False),     # 255 - 127 = 128 does not fit INT8: the add stays
    (0, "INT10", [1, 2, 3, 4], False)])   # per-channel constant: the add stays
def test_to_maxpool_rtl_transform(offset, add_dt, const, absorbed):
    """ToMaxPoolRTL: Pool -> MaxPool_rtl, the add absorbed when legal; python execution of
    the graph is unchanged (bit-exact) on random and extreme inputs."""
    from qonnx.core.onnx_exec import execute_onnx

    from hw.rtl_pool import ToMaxPoolRTL
    model = pool_add_graph(offset, add_dt, const)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (1, 2, 2, 36)).astype(np.float32)
    x[0, 0, 0], x[0, 0, 1] = 0, 255
    before = execute_onnx(model, {"x": x})["y"]
    t = ToMaxPoolRTL()
    new = model.transform(t)
    ops = [n.op_type for n in new.graph.node]
    assert ops == (["MaxPool_rtl"] if absorbed else ["MaxPool_rtl", "ElementwiseAdd"])
    assert len(t.absorbed) == int(absorbed)
    mp = getCustomOp(new.graph.node[0])
    assert mp.get_nodeattr("OFFSET") == (offset if absorbed else 0)
    assert new.get_tensor_datatype(new.graph.node[0].output[0]) == DataType[
        add_dt if absorbed else "UINT8"]
    assert np.array_equal(execute_onnx(new, {"x": x})["y"], before)
