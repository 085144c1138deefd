"""The float32-shortcut export through the FINN build steps (hw/float_graph.py): every step
bit-exact (float tensors bit for bit), FloatShortcutAdd / FloatToInt in the dataflow
partition, no Transpose; the verifier catches a reassociated float op and a 1-ulp constant."""
import json

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw import flow
from hw.float_graph import FLOAT_OPS
from hw.ops.float_shortcut_add import f32_from_bits
from hw.verify import FLOAT_TAG, StepVerifier
from model.errors import BiRealError


def export_float_random_bn(out, images: int = 2):
    """bireal-tiny --shortcut float32, random weights AND random BN statistics / affine (a
    fresh BN has mean 0, beta 0: every B would be 0 and the order of the adds would not
    matter), exported with `images` golden images."""
    import torch
    from model.cli import _images_for
    from model.deploy import deploy
    from model.export import export_model
    from model.nets import bireal
    torch.manual_seed(0)
    net = bireal("bireal-tiny", shortcut="float32").eval()
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 3)
            m.running_var.copy_(torch.rand(c, generator=g) * 200 + 50)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.5)
    x, desc = _images_for("bireal-tiny", images, None, None, 0)
    export_model(deploy(net, 16), x, out, meta={"weights": "random, random BN (seed 0/1)",
                                                 "golden_inputs": desc})
    return out / "model.onnx"


@pytest.fixture(scope="session")
def float_compiled(tmp_path_factory):
    """export_float_random_bn with 2 golden images, `bireal compile` for PYNQ-Z2:
    (export dir, compile dir, the compile's error or None)."""
    from hw.compile import compile_model
    d = tmp_path_factory.mktemp("float_tiny")
    export_float_random_bn(d, 2)
    err = None
    try:
        compile_model(d / "model.onnx", d / "c", board="pynq-z2", images=2, quiet=True)
    except BiRealError as e:
        err = str(e)
    return d, d / "c", err


def _golden(d):
    return np.load(d / "golden_in.npy"), np.load(d / "golden_out.npy")


def test_float_every_step_bit_exact(float_compiled):
    """All graph steps exact on the output and on every observed layer; the float tensors
    (tagged [float32]: affine outputs, residual sums) are checked bit for bit and stay
    observable to the end (the block sums are FloatShortcutAdd outputs)."""
    d, c, err = float_compiled
    rep = json.loads((c / "verify.json").read_text())
    assert rep["bit_exact"] is True, rep["first_difference"]
    assert rep["tolerance"] == 0.0 and "bit for bit" in rep["tolerance_reason"]
    assert [s["step"] for s in rep["steps"]][:5] == ["export", "check_graph", "integer_input",
                                                     "requant_to_thresholds", "float_path"]
    for s in rep["steps"]:
        assert s["bit_exact"] and s["max_abs_diff"] == 0.0 and s["error"] is None, s["step"]
        assert all(x["status"] in ("exact", "not observable") for x in s["layers"]), s["step"]
    first, last = rep["steps"][0], next(s for s in rep["steps"]
                                        if s["step"] == "create_dataflow_partition")
    fl = [x["layer"] for x in first["layers"] if x["layer"].endswith(FLOAT_TAG)]
    assert len(fl) == 12 and all(x["status"] == "exact" for x in first["layers"])
    sums = {x["layer"]: x["status"] for x in last["layers"] if ".add" in x["layer"]}
    assert len(sums) == 5 and set(sums.values()) == {"exact"}
    assert last["op_types"] == {"StreamingDataflowPartition": 1, "Mul": 1, "Flatten": 1}


def test_float_end_graph_and_estimates(float_compiled):
    """The partition: 7 FloatShortcutAdd (stem + downsample without residual, 5 blocks with),
    7 FloatToInt (5 signs, 2 int8 quants), FINN/project HW nodes only, no Transpose; each
    float node's attributes verify; the compile stops with one line when the float RTL is not
    there, after writing estimates that fold the float units like the others."""
    d, c, err = float_compiled
    from hw.ops import custom_op
    if "FloatShortcutAdd_rtl" not in custom_op:
        assert err is not None and err.startswith("float32 RTL not available") and "\n" not in err
    else:                                       # the RTL graph was built and verified too
        assert err is None
        rep = json.loads((c / "verify.json").read_text())
        assert rep["steps"][-1]["step"] == "rtl" and rep["steps"][-1]["bit_exact"]
        rtl = ModelWrapper(str(c / "rtl_model.onnx"))
        ops = [n.op_type for n in rtl.graph.node]
        assert ops.count("FloatShortcutAdd_rtl") == 7 and ops.count("FloatToInt_rtl") == 7
    child = ModelWrapper(str(c / "dataflow_model.onnx"))
    ops = [n.op_type for n in child.graph.node]
    assert ops.count("FloatShortcutAdd") == 7 and ops.count("FloatToInt") == 7
    assert "Transpose" not in ops and all(flow.is_hw(n) for n in child.graph.node)
    fsa = [getCustomOp(n) for n in child.graph.node if n.op_type == "FloatShortcutAdd"]
    assert sorted(o.get_nodeattr("has_residual") for o in fsa) == [0, 0, 1, 1, 1, 1, 1]
    fti = [getCustomOp(n) for n in child.graph.node if n.op_type == "FloatToInt"]
    assert sorted(o.get_nodeattr("mode") for o in fti) == ["quant"] * 2 + ["sign"] * 5
    for o in fsa + fti:
        assert o.onnx_node.domain == "hw.ops" and o.verify_node()
    est = json.loads((c / "estimates.json").read_text())
    assert est["shortcut"] == "float32"
    rows = [r for r in est["layers"] if r["op_type"].removesuffix("_rtl") in FLOAT_OPS]
    assert len(rows) == 14 and all(r["cycles"] <= est["bottleneck_cycles"] for r in rows)
    assert max(r["PE"] for r in rows) > 1           # folded, not left at PE = 1
    assert est["bottleneck_layer"].split("_")[0] not in FLOAT_OPS


def _verifier(d, model_export):
    gi, go = _golden(d)
    v = StepVerifier(gi, go)
    assert v("export", model_export)
    return v


def test_float_mutation_one_ulp_constant_is_caught(float_compiled, tmp_path):
    """Mutation: A[0] of one FloatShortcutAdd one ulp up (bit pattern + 1) -> the verifier
    reports the residual sum it produces as differing (not an execution error)."""
    d, c, _ = float_compiled
    parent = ModelWrapper(str(c / "model_hw.onnx"))
    child = ModelWrapper(str(c / "dataflow_model.onnx"))
    v = _verifier(d, ModelWrapper(str(d / "model.onnx")))
    assert v("unchanged", parent)
    n = next(n for n in child.graph.node if n.op_type == "FloatShortcutAdd"
             and getCustomOp(n).get_nodeattr("has_residual"))
    op = getCustomOp(n)
    a = list(op.get_nodeattr("A"))
    a[0] += 1
    assert np.isfinite(f32_from_bits(a)).all()
    op.set_nodeattr("A", a)
    child.save(str(tmp_path / "mut.onnx"))
    getCustomOp(flow.partition_node(parent)).set_nodeattr("model", str(tmp_path / "mut.onnx"))
    assert v("mutant", parent) is False
    s = v.steps[-1]
    assert s["error"] is None and s["first_differing_layer"].endswith(FLOAT_TAG), s["layers"]


def test_float_mutation_reassociated_add_is_caught(float_compiled):
    """Mutation: one block's (y + b) + x regrouped as (y + x) + b in the exported graph ->
    the verifier flags that block's sum (and only float layers from there on)."""
    d, _, _ = float_compiled
    m = ModelWrapper(str(d / "model.onnx"))
    v = _verifier(d, m)
    join = next(n for n in m.graph.node if n.op_type == "Add"
                and all(m.get_initializer(t) is None for t in n.input))
    addb = next(m.find_producer(t) for t in join.input           # the conv's Add(b), not
                if len(m.find_consumers(t)) == 1)                 # the stem's (it forks)
    x = next(t for t in join.input if t != addb.output[0])
    y, b = addb.input
    addb.input[:] = [y, x]                      # t = y + x
    join.input[:] = [addb.output[0], b]         # out = t + b
    assert v("mutant", m) is False
    s = v.steps[-1]
    status = {x["layer"]: x["status"] for x in s["layers"]}
    assert s["error"] is None and status[f"blocks.0.add{FLOAT_TAG}"] == "differs", status


def test_float_mutation_streamline_on_float_path_is_caught(float_compiled, monkeypatch):
    """Mutation: without step float_path, FINN's streamlining works on the float Mul/Add:
    MoveLinearPastEltwiseAdd regroups the two per-channel Adds at a residual join into one
    (y1 + y2) + (b1 + b2) and here breaks the graph (AxisError); the verifier stops the flow
    at step streamline."""
    d, _, _ = float_compiled
    steps = [s for s in flow.STEPS if s is not flow.step_float_path]
    monkeypatch.setattr(flow, "STEPS", steps[:steps.index(flow.step_streamline) + 1])
    gi, go = _golden(d)
    v = StepVerifier(gi[:1], go[:1])
    flow.run_steps(d / "model.onnx", flow.FlowConfig(), v)
    rep = v.report()
    assert rep["bit_exact"] is False
    assert rep["first_difference"]["step"] == "streamline"
