"""The float32 shortcut path (export --shortcut float32) in the FINN build steps.

The export's float ops (model.float_path) are frozen into the project's float layer classes
*before* FINN's streamlining runs, so no FINN/qonnx transformation can reassociate them:

    Conv -> Mul(a) -> Add(b) [-> Add(x)]   ==>  FloatShortcutAdd   RN(RN(RN(f32(c)*A)+B)+x)
    Quant(float x; 2^-f, INT<b>, ROUND)    ==>  FloatToInt(quant)  -> Mul(2^-f)
    MultiThreshold(float x; T = 0, 1 step) ==>  FloatToInt(sign)   x >= 0 (incl. -0.0)

Why freeze (measured on bireal-tiny, float path left to FINN): step streamline's
MoveLinearPastEltwiseAdd regroups the two per-channel Adds at a residual join,
(y1 + b1) + (y2 + b2) -> (y1 + y2) + (b1 + b2), a float reassociation, and the graph it leaves
fails to execute (AxisError) once B != 0; with B = 0 (fresh BN) the flow gets through but 25
Transposes and 10 float Adds are left outside any HW layer. ConvertQONNXtoFINN would turn the
float Quant into thresholds at (k + 1/2) 2^-f, which round ties up, not to even like Quant.

The layer nodes work channels-last ([N, H, W, C]); until FINN's own channels-last pass they
sit between Transposes (NCHW -> NHWC before, back after), which that pass then cancels.
The conv's accumulator c = conv * 2^k (k: the power-of-two scales of its input and weights)
is integer; FloatShortcutAdd gets A = a * 2^-k (exact) and a Mul(2^k) in front of it that
streamlining merges with the scales it moves past the conv (or AbsorbScalarMulIntoFloatAdd
absorbs what is left). Every rewrite here is exact; hw.verify checks it bit for bit.
"""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import SortGraph
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from hw.ops.float_shortcut_add import f32_bits, f32_from_bits
from model.errors import BiRealError

from .transforms import _attr, _new_tensor, _po2, _scalar_init

DOMAIN = "hw.ops"
FLOAT_OPS = ("FloatShortcutAdd", "FloatToInt")
NCHW_TO_NHWC, NHWC_TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def has_float_path(model) -> bool:
    return any(n.op_type in FLOAT_OPS for n in model.graph.node)


def _chan_const(model, node, c: int):
    """The per-channel constant input of a Mul/Add (shape [1,C,1,1] or [C]) or None."""
    for k in (1, 0):
        v = model.get_initializer(node.input[k])
        if v is not None and v.size == c:
            return v.reshape(-1).astype(np.float32), node.input[1 - k]
    return None


def _sole(model, tensor):
    cons = model.find_consumers(tensor) or []
    return cons[0] if len(cons) == 1 else None


def _is_join(model, n) -> bool:
    return n is not None and n.op_type == "Add" and len(n.input) == 2 and all(
        model.get_initializer(t) is None for t in n.input)


def _scale_of(model, tensor, what: str) -> float:
    """Product of the power-of-two scales between `tensor` and the integer it is made of:
    scalar Mul, 2x2 AveragePool (1/4), Pad, Quant (its scale), BipolarQuant / integer (1)."""
    s = 1.0
    while True:
        if model.get_initializer(tensor) is not None and what == "weights":
            return s                              # a folded integer weight tensor
        p = model.find_producer(tensor)
        dt = model.get_tensor_datatype(tensor)
        if p is None:
            if dt.is_integer():
                return s
            raise BiRealError(f"{what}: cannot tell the integer scale of {tensor}")
        if p.op_type in ("BipolarQuant", "FloatToInt", "MultiThreshold"):
            return s
        if p.op_type == "Quant":
            return s * float(model.get_initializer(p.input[1]))
        if p.op_type == "Mul" and model.get_initializer(p.input[1]) is not None \
                and model.get_initializer(p.input[1]).size == 1:
            s *= float(model.get_initializer(p.input[1]))
        elif p.op_type == "AveragePool" and list(_attr(p, "kernel_shape")) == [2, 2]:
            s *= 0.25
        elif p.op_type not in ("Pad", "Transpose"):
            raise BiRealError(f"{what}: cannot tell the integer scale through {p.name} "
                              f"({p.op_type})")
        tensor = p.input[0]


def _transpose(model, src, perm, name, out=None):
    shp = model.get_tensor_shape(src)
    out = out or _new_tensor(model, [shp[i] for i in perm])
    return helper.make_node("Transpose", [src], [out], perm=perm, name=name), out


class FloatPathToHW(Transformation):
    """Conv -> Mul(a) -> Add(b) [-> residual Add] -> FloatShortcutAdd and Quant of a float
    tensor -> FloatToInt(quant) + Mul(scale); see the module docstring. A residual Add fed
    by two affine chains (a downsampling block) goes to the binary conv's chain (float
    addition is commutative, so either order is the same IEEE sum)."""

    def _chains(self, model):
        chains = []
        for conv in model.graph.node:
            if conv.op_type != "Conv":
                continue
            c = model.get_tensor_shape(conv.output[0])[1]
            mul = _sole(model, conv.output[0])
            if mul is None or mul.op_type != "Mul" or _chan_const(model, mul, c) is None:
                continue
            add = _sole(model, mul.output[0])
            if add is None or add.op_type != "Add" or _chan_const(model, add, c) is None:
                raise BiRealError(f"{mul.name}: a float affine Mul must be followed by its "
                                  "per-channel Add (export --shortcut float32)")
            w = model.find_producer(conv.input[1])
            chains.append({"conv": conv, "mul": mul, "add": add,
                           "binary": w is not None and w.op_type == "BipolarQuant"})
        for ch in chains:                         # who owns the residual add
            j = _sole(model, ch["add"].output[0])
            if not _is_join(model, j):
                ch["join"] = None
                continue
            rivals = [o for o in chains if o is not ch and _sole(model, o["add"].output[0]) is j]
            ch["join"] = j if not rivals or (ch["binary"] and not rivals[0]["binary"]) else None
        return chains

    def apply(self, model):
        g = model.graph
        chains = self._chains(model)
        if not chains:
            return model, False
        floats = set()
        for ch in chains:
            floats.add(self._fuse(model, ch))
        for ch in chains:
            if ch["join"] is not None:
                g.node.remove(ch["join"])
            g.node.remove(ch["mul"])
            g.node.remove(ch["add"])
        for q in [n for n in g.node if n.op_type == "Quant" and n.input[0] in floats]:
            self._quant(model, q)
        for n in g.node:
            if n.op_type == "MaxPool" and n.input[0] in floats:
                raise BiRealError(f"{n.name}: MaxPool on the float32 path is not supported")
        model = model.transform(SortGraph())
        return model.transform(InferShapes()).transform(InferDataTypes()), True

    def _fuse(self, model, ch):
        g = model.graph
        conv, mul, add, join = ch["conv"], ch["mul"], ch["add"], ch["join"]
        n_, c, h, w = model.get_tensor_shape(conv.output[0])
        a, _ = _chan_const(model, mul, c)
        b, _ = _chan_const(model, add, c)
        s = _scale_of(model, conv.input[0], conv.name) * _scale_of(model, conv.input[1], "weights")
        k = -_po2(s, f"{conv.name} input x weight")
        big = np.float32(a.astype(np.float64) * 2.0 ** -k)
        if not np.array_equal(big.astype(np.float64) * 2.0 ** k, a.astype(np.float64)):
            raise BiRealError(f"{mul.name}: a * 2^{-k} is not exact in float32")
        at = list(g.node).index(conv) + 1
        new = []
        src = conv.output[0]
        if k:
            acc = _new_tensor(model, [n_, c, h, w])
            new.append(helper.make_node("Mul", [src, _scalar_init(model, 2.0 ** k)], [acc],
                                        name=f"Mul_{conv.name}_acc"))
            src = acc
        t0, in0 = _transpose(model, src, NCHW_TO_NHWC, f"Transpose_{conv.name}_fin0")
        new.append(t0)
        ins = [in0]
        if join is not None:
            x = join.input[1] if join.input[0] == add.output[0] else join.input[0]
            t1, in1 = _transpose(model, x, NCHW_TO_NHWC, f"Transpose_{conv.name}_fin1")
            new.append(t1)
            ins.append(in1)
        out = (join or add).output[0]
        y = _new_tensor(model, [n_, h, w, c])
        new.append(helper.make_node(
            "FloatShortcutAdd", ins, [y], domain=DOMAIN, backend="fpgadataflow",
            name=f"FloatShortcutAdd_{conv.name}", NumChannels=c, PE=1,
            numInputVectors=[n_, h, w], in0DataType="INT32", A=f32_bits(big), B=f32_bits(b),
            has_residual=int(join is not None)))
        new.append(_transpose(model, y, NHWC_TO_NCHW, f"Transpose_{conv.name}_fout", out)[0])
        model.set_tensor_datatype(out, DataType["FLOAT32"])
        # after the join's other input is produced (graph order stays topological)
        if join is not None:
            at = max(at, list(g.node).index(join))
        for i, nd in enumerate(new):
            g.node.insert(at + i, nd)
        return out

    def _quant(self, model, q):
        g = model.graph
        scale, zp, bits = (float(model.get_initializer(q.input[i])) for i in (1, 2, 3))
        mode = _attr(q, "rounding_mode", "ROUND")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if zp != 0 or not _attr(q, "signed", 1) or _attr(q, "narrow", 0) or mode != "ROUND" \
                or bits != int(bits):
            raise BiRealError(f"{q.name}: the float path returns to integers only through a "
                              "signed, zero-point 0, not narrow, ROUND Quant")
        frac = -_po2(scale, q.name)
        n_, c, h, w = model.get_tensor_shape(q.input[0])
        t0, xin = _transpose(model, q.input[0], NCHW_TO_NHWC, f"Transpose_{q.name}_fin")
        qi = _new_tensor(model, [n_, h, w, c])
        fti = helper.make_node("FloatToInt", [xin], [qi], domain=DOMAIN, backend="fpgadataflow",
                               name=f"FloatToInt_{q.name}", NumChannels=c, PE=1,
                               numInputVectors=[n_, h, w], mode="quant", Frac=frac,
                               outputDataType=f"INT{int(bits)}")
        t1, qn = _transpose(model, qi, NHWC_TO_NCHW, f"Transpose_{q.name}_fout")
        mul = helper.make_node("Mul", [qn, _scalar_init(model, scale)], [q.output[0]],
                               name=f"Mul_{q.name}_scale")
        at = list(g.node).index(q)
        g.node.remove(q)
        for i, nd in enumerate([t0, fti, t1, mul]):
            g.node.insert(at + i, nd)


class FloatSignToFloatToInt(Transformation):
    """MultiThreshold(float32 x; one threshold 0 or -0.0, BINARY out) -> FloatToInt(sign):
    q = x >= 0, the XNOR input bit of where(x >= 0, +1, -1) (IEEE: -0.0 >= 0 holds)."""

    def apply(self, model):
        g = model.graph
        for i, n in enumerate(g.node):
            if n.op_type != "MultiThreshold" or \
                    model.get_tensor_datatype(n.input[0]) != DataType["FLOAT32"]:
                continue
            p = model.find_producer(n.input[0])
            if p is None or p.op_type not in FLOAT_OPS:
                continue
            op, T = getCustomOp(n), model.get_initializer(n.input[1])
            if T is None or T.shape[-1] != 1 or np.any(T != 0) or \
                    op.get_nodeattr("out_dtype") != "BINARY" or \
                    op.get_nodeattr("out_scale") != 1.0 or op.get_nodeattr("out_bias") != 0.0 \
                    or op.get_nodeattr("data_layout") != "NHWC":
                raise BiRealError(f"{n.name}: a threshold on the float32 path must be the "
                                  "sign (one threshold 0, BINARY, channels-last)")
            shp = model.get_tensor_shape(n.input[0])
            g.node.insert(i, helper.make_node(
                "FloatToInt", [n.input[0]], [n.output[0]], domain=DOMAIN, backend="fpgadataflow",
                name=f"FloatToInt_{n.name}", NumChannels=shp[-1], PE=1,
                numInputVectors=list(shp[:-1]), mode="sign", Frac=0, outputDataType="BINARY"))
            g.node.remove(n)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


class AbsorbScalarMulIntoFloatAdd(Transformation):
    """Mul(2^e) -> FloatShortcutAdd.in0  ==>  FloatShortcutAdd with A * 2^e: RN(c 2^e A) =
    RN(c (2^e A)) as both products are the same real number, 2^e A exact (checked)."""

    def apply(self, model):
        g = model.graph
        for n in g.node:
            if n.op_type != "FloatShortcutAdd":
                continue
            m = model.find_producer(n.input[0])
            v = model.get_initializer(m.input[1]) if m is not None and m.op_type == "Mul" else None
            if v is None or v.size != 1 or len(model.find_consumers(m.output[0])) != 1 \
                    or not model.get_tensor_datatype(m.input[0]).is_integer():
                continue                 # (FloatShortcutAdd's c must stay an integer)
            e = _po2(float(v.reshape(-1)[0]), m.name)
            op = getCustomOp(n)
            a = f32_from_bits(op.get_nodeattr("A")).astype(np.float64)
            na = np.float32(a * 2.0 ** e)
            if not np.array_equal(na.astype(np.float64), a * 2.0 ** e) or \
                    np.any((na != 0) & (np.abs(na) < np.finfo(np.float32).tiny)):
                raise BiRealError(f"{n.name}: A * 2^{e} from {m.name} is not exact in float32")
            op.set_nodeattr("A", f32_bits(na))
            n.input[0] = m.input[0]
            g.node.remove(m)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


class TypeXnorCorrection(Transformation):
    """The XNOR conv's c = 2 p - K (ConvertBipolarMatMulToXnorPopcount's Mul(2) -> Add(-K))
    in front of a FloatShortcutAdd: type the two constants as integers, so c stays an
    integer tensor and both become integer HW layers (FloatShortcutAdd takes c, not p)."""

    def apply(self, model):
        changed = False
        for n in model.graph.node:
            if n.op_type not in ("Mul", "Add"):
                continue
            down = n
            while down is not None and down.op_type in ("Mul", "Add", "Transpose"):
                down = _sole(model, down.output[0])
            if down is None or down.op_type != "FloatShortcutAdd":
                continue
            v = model.get_initializer(n.input[1])
            if v is None or not np.array_equal(v, np.round(v)):
                continue
            dt = DataType.get_smallest_possible(float(np.min(v)) if np.min(v) < 0 else
                                                -float(np.max(v)) - 1)
            if model.get_tensor_datatype(n.input[1]) != dt:
                model.set_tensor_datatype(n.input[1], dt)
                changed = True
        if changed:
            model = model.transform(InferDataTypes())
        return model, False
