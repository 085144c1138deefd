"""Exact MultiThresholds for the Bi-Real requants (FINN style transformations).

FINN's thresholds compare `x >= T`; these compute T in integers so the comparison reproduces
the model's fixed-point requant and the global-pool quantizer's round-half-to-even exactly.
"""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from model.errors import BiRealError

from .transforms import _attr, _new_tensor, _scalar_init

BIG = 2 ** 30      # threshold standing for "always" / "never" (clipped later to the input range)


def requant_thresholds(mult, bias, shift: int, out_bits: int) -> np.ndarray:
    """Integer thresholds T[c, k] (k = 0 .. 2^b - 2) of y = clamp(floor((A acc + B + h) / 2^S)).

    y >= v  <=>  A acc + B + h >= v 2^S  <=>  acc >= ceil((v 2^S - B - h) / A)   (A > 0),
    with v = qmin + 1 + k and h = 2^(S-1) (0 when S = 0).  A = 0 gives a constant output:
    T = -BIG where the constant reaches v, +BIG where it does not.  Monotone in k since A >= 0.
    """
    A = np.asarray(mult, dtype=np.int64).reshape(-1)
    B = np.asarray(bias, dtype=np.int64).reshape(-1)
    if (A < 0).any():
        raise BiRealError("FixedPointRequant with a negative multiplier is not monotone")
    h = (1 << (shift - 1)) if shift > 0 else 0
    qmin = -(2 ** (out_bits - 1))
    v = np.arange(qmin + 1, 2 ** (out_bits - 1), dtype=np.int64)
    num = (v[None, :] << shift) - B[:, None] - h                       # [C, levels]
    safe = np.where(A == 0, 1, A)[:, None]
    T = -((-num) // safe)                                              # ceil division
    const = np.clip((B + h) >> shift, qmin, -qmin - 1)[:, None]        # value when A == 0
    T = np.where(A[:, None] == 0, np.where(const >= v[None, :], -BIG, BIG), T)
    return np.clip(T, -BIG, BIG)


class FixedPointRequantToMultiThreshold(Transformation):
    """FixedPointRequant(x) -> MultiThreshold(x; T * 2^-in_frac, out_bias = qmin) -> Mul(2^-out_frac).

    Exact: x = acc 2^-in_frac, and comparing x with T 2^-in_frac is comparing integers.
    """

    def apply(self, model):
        g = model.graph
        for i, n in enumerate(g.node):
            if n.op_type != "FixedPointRequant":
                continue
            inst = getCustomOp(n)
            shift, in_frac = inst.get_nodeattr("shift"), inst.get_nodeattr("in_frac")
            bits, out_frac = inst.get_nodeattr("out_bits"), inst.get_nodeattr("out_frac")
            if inst.get_nodeattr("axis") != 1:
                raise BiRealError(f"{n.name}: FixedPointRequant on axis != 1 is not supported")
            T = requant_thresholds(model.get_initializer(n.input[1]),
                                   model.get_initializer(n.input[2]), shift, bits)
            tname = model.make_new_valueinfo_name()
            model.set_initializer(tname, (T.astype(np.float64) * 2.0 ** -in_frac).astype(np.float32))
            mt_out = _new_tensor(model, model.get_tensor_shape(n.output[0])) if out_frac else n.output[0]
            mt = helper.make_node("MultiThreshold", [n.input[0], tname], [mt_out],
                                  domain="qonnx.custom_op.general", out_dtype=f"INT{bits}",
                                  out_bias=float(-(2 ** (bits - 1))), out_scale=1.0,
                                  data_layout="NCHW", name=f"MultiThreshold_{n.name}")
            new = [mt]
            if out_frac:
                new.append(helper.make_node("Mul", [mt_out, _scalar_init(model, 2.0 ** -out_frac)],
                                            [n.output[0]], name=f"Mul_{n.name}"))
            g.node.remove(n)
            for k, m in enumerate(new):
                g.node.insert(i + k, m)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


def _round_half_even_thresholds(r: float, v: np.ndarray) -> np.ndarray:
    """m_v = smallest integer m with round_half_even(m / r) >= v (r = output step / input grid)."""
    p = (v - 0.5) * r
    m = np.ceil(p)
    tie = (m == p) & (v % 2 != 0)        # x/s == v - 0.5 exactly rounds down to even v - 1
    return m + tie


class GlobalPoolQuantToMultiThreshold(Transformation):
    """Quant(GlobalAveragePool(Quant(., s_in)), s) -> MultiThreshold with exact thresholds.

    The pooled value lies on the grid g = s_in / (H W). qonnx's Quant rounds half to even, which
    FINN's generic Quant -> MultiThreshold conversion (x >= (k + 1/2) s) gets wrong on ties
    (a 4x4 pool, e.g.). Here T_v = (m_v - 1/2) g with m_v the first grid point that quantizes to
    >= v: halfway between grid points, so float rounding of the pool cannot cross it.
    """

    def apply(self, model):
        from qonnx.custom_op.general.quant import max_int, min_int
        g = model.graph
        for i, n in enumerate(g.node):
            if n.op_type != "Quant":
                continue
            fl = model.find_producer(n.input[0])
            gap = model.find_producer(fl.input[0]) if fl is not None and fl.op_type == "Flatten" else fl
            if gap is None or gap.op_type != "GlobalAveragePool":
                continue
            src = model.find_producer(gap.input[0])
            if src is None or src.op_type != "Quant":
                raise BiRealError(f"{gap.name}: the global pool input must be quantized")
            s_in = float(model.get_initializer(src.input[1]))
            s, zp, bits = (float(model.get_initializer(n.input[k])) for k in (1, 2, 3))
            if zp != 0 or _attr(n, "rounding_mode", "ROUND") not in ("ROUND", b"ROUND"):
                raise BiRealError(f"{n.name}: global-pool quantizer must round to nearest, zp 0")
            hw = int(np.prod(model.get_tensor_shape(gap.input[0])[2:]))
            signed, narrow = bool(_attr(n, "signed")), bool(_attr(n, "narrow"))
            qmin, qmax = min_int(signed, narrow, int(bits)), max_int(signed, narrow, int(bits))
            v = np.arange(qmin + 1, qmax + 1, dtype=np.float64)
            grid = s_in / hw
            m = _round_half_even_thresholds(s / grid, v)
            T = ((m - 0.5) * grid).astype(np.float32).reshape(1, -1)
            if not np.all(np.diff(T) > 0):
                raise BiRealError(f"{n.name}: thresholds not strictly increasing in float32")
            tname = model.make_new_valueinfo_name()
            model.set_initializer(tname, T)
            mid = _new_tensor(model, model.get_tensor_shape(n.output[0]))
            mt = helper.make_node("MultiThreshold", [n.input[0], tname], [mid],
                                  domain="qonnx.custom_op.general",
                                  out_dtype=f"{'INT' if signed else 'UINT'}{int(bits)}",
                                  out_bias=float(qmin), out_scale=1.0,
                                  data_layout="NC" if len(model.get_tensor_shape(n.input[0])) == 2 else "NCHW",
                                  name=f"MultiThreshold_{n.name}")
            mul = helper.make_node("Mul", [mid, _scalar_init(model, s)], [n.output[0]],
                                   name=f"Mul_{n.name}")
            g.node.remove(n)
            g.node.insert(i, mt)
            g.node.insert(i + 1, mul)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False

