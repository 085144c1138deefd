"""`bireal hls4ml`: the rewrite of the export for hls4ml 1.3.0 (each step exact on qonnx, small
graphs), the precision derivation, and the hls4ml C++ emulation of the shipped bireal-tiny
bit-exact against PyTorch (fixed8 in the default suite, float32 slow), with a deliberately wrong
precision named by the per-layer comparison."""
import argparse
import json

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx import numpy_helper as nh
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

import model.custom_op  # noqa: F401
from hw.hls4ml_flow import flow, precision, rewrite
from model.errors import BiRealError

Q = "qonnx.custom_op.general"
IMAGES = 20


def _quant(name, x, out, scale, bits, signed=1, narrow=0, mode="ROUND"):
    inits = [nh.from_array(np.array(v, np.float32), f"{name}_{k}")
             for k, v in (("s", scale), ("z", 0.0), ("b", bits))]
    n = helper.make_node("Quant", [x, f"{name}_s", f"{name}_z", f"{name}_b"], [out], domain=Q,
                         name=name, signed=signed, narrow=narrow, rounding_mode=mode)
    return n, inits


def _model(nodes, inits, x_shape, y_shape, y="y"):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     x_shape)],
                          [helper.make_tensor_value_info(y, TensorProto.FLOAT, y_shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20),
                                            helper.make_opsetid(Q, 2),
                                            helper.make_opsetid("model.custom_op", 1)])
    from qonnx.transformation.infer_shapes import InferShapes
    return ModelWrapper(m).transform(InferShapes())


def _run(m, x, name="y"):
    return execute_onnx(m, {m.graph.input[0].name: x})[name]


def _bits(a, b):
    return np.array_equal(np.asarray(a, np.float32).view(np.uint32),
                          np.asarray(b, np.float32).view(np.uint32))


def _block(rng, pool: bool, C: int = 8, K: int = 6, pad: bool = False):
    """x [1, C, 8, 8] -> Quant(int8 2^-4) -> [AvgPool 2x2 -> Conv 1x1 | Conv 3x3] (K channels)
    -> FixedPointRequant -> BipolarQuant -> [Pad(-1) -> Conv 3x3 | Conv 1x1] binary
    -> FixedPointRequant -> GAP -> Flatten."""
    nodes, inits = [], []
    n, i = _quant("qx", "x", "xq", 2.0 ** -4, 8)
    nodes.append(n); inits += i
    if pool:
        nodes.append(helper.make_node("AveragePool", ["xq"], ["p"], name="ap",
                                      kernel_shape=[2, 2], strides=[2, 2]))
        w = rng.integers(-127, 128, (K, C, 1, 1)).astype(np.float32)
        src, ks, pads, fi = "p", [1, 1], [0, 0, 0, 0], 6
    else:
        w = rng.integers(-127, 128, (K, C, 3, 3)).astype(np.float32)
        src, ks, pads, fi = "xq", [3, 3], [1, 1, 1, 1], 4
    inits.append(nh.from_array(w, "w0"))
    n, i = _quant("qw", "w0", "w0q", 1.0, 8, narrow=1)
    nodes.append(n); inits += i
    nodes.append(helper.make_node("Conv", [src, "w0q"], ["c0"], name="conv0", kernel_shape=ks,
                                  dilations=[1, 1], group=1, pads=pads, strides=[1, 1]))
    A = rng.integers(1, 3000, K).astype(np.int64)
    B = rng.integers(-2 ** 20, 2 ** 20, K).astype(np.int64)
    inits += [nh.from_array(A, "A0"), nh.from_array(B, "B0")]
    nodes.append(helper.make_node("FixedPointRequant", ["c0", "A0", "B0"], ["r0"],
                                  domain="model.custom_op", name="rq0", shift=18, in_frac=fi,
                                  out_bits=8, out_frac=4))
    inits.append(nh.from_array(np.array(1.0, np.float32), "bs"))
    nodes.append(helper.make_node("BipolarQuant", ["r0", "bs"], ["s"], domain=Q, name="bq"))
    k1 = 3 if pad else 1
    wb = np.where(rng.random((K, K, k1, k1)) < 0.5, -1.0, 1.0).astype(np.float32)
    inits.append(nh.from_array(wb, "wb"))
    nodes.append(helper.make_node("BipolarQuant", ["wb", "bs"], ["wbq"], domain=Q, name="bqw"))
    if pad:
        inits += [nh.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pp"),
                  nh.from_array(np.array(-1.0, np.float32), "pv")]
        nodes.append(helper.make_node("Pad", ["s", "pp", "pv"], ["sp"], name="pad1"))
    nodes.append(helper.make_node("Conv", ["sp" if pad else "s", "wbq"], ["c1"], name="conv1",
                                  kernel_shape=[k1, k1], pads=[0, 0, 0, 0], strides=[1, 1],
                                  dilations=[1, 1], group=1))
    A1 = rng.integers(1, 3000, K).astype(np.int64)
    B1 = rng.integers(-2 ** 14, 2 ** 14, K).astype(np.int64)
    inits += [nh.from_array(A1, "A1"), nh.from_array(B1, "B1")]
    nodes.append(helper.make_node("FixedPointRequant", ["c1", "A1", "B1"], ["r1"],
                                  domain="model.custom_op", name="rq1", shift=12, in_frac=0,
                                  out_bits=8, out_frac=4))
    nodes.append(helper.make_node("GlobalAveragePool", ["r1"], ["g"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["g"], ["y"], name="fl", axis=1))
    return _model(nodes, inits, [1, C, 8, 8], [1, K])


@pytest.mark.parametrize("C,K,pad", [(3, 6, False), (3, 8, False), (8, 6, False),
                                     (3, 8, True)])
def test_rewrite_check_layouts(C, K, pad):
    """flow.check_rewrite (every shared tensor, not only the logits) on 3-channel inputs. With
    K = 8 on 8x8 pixels the channels-last conv output [1, 8, 8, 8] has the shape of its NCHW
    reference (bireal-cifar: 32 channels on 32x32): its layout must come from the graph, not
    from the shape. (C = 8: the input Quant [1, 8, 8, 8] is ambiguous too.) pad: the Pad(-1)
    folded into conv1 for hls4ml comes back in the check graph as an NHWC Pad(-1)."""
    rng = np.random.default_rng(7)
    m = _block(rng, False, C, K, pad)
    check, _, steps = rewrite.prepare(m, hls=False)
    assert steps["pad_fold"] == (["conv1"] if pad else [])
    assert [n.op_type for n in check.graph.node].count("Pad") == int(pad)
    X = (rng.integers(-140, 140, (3, C, 8, 8)) / 16.0).astype(np.float32)
    r = flow.check_rewrite(m, check, flow.exec_contexts(m, X), X)
    assert r["tensors_compared"] >= 5, r
    assert r["exact"] and r["mismatching"] == {}, r["mismatching"]


@pytest.mark.parametrize("pool", [True, False])
def test_rewrite_exact_on_qonnx(pool):
    """avgpool_conv, requant stand-in + collapse, channels last, BipolarQuant transposes and
    the NHWC mean: the qonnx-executable rewrite equals the original bit for bit."""
    rng = np.random.default_rng(3 if pool else 4)
    m = _block(rng, pool)
    check, table, steps = rewrite.prepare(m, hls=False)
    assert steps["avgpool_conv"] == (["conv0"] if pool else [])
    assert sorted(table) == ["rq0", "rq1"] and steps["gap"] == 1
    assert steps["bq_transposes"] == 1
    assert [n.op_type for n in check.graph.node].count("FixedPointRequant") == 2
    for _ in range(6):
        x = (rng.integers(-140, 140, (1, 8, 8, 8)) / 16.0).astype(np.float32)
        assert _bits(_run(check, x, check.graph.output[0].name), _run(m, x))


def test_avgpool_conv_alone_exact():
    rng = np.random.default_rng(5)
    m = _block(rng, True)
    r, done = rewrite.avgpool_conv(rewrite.tag_nodes(ModelWrapper(m.model.__deepcopy__())))
    assert done == ["conv0"] and "AveragePool" not in [n.op_type for n in r.graph.node]
    from qonnx.transformation.infer_shapes import InferShapes
    r = r.transform(InferShapes())
    for _ in range(6):
        x = (rng.integers(-128, 128, (1, 8, 8, 8)) / 16.0).astype(np.float32)
        ca = execute_onnx(r, {"x": x}, return_full_exec_context=True)["c0"]
        cb = execute_onnx(m, {"x": x}, return_full_exec_context=True)["c0"]
        assert _bits(ca, cb)


def test_requant_table_keeps_integers():
    m = _block(np.random.default_rng(6), False)
    _, table = rewrite.requant_stand_in(m)
    I = {i.name: nh.to_array(i) for i in m.graph.initializer}
    assert table["rq0"]["mult"] == I["A0"].tolist() and table["rq0"]["bias"] == I["B0"].tolist()
    assert table["rq0"]["shift"] == 18 and table["rq0"]["in_frac"] == 4


def test_pad_fold_refuses_non_binary_data():
    nodes, inits = [], []
    n, i = _quant("qx", "x", "xq", 2.0 ** -4, 8)
    nodes.append(n); inits += i
    inits += [nh.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
              nh.from_array(np.array(-1.0, np.float32), "pv"),
              nh.from_array(np.ones((2, 2, 3, 3), np.float32), "w")]
    nodes.append(helper.make_node("Pad", ["xq", "pads", "pv"], ["p"], name="pad"))
    nodes.append(helper.make_node("Conv", ["p", "w"], ["y"], name="c", kernel_shape=[3, 3]))
    m = _model(nodes, inits, [1, 2, 5, 5], [1, 2, 5, 5])
    with pytest.raises(BiRealError, match="only Pad"):
        rewrite.pad_fold(m)


def test_precision_formulas():
    (w, f), _ = precision._sum_type(9, {"lo": 0, "hi": 255, "frac": 8},
                                    {"lo": -127, "hi": 127, "frac": 0})
    assert (w, f) == ((9 * 255 * 127).bit_length() + 1, 8) == (20, 8)
    (w, f), _ = precision._sum_type(432, {"binary": True}, {"binary": True})
    assert (w, f) == (10, 0)                      # |acc| <= 432 < 2^9
    assert precision._frac_bits([10.5625, -4.1875]) == 4


def test_three_way_verdict():
    G = np.arange(12, dtype=np.float32).reshape(3, 4)
    Y, R = G.copy(), G.copy()
    R[1, 2] += 1
    ok = np.ones(3, bool)
    t = flow.three_way((R, {"bit_exact": False}, "b"), G, Y, ok)
    assert t["rtl_vs_pytorch_mismatches"] == 1 and t["rtl_vs_hls4ml_mismatches"] == 1
    assert not t["agree"]
    assert flow.three_way((G.copy(), {}, "b"), G, Y, ok)["agree"]


def _export(tmp_path_factory, shortcut):
    from model.cli import do_export
    d = tmp_path_factory.mktemp(f"hls4ml_{shortcut}")
    do_export(argparse.Namespace(ckpt=f"model/weights/bireal-tiny-{shortcut}.pt", arch=None,
                                 random_init=False, images=IMAGES, data=None, data_root=None,
                                 seed=0, affine_bits=16, out=str(d / "exp"), shortcut=None))
    return d


@pytest.fixture(scope="module")
def fixed8(tmp_path_factory):
    """The shipped fixed8 tiny net through `bireal hls4ml` (one g++ compile)."""
    from sim.cli import main
    d = _export(tmp_path_factory, "fixed8")
    code = 0
    try:
        main(["hls4ml", "--onnx", str(d / "exp" / "model.onnx"), "--board", "pynq-z2",
              "--out", str(d / "out")])
    except SystemExit as e:                     # 1: a mismatch (the json is still written)
        code = e.code
    r = json.loads((d / "out" / "hls4ml.json").read_text())
    r["_exit"] = code
    return d, r


def test_fixed8_bit_exact(fixed8):
    d, r = fixed8
    assert r["images"] == IMAGES and r["mismatches"] == 0 and r["bit_exact"] is True
    assert r["_exit"] in (0, None)
    assert r["shortcut"] == "fixed8" and r["hls4ml_version"] == "1.3.0"
    assert r["rewrite"]["check"]["exact"] and r["rewrite"]["check"]["images"] == IMAGES
    pl = r["per_layer"]
    assert pl["first_mismatch_layer"] is None and pl["images"] == IMAGES
    names = [x["hls4ml_layer"] for x in pl["layers"]]
    assert [x for x in names if x.startswith("FixedPointRequant_")] == \
        [f"FixedPointRequant_{k}" for k in (0, 1, 2, 3, 4, 5, 6)]
    assert all(x["mismatches"] == 0 for x in pl["layers"])
    prj = d / "out" / "prj"
    assert (prj / "build_prj.tcl").is_file() and (prj / "firmware" / "bireal.cpp").is_file()
    assert "xc7z020clg400-1" in (prj / "project.tcl").read_text() + \
        (prj / "hls4ml_config.yml").read_text()
    assert "csynth not run" in r["skipped"]
    conv0 = next(x for x in r["precisions"] if x["layer"] == "Conv_0" and x["key"] == "accum")
    assert conv0["precision"] == "fixed<20,12>"


def test_wrong_precision_is_named(fixed8, tmp_path):
    """A too-narrow accumulator in Conv_2 (wraps): the comparison names that layer."""
    d, _ = fixed8
    r = flow.run(d / "exp" / "model.onnx", "zcu104", tmp_path / "o", images=3, trace_images=3,
                 override={"Conv_2": {"accum": "fixed<6,6>", "result": "fixed<6,6>"}},
                 quiet=True)
    assert r["per_layer"]["first_mismatch_layer"] == "Conv2D_Conv_2"
    assert r["part"] == "xczu7ev-ffvc1156-2-e"
    before = [x for x in r["per_layer"]["layers"]][:6]
    assert all(x["mismatches"] == 0 for x in before if x["hls4ml_layer"] != "Conv2D_Conv_2")


def test_bad_input_one_line(fixed8, capsys, tmp_path):
    from sim.cli import main
    d, _ = fixed8
    for extra, want in ((["--shortcut", "float32"], "exported with shortcut fixed8"),
                        (["--build", str(tmp_path)], "no compile.json"),
                        (["--images", "500"], "golden tensors for 20 images")):
        with pytest.raises(SystemExit) as e:
            main(["hls4ml", "--onnx", str(d / "exp" / "model.onnx"), "--out",
                  str(tmp_path / "o")] + extra)
        assert e.value.code == 2
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and err[0].startswith("bireal: error:") and want in err[0], err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_float32_bit_exact(tmp_path_factory):
    """float32 shortcut through hls4ml's float type: logits and every float layer bit for bit."""
    d = _export(tmp_path_factory, "float32")
    r = flow.run(d / "exp" / "model.onnx", "pynq-z2", d / "out", quiet=True)
    assert r["shortcut"] == "float32" and r["bit_exact"] and r["mismatches"] == 0
    assert r["per_layer"]["first_mismatch_layer"] is None
    assert any("ScaleDownAdd" in w for w in r["workarounds"])


@pytest.mark.slow
def test_cifar_random_through_hls4ml(tmp_path):
    from conftest import export_random
    onnx = export_random("bireal-cifar", tmp_path / "exp", 3)
    r = flow.run(onnx, "zcu104", tmp_path / "out", quiet=True)
    assert r["bit_exact"] and r["per_layer"]["first_mismatch_layer"] is None


def _fake_run(bad: str | None):
    """A stand-in for flow.run (the real one: minutes of g++ and C simulation) returning what
    it returns, with the three-way verdict computed by flow.three_way from given logits."""
    def run(onnx, board, out, images=None, build=None, trace_images=20, **kw):
        assert build is not None and str(build).endswith("hw") and images == 4
        assert trace_images == 4 and str(out).endswith("hls4ml") and board == "pynq-z2"
        G = np.arange(1, 9, dtype=np.float32).reshape(4, 2)
        Y, R = G.copy(), G.copy()
        if bad == "both":               # hls4ml differs on image 1, the RTL on images 2, 3
            Y[1, 0] = -Y[1, 0]
        if bad:
            R[2:, 1] = -R[2:, 1]
        ok = flow.bits_equal(Y, G).all(1)
        t = flow.three_way((R, {"bit_exact": not bad}, build), G, Y, ok)
        return {"images": 4, "bit_exact": bool(ok.all()), "mismatches": int((~ok).sum()),
                "three_way": t,
                "per_layer": {"first_mismatch_layer": None}, "seconds": 9.0,
                "compile_seconds": 5.0, "predict_seconds": 1.5, "source": "[hls4ml C sim]",
                "skipped": "no Vitis HLS: csynth not run", "hls4ml_version": "1.3.0",
                "shortcut": "fixed8", "board": board, "part": flow.BOARD_PARTS[board],
                "rewrite": {"check": {"tensors_compared": 3}}}
    return run


@pytest.mark.parametrize("bad", [None, "both", "rtl"])
def test_build_also_hls4ml_stage_and_report(bad, monkeypatch, tmp_path, capsys):
    """`bireal build --also-hls4ml`: the stage's build.json entry, the exit verdict and the
    report's three-way table (flow.run stood in; the real route is tested above)."""
    from model.export import save_json
    from sim import build
    from sim.report import write_report
    monkeypatch.setattr(flow, "run", _fake_run(bad))
    h = build.hls4ml_stage(tmp_path, "pynq-z2", 4)
    agree = bad is None
    assert h["status"] == "done" and h["agree"] is agree and h["images"] == 4
    assert h["three_way"]["rtl_vs_pytorch_mismatches"] == (0 if agree else 2)
    assert h["bit_exact"] is (bad != "both")
    assert build.passed({"bit_exact": True, "hls4ml": h}) is agree
    save_json(tmp_path / "build.json", {"arch": "bireal-tiny", "bit_exact": True, "hls4ml": h})
    md = (tmp_path / write_report(tmp_path)["md"]).read_text()
    a, b, c = {None: (0, 0, 0), "both": (1, 2, 3), "rtl": (0, 2, 2)}[bad]
    assert (f"Second route, hls4ml 1.3.0: {'all three agree' if agree else 'DISAGREE'} on 4 "
            "images") in md
    assert f"| PyTorch vs hls4ml C sim | {a} | [PyTorch] / [hls4ml C sim] |" in md
    assert f"| PyTorch vs RTL sim | {b} | [PyTorch] / [sim] |" in md
    assert f"| hls4ml C sim vs RTL sim | {c} | [hls4ml C sim] / [sim] |" in md


def test_build_also_hls4ml_refusal_recorded(monkeypatch, tmp_path, capsys):
    from sim import build
    from sim.report import write_report

    def refuse(*a, **k):
        raise BiRealError("rewrite for hls4ml is not exact on qonnx: {'Conv_0': 7}")
    monkeypatch.setattr(flow, "run", refuse)
    h = build.hls4ml_stage(tmp_path, "pynq-z2", 4)
    assert h == {"status": "failed", "agree": False,
                 "error": "rewrite for hls4ml is not exact on qonnx: {'Conv_0': 7}"}
    assert "hls4ml: failed: rewrite" in capsys.readouterr().err
    assert not build.passed({"bit_exact": True, "hls4ml": h})
    assert build.passed({"bit_exact": True})
    (tmp_path / "build.json").write_text(json.dumps({"bit_exact": True, "hls4ml": h}))
    md = (tmp_path / "report.md").read_text() if write_report(tmp_path) else ""
    assert "hls4ml 1.3.0: FAILED: rewrite for hls4ml is not exact" in md
