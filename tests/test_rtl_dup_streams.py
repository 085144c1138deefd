"""DuplicateStreams_rtl (hw/rtl/dup_streams.sv): every input word on every output, in
order, with independent random ready stalls per output; 2 and 3 outputs; II=1 unstalled."""
import copy
import re

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from rtl.runner import pack_words, run_unit

from hw.ops.dup_streams import DuplicateStreams_rtl




def make_model(ch, pe, n_out, dt, vecs):
    """A FINN DuplicateStreams node, copied and moved to domain hw.ops (as the flow does)."""
    shape = list(vecs) + [ch]
    outs = [f"y{j}" for j in range(n_out)]
    finn_node = helper.make_node(
        "DuplicateStreams", ["x"], outs, name="dup0", domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", NumChannels=ch, PE=pe, NumOutputStreams=n_out, inputDataType=dt,
        numInputVectors=list(vecs))
    node = copy.deepcopy(finn_node)
    node.domain, node.op_type = "hw.ops", "DuplicateStreams_rtl"
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, shape) for o in outs])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("x", DataType[dt])
    return model


def run_case(tmp_path, ch, pe, n_out, dt, stall, seed, vecs=(1, 3, 3), frames=2):
    model = make_model(ch, pe, n_out, dt, vecs)
    node = model.graph.node[0]
    op = getCustomOp(node)
    assert isinstance(op, DuplicateStreams_rtl)
    op.verify_node()
    intf = op.get_verilog_top_module_intf_names()
    assert [n for n, _ in intf["s_axis"]] == ["in0_V"]
    assert [n for n, _ in intf["m_axis"]] == [f"out{j}_V" for j in range(n_out)]
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    rng = np.random.default_rng(seed)
    bits = DataType[dt].bitwidth()
    ins, outs = [], {f"out{j}_V": [] for j in range(n_out)}
    for _ in range(frames):
        x = rng.integers(DataType[dt].min(), DataType[dt].max() + 1, op.get_normal_input_shape())
        ctx = {"x": x.astype(np.float32)}
        op.execute_node(ctx, model.graph)  # golden
        ins += pack_words(x.reshape(-1, pe), bits)
        for j in range(n_out):
            assert ctx[f"y{j}"].dtype == np.float32
            outs[f"out{j}_V"] += pack_words(ctx[f"y{j}"].reshape(-1, pe), bits)
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    build = tmp_path / "sim"
    run_unit(top=node.name, sources=op.get_rtl_file_list(abspath=True), params={},
            inputs={"in0_V": ins}, outputs=outs, build_dir=build, stall=stall, seed=seed)
    return op, build, len(ins)


def test_dup_streams_2out_pe1_stalls(tmp_path):
    run_case(tmp_path, ch=4, pe=1, n_out=2, dt="INT5", stall=0.3, seed=11)


def test_dup_streams_3out_pe4_stalls(tmp_path):
    run_case(tmp_path, ch=8, pe=4, n_out=3, dt="UINT3", stall=0.3, seed=12)


def test_dup_streams_no_stalls_ii1(tmp_path):
    op, build, words = run_case(tmp_path, ch=8, pe=2, n_out=2, dt="INT8", stall=0.0, seed=13,
                                vecs=(1, 4, 4))
    assert words == 2 * op.get_exp_cycles()
    cycles = int(re.search(r"case passed in (\d+) cycles", (build / "test.log").read_text())[1])
    # + 1 register + the 20 cycles tb_axis watches for extra words after the last one
    assert words <= cycles <= words + 20 + 5, f"{cycles} cycles for {words} words: not II=1"
