"""Folding (PE/SIMD parallelism) of FINN HW layers: legal values, checks, auto folding, files.

A layer processing a frame in C cycles at PE = SIMD = 1 takes about C / (PE * SIMD) cycles
folded; e.g. MVAU: cycles = (MH / PE) * (MW / SIMD) * prod(numInputVectors). The pipeline runs at
the pace of its slowest layer, so a target of T cycles per frame asks every layer for <= T:

    T = clock_hz / fps                                           (target_from_fps)

Folding files use FINN's folding_config.json format, {"Defaults": {}, "<node name>": {"PE": ..,
"SIMD": .., "ram_style": .., ...}}, written with FINN's `extract_model_config` and applied with
FINN's `ApplyConfig`.
"""
from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import warnings
from collections import Counter
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from finn.custom_op.fpgadataflow.convolutioninputgenerator import ConvolutionInputGenerator
from finn.custom_op.fpgadataflow.duplicatestreams import DuplicateStreams
from finn.custom_op.fpgadataflow.elementwise_binary import ElementwiseBinaryOperation
from finn.custom_op.fpgadataflow.fmpadding import FMPadding
from finn.custom_op.fpgadataflow.globalaccpool import GlobalAccPool
from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU
from finn.custom_op.fpgadataflow.pool import Pool
from finn.custom_op.fpgadataflow.thresholding import Thresholding
from finn.transformation.fpgadataflow.set_folding import SetFolding
from finn.transformation.general import ApplyConfig
from finn.util.basic import MAX_ALLOWED_AP_INT_W
from finn.util.config import extract_model_config
from finn.util.fpgadataflow import is_fpgadataflow_node
from finn.util.logging import log as finn_log
from hw.boards import FIT_CAP, Board, get_board
from hw.estimates import (THR_META, estimate, hw_nodes, layer_name, over_cap, place_thresholds,
                          set_thr_memory, spec_ops, specialized, undecided_thresholds)
from model.errors import BiRealError

# the attributes FINN's build flow writes to (auto_)folding_config.json
FOLDING_ATTRS = ["PE", "SIMD", "EmbFold", "SeqFold", "parallel_window", "ram_style",
                 "ram_style_thresholds", "ram_style_mask", "depth", "impl_style", "resType",
                 "mac_resource", "mem_mode", "runtime_writeable_weights", "depth_trigger_uram",
                 "depth_trigger_bram"]
_COPY_BACK = ("PE", "SIMD", "parallel_window")


def divisors(n: int) -> list[int]:
    """All d in 1..n with n % d == 0."""
    return [d for d in range(1, int(n) + 1) if n % d == 0]


def _hls_mvau(inst) -> bool:
    """MVAU that FINN implements in HLS: specialized _hls, or binaryXnorMode=1 (MVAU_rtl is
    DSP-based and rejects XNOR mode)."""
    return isinstance(inst, MVAU) and inst.onnx_node.domain != "hw.ops" and (
        inst.onnx_node.op_type.endswith("_hls") or inst.get_nodeattr("binaryXnorMode") == 1)


def _rules(inst) -> dict[str, tuple[list[int], str]]:
    """{attr: (legal values, why)} for the folding attributes of one HW op."""
    if isinstance(inst, MVAU):
        mh, mw = inst.get_nodeattr("MH"), inst.get_nodeattr("MW")
        simd, why = divisors(mw), f"SIMD must divide MW={mw}"
        if _hls_mvau(inst):           # asserted by MVAU_hls code generation
            simd, why = [s for s in simd if s * 1024 >= mw], why + " and be >= MW/1024 (HLS MVAU)"
        return {"PE": (divisors(mh), f"PE must divide MH={mh}"), "SIMD": (simd, why)}
    if isinstance(inst, ConvolutionInputGenerator):
        ch = inst.get_nodeattr("IFMChannels")
        k = list(inst.get_nodeattr("ConvKernelDim"))
        if inst.get_nodeattr("parallel_window") and not inst.get_nodeattr("depthwise") \
                and k != [1, 1]:
            return {"SIMD": ([ch], f"parallel_window=1 needs SIMD = IFMChannels={ch}")}
        return {"SIMD": (divisors(ch), f"SIMD must divide IFMChannels={ch}")}
    if isinstance(inst, FMPadding):
        ch = inst.get_nodeattr("NumChannels")
        return {"SIMD": (divisors(ch), f"SIMD must divide NumChannels={ch}")}
    if isinstance(inst, Pool):
        ch = inst.get_nodeattr("Channels")
        return {"PE": (divisors(ch), f"PE must divide Channels={ch}")}
    if isinstance(inst, (Thresholding, DuplicateStreams, GlobalAccPool)):
        ch = inst.get_nodeattr("NumChannels")
        return {"PE": (divisors(ch), f"PE must divide NumChannels={ch}")}
    if isinstance(inst, ElementwiseBinaryOperation):
        dims = {d for d in (inst.get_nodeattr("out_shape")[-1], inst.get_nodeattr("lhs_shape")[-1],
                            inst.get_nodeattr("rhs_shape")[-1]) if d != 1} or {1}
        legal = [p for p in divisors(max(dims)) if all(d % p == 0 for d in dims)]
        return {"PE": (legal, f"PE must divide the last dimension {max(dims)}")}
    types = inst.get_nodeattr_types()
    if "PE" in types and "NumChannels" in types:
        # the project's channel-wise units: ShortcutAdd, Requant, FloatShortcutAdd, FloatToInt
        ch = inst.get_nodeattr("NumChannels")
        return {"PE": (divisors(ch), f"PE must divide NumChannels={ch}")}
    if "PE" in types or "SIMD" in types:
        raise BiRealError(f"layer {layer_name(inst.onnx_node)}: no folding rule for op type "
                          f"{inst.onnx_node.op_type}")
    return {}


def legal_values(node_inst) -> dict[str, list[int]]:
    """Legal values of each folding attribute (PE, SIMD) of a HW op, as FINN's ops assert them:
    MVAU PE | MH, SIMD | MW (HLS: SIMD >= MW/1024); Thresholding, DuplicateStreams,
    GlobalAccPool PE | NumChannels; FMPadding SIMD | NumChannels; ConvolutionInputGenerator
    SIMD | IFMChannels (SIMD = IFMChannels when parallel_window=1; depthwise: SIMD = PE of the
    consumer, checked by check_folding); Pool PE | Channels; Elementwise* PE | last dim."""
    return {a: vals for a, (vals, _) in _rules(node_inst).items()}


def _joint_problem(inst) -> str | None:
    """A constraint on PE and SIMD together that the op violates, or None."""
    if _hls_mvau(inst) and inst.get_nodeattr("mem_mode") != "internal_embedded":
        w = inst.get_input_datatype(1).bitwidth()
        width = inst.get_nodeattr("PE") * inst.get_nodeattr("SIMD") * w
        if width > MAX_ALLOWED_AP_INT_W:
            return (f"weight stream PE*SIMD*{w} bit = {width} bit exceeds FINN's HLS limit "
                    f"MAX_ALLOWED_AP_INT_W={MAX_ALLOWED_AP_INT_W}")
    return None


def _tied_problem(model: ModelWrapper, inst) -> str | None:
    """A depthwise SWG streams channel folds of its consumer (Pool, VVAU): SIMD must equal the
    consumer's PE (FINN's SetFolding sets both)."""
    if isinstance(inst, ConvolutionInputGenerator) and inst.get_nodeattr("depthwise"):
        cons = model.find_consumer(inst.onnx_node.output[0])
        if cons is not None and is_fpgadataflow_node(cons):
            pe = getCustomOp(cons).get_nodeattr("PE")
            if inst.get_nodeattr("SIMD") != pe:
                return f"a depthwise SWG needs SIMD = PE={pe} of its consumer {layer_name(cons)}"
    return None


def check_folding(model: ModelWrapper) -> None:
    """Raise BiRealError naming the first HW layer whose PE/SIMD is illegal, with legal values."""
    for node, inst in hw_nodes(model):
        for attr, (legal, why) in _rules(inst).items():
            v = inst.get_nodeattr(attr)
            if v not in legal:
                raise BiRealError(f"layer {layer_name(node)} ({node.op_type}): {attr}={v} is "
                                  f"illegal, {why}; legal values: {legal}")
        problem = _joint_problem(inst) or _tied_problem(model, inst)
        if problem:
            now = ", ".join(f"{a}={inst.get_nodeattr(a)}" for a in ("PE", "SIMD")
                            if a in inst.get_nodeattr_types())
            raise BiRealError(f"layer {layer_name(node)} ({node.op_type}): {now}: {problem}")


def target_from_fps(fps: float, clock_mhz: float) -> int:
    """Cycles per frame for `fps` frames/s at `clock_mhz`: floor(clock_hz / fps)."""
    if not (fps > 0 and clock_mhz > 0):
        raise BiRealError(f"fps and clock_mhz must be > 0, got fps={fps!r}, "
                          f"clock_mhz={clock_mhz!r}")
    return max(1, int(clock_mhz * 1e6 // fps))


def _configs(inst):
    """Every legal {attr: value} folding of `inst` (RTL SWG: also parallel_window=1)."""
    if isinstance(inst, ConvolutionInputGenerator):
        ch = inst.get_nodeattr("IFMChannels")
        yield from ({"SIMD": s, "parallel_window": 0} for s in divisors(ch))
        if inst.onnx_node.op_type.endswith("_rtl") \
                and list(inst.get_nodeattr("ConvKernelDim")) != [1, 1]:
            yield {"SIMD": ch, "parallel_window": 1}
        return
    rules = _rules(inst)
    for combo in itertools.product(*(vals for vals, _ in rules.values())):
        yield dict(zip(rules, combo))


def _lanes(inst, cfg: dict) -> int:
    """Parallel lanes of a folding, PE * SIMD (x kernel size for a parallel-window SWG)."""
    lanes = cfg.get("PE", 1) * cfg.get("SIMD", 1)
    if cfg.get("parallel_window"):
        lanes *= math.prod(inst.get_nodeattr("ConvKernelDim"))
    return lanes


def _speed_up(inst, target: int) -> None:
    """Cheapest legal folding (fewest lanes, then least PE) with cycles <= target, else the
    fastest one; applied only if faster than the current folding. Pool and depthwise SWGs are
    left alone: the SWG's SIMD is tied to the Pool's PE (SetFolding sets both)."""
    if isinstance(inst, Pool) or (isinstance(inst, ConvolutionInputGenerator)
                                  and inst.get_nodeattr("depthwise")):
        return
    cur = {a: inst.get_nodeattr(a) for a in _COPY_BACK if a in inst.get_nodeattr_types()}
    now, best, best_key = inst.get_exp_cycles(), None, None
    for cfg in _configs(inst):
        for a, v in cfg.items():
            inst.set_nodeattr(a, int(v))
        if _joint_problem(inst):
            continue
        c = inst.get_exp_cycles()
        key = (c > target, c if c > target else 0, _lanes(inst, cfg), cfg.get("PE", 1))
        if best_key is None or key < best_key:
            best, best_key = (cfg, c), key
    chosen = best[0] if best and best[1] < now else cur
    for a, v in chosen.items():
        inst.set_nodeattr(a, int(v))


def _pad_at_window_width(model: ModelWrapper) -> None:
    """An FMPadding feeding a sliding-window generator that is not parallel_window gets SIMD >=
    the generator's. finn-rtllib's SWG reads a frame's first word only after writing the
    previous frame's last window (swg_template_default.sv: "todo: allow for read overlapping
    between feature maps") and then reads BUF_ELEM_TOTAL = (K-1)*W*C/SIMD + K*C/SIMD words
    before its first window is complete, while its consumer idles. A narrower padding unit
    (and the width converter behind it) paces that refill at SIMD_swg/SIMD_pad cycles per
    word although its own cycles per frame meet the target. Measured [sim]: bireal-cifar on
    ZCU104 at 4,096 cycles/frame (stage-4 pads SIMD 4 -> SWG 16, 240 words to refill)
    4,545 -> 4,172 cycles/frame on 3 frames; bireal18 at 75,264 (stage-3 pads SIMD 1 -> SWG 8,
    1,120 words) 81,995 in steady state, its 3x3 MVAUs starved 2,764 cycles/frame."""
    for _, inst, _, swg in pads_at_windows(model):
        if not swg.get_nodeattr("parallel_window"):
            # SWG SIMD divides IFMChannels = the padding's NumChannels: a legal padding SIMD
            inst.set_nodeattr("SIMD", max(inst.get_nodeattr("SIMD"), swg.get_nodeattr("SIMD")))


def pads_at_windows(model: ModelWrapper) -> list:
    """[(pad node, its op, SWG node, its op)] for every FMPadding whose consumer is a
    sliding-window generator (the pairs _pad_at_window_width and hw.rtl_folding widen)."""
    out = []
    for node, inst in hw_nodes(model):
        if not isinstance(inst, FMPadding):
            continue
        cons = model.find_consumer(node.output[0])
        if cons is None or not is_fpgadataflow_node(cons):
            continue
        swg = getCustomOp(cons)
        if isinstance(swg, ConvolutionInputGenerator):
            out.append((node, inst, cons, swg))
    return out


def _fold(spec: ModelWrapper, target: int, wmax: int, board: Board, thr: list[str],
          cache: dict) -> tuple[ModelWrapper, dict, tuple[int, int]]:
    """FINN's SetFolding at `target`, then speed up every layer still slower than the target
    (SetFolding caps MVAU SIMD by weight width and skips ops it has no rule for); widen every
    padding to its window generator (_pad_at_window_width); then place the
    undecided threshold memories `thr` (hw.estimates.place_thresholds). Returns the folded
    specialized model, its `summarize` estimate and the threshold memory policy."""
    spec = spec.transform(SetFolding(target, mvau_wwidth_max=wmax, two_pass_relaxation=False))
    for _, inst in hw_nodes(spec):
        if inst.get_exp_cycles() > target:
            _speed_up(inst, target)
    _pad_at_window_width(spec)
    summ, policy = place_thresholds(spec, board, thr, cache)
    return spec, summ, policy


def auto_folding(model: ModelWrapper, board: str | Board, target_cycles: int,
                 mvau_wwidth_max: int = 36, clock_mhz: float | None = None
                 ) -> tuple[ModelWrapper, dict]:
    """Fold every HW layer to <= `target_cycles` cycles/frame with the least parallelism, then
    balance to the achieved bottleneck (FINN's two-pass relaxation). If the result exceeds the
    board's fit limit (hw.boards.FIT_CAP), the target is relaxed to twice the larger of target
    and achieved bottleneck until it fits. Undecided threshold memories get the
    hw.estimates.thr_policies entry of least resource pressure (recorded as model metadata).

    Uses FINN's SetFolding on a SpecializeLayers(part) copy (SetFolding folds only specialized
    ops) and copies PE/SIMD/parallel_window back. Returns (folded copy of model, report) with
    report {board, requested_cycles, target_cycles, achieved_cycles, bottleneck_layer, est_fps,
    fits, thr_memory, warning (str or None), estimate (hw.estimates.estimate of the result)}.
    """
    b = get_board(board)
    if int(target_cycles) < 1:
        raise BiRealError(f"target_cycles must be >= 1, got {target_cycles!r}")
    requested = target = int(target_cycles)
    spec0, _ = specialized(model, b.part, thr=(0, 0))
    thr = undecided_thresholds(spec0)

    def fold(t):                        # fold at t, then balance to what is reachable
        got = _fold(spec0, t, mvau_wwidth_max, b, thr, cache)
        return got if got[1]["bottleneck_cycles"] <= t else \
            _fold(spec0, got[1]["bottleneck_cycles"], mvau_wwidth_max, b, thr, cache)

    notes, failed, level, cache = [], None, finn_log.level, {}
    finn_log.setLevel(logging.ERROR)            # SetFolding warns per missed node, every pass
    try:
        _, ones, _ = _fold(spec0, 2 ** 62, mvau_wwidth_max, b, thr, cache)   # PE = SIMD = 1
        # resources over the cap even at PE = SIMD = 1 (weights/thresholds memory): no folding
        # helps; report it and fold to fit the other resources
        ignore = {k for k, f in ones["fit"].items() if not f["ok"]}
        if ignore:
            notes_nofit = (f"the design does not fit {b.name} even fully folded (PE = SIMD = 1):"
                           f" {over_cap(ones)}; limit {FIT_CAP} x available; folding chosen "
                           f"to fit the other resources")

        def ok(summ):
            return all(f["ok"] for k, f in summ["fit"].items() if k not in ignore)
        while True:    # terminates: at target >= the fully folded bottleneck all PE = SIMD = 1
            spec, summ, thrp = fold(target)
            if ok(summ):
                break
            notes.append(f"{target} cycles/frame: {over_cap(summ)}")
            if target > ones["bottleneck_cycles"]:      # cannot happen: PE = SIMD = 1 fits
                raise BiRealError(f"auto_folding: no folding fits {b.name} at {target} cycles")
            failed, target = target, 2 * max(target, summ["bottleneck_cycles"])
        while failed is not None and target - failed > max(1, target // 16):   # bisect
            mid = (failed + target) // 2
            got = fold(mid)
            if ok(got[1]):
                target, (spec, summ, thrp) = mid, got
            else:
                failed = mid
    finally:
        finn_log.setLevel(level)
    sops, out = spec_ops(spec), copy.deepcopy(model)
    for node, inst in hw_nodes(out):
        sinst = sops[node.output[0]]
        for a in _COPY_BACK:
            if a in inst.get_nodeattr_types() and a in sinst.get_nodeattr_types():
                inst.set_nodeattr(a, sinst.get_nodeattr(a))
    set_thr_memory(out, [t for t in thr if t in {n.output[0] for n in out.graph.node
                                                  if n.op_type == "Thresholding_rtl"}], thrp)
    out.set_metadata_prop(THR_META, f"{thrp[0]},{thrp[1]}")
    est = estimate(out, b, clock_mhz)
    msgs = [notes_nofit] if ignore else []
    if target != requested:
        msgs.append(f"target {requested} cycles/frame does not fit {b.name} (over the {FIT_CAP} "
                    f"cap at {notes[0]}); relaxed to {target} cycles/frame")
    if est["bottleneck_cycles"] > target:
        msgs.append(f"target {target} cycles/frame is out of reach: layer "
                    f"{est['bottleneck_layer']} needs {est['bottleneck_cycles']} cycles/frame "
                    f"at its most parallel legal folding")
    warning = "; ".join(msgs) or None
    if warning:
        warnings.warn(warning, stacklevel=2)
    return out, {"board": b.name, "requested_cycles": requested, "target_cycles": target,
                 "achieved_cycles": est["bottleneck_cycles"],
                 "bottleneck_layer": est["bottleneck_layer"], "est_fps": est["est_fps"],
                 "fits": est["fits"], "thr_memory": list(thrp), "warning": warning,
                 "estimate": est}


def _require_names(model: ModelWrapper) -> None:
    """Folding files key layers by node name: every node needs a unique, non-empty one."""
    count = Counter(n.name for n in model.graph.node)
    bad = [layer_name(n) for n in model.graph.node if not n.name or count[n.name] > 1]
    if bad:
        raise BiRealError(f"{len(bad)} node(s) without a unique name, e.g. {bad[:3]}: a folding "
                          "config needs unique node names (apply qonnx GiveUniqueNodeNames)")


def folding_config(model: ModelWrapper) -> dict:
    """FINN folding_config.json content {"Defaults": {}, "<node name>": {"PE": .., "SIMD": ..,
    "ram_style": .., ...}} of every custom op, via FINN's extract_model_config."""
    _require_names(model)
    return extract_model_config(model, None, FOLDING_ATTRS)


def load_folding(model: ModelWrapper, path) -> ModelWrapper:
    """A copy of `model` with the folding file at `path` applied by FINN's ApplyConfig, then
    checked with check_folding. Errors name the file and the offending layer or attribute."""
    p = Path(path)
    try:
        cfg = json.loads(p.read_text())
    except FileNotFoundError:
        raise BiRealError(f"folding file {p} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BiRealError(f"folding file {p} is not JSON: {e}") from None
    if not isinstance(cfg, dict) or not all(isinstance(v, dict) for v in cfg.values()):
        raise BiRealError(f"folding file {p}: expected {{\"<node name>\": {{\"PE\": .., "
                          f"\"SIMD\": ..}}, ...}} (FINN folding_config.json format)")
    _require_names(model)
    nodes = {n.name: n for n in model.graph.node}
    hw = [n for n, node in nodes.items() if is_fpgadataflow_node(node)]
    unknown = [k for k in cfg if k != "Defaults" and k not in hw]
    if unknown:
        raise BiRealError(f"folding file {p}: unknown HW layer name(s) {unknown}; the model's "
                          f"HW layers are {hw}")
    for name, attrs in cfg.items():
        if name == "Defaults":
            continue
        types = getCustomOp(nodes[name]).get_nodeattr_types()
        bad = [a for a in attrs if a not in types]
        if bad:
            raise BiRealError(f"folding file {p}: layer {name} ({nodes[name].op_type}) has no "
                              f"attribute(s) {bad}; it has "
                              f"{[a for a in FOLDING_ATTRS if a in types]}")
    try:
        out = model.transform(ApplyConfig(cfg))
    except Exception as e:  # noqa: BLE001 - qonnx raises ValueError/TypeError/AssertionError
        raise BiRealError(f"folding file {p}: cannot apply: {e}") from e
    try:
        check_folding(out)
    except BiRealError as e:
        raise BiRealError(f"folding file {p}: {e}") from None
    return out
