"""TLastMarker_rtl (hw/rtl/tlast_marker.sv) and InsertTLastMarker: words pass unchanged and
zero-extended (24 -> 32 bits with negative elements, 8 -> 8), TLAST on the last word of
every batch of `frames` frames (1, 3, 0 = 1, changed mid-batch), random stalls and II=1."""
import re

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from rtl.runner import pack_words, run_unit

from hw.estimates import _unmodelled
from hw.ops.tlast_marker import InsertTLastMarker, TLastMarker_rtl


def gap_model(ch, pe, dt, vecs):
    """A one-node RTL graph (GlobalAccPool_rtl) to append the marker to."""
    ishape, oshape = list(vecs) + [ch], [vecs[0], 1, 1, ch]
    node = helper.make_node(
        "GlobalAccPool_rtl", ["x"], ["y"], name="gap0", domain="hw.ops", backend="fpgadataflow",
        NumChannels=ch, PE=pe, inputDataType=dt, numInputVectors=list(vecs))
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ishape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, oshape)])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("x", DataType[dt])
    model.set_tensor_datatype("y", getCustomOp(node).get_output_datatype())
    return model


def expected_tlast(total, words, frames0, changes=()):
    """TLAST per word: `frames` (0 -> 1) is sampled at each batch's first word; a change
    (k, value) applies from word k on."""
    tl, j = [0] * total, 0
    while j < total:
        n = frames0
        for k, v in changes:
            if k <= j:
                n = v
        j += max(1, n) * words
        if j <= total:
            tl[j - 1] = 1
    return tl


def run_case(tmp_path, gap, in_w, out_w, frames, n_frames, stall, seed, changes=()):
    model = gap_model(*gap).transform(InsertTLastMarker())
    node = model.graph.node[-1]
    op = getCustomOp(node)
    assert isinstance(op, TLastMarker_rtl)
    op.verify_node()
    assert (op.get_nodeattr("in_width"), op.get_nodeattr("out_width")) == (in_w, out_w)
    intf = op.get_verilog_top_module_intf_names()
    assert intf["s_axis"] == [("in0_V", in_w)] and intf["m_axis"] == [("out_V", out_w)]
    assert intf["ap_none"] == ["frames"]
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    dt = op.get_input_datatype()
    words, elems = op.get_nodeattr("words_per_frame"), op.get_nodeattr("elems_per_word")
    rng = np.random.default_rng(seed)
    ins, outs = [], []
    for f in range(n_frames):
        x = rng.integers(int(dt.min()), int(dt.max()) + 1, op.get_normal_input_shape())
        if f == 0:
            x.reshape(-1)[:2] = [dt.min(), -1 if dt.signed() else dt.max()]
        ctx = {node.input[0]: x.astype(np.float32)}
        op.execute_node(ctx, model.graph)  # golden (identity)
        assert ctx[node.output[0]].dtype == np.float32
        ins += pack_words(x.reshape(-1, elems), dt.bitwidth())
        outs += pack_words(ctx[node.output[0]].reshape(-1, elems), dt.bitwidth())
    assert all(w < (1 << in_w) for w in outs)
    if dt.signed() and in_w < out_w:
        assert any(w >> (in_w - 1) for w in outs), "no negative top element: extension untested"
    tlast = expected_tlast(len(ins), words, frames, changes)
    assert sum(tlast) >= 2 and tlast[-1] == 1
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    text = (tmp_path / "gen" / f"{node.name}.v").read_text()
    assert "input  wire [31:0] frames" in text and "output wire out_V_TLAST" in text
    build = tmp_path / "sim"
    run_unit(top=node.name, sources=op.get_rtl_file_list(abspath=True), params={},
             inputs={"in0_V": ins}, outputs={"out_V": outs}, build_dir=build, stall=stall,
             seed=seed, tlast={"out_V": tlast}, inputs_const={"frames": frames},
             const_changes=[(k, "frames", v) for k, v in changes])
    return op, build, len(ins)


def test_tlast_24_to_32_frames3_stalls(tmp_path):
    # INT12 x 2 per word (negative values): 24-bit words zero-extended to 32, 3 batches
    run_case(tmp_path, (10, 2, "INT8", (1, 3, 3)), 24, 32, frames=3, n_frames=9, stall=0.3,
             seed=21)


def test_tlast_24_to_32_frames1_ii1(tmp_path):
    op, build, words = run_case(tmp_path, (10, 2, "INT8", (1, 3, 3)), 24, 32, frames=1,
                                n_frames=4, stall=0.0, seed=22)
    assert words == 4 * op.get_exp_cycles()
    cycles = int(re.search(r"case passed in (\d+) cycles", (build / "test.log").read_text())[1])
    # + 1 register + the 20 cycles tb_axis watches for extra words after the last one
    assert words <= cycles <= words + 20 + 5, f"{cycles} cycles for {words} words: not II=1"


def test_tlast_8_frames0_is_1_stalls(tmp_path):
    run_case(tmp_path, (6, 2, "INT2", (1, 2, 2)), 8, 8, frames=0, n_frames=5, stall=0.3,
             seed=23)


@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_tlast_8_frames_changed_mid_batch(tmp_path, stall):
    # 3 words per frame; frames 3 -> 2 at word 4 (mid batch 0-8: it stays 3 frames), -> 0
    # at word 10 (mid batch 9-14 of 2 frames), -> 3 at word 17 (last word of batch 15-17 of
    # 1 frame); batch 18-26 has 3 frames
    run_case(tmp_path, (6, 2, "INT2", (1, 2, 2)), 8, 8, frames=3, n_frames=9, stall=stall,
             seed=24, changes=((4, 2), (10, 0), (17, 3)))


def test_tlast_one_word_per_frame(tmp_path):
    # WORDS=1: frames 2, -> 3 at word 1 (mid batch 0-1), -> 1 at word 6 (mid batch 5-7):
    # batches 0-1, 2-4, 5-7, 8, 9, 10
    run_case(tmp_path, (2, 2, "INT2", (1, 2, 2)), 8, 8, frames=2, n_frames=11, stall=0.3,
             seed=25, changes=((1, 3), (6, 1)))


def test_expected_tlast_helper():
    assert expected_tlast(6, 2, 0) == [0, 1, 0, 1, 0, 1]
    assert expected_tlast(12, 1, 3, ((1, 2),)) == [0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    tl = expected_tlast(27, 3, 3, ((4, 2), (10, 0), (17, 3)))
    assert [i for i, t in enumerate(tl) if t] == [8, 14, 17, 26]
    tl = expected_tlast(11, 1, 2, ((1, 3), (6, 1)))
    assert [i for i, t in enumerate(tl) if t] == [1, 4, 7, 8, 9, 10]


def test_insert_tlast_marker_graph_and_execute():
    model = gap_model(10, 2, "INT8", (1, 3, 3))
    model, changed = InsertTLastMarker().apply(model)
    assert not changed
    assert [n.op_type for n in model.graph.node] == ["GlobalAccPool_rtl", "TLastMarker_rtl"]
    node = model.graph.node[-1]
    assert node.name == "TLastMarker_rtl_0" and node.domain == "hw.ops"
    assert list(node.input) == ["y"] and model.graph.output[0].name == node.output[0]
    model = model.transform(InsertTLastMarker()).transform(InferShapes()).transform(InferDataTypes())
    assert [n.op_type for n in model.graph.node].count("TLastMarker_rtl") == 1
    out = model.graph.output[0].name
    assert model.get_tensor_shape(out) == [1, 1, 1, 10]
    assert model.get_tensor_datatype(out) == DataType["INT12"]
    op = getCustomOp(model.graph.node[-1])
    g = op.get_nodeattr
    assert (g("words_per_frame"), g("elems_per_word"), g("dataType")) == (5, 2, "INT12")
    assert (g("in_width"), g("out_width")) == (24, 32)
    assert list(g("folded_shape")) == [1, 1, 1, 5, 2] and list(g("normal_shape")) == [1, 1, 1, 10]
    assert op.get_instream_width() == 24 and op.get_instream_width_padded() == 24
    assert op.get_outstream_width() == op.get_outstream_width_padded() == 32
    assert op.get_exp_cycles() == op.get_number_output_values() == 5
    assert (op.bram_estimation(), op.uram_estimation(), op.dsp_estimation()) == (0, 0, 0)
    assert 64 <= op.lut_estimation() <= 80 and _unmodelled(op) == []
    x = np.random.default_rng(0).integers(-128, 128, (1, 3, 3, 10)).astype(np.float32)
    res = execute_onnx(model, {"x": x}, return_full_exec_context=True)
    assert np.array_equal(res[out], res["y"]) and np.array_equal(res[out], x.sum(axis=(1, 2), keepdims=True))


def test_verify_node_rejects_bad_attrs():
    model = gap_model(6, 2, "INT2", (1, 2, 2)).transform(InsertTLastMarker())
    op = getCustomOp(model.graph.node[-1])
    op.set_nodeattr("out_width", 4)
    with pytest.raises(ValueError, match="out_width=4"):
        op.verify_node()
    op.set_nodeattr("out_width", 8)
    op.set_nodeattr("words_per_frame", 4)
    with pytest.raises(ValueError, match="words_per_frame=4"):
        op.verify_node()
