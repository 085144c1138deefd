"""XnorMVAU_rtl (hw/rtl/xnor_mvau.sv) against FINN's MVAU numpy model (binaryXnorMode=1) in
Verilator: acc[c] = popcount XNOR(x, W[:, c]); out = acc or (acc >= T[c]).
Folding PE=SIMD=1, partial folds (SIMD not a multiple of 3), fully parallel, a deep popcount
tree (SIMD=64), threshold output (BINARY and BIPOLAR); random stalls and stall-free II=1 runs."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp

from rtl.runner import pack_words, run_unit

from hw.ops.xnor_mvau import XnorMVAU_rtl


def make_model(name, mw, mh, pe, simd, vecs, rng, odt="UINT16", thresholds=None):
    """One XnorMVAU_rtl node as created from a FINN MVAU node (all MVAU attributes)."""
    act = thresholds is not None
    ins = ["inp", "weights"] + (["thresh"] if act else [])
    node = helper.make_node(
        "XnorMVAU_rtl", ins, ["outp"], name=name, domain="hw.ops", backend="fpgadataflow",
        MW=mw, MH=mh, PE=pe, SIMD=simd, binaryXnorMode=1, noActivation=0 if act else 1,
        numInputVectors=list(vecs), inputDataType="BINARY", weightDataType="BINARY",
        outputDataType=odt, ActVal=0, mem_mode="internal_decoupled", ram_style="auto")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, list(vecs) + [mw])],
        [helper.make_tensor_value_info("outp", TensorProto.FLOAT, list(vecs) + [mh])])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("inp", DataType["BINARY"])
    model.set_tensor_datatype("outp", DataType[odt])
    model.set_initializer("weights", rng.integers(0, 2, (mw, mh)).astype(np.float32))
    model.set_tensor_datatype("weights", DataType["BINARY"])
    if act:
        model.set_initializer("thresh", np.asarray(thresholds, dtype=np.float32).reshape(-1, 1))
    return model


ZU = "xczu7ev-ffvc1156-2-e"


def run_case(tmp_path, mw, mh, pe, simd, vecs, stall, seed, odt="UINT16", act=False,
             frames=1, ram_style="auto", wload=False, extra_beats=0):
    rng = np.random.default_rng(seed)
    thr = None
    if act:  # thresholds around MW/2, some fractional, some below 0 / above MW
        thr = np.round(rng.normal(mw / 2, mw / 6, mh) * 2) / 2
        thr[:2] = [-1, mw + 2]
    model = make_model(f"xmvau_{seed}", mw, mh, pe, simd, vecs, rng, odt, thr)
    node = model.graph.node[0]
    op = getCustomOp(node)
    op.set_nodeattr("ram_style", "ultra" if wload else ram_style)
    op.set_nodeattr("weightLoad", int(wload))
    assert isinstance(op, XnorMVAU_rtl)
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    op.verify_node()
    part = ZU if wload else "xc7z020clg400-1"
    op.generate_hdl(model, part, 10.0)
    intf = op.get_verilog_top_module_intf_names()
    wl = ["wl_in_V"] if wload else []
    assert [n for n, _ in intf["s_axis"]] == ["in0_V"] + wl
    assert [n for n, _ in intf["m_axis"]] == ["out0_V"] + (["wl_out_V"] if wload else [])
    ins, outs, ys = [], [], []
    for _ in range(frames):
        x = rng.integers(0, 2, list(vecs) + [mw]).astype(np.float32)
        y = execute_onnx(model, {"inp": x})["outp"]  # FINN's MVAU.execute_node (golden)
        if DataType[odt] == DataType["BIPOLAR"]:
            y = (y + 1) / 2  # FINN packs BIPOLAR -1/+1 as bit 0/1
        ys.append(y)
        ins += pack_words(x.reshape(-1, simd), 1)
        outs += pack_words(y.reshape(-1, pe), op.out_bits())
    yall = np.concatenate([y.reshape(-1) for y in ys])
    if act:
        assert 0 < yall.mean() < 1, "threshold outputs all equal"
    build = tmp_path / "sim"
    build.mkdir()
    for f in op.get_mem_file_list():
        shutil.copy(f, build)
    inputs, outputs = {"in0_V": ins}, {"out0_V": outs}
    if wload:   # the memory's beats, then beats for the next unit of the chain
        assert not any("weights" in f for f in op.get_mem_file_list())   # no $readmemh
        beats = [int(b) for b in op.load_beats(model)]
        more = [int(v) << 1 | 1 for v in rng.integers(0, 2**63, extra_beats, dtype=np.int64)]
        inputs["wl_in_V"], outputs["wl_out_V"] = beats + more, more
    run_unit(top=node.name, sources=op.get_rtl_file_list(abspath=True), params={},
             inputs=inputs, outputs=outputs, build_dir=build, stall=stall,
             seed=seed, timeout_cycles=500)
    return op, build, frames * op.get_exp_cycles()


def test_golden_and_errors():
    """The golden by hand on a 3x2 case; checks name the node and the value."""
    rng = np.random.default_rng(0)
    model = make_model("g0", 3, 2, 1, 3, [1], rng)
    model.set_initializer("weights", np.array([[1, 0], [1, 1], [0, 0]], np.float32))
    y = execute_onnx(model, {"inp": np.array([[1, 0, 0]], np.float32)})["outp"]
    assert y.tolist() == [[2, 1]]  # matches: (1,0,1) -> 2 ; (0,0,1) -> 1
    op = getCustomOp(model.graph.node[0])
    assert op.get_exp_cycles() == 2
    for attrs, msg in [
        (dict(PE=3), "bad.*PE=3 must divide MH=2"),
        (dict(SIMD=2), "bad.*SIMD=2 must divide MW=3"),
        (dict(binaryXnorMode=0), "bad.*binaryXnorMode=1"),
        (dict(inputDataType="INT8"), "bad.*BINARY inputs, got INT8"),
        (dict(outputDataType="INT2"), "bad.*INT2 cannot hold the popcount 0..MW=3"),
    ]:
        m = make_model("bad", 3, 2, 1, 3, [1], rng)
        bop = getCustomOp(m.graph.node[0])
        for k, v in attrs.items():
            bop.set_nodeattr(k, v)
        with pytest.raises(ValueError, match=msg):
            bop.verify_node()


def test_estimates():
    rng = np.random.default_rng(0)
    op = getCustomOp(make_model("e0", 576, 64, 16, 64, [1], rng).graph.node[0])
    assert op.dsp_estimation(None) == 0
    # 36 words x 1024 bits: 'auto' on PYNQ-Z2 = LUT ROM (1024 LUTs, 1.9 % of the LUTs) rather
    # than 29 RAMB18 (1024/36 columns of 512 x 36, 10.4 % of the BRAM)
    assert op.weight_memory().kind == "logic" and op.memory_luts() == 1024
    assert op.bram_estimation(None) == 0 and op.uram_estimation(None) == 0
    assert op.lut_estimation(None) == op.datapath_luts() + op.ctrl_luts(64, 16 * op.out_bits()) + 1024
    op.set_nodeattr("ram_style", "block")
    assert op.bram_estimation(None) == 29 and op.memory_luts() == 0


def cycles_of(build: Path) -> int:
    return int(re.search(r"case passed in (\d+) cycles", (build / "test.log").read_text())[1])


def test_xnor_pe1_simd1_stalls(tmp_path):
    run_case(tmp_path, mw=8, mh=4, pe=1, simd=1, vecs=[3], stall=0.3, seed=1)


def test_xnor_partial_fold_stalls(tmp_path):
    """PE=4 < MH, SIMD=16 < MW (16 lanes: a padded 3-lane group), 2 frames of 4 vectors."""
    run_case(tmp_path, mw=64, mh=16, pe=4, simd=16, vecs=[1, 2, 2], stall=0.3, seed=2,
             odt="UINT7", frames=2)


def test_xnor_partial_fold_ii1(tmp_path):
    """No stalls: NF*SF cycles per vector, back to back (II=1 per fold step)."""
    op, build, exp = run_case(tmp_path, mw=48, mh=16, pe=4, simd=12, vecs=[1, 2, 2],
                              stall=0.0, seed=3, odt="UINT7", frames=2)
    # + pipeline latency (~6) + the 20 cycles tb_axis watches for extra words
    assert exp <= cycles_of(build) <= exp + 20 + 12, f"{cycles_of(build)} cycles for {exp} steps"


def test_xnor_fully_parallel_ii1(tmp_path):
    """PE=MH, SIMD=MW (one fold step per vector, padded stream widths), no stalls."""
    op, build, exp = run_case(tmp_path, mw=20, mh=6, pe=6, simd=20, vecs=[40], stall=0.0,
                              seed=4, odt="INT8")
    assert exp <= cycles_of(build) <= exp + 20 + 12, f"{cycles_of(build)} cycles for {exp} steps"


def test_xnor_thresholds_deep_tree_stalls(tmp_path):
    """noActivation=0 (out = acc >= T; fractional T, T < 0, T > MW), SIMD=64 (5 tree levels).
    SF=1, NF=4: one input word makes 4 output words, so output stalls back up into the core
    (exercises the output credit / FIFO)."""
    run_case(tmp_path, mw=64, mh=8, pe=2, simd=64, vecs=[1, 4, 6], stall=0.3, seed=6,
             odt="BINARY", act=True)


def test_xnor_thresholds_bipolar_same_hw(tmp_path):
    """BIPOLAR threshold output (-1/+1, packed 0/1) needs the same core and files as BINARY."""
    texts = []  # (core parameters, memory files, output bits) per output type
    for odt in ("BINARY", "BIPOLAR"):
        rng = np.random.default_rng(7)
        model = make_model("bp", 36, 8, 8, 9, [5], rng, odt, np.arange(8) * 4.5 - 1)
        op = getCustomOp(model.graph.node[0])
        op.verify_node()
        x = rng.integers(0, 2, (5, 36)).astype(np.float32)
        y = execute_onnx(model, {"inp": x})["outp"]
        bits = (y + 1) / 2 if odt == "BIPOLAR" else y
        texts.append((op.core_params(model), op.mem_files(model), bits))
    assert texts[0][0] == texts[1][0] and texts[0][1] == texts[1][1]
    assert np.array_equal(texts[0][2], texts[1][2])


def test_xnor_block_ram_ii1(tmp_path):
    """Weights in block RAM: the output register stage (W_OREG) keeps II=1 and exactness."""
    op, build, exp = run_case(tmp_path, mw=48, mh=16, pe=4, simd=12, vecs=[1, 2, 2],
                              stall=0.0, seed=8, odt="UINT7", frames=2, ram_style="block")
    assert op.weight_memory().kind == "block"
    assert "RAM_STYLE(\"block\")" in (tmp_path / "gen" / f"{op.onnx_node.name}.v").read_text()
    assert exp <= cycles_of(build) <= exp + 20 + 12, f"{cycles_of(build)} cycles for {exp} steps"


def test_xnor_block_ram_stalls(tmp_path):
    run_case(tmp_path, mw=64, mh=8, pe=2, simd=64, vecs=[1, 4, 6], stall=0.3, seed=9,
             odt="BINARY", act=True, ram_style="block")


def test_xnor_uram_weight_load_stalls(tmp_path):
    """RAM_STYLE ultra: no $readmemh, the weights arrive through wl_in_V (1152-bit words =
    18 beats each, a 1-bit pad-free split) under random valid/ready stalls on the load and
    data streams at once; the beats after the memory's come out of wl_out_V in order."""
    op, build, _ = run_case(tmp_path, mw=288, mh=8, pe=4, simd=288, vecs=[1, 3, 2],
                            stall=0.3, seed=11, odt="UINT9", wload=True, extra_beats=5)
    assert op.runtime_writeable() and op.weight_memory().kind == "ultra"
    assert op.get_nodeattr("runtime_writeable_weights") == 1
    assert op.load_bits() == 2 * 18 * 64 and op.wload_luts() > 0
    # 2 x 1152 bits: the halves of each word on the URAM's two ports (8 URAM, not 16)
    assert (op.weight_memory().ports, op.weight_memory().uram) == (2, 8)
    v = (tmp_path / "gen" / f"{op.onnx_node.name}.v").read_text()
    assert "WLOAD(1)" in v and "MEM_PORTS(2)" in v


def test_xnor_uram_two_ports_odd_width(tmp_path):
    """URAM on both ports with an odd word (PE*SIMD = 145: halves of 73 and 72 bits, 2 URAM
    instead of 3), 40 words (high halves at 64 + a), stalls on the load and data streams."""
    op, _, _ = run_case(tmp_path, mw=145, mh=40, pe=1, simd=145, vecs=[1, 1, 2], stall=0.3,
                        seed=13, odt="UINT8", wload=True, extra_beats=2)
    m = op.weight_memory()
    assert (m.depth, m.width, m.ports, m.uram) == (40, 145, 2, 2)


def test_xnor_uram_weight_load_padded_words(tmp_path):
    """Words that are not a multiple of 64 bits (PE*SIMD = 48: one padded beat per word),
    several words (depth 16), thresholds, stalls."""
    op, _, _ = run_case(tmp_path, mw=48, mh=16, pe=4, simd=12, vecs=[1, 2, 2], stall=0.3,
                        seed=12, odt="BINARY", act=True, wload=True, extra_beats=3)
    assert op.weight_memory().ports == 1        # 48 bits: one URAM either way, one port
