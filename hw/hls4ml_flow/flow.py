"""`bireal hls4ml`: the export through hls4ml 1.3.0 (Vitis backend, io_stream), its C++
emulation (g++ with hls4ml's ap_types; no vendor tool) checked bit for bit.

  1. rewrite (hw.hls4ml_flow.rewrite) and its check: the graph handed to hls4ml, made
     qonnx-executable (rewrite.check_graph), vs the export, every tensor both have (logits, requant / Quant / residual-add outputs, convs),
     over the golden images, float32 bit patterns equal (tolerance 0)
  2. hls4ml config: Vitis, io_stream, the board's part, per-layer precisions
     (hw.hls4ml_flow.precision; float32 mode: default `float` = binary32), Trace on every layer
  3. compile() (writes the Vitis HLS project into DIR/prj) + predict() on the golden images:
     logits vs golden_out.npy (PyTorch) as uint32 bit patterns, tolerance 0
  4. per-layer: hls4ml trace() vs qonnx execution of the export (full exec context), NHWC ->
     NCHW; the first layer (graph order) whose tensor differs is named
  5. optional: the Verilator simulation's logits of a `bireal sim` build (DIR/sim_logits.npy)
     -> three-way verdict PyTorch / hls4ml / RTL sim
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from model import guard
from model.errors import BiRealError
from model.export import save_json

from . import ext, precision, rewrite

BOARD_PARTS = {"pynq-z2": "xc7z020clg400-1", "zcu104": "xczu7ev-ffvc1156-2-e"}
HLS4ML_VERSION = "1.3.0"
OWNED = ("hls4ml.json", "prj", "rewritten.onnx", "check.onnx")


_PREPARED: dict = {}


def prepared(onnx_path, export, hls: bool):
    """rewrite.prepare(export, hls), cached per (file, mtime) within the process: qonnx's
    layout pass runs once per graph (~20 s on bireal-tiny, minutes on bireal-cifar) and the
    check graph is derived from the hls4ml graph (rewrite.check_graph)."""
    p = Path(onnx_path).resolve()
    key = (str(p), p.stat().st_mtime_ns)
    if key not in _PREPARED:
        _PREPARED[key] = rewrite.prepare(export, hls=True)
    m, table, steps = _PREPARED[key]
    from qonnx.core.modelwrapper import ModelWrapper
    m = rewrite.check_graph(m, steps) if not hls else ModelWrapper(m.model.__deepcopy__())
    return m, table, steps


def bits_equal(a, b) -> np.ndarray:
    """Elementwise: float32 bit patterns equal (-0.0 != +0.0, tolerance 0)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.view(np.uint32) == b.view(np.uint32)


def exec_contexts(m, images: np.ndarray) -> list[dict]:
    """qonnx full execution context per image (batch-1 graph)."""
    from qonnx.core.onnx_exec import execute_onnx
    iname = m.graph.input[0].name
    return [execute_onnx(m, {iname: images[i:i + 1].astype(np.float32)},
                         return_full_exec_context=True) for i in range(len(images))]


def layouts(m) -> dict:
    """{tensor: 'NCHW' | 'NHWC'} for every 4-D tensor of a rewritten graph, propagated from
    the graph input (NCHW) through its Transposes (every other op keeps the layout of its
    first activation input). A layout cannot be read off a shape: [1, 32, 32, 32] is both."""
    from .rewrite import attrs
    lay = {i.name: "NCHW" for i in m.graph.input}
    flip = {("NCHW", (0, 2, 3, 1)): "NHWC", ("NHWC", (0, 3, 1, 2)): "NCHW"}
    for n in m.graph.node:
        src = next((lay[x] for x in n.input if x in lay), None)
        if n.op_type == "Transpose":
            src = flip.get((src, tuple(attrs(n)["perm"])))
        for o in n.output:
            shp = m.get_tensor_shape(o)
            if src is not None and shp is not None and len(shp) == 4:
                lay[o] = src
    return lay


def _as_nchw(x: np.ndarray, ref_shape, layout: str | None) -> np.ndarray:
    """A tensor of the rewritten graph with the given layout (layouts(); None: not 4-D there,
    e.g. the [N, C] mean of a [N, C, 1, 1] pool) in the export's NCHW shape ref_shape."""
    if len(ref_shape) == 4 and layout == "NHWC":
        n, c, h, w = ref_shape
        return np.asarray(x).reshape(n, h, w, c).transpose(0, 3, 1, 2)
    if len(ref_shape) == 4 and layout is None and ref_shape[2] * ref_shape[3] > 1:
        raise BiRealError(f"no layout known for a 4-D tensor of shape {ref_shape}")
    return np.asarray(x).reshape(ref_shape)


def check_rewrite(export, check_m, ref_ctx: list[dict], images: np.ndarray) -> dict:
    """Every tensor of the export that the rewritten check graph also produces (matched by the
    export node name it carries), equal bit for bit on every image."""
    ctx = exec_contexts(check_m, images)
    pairs = []
    for n in check_m.graph.node:
        src = export.get_node_from_name(n.name)
        weights = check_m.get_initializer(n.input[0]) is not None
        if src is not None and not weights and n.op_type not in ("Transpose", "Pad"):
            pairs.append((n.name, n.output[0], src.output[0]))
    bad, lay = {}, layouts(check_m)
    for got, ref in zip(ctx, ref_ctx):
        for name, t, r in pairs:
            g = _as_nchw(got[t], ref[r].shape, lay.get(t))
            k = int((~bits_equal(g, ref[r])).sum())
            if k:
                bad[name] = bad.get(name, 0) + k
    return {"images": len(images), "tensors_compared": len(pairs), "mismatching": bad,
            "exact": not bad, "how": "qonnx execute_onnx of the graph handed to hls4ml (folded pads "
            "as NHWC Pad(-1), FixedPointRequant integer, NHWC mean as ReduceMean) vs the "
            "export, uint32 bits"}


def hls_config(m, float_mode: bool, override: dict | None):
    """hls4ml config (granularity name, Vitis) with derived precisions and Trace on."""
    import hls4ml
    cfg = hls4ml.utils.config_from_onnx_model(
        m, granularity="name", backend="Vitis",
        default_precision="float" if float_mode else "fixed<32,16>")
    prec, rows = precision.derive(m, float_mode)
    precision.apply(cfg, prec, override)
    for k in cfg["LayerName"]:
        cfg["LayerName"][k]["Trace"] = True
    return cfg, rows


def per_layer(hm, m, trace: dict, ref_ctx: list[dict], export) -> dict:
    """hls4ml trace vs the export's qonnx execution, layer by layer in graph order.
    Float-typed layers: uint32 bit patterns; fixed-typed layers: values (a fixed type has no
    -0.0, qonnx's Quant may return -0.0 for 0); the global average pool: |hls - qonnx| < 2^-F
    (hls4ml truncates the mean to its F fractional bits, binary32 rounds it; the next Quant is
    then compared exactly). The first layer that fails is named."""
    prod = {o: n for n in m.graph.node for o in n.output}
    rows, first, lay = [], None, layouts(m)
    k = len(next(iter(trace.values()))) if trace else 0
    for L in hm.get_layers():
        if L.name not in trace or not L.outputs:
            continue
        node = prod.get(L.outputs[0])
        src = export.get_node_from_name(node.name) if node is not None else None
        if src is None or L.class_name in ("Clone", "Transpose", "ZeroPadding2D"):
            continue
        r = src.output[0]
        ref = np.concatenate([c[r] for c in ref_ctx[:k]])
        got = np.asarray(trace[L.name]).reshape(k, -1)
        if src.op_type == "BipolarQuant":
            got = got * 2.0 - 1.0                       # hls4ml codes +-1 as 1 / 0
        lt = lay.get(L.outputs[0])
        got = np.concatenate([_as_nchw(g, (1,) + ref.shape[1:], lt) for g in got])
        p = L.get_output_variable().type.precision
        kind = type(p).__name__
        row = {"hls4ml_layer": L.name, "class": L.class_name, "export_tensor": r,
               "elements": int(ref.size),
               "types": {t: str(v.precision) for t, v in L.types.items()}}
        if "Float" in kind or "float" in str(p):
            row["compare"], bad = "uint32 bits", int((~bits_equal(got, ref)).sum())
        elif L.class_name.startswith("GlobalPooling"):
            f = p.width - p.integer
            d = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
            row["compare"], row["max_abs_diff"] = f"|diff| < 2^-{f} (truncated mean)", d
            bad = int((np.abs(got.astype(np.float64) - ref) >= 2.0 ** -f).sum())
        else:
            row["compare"], bad = "values", int((got.astype(np.float64) != ref).sum())
        row["mismatches"] = bad
        rows.append(row)
        if bad and first is None:
            first = L.name
    return {"images": k, "layers": rows, "first_mismatch_layer": first}


def sim_logits(build: Path):
    """(logits, sim.json) of a `bireal sim` build (a compile folder or a `bireal build` DIR)."""
    for d in (build, build / "hw"):
        if (d / "compile.json").is_file():
            f = d / "sim_logits.npy"
            if not f.is_file():
                raise BiRealError(f"{d} has no sim_logits.npy: run `bireal sim --build {d}` "
                                  "(it saves the simulated logits) first")
            return np.load(f), guard.need_json(d / "sim.json", "sim.json"), d
    raise BiRealError(f"--build {build}: no compile.json in it or in {build / 'hw'}")


def run(onnx_path, board: str, out, shortcut: str | None = None, images: int | None = None,
        build=None, override: dict | None = None, quiet: bool = False,
        trace_images: int = 20) -> dict:
    """The whole check; writes OUT/hls4ml.json and the Vitis HLS project OUT/prj.
    override: {onnx layer: {precision key: type}} applied after the derived precisions (a
    test hook: a wrong type must be named by the per-layer comparison). The per-layer trace
    runs on the first `trace_images` images (every image goes through predict())."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    import model.custom_op  # noqa: F401  (registers FixedPointRequant with qonnx)
    if board not in BOARD_PARTS:
        raise BiRealError(f"--board must be one of {', '.join(BOARD_PARTS)}, got {board!r}")
    if hls4ml.__version__ != HLS4ML_VERSION:
        raise BiRealError(f"hls4ml {hls4ml.__version__} installed; this route is pinned to "
                          f"{HLS4ML_VERSION} (scripts/setup.sh)")
    info = guard.project_export(onnx_path, images)
    mode = info.get("shortcut", "fixed8")
    if shortcut is not None and shortcut != mode:
        raise BiRealError(f"--shortcut {shortcut}: {onnx_path} was exported with shortcut "
                          f"{mode} (export.json)")
    float_mode = mode == "float32"
    n = images or int(info.get("images", 100))
    d = Path(onnx_path).parent
    X = np.load(d / "golden_in.npy")[:n].astype(np.float32)
    G = np.load(d / "golden_out.npy")[:n].astype(np.float32)
    rtl = sim_logits(Path(build)) if build is not None else None
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    ext.register()
    res = {"hls4ml_version": hls4ml.__version__, "board": board, "part": BOARD_PARTS[board],
           "backend": "Vitis", "io_type": "io_stream", "shortcut": mode, "images": n,
           "onnx": str(Path(onnx_path).resolve()), "source": "[hls4ml C sim]: hls4ml compile() "
           "(g++, hls4ml's ap_types) + predict()/trace()",
           "skipped": "no Vitis HLS: csynth not run (the project in prj/ is ready for "
                      "`vitis_hls -f build_prj.tcl`)"}
    t0 = time.time()
    export = ModelWrapper(str(onnx_path))
    say(f"hls4ml: qonnx execution of the export on {n} images (reference)")
    ref_ctx = exec_contexts(export, X)
    check_m, _, _ = prepared(onnx_path, export, hls=False)
    hls_m, table, steps = prepared(onnx_path, export, hls=True)
    res["rewrite"] = {"steps": steps, "check": check_rewrite(export, check_m, ref_ctx, X)}
    res["rewrite"]["check"]["pad_fold"] = ("checked as an NHWC Pad(-1) before the Conv (the "
                                           "check graph's only difference for it); the "
                                           "per-layer trace checks hls4ml's padding")
    res["rewrite_seconds"] = round(time.time() - t0, 1)
    if not res["rewrite"]["check"]["exact"]:
        raise BiRealError(f"rewrite for hls4ml is not exact on qonnx: "
                          f"{res['rewrite']['check']['mismatching']}")
    w = []
    if steps["requant"]:
        w.append(f"FixedPointRequant x{len(steps['requant'])}: extension layer FPRequant "
                 "(integer A, B, S; hw/hls4ml_ext/nnet_fp_requant_stream.h)")
    if steps.get("pad_fold"):
        w.append(f"Pad(-1) folded into Conv pads x{len(steps['pad_fold'])} (hls4ml pads "
                 "1-bit data with code 0 = -1; Pad(-1) itself is rejected)")
    if steps["avgpool_conv"]:
        w.append("AveragePool 2x2 + 1x1 Conv -> 2x2/s2 Conv with Quant(W/4, scale 1/4) "
                 "(hls4ml wants channels-last AveragePool; a quantized weight stops bn_fuse)")
    w.append("per-channel constants [1,1,1,C] -> [C] (merge_const broadcast crash)")
    if steps["bq_transposes"]:
        w.append(f"{steps['bq_transposes']} Transpose pairs around BipolarQuant removed")
    if steps["gap"]:
        w.append("GlobalAveragePool fed NHWC + NHWC handler (the stock handler reads the NCHW "
                 "shape: compile-time division by zero in io_stream, 'Illegal instruction')")
    res["workarounds"] = w
    if float_mode:
        res["workarounds"].append("ScaleDownAdd optimizer disabled (crash on Add of two float "
                                  "ApplyAlphas: 'Unexpected new precision type')")
    cfg, rows = hls_config(hls_m, float_mode, override)
    res["precision_override"] = override or None
    with guard.staged(out, OWNED) as tmp:
        _emulate(res, hls_m, cfg, Path(tmp) / "prj", X, G, ref_ctx, export, say,
                 min(n, trace_images))
        res["precisions"] = rows
        if rtl is not None:
            res["three_way"] = three_way(rtl, G, res.pop("_Y"), res.pop("_ok"))
        res.pop("_Y", None)
        res.pop("_ok", None)
        res["seconds"] = round(time.time() - t0, 1)
        save_json(Path(tmp) / "hls4ml.json", res)
        check_m.save(str(Path(tmp) / "check.onnx"))
        hls_m.save(str(Path(tmp) / "rewritten.onnx"))
    return res


def _emulate(res, hls_m, cfg, prj: Path, X, G, ref_ctx, export, say, trace_images: int):
    """convert + compile (trace enabled) + predict + trace into res."""
    import hls4ml
    n = len(X)
    say(f"hls4ml: convert ({res['board']}, {res['part']}, io_stream) + g++ compile")
    with ext.no_scale_down_add():
        hm = hls4ml.converters.convert_from_onnx_model(
            hls_m.model, output_dir=str(prj), io_type="io_stream", backend="Vitis",
            hls_config=cfg, part=res["part"], project_name="bireal")
    t = time.time()
    hm.config.trace_output = True
    hm.compile()
    res["compile_seconds"] = round(time.time() - t, 1)
    xin = np.ascontiguousarray(X.reshape(n, -1))      # graph input stays NCHW (Transpose_0)
    t = time.time()
    Y = np.asarray(hm.predict(xin), np.float32).reshape(G.shape)
    res["predict_seconds"] = round(time.time() - t, 3)
    ok = bits_equal(Y, G).reshape(n, -1).all(1)
    res["mismatches"] = int((~ok).sum())
    res["first_mismatch"] = None if ok.all() else int(np.argmin(ok))
    res["bit_exact"] = bool(ok.all())
    res["tolerance"] = 0
    res["_Y"], res["_ok"] = Y, ok
    comp = hm.compile
    hm.compile = lambda: None              # trace() recompiles; the library already traces
    try:
        t = time.time()
        _, tr = hm.trace(xin[:trace_images])
        res["trace_seconds"] = round(time.time() - t, 2)
    finally:
        hm.compile = comp
    res["per_layer"] = per_layer(hm, hls_m, tr, ref_ctx, export)


def three_way(rtl, G, Y, ok) -> dict:
    """PyTorch (G), hls4ml (Y) and the Verilator sim's logits, image by image, bit for bit."""
    R, sj, bdir = rtl
    k = min(len(R), len(G))
    R = R[:k].astype(np.float32).reshape(G[:k].shape)
    rt = bits_equal(R, G[:k]).reshape(k, -1).all(1)
    rh = bits_equal(R, Y[:k]).reshape(k, -1).all(1)
    return {"build": str(bdir), "images": k, "rtl_vs_pytorch_mismatches": int((~rt).sum()),
            "rtl_vs_hls4ml_mismatches": int((~rh).sum()),
            "hls4ml_vs_pytorch_mismatches": int((~ok[:k]).sum()),
            "sim_bit_exact": sj.get("bit_exact"), "sim_first_bad_layer": sj.get("first_bad_layer"),
            "agree": bool(rt.all() and rh.all() and ok[:k].all())}


def format_result(res: dict) -> str:
    head = (f"bit-exact vs PyTorch on {res['images']}/{res['images']} images" if res["bit_exact"]
            else f"MISMATCH on {res['mismatches']}/{res['images']} images (first layer that "
                 f"differs: {res['per_layer']['first_mismatch_layer']})")
    lines = [f"hls4ml {res['hls4ml_version']} C++ emulation ({res['shortcut']}, {res['board']} "
             f"{res['part']}, io_stream): {head}",
             f"  compile {res['compile_seconds']:.0f} s, predict {res['predict_seconds']:.2f} s, "
             f"rewrite checked exact on qonnx ({res['rewrite']['check']['tensors_compared']} "
             "tensors)"]
    if "three_way" in res:
        t = res["three_way"]
        lines.append(f"  three-way (PyTorch, hls4ml, RTL sim) on {t['images']} images: "
                     f"{'all agree' if t['agree'] else 'DISAGREE'} (RTL vs PyTorch "
                     f"{t['rtl_vs_pytorch_mismatches']}, RTL vs hls4ml "
                     f"{t['rtl_vs_hls4ml_mismatches']})")
    lines.append(f"  {res['skipped']}")
    return "\n".join(lines)
