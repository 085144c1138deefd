"""Folding of the tiny Bi-Real HW graph: legal values, checks, auto folding, folding files."""
import json

import pytest
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw.boards import BOARDS, Board, get_board
from hw.estimates import hw_nodes
from hw.folding import (auto_folding, check_folding, folding_config, legal_values, load_folding,
                        target_from_fps)
from model.errors import BiRealError
from model.export import save_json

def _node(model, pred):
    return next((n, i) for n, i in hw_nodes(model) if pred(n, i))


def _xnor(model):
    return _node(model, lambda n, i: n.op_type == "MVAU" and i.get_nodeattr("binaryXnorMode"))


def _folding(model):
    return {n.name: {a: i.get_nodeattr(a) for a in ("PE", "SIMD", "parallel_window")
                     if a in i.get_nodeattr_types()} for n, i in hw_nodes(model)}


def test_boards():
    assert get_board("PYNQ-Z2").part == "xc7z020clg400-1"
    assert get_board("zcu104").URAM == 96 and get_board("zcu104").clock_mhz == 200
    with pytest.raises(BiRealError, match="known boards: pynq-z2, zcu104"):
        get_board("ultra96")


def test_target_from_fps():
    assert target_from_fps(5000, 100) == 20_000
    assert target_from_fps(3, 200) == 66_666_666        # floor: at least the asked frame rate
    with pytest.raises(BiRealError, match="fps"):
        target_from_fps(0, 100)


def test_legal_values_follow_finn_ops(hw_model):
    _, mvau = _xnor(hw_model)
    mh, mw = mvau.get_nodeattr("MH"), mvau.get_nodeattr("MW")
    lv = legal_values(mvau)
    assert lv["PE"] == [d for d in range(1, mh + 1) if mh % d == 0]
    assert lv["SIMD"] == [d for d in range(1, mw + 1) if mw % d == 0]
    _, thr = _node(hw_model, lambda n, i: n.op_type == "Thresholding")
    assert set(legal_values(thr)) == {"PE"} and thr.get_nodeattr("NumChannels") in \
        legal_values(thr)["PE"]
    _, add = _node(hw_model, lambda n, i: n.op_type == "ElementwiseAdd")
    assert legal_values(add)["PE"][-1] == add.get_nodeattr("out_shape")[-1]
    _, swg = _node(hw_model, lambda n, i: n.op_type == "ConvolutionInputGenerator"
                   and i.get_nodeattr("IFMChannels") > 1)
    ch = swg.get_nodeattr("IFMChannels")
    assert len(legal_values(swg)["SIMD"]) > 1
    swg.set_nodeattr("parallel_window", 1)
    try:
        assert legal_values(swg) == {"SIMD": [ch]}       # FINN's RTL SWG asserts SIMD == C
    finally:
        swg.set_nodeattr("parallel_window", 0)


def test_check_folding_names_layer_and_legal_values(hw_model):
    check_folding(hw_model)                               # PE = SIMD = 1 style defaults are legal
    m = ModelWrapper(hw_model.model.__deepcopy__({}))
    node, mvau = _xnor(m)
    mvau.set_nodeattr("PE", 5)                            # MH = 48 or 96: 5 divides neither
    with pytest.raises(BiRealError) as e:
        check_folding(m)
    msg = str(e.value)
    assert node.name in msg and "PE=5" in msg and f"MH={mvau.get_nodeattr('MH')}" in msg
    assert "[1, 2, 3, 4, 6, 8, 12, 16, 24, 48" in msg
    mvau.set_nodeattr("PE", mvau.get_nodeattr("MH"))      # legal alone, too wide together:
    mvau.set_nodeattr("SIMD", mvau.get_nodeattr("MW"))    # the XNOR MVAU is HLS-only in FINN
    with pytest.raises(BiRealError, match=f"{node.name}.*MAX_ALLOWED_AP_INT_W=8191"):
        check_folding(m)


def test_check_folding_rejects_partial_parallel_window(hw_model):
    m = ModelWrapper(hw_model.model.__deepcopy__({}))
    node, swg = _node(m, lambda n, i: n.op_type == "ConvolutionInputGenerator"
                      and i.get_nodeattr("IFMChannels") > 1)
    swg.set_nodeattr("SIMD", 1)
    swg.set_nodeattr("parallel_window", 1)
    with pytest.raises(BiRealError, match=f"{node.name}.*parallel_window=1"):
        check_folding(m)


def test_auto_folding_meets_reachable_target(hw_model, folded):
    out, rep = folded
    assert rep["warning"] is None and rep["fits"] and rep["target_cycles"] == 20_000
    assert 0 < rep["achieved_cycles"] <= 20_000
    check_folding(out)
    cycles = [r["cycles"] for r in rep["estimate"]["layers"]]
    assert max(cycles) == rep["achieved_cycles"]
    # least parallelism: the binary MVAUs are not fully unrolled, and the input is untouched
    _, mvau = _xnor(out)
    assert mvau.get_nodeattr("PE") * mvau.get_nodeattr("SIMD") < \
        mvau.get_nodeattr("MH") * mvau.get_nodeattr("MW")
    assert all(v.get("PE", 1) == 1 for v in _folding(hw_model).values()
               if "SIMD" not in v)


def test_auto_folding_fills_setfolding_gaps(hw_model):
    """SetFolding caps binary MVAU SIMD at mvau_wwidth_max bits; our pass goes beyond it."""
    out, rep = auto_folding(hw_model, "zcu104", 1_500, mvau_wwidth_max=4)
    assert rep["achieved_cycles"] <= rep["target_cycles"]
    assert max(i.get_nodeattr("SIMD") for n, i in hw_nodes(out)
               if n.op_type == "MVAU" and i.get_nodeattr("binaryXnorMode")) > 4


def test_auto_folding_relaxes_target_that_does_not_fit(hw_model):
    with pytest.warns(UserWarning, match="does not fit pynq-z2"):
        out, rep = auto_folding(hw_model, "pynq-z2", 2_000)
    assert rep["target_cycles"] > 2_000 and rep["achieved_cycles"] > 2_000
    assert rep["fits"] and rep["estimate"]["fits"]
    assert "relaxed to" in rep["warning"]
    check_folding(out)


def test_auto_folding_reports_what_never_fits(hw_model):
    tiny = Board("toy", BOARDS["pynq-z2"].part, LUT=500, FF=1000, BRAM18=2, URAM=0, DSP=1,
                 clock_mhz=100)
    with pytest.warns(UserWarning, match="does not fit toy even fully folded.*LUT"):
        out, rep = auto_folding(hw_model, tiny, 10_000)
    assert rep["fits"] is False and rep["estimate"]["fits"] is False
    assert rep["target_cycles"] == 10_000      # nothing to relax for: memory is over anyway
    check_folding(out)


def test_folding_file_round_trip(hw_model, folded, tmp_path):
    out, _ = folded
    path = tmp_path / "folding_config.json"
    cfg = folding_config(out)
    save_json(path, cfg)
    assert json.loads(path.read_text()) == cfg and cfg["Defaults"] == {}
    loaded = load_folding(hw_model, path)
    assert _folding(loaded) == _folding(out) != _folding(hw_model)
    assert folding_config(loaded) == cfg


def test_folding_file_errors(hw_model, tmp_path):
    bad = tmp_path / "f.json"
    bad.write_text(json.dumps({"Defaults": {}, "NoSuchLayer_7": {"PE": 2}}))
    with pytest.raises(BiRealError, match="unknown HW layer name.*NoSuchLayer_7"):
        load_folding(hw_model, bad)
    bad.write_text("PE = 4\n")
    with pytest.raises(BiRealError, match="not JSON"):
        load_folding(hw_model, bad)
    node, mvau = _xnor(hw_model)
    bad.write_text(json.dumps({node.name: {"PE": 7}}))
    with pytest.raises(BiRealError, match=rf"{node.name}.*PE=7.*legal values: \[1, 2, 3"):
        load_folding(hw_model, bad)
    bad.write_text(json.dumps({node.name: {"PEE": 2}}))
    with pytest.raises(BiRealError, match=f"{node.name}.*PEE"):
        load_folding(hw_model, bad)
    with pytest.raises(BiRealError, match="not found"):
        load_folding(hw_model, tmp_path / "missing.json")
    assert getCustomOp(node).get_nodeattr("PE") == 1      # the model passed in is untouched


def test_folding_config_needs_unique_names(hw_model):
    m = ModelWrapper(hw_model.model.__deepcopy__({}))
    m.graph.node[3].name = m.graph.node[4].name
    with pytest.raises(BiRealError, match="unique name.*GiveUniqueNodeNames"):
        folding_config(m)


def test_depthwise_swg_simd_tied_to_pool_pe():
    """FINN's rule for MaxPool: the depthwise SWG's SIMD equals the Pool's PE."""
    from onnx import TensorProto, helper
    from qonnx.util.basic import qonnx_make_model
    io = [helper.make_tensor_value_info(t, TensorProto.FLOAT, s) for t, s in
          (("x", [1, 4, 4, 4]), ("w", [1, 2, 2, 16]), ("y", [1, 2, 2, 4]))]
    dom = "finn.custom_op.fpgadataflow"
    swg = helper.make_node("ConvolutionInputGenerator", ["x"], ["w"], "swg", domain=dom,
                           backend="fpgadataflow", ConvKernelDim=[2, 2], IFMChannels=4,
                           IFMDim=[4, 4], OFMDim=[2, 2], SIMD=2, Stride=[2, 2],
                           Dilation=[1, 1], inputDataType="UINT4", outputDataType="UINT4",
                           depthwise=1)
    pool = helper.make_node("Pool", ["w"], ["y"], "pool", domain=dom, backend="fpgadataflow",
                            Channels=4, PE=1, KernelSize=[2, 2], Function="MaxPool",
                            OutImgDims=[2, 2], InputDataType="UINT4", OutputDataType="UINT4")
    m = ModelWrapper(qonnx_make_model(helper.make_graph([swg, pool], "g", io[:1], io[2:],
                                                         value_info=io[1:2])))
    assert legal_values(getCustomOp(m.graph.node[1])) == {"PE": [1, 2, 4]}
    with pytest.raises(BiRealError, match="swg.*SIMD=2.*PE=1 of its consumer pool"):
        check_folding(m)
    getCustomOp(m.graph.node[1]).set_nodeattr("PE", 2)
    check_folding(m)


def _pad_window_pairs(model):
    """(FMPadding SIMD, SWG SIMD) of every padding feeding a non-parallel_window SWG."""
    out = []
    for n, i in hw_nodes(model):
        if n.op_type.startswith("FMPadding"):
            c = model.find_consumer(n.output[0])
            if c is not None and c.op_type.startswith("ConvolutionInputGenerator"):
                swg = getCustomOp(c)
                if not swg.get_nodeattr("parallel_window"):
                    out.append((i.get_nodeattr("SIMD"), swg.get_nodeattr("SIMD")))
    return out


@pytest.mark.parametrize("target", [20_000, 3_000, 1_500])
def test_auto_folding_pads_at_the_window_width(hw_model, target):
    """The SWG refills serially at each frame start, paced by its padding unit: the padding
    is folded at least as wide as the window generator it feeds (hw.folding
    ._pad_at_window_width; SetFolding alone leaves it narrower, e.g. bireal-cifar 4 vs 16)."""
    out, _ = auto_folding(hw_model, "zcu104", target)
    pairs = _pad_window_pairs(out)
    assert pairs and all(p >= s for p, s in pairs), pairs
