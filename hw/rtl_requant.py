"""FuseRequant: each standalone multi-step Thresholding becomes a Requant_rtl (FINN style).

After streamlining every requant is a FINN Thresholding with 2^b - 1 thresholds per channel.
hw.affine recovers y = clamp(floor((A[c] x + B[c]) / 2^S), lo, hi) from them and proves it
equal on every reachable input x (jump points, no enumeration), so two constants per channel
replace the threshold memory. Rows with no floor form are fitted again with round half to even,
y = clamp(rne((A[c] x + B[c]) / 2^S), lo, hi) (the global-pool quantizer's rounding,
hw.thresholds.GlobalPoolQuantToMultiThreshold), proven the same way; floor is tried first
because its lane has no tie incrementer. The reachable range comes from the producer (`reachable_range`);
it is what the proof covers and it must be tight: RoundAndClipThresholds clipped the thresholds
to the input datatype, and a wide range also asks the fit to reproduce levels no input reaches.
"""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from .affine import fit_affine

DOMAIN = "hw.ops"


def reachable_range(model, tensor: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (lo[C], hi[C]) bounds of the integers `tensor` can carry, from its producer,
    intersected with its datatype's range:
    - XNOR MVAU (a popcount): [0, MW];
    - integer MVAU / IntMVAU_rtl (noActivation): sum_i min/max(W[i,c] * x) over x in the input
      datatype's range (IntMVAU_rtl.acc_range per channel), + bias[c] if it has one;
    - GlobalAccPool(_rtl): pixels x the reachable range of its input;
    - anything else: the datatype's range."""
    dt = model.get_tensor_datatype(tensor)
    lo = np.full(channels, int(dt.min()), dtype=object)
    hi = np.full(channels, int(dt.max()), dtype=object)
    p = model.find_producer(tensor)
    if p is None:
        return lo, hi
    op = getCustomOp(p)
    got = None
    if p.op_type.startswith(("MVAU", "IntMVAU", "XnorMVAU")):
        if op.get_nodeattr("binaryXnorMode"):
            got = 0, int(op.get_nodeattr("MW"))
        elif op.get_nodeattr("noActivation") and model.get_initializer(p.input[1]) is not None:
            w = model.get_initializer(p.input[1]).astype(np.int64)
            idt = op.get_input_datatype(0)
            a, b = w * int(idt.min()), w * int(idt.max())
            mn, mx = np.minimum(a, b).sum(axis=0), np.maximum(a, b).sum(axis=0)
            bias = list(op.get_nodeattr("bias")) if "bias" in op.get_nodeattr_types() else []
            if bias:
                mn, mx = mn + np.asarray(bias, dtype=np.int64), mx + np.asarray(bias, dtype=np.int64)
            if mn.shape == (channels,):
                got = mn.astype(object), mx.astype(object)
    elif p.op_type.startswith("GlobalAccPool"):
        npix = int(np.prod(list(op.get_nodeattr("numInputVectors"))[1:]))
        ilo, ihi = reachable_range(model, p.input[0], channels)
        got = ilo * npix, ihi * npix
    if got is not None:
        lo = np.maximum(lo, np.asarray(got[0], dtype=object))
        hi = np.minimum(hi, np.asarray(got[1], dtype=object))
    return lo, hi


class FuseRequant(Transformation):
    """Thresholding (numSteps >= 2)  ==>  Requant_rtl(A, B, S, LO, HI) when hw.affine proves the
    fit on the reachable input range; otherwise the node stays and `report` says why. Run after
    FuseShortcutAdd (which takes the requants that feed a residual add). One-step Thresholdings
    (the signs) are not requants and stay."""

    def __init__(self):
        super().__init__()
        self.found: dict[str, dict] = {}

    @property
    def report(self) -> list[dict]:
        return list(self.found.values())

    def apply(self, model):
        for n in list(model.graph.node):
            if n.op_type != "Thresholding" or n.name in self.found:
                continue
            op = getCustomOp(n)
            if op.get_nodeattr("numSteps") < 2:
                continue
            node, why = self._requant(model, n, op)
            if node is None:
                self.found[n.name] = {"node": n.name, "fused": False, "reason": why}
                continue
            g = model.graph
            idx = list(g.node).index(n)
            g.node.remove(n)
            g.node.insert(idx, node)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False

    def _requant(self, model, n, op):
        """(Requant_rtl node, None) or (None, reason)."""
        from hw.ops.requant import Requant_rtl
        T = model.get_initializer(n.input[1])
        if T is None:
            return None, "thresholds are not an initializer"
        if op.get_nodeattr("runtime_writeable_weights"):
            return None, "runtime-writeable thresholds"
        C = op.get_nodeattr("NumChannels")
        T = np.atleast_2d(T)
        stored = int(T.size)
        if T.shape[0] not in (1, C):
            return None, f"threshold shape {T.shape} is not (1 or {C}, steps)"
        T = np.broadcast_to(T, (C, T.shape[1]))
        xmin, xmax = reachable_range(model, n.input[0], C)
        lo = int(op.get_nodeattr("ActVal"))
        fit = fit_affine(T, lo, xmin, xmax)
        if fit is None:
            fit = fit_affine(T, lo, xmin, xmax, rounding="rne")
        rng = f"{int(xmin.min())}..{int(xmax.max())}"
        if fit is None:
            return None, (f"thresholds are not a fixed-point affine requant on inputs {rng} "
                          "(no integer A, B for any S <= 40, rounding floor or half to even)")
        odt = model.get_tensor_datatype(n.output[0])
        node = helper.make_node(
            "Requant_rtl", [n.input[0]], [n.output[0]], domain=DOMAIN, name=f"Requant_{n.name}",
            backend="fpgadataflow", NumChannels=C, PE=op.get_nodeattr("PE"),
            numInputVectors=list(op.get_nodeattr("numInputVectors")),
            inputDataType=model.get_tensor_datatype(n.input[0]).name, outputDataType=odt.name,
            A=fit["A"], B=fit["B"], S=fit["S"], LO=fit["lo"], HI=fit["hi"],
            rounding=fit["rounding"])
        try:
            Requant_rtl(node).verify_node()
        except ValueError as e:
            return None, str(e)
        self.found[n.name] = {"node": n.name, "fused": True, "into": node.name, "S": fit["S"],
                              "rounding": fit["rounding"], "input_range": rng,
                              "thresholds_removed": stored}
        return node, None
