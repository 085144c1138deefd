"""Estimates of the tiny Bi-Real HW graph: keys, arithmetic, fit, threshold memories, plot."""
import math

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from finn.util.fpgadataflow import is_fpgadataflow_node

from hw.boards import FIT_CAP, get_board
from hw.estimates import (THR_META, estimate, format_estimates, hw_nodes, is_float_node,
                          plot_estimates)


def test_estimate_keys_and_arithmetic(hw_model):
    est = estimate(hw_model, "pynq-z2")
    for k in ("layers", "totals", "bottleneck_cycles", "bottleneck_layer", "est_fps",
              "clock_mhz", "board", "part", "fit", "fits", "source"):
        assert k in est
    layers = est["layers"]
    assert [r["name"] for r in layers] == [n.name for n, _ in hw_nodes(hw_model)]
    floats = [n.name for n in hw_model.graph.node if is_fpgadataflow_node(n)
              and is_float_node(getCustomOp(n))]
    assert est["skipped"] == floats and not set(floats) & {r["name"] for r in layers}
    bott = max(layers, key=lambda r: r["cycles"])
    assert (est["bottleneck_cycles"], est["bottleneck_layer"]) == (bott["cycles"], bott["name"])
    assert est["clock_mhz"] == 100 and est["part"] == "xc7z020clg400-1"
    assert est["est_fps"] == pytest.approx(100e6 / bott["cycles"])
    for k, f in est["fit"].items():
        assert f["used"] == est["totals"][k] == sum(r[k] for r in layers)
        assert f["available"] == getattr(get_board("pynq-z2"), k)
        assert f["ok"] == (f["used"] <= FIT_CAP * f["available"])
    assert est["fits"] == all(f["ok"] for f in est["fit"].values())
    assert estimate(hw_model, "pynq-z2", clock_mhz=50)["est_fps"] == pytest.approx(
        est["est_fps"] / 2)
    assert all(r["cycles"] > 0 for r in layers)   # SWG cycles come from the specialized op


def test_mvau_cycles_follow_finn_formula(folded):  # noqa: F811
    out, rep = folded
    rows = {r["name"]: r for r in rep["estimate"]["layers"]}
    for n, i in hw_nodes(out):
        if n.op_type == "MVAU":
            want = (i.get_nodeattr("MH") // i.get_nodeattr("PE")) * (
                i.get_nodeattr("MW") // i.get_nodeattr("SIMD")) * int(
                np.prod(i.get_nodeattr("numInputVectors")))
            assert rows[n.name]["cycles"] == want
            if i.get_nodeattr("binaryXnorMode"):          # MVAU_rtl rejects XNOR mode
                assert rows[n.name]["impl"] == "MVAU_hls"


def test_tiny_fits_pynq_z2(hw_model):  # noqa: F811
    from hw.folding import auto_folding
    out, rep = auto_folding(hw_model, "pynq-z2", 50_000)
    est = estimate(out, "pynq-z2")
    assert est["fits"] and rep["warning"] is None
    assert est["totals"] == rep["estimate"]["totals"]      # the recorded memory policy is reused
    assert est["bottleneck_cycles"] <= 50_000 and est["est_fps"] >= 2_000


def test_threshold_memory_policy(hw_model):  # noqa: F811
    base = estimate(hw_model, "zcu104")
    assert base["thr_memory"] == [0, 0]
    m = ModelWrapper(hw_model.model.__deepcopy__({}))
    m.set_metadata_prop(THR_META, "1024,0")                # deep memories to BRAM, never URAM
    moved = estimate(m, "zcu104")
    assert moved["totals"]["LUT"] < base["totals"]["LUT"]
    assert moved["totals"]["BRAM18"] > base["totals"]["BRAM18"]
    assert moved["totals"]["URAM"] == 0                    # FINN's estimate would say all URAM
    assert [r["cycles"] for r in moved["layers"]] == [r["cycles"] for r in base["layers"]]
    m.set_metadata_prop(THR_META, "0,4096")                # deep memories to URAM only
    ur = estimate(m, "zcu104")
    assert ur["totals"]["URAM"] > 0 and ur["totals"]["BRAM18"] <= base["totals"]["BRAM18"]


def test_float_layers_are_skipped(hw_model):  # noqa: F811
    m = ModelWrapper(hw_model.model.__deepcopy__({}))
    node, add = next((n, i) for n, i in hw_nodes(m) if n.op_type == "ElementwiseAdd")
    for a in ("lhs_dtype", "rhs_dtype", "out_dtype"):
        add.set_nodeattr(a, "FLOAT32")
    est = estimate(m, "zcu104")
    assert est["skipped"] == [node.name]
    assert node.name not in {r["name"] for r in est["layers"]}


def test_format_and_plot(folded, tmp_path):  # noqa: F811
    est = folded[1]["estimate"]
    text = format_estimates(est)
    assert est["bottleneck_layer"] in text and "fits zcu104: yes" in text
    assert f"{est['totals']['LUT']}" in text
    path = tmp_path / "plots" / "estimates.png"
    plot_estimates(est, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert [p.name for p in path.parent.iterdir()] == ["estimates.png"]   # no temp files left


def test_unknown_board_and_bad_clock(hw_model):  # noqa: F811
    from model.errors import BiRealError
    with pytest.raises(BiRealError, match="known boards"):
        estimate(hw_model, "kv260")
    with pytest.raises(BiRealError, match="clock_mhz"):
        estimate(hw_model, "zcu104", clock_mhz=0)
    assert math.isfinite(estimate(hw_model, "zcu104")["est_fps"])
    assert getCustomOp(hw_model.graph.node[0]).get_nodeattr("SIMD") == 1
