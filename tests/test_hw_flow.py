"""The FINN build steps (hw/flow.py) with verification after every step (hw/verify.py)."""
import json

import pytest
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper

from conftest import export_random
from hw.compile import compile_model, verify_flow
from hw.flow import STEPS, FlowConfig, is_hw, partition_model, step_check_graph
from model.errors import BiRealError

CONTRACT_EST = {"layers", "bottleneck_cycles", "est_fps", "clock_mhz", "board"}


def _all_exact(rep):
    assert rep["bit_exact"] is True, rep["first_difference"]
    assert [s["step"] for s in rep["steps"]] == rep["step_list"]
    for s in rep["steps"]:
        assert s["bit_exact"] and s["max_abs_diff"] == 0.0, s["step"]
        assert all(x["status"] in ("exact", "not observable") for x in s["layers"]), s["step"]
        assert s["first_differing_layer"] is None


def test_tiny_trained_compile_every_step_bit_exact(compiled_tiny):
    """The contract: 20 MNIST test images (the sims use 100), every step and every layer exact, one partition,
    then the RTL graph (project units + finn-rtllib) exact too."""
    out = compiled_tiny
    s = json.loads((out / "compile.json").read_text())
    rep = json.loads((out / "verify.json").read_text())
    _all_exact(rep)
    assert rep["images"] == 20
    part, rtl = rep["steps"][-2], rep["steps"][-1]
    assert part["step"] == "create_dataflow_partition" and rtl["step"] == "rtl"
    assert part["op_types"] == {"StreamingDataflowPartition": 1, "Mul": 1, "Flatten": 1}
    # every layer tensor is still observable (found, exact) after partitioning
    assert all(x["status"] == "exact" for x in part["layers"])
    est = json.loads((out / "estimates.json").read_text())
    assert CONTRACT_EST <= set(est) and est["board"] == "pynq-z2" and est["clock_mhz"] == 100
    assert est["bottleneck_cycles"] == max(x["cycles"] for x in est["layers"])
    assert s["bit_exact"] and (out / "folding_config.json").is_file()
    assert (out / "estimates.png").stat().st_size > 0
    # every residual add became one ShortcutAdd (two constants per channel)
    fused = est["rtl"]["shortcut_fusion"]
    assert fused and all(f["fused"] for f in fused) and s["shortcuts_fused"] == len(fused)
    types = {x["impl"] for x in est["layers"]}
    assert {"XnorMVAU_rtl", "IntMVAU_rtl", "ShortcutAdd_rtl", "Thresholding_rtl",
            "ConvolutionInputGenerator_rtl", "StreamingFIFO_rtl"} <= types
    assert not any("Thresholding" in t and not t.endswith("_rtl") for t in types)


def test_cifar_random_every_step_bit_exact(compiled_cifar_zcu104):
    """Bi-Real-18 structure at half width: 3 stride-2 downsample blocks, 4x4 global pool
    (ties in the pooled quantizer's round-half-even, which FINN's generic conversion gets
    wrong). The shared ZCU104 compile (conftest), which test_sim also simulates."""
    out = compiled_cifar_zcu104
    rep = json.loads((out / "verify.json").read_text())
    _all_exact(rep)
    assert rep["images"] == 2
    labels = [x["layer"] for x in rep["steps"][0]["layers"]]
    assert sum(lab.endswith(".downsample") for lab in labels) == 3
    assert labels[0] == "stem" and labels[-1] == "head.pool"
    child = ModelWrapper(str(out / "dataflow_model.onnx"))
    assert all(is_hw(n) for n in child.graph.node)


def test_tiny_hw_fixture_is_one_partition(tiny_hw):
    d, parent, child, rep = tiny_hw
    _all_exact(rep)
    ops = [n.op_type for n in child.graph.node]
    assert ops.count("DuplicateStreams") == 5 and ops.count("ElementwiseAdd") == 6
    mv = [n for n in child.graph.node if n.op_type == "MVAU"]
    xnor = [n for n in mv if any(a.name == "binaryXnorMode" and a.i == 1 for a in n.attribute)]
    assert len(xnor) == 5 and len(mv) == 8       # 5 binary 3x3, stem, downsample, FC
    pads = [n for n in child.graph.node if n.op_type == "FMPadding"]
    assert len(pads) == 6                           # stem (0-pad) + 5 binary convs (-1 pad)


def test_fork_before_add_order_matters(tmp_path):
    """MoveLinearPastEltwiseAdd before MoveLinearPastFork corrupts the shortcut: the verifier
    must catch it at the streamline step (and the default order must not: tests above)."""
    onnx = export_random("bireal-tiny", tmp_path, 2)
    _, rep = verify_flow(onnx, tmp_path / "v", images=2, cfg=FlowConfig(fork_before_add=False),
                         quiet=True)
    assert rep["bit_exact"] is False
    assert rep["first_difference"]["step"] == "streamline"
    assert rep["steps"][-1]["step"] == "streamline"      # the flow stopped there


def _edit(onnx_path, fn, out):
    m = ModelWrapper(str(onnx_path))
    fn(m)
    m.save(str(out))
    return out


def test_relu_network_rejected_naming_node(tiny_hw, tmp_path):
    d = tiny_hw[0]

    def add_relu(m):
        n = [x for x in m.graph.node if x.op_type == "FixedPointRequant"][0]
        old = n.output[0]
        n.output[0] = "pre_relu"
        m.graph.node.insert(list(m.graph.node).index(n) + 1,
                            helper.make_node("Relu", ["pre_relu"], [old], name="MyRelu"))
    bad = _edit(d / "model.onnx", add_relu, tmp_path / "relu.onnx")
    with pytest.raises(BiRealError, match=r"MyRelu \(Relu\).*not part of a Bi-Real graph"):
        step_check_graph(ModelWrapper(str(bad)), FlowConfig())


def test_non_binary_conv_in_block_rejected_naming_node(tiny_hw, tmp_path):
    d = tiny_hw[0]

    def real_weights(m):
        conv = [x for x in m.graph.node if x.op_type == "Conv"][1]      # first block conv
        w = m.find_producer(conv.input[1])
        assert w.op_type == "BipolarQuant"
        conv.input[1] = w.input[0]
        conv.name = "BlockConv"
    bad = _edit(d / "model.onnx", real_weights, tmp_path / "real.onnx")
    with pytest.raises(BiRealError, match=r"BlockConv \(Conv\).*weights are not binary"):
        step_check_graph(ModelWrapper(str(bad)), FlowConfig())


def test_verify_names_first_step_and_layer(tiny_hw, tmp_path, monkeypatch):
    """A broken -1 pad after XNOR conversion (bit 1 = +1 instead of bit 0 = -1) must be
    reported at step xnor and at the first binary conv, blocks.0.conv."""
    import hw.transforms as T
    from qonnx.custom_op.registry import getCustomOp

    def wrong_pad(self, model):
        for n in model.graph.node:
            if n.op_type == "Im2Col" and getCustomOp(n).get_nodeattr("pad_value") == -1:
                getCustomOp(n).set_nodeattr("pad_value", 1)
        return model, False
    monkeypatch.setattr(T.XnorPadValue, "apply", wrong_pad)
    _, rep = verify_flow(tiny_hw[0] / "model.onnx", tmp_path / "v", images=2, quiet=True)
    assert rep["bit_exact"] is False
    assert rep["first_difference"]["step"] == "xnor"
    assert rep["first_difference"]["layer"] == "blocks.0.conv"


def test_compile_errors(tiny_hw, tmp_path):
    d = tiny_hw[0]
    with pytest.raises(BiRealError, match="not found"):
        compile_model(tmp_path / "nope.onnx", tmp_path / "o", images=1, quiet=True)
    (tmp_path / "m.onnx").write_bytes((d / "model.onnx").read_bytes())
    with pytest.raises(BiRealError, match="golden_in.npy"):
        compile_model(tmp_path / "m.onnx", tmp_path / "o", images=1, quiet=True)
    with pytest.raises(BiRealError, match="not both"):
        compile_model(d / "model.onnx", tmp_path / "o", target_fps=10, folding="f.json",
                      quiet=True)
    with pytest.raises(BiRealError, match="board"):
        compile_model(d / "model.onnx", tmp_path / "o", board="zedboard", quiet=True)
    assert len(STEPS) == 15                  # float_path (no-op on fixed8), sum_pool added


def test_cli_compile_with_user_folding_and_illegal_folding(tiny_hw, tmp_path, capsys):
    """`bireal compile --folding F`: a legal file gives the contract files; PE = 5 on a
    48-channel MVAU is refused naming the layer and the legal values (exit 2)."""
    from hw.cli import main
    from hw.folding import folding_config
    from model.export import save_json
    d, _, child, _ = tiny_hw
    cfg = folding_config(child)
    mv = next(n.name for n in child.graph.node if n.op_type == "MVAU")
    cfg[mv]["PE"] = 4
    save_json(tmp_path / "fold.json", cfg)
    out = tmp_path / "c"
    main(["compile", "--onnx", str(d / "model.onnx"), "--out", str(out), "--images", "1",
          "--folding", str(tmp_path / "fold.json")])
    est = json.loads((out / "estimates.json").read_text())
    assert CONTRACT_EST <= set(est) and json.loads((out / "verify.json").read_text())["bit_exact"]
    finn = json.loads((out / "estimates_finn.json").read_text())   # FINN's graph, FINN's names
    mine = next(x for x in finn["layers"] if x["name"] == mv)
    assert mine["PE"] == 4 and "user folding file" in est["folding"]
    # the RTL graph keeps the folding: the stem MVAU is the first IntMVAU_rtl
    assert next(x for x in est["layers"] if x["impl"] == "IntMVAU_rtl")["PE"] == 4
    assert json.loads((out / "folding_config.json").read_text())[mv]["PE"] == 4
    cfg[mv]["PE"] = 5
    save_json(tmp_path / "bad.json", cfg)
    with pytest.raises(SystemExit) as e:
        main(["compile", "--onnx", str(d / "model.onnx"), "--out", str(tmp_path / "c2"),
              "--images", "1", "--folding", str(tmp_path / "bad.json")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"layer {mv}" in err and "PE=5" in err and "legal values: [1, 2, 3, 4, 6" in err
