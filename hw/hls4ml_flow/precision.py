"""Per-layer hls4ml precisions derived from the model's known integer ranges.

Value types of the rewritten graph (channels last) come from its quantizers:
  Quant(bits b, scale 2^-f, signed s, narrow n): integers in [lo, hi] (lo = -2^(b-1) + n or 0,
  hi = 2^(b-1) - 1 or 2^b - 1) times 2^-f; BipolarQuant: +-1 (one bit in hls4ml);
  FixedPointRequant: signed out_bits at 2^-out_frac.
A layer whose output is an exact sum of N products x*w takes the signed width

    W = bit_length(N * max|x_int| * max|w_int|) + 1,   F = f_x + f_w,   fixed<W, W - F>

(Conv: N = kh*kw*C_in; Dense: N = n_in; binary x binary (XNOR): |sum| <= N, F = 0).
The FixedPointRequant extension reads the raw bits of its input, so the conv feeding it must
have exactly F = in_frac fractional bits (checked). GlobalAveragePool over n = H*W pixels:
accum holds the exact sum (W = bit_length(n * max|x_int|) + 1 integer bits above f_x) with
F = f_x + ceil(log2(2n)) fractional bits: hls4ml divides the sum by n in the accum type
(truncating), and a quotient s/n is at least 1/(2n) LSB of the next 2^-f_x Quant away from a
rounding boundary unless it lies on one exactly (then it is representable), so the
truncation (< 2^-ceil(log2(2n)) LSB) never changes the following round. The output Mul/Add
(ApplyAlpha) gets the fractional bits of its exact constants (c * 2^F integer) and the range
of the Dense accumulator. Layers not listed keep the type hls4ml sets from their QONNX
quantizer (activations, weights) or infers exactly (Merge: int8 + int8 -> 9 bits).
"""
from __future__ import annotations

import math

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from model.errors import BiRealError

from .rewrite import attrs


def _frac_bits(v) -> int:
    """Smallest F with every v * 2^F an integer (v float64, exact)."""
    v = np.asarray(v, dtype=np.float64).ravel()
    for f in range(0, 64):
        if np.array_equal(np.rint(v * 2.0 ** f), v * 2.0 ** f):
            return f
    raise BiRealError("constant needs more than 64 fractional bits")


def value_type(m: ModelWrapper, tensor: str) -> dict | None:
    """{'binary'} or {'lo', 'hi', 'frac'} of a quantized tensor (None: not from a quantizer)."""
    p = m.find_producer(tensor)
    if p is None:
        return None
    if p.op_type == "BipolarQuant":
        return {"binary": True, "lo": -1, "hi": 1, "frac": 0}
    if p.op_type == "Quant":
        s, zp, b = (float(m.get_initializer(i)) for i in p.input[1:4])
        a = attrs(p)
        f = -int(round(math.log2(s)))
        if 2.0 ** -f != s or zp != 0:
            raise BiRealError(f"{p.name}: only power-of-two scales, zero point 0 are derived")
        b = int(b)
        if a.get("signed", 1):
            return {"lo": -(2 ** (b - 1)) + int(a.get("narrow", 0)), "hi": 2 ** (b - 1) - 1,
                    "frac": f}
        return {"lo": 0, "hi": 2 ** b - 1, "frac": f}
    if p.op_type == "FixedPointRequant":
        a = attrs(p)
        b = int(a["out_bits"])
        return {"lo": -(2 ** (b - 1)), "hi": 2 ** (b - 1) - 1, "frac": int(a["out_frac"])}
    return None


def _mag(t: dict) -> int:
    return max(abs(t["lo"]), abs(t["hi"]))


def _fixed(width: int, frac: int) -> str:
    return f"fixed<{width},{width - frac}>"


def _sum_type(n: int, x: dict, w: dict) -> tuple[tuple[int, int], str]:
    if x.get("binary") and w.get("binary"):
        width = n.bit_length() + 1
        return (width, 0), f"XNOR sum of N={n} +-1 products: |acc| <= {n}"
    bound = n * _mag(x) * _mag(w)
    width = bound.bit_length() + 1
    frac = x["frac"] + w["frac"]
    return (width, frac), (f"N={n} products, |x| <= {_mag(x)}*2^-{x['frac']}, "
                                 f"|w| <= {_mag(w)}*2^-{w['frac']}: |acc| <= {bound}*2^-{frac}")


def derive(m: ModelWrapper, float_mode: bool) -> tuple[dict, list[dict]]:
    """({layer: {precision key: type}}, table rows) for the hls4ml config of graph m."""
    prec, rows = {}, []

    def put(layer, key, typ, why):
        prec.setdefault(layer, {})[key] = typ
        rows.append({"layer": layer, "key": key, "precision": typ, "derivation": why})

    rng = {}                                  # tensor -> (max |value| * 2^frac, frac)
    for n in m.graph.node:
        if n.op_type in ("Conv", "MatMul") and not float_mode:
            x, w = value_type(m, n.input[0]), value_type(m, n.input[1])
            if x is None or w is None:
                rows.append({"layer": n.name, "key": "accum", "precision": None,
                             "derivation": "input or weight not from a quantizer: not derived"})
                continue
            W = m.get_initializer(m.find_producer(n.input[1]).input[0])
            nterms = int(np.prod(W.shape[1:])) if n.op_type == "Conv" else int(W.shape[0])
            (width, frac), why = _sum_type(nterms, x, w)
            typ = _fixed(width, frac)
            put(n.name, "accum", typ, why)
            put(n.name, "result", typ, "= accum (exact sum)")
            rng[n.output[0]] = (2 ** (width - 1), frac)
            cons = m.find_consumers(n.output[0])
            if len(cons) == 1 and cons[0].op_type == "FixedPointRequant":
                fi = int(attrs(cons[0])["in_frac"])
                if frac != fi:
                    raise BiRealError(f"{n.name}: accumulator has {frac} fractional bits but "
                                      f"{cons[0].name} expects in_frac {fi}")
        elif n.op_type == "GlobalAveragePool":
            x = value_type(m, n.input[0])
            s = m.get_tensor_shape(n.input[0])          # [N, H, W, C]
            npx = int(s[1] * s[2])
            if x is None:
                rows.append({"layer": n.name, "key": "accum", "precision": None,
                             "derivation": "input not from a quantizer: not derived"})
                continue
            ib = (npx * _mag(x)).bit_length() + 1 - x["frac"]
            frac = x["frac"] + math.ceil(math.log2(2 * npx))
            typ = f"fixed<{ib + frac},{ib}>"
            why = (f"sum of n={npx} values |x| <= {_mag(x)}*2^-{x['frac']}; "
                   f"F = {x['frac']} + ceil(log2(2n)) (truncated mean never moves the next round)")
            put(n.name, "accum", typ, why)
            put(n.name, "result", typ, "= accum")
        elif n.op_type in ("Mul", "Add") and n.input[0] in rng:
            c = np.asarray(m.get_initializer(n.input[1]), np.float64)
            fc = _frac_bits(c)
            cmax = float(np.abs(c).max())
            ci = max(int(math.floor(math.log2(cmax))) + 2 if cmax > 0 else 1, 1 - fc)
            key = "scale" if n.op_type == "Mul" else "bias"
            put(n.name, key, f"fixed<{ci + fc},{ci}>", f"exact constant: {fc} fractional bits")
            bound, fx = rng[n.input[0]]
            if n.op_type == "Add":
                f = max(fx, fc)
                b = bound * 2 ** (f - fx) + int(math.ceil(cmax * 2 ** f))
            else:
                f = fx + fc
                b = bound * int(math.ceil(cmax * 2 ** fc))
            rng[n.output[0]] = (b, f)
            width = b.bit_length() + 1
            put(n.name, "result", _fixed(width, f), f"|y| <= {b}*2^-{f} (exact: every "
                "product and sum of the Dense output and the constants)")
    return prec, rows


def apply(cfg: dict, prec: dict, override: dict | None = None):
    """Write derived (then override) precisions into an hls4ml config (granularity 'name')."""
    ln = cfg["LayerName"]
    for src in (prec, override or {}):
        for layer, keys in src.items():
            if layer not in ln:
                raise BiRealError(f"hls4ml config has no layer {layer!r} (has: "
                                  f"{', '.join(sorted(ln))})")
            ln[layer].setdefault("Precision", {})
            if not isinstance(ln[layer]["Precision"], dict):
                ln[layer]["Precision"] = {"result": ln[layer]["Precision"]}
            ln[layer]["Precision"].update(keys)
