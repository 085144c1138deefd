"""RTL mapping of the float32 shortcut path (graph made by hw.float_graph), used by
hw.rtl_flow.map_rtl:

- FloatPathToRTL: FloatShortcutAdd / FloatToInt layer classes -> their *_rtl backends when
  hw.ops has them (float_rtl_missing lists the ones it does not have yet).
- XnorOffsetToRequant: the XNOR conv's integer offset p - K/2 in front of a FloatShortcutAdd
  (a FINN ElementwiseAdd, which SpecializeLayers would give an HLS backend) -> Requant_rtl.
"""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

DOMAIN = "hw.ops"

FLOAT_LAYERS = ("FloatShortcutAdd", "FloatToInt")


def float_rtl_missing(model) -> list[str]:
    """The *_rtl backends of float32-path layers in `model` that hw.ops does not have."""
    from hw.ops import custom_op
    used = {n.op_type for n in model.graph.node if n.domain == DOMAIN and n.op_type in FLOAT_LAYERS}
    return sorted(f"{t}_rtl" for t in used if f"{t}_rtl" not in custom_op)


class FloatPathToRTL(Transformation):
    """FloatShortcutAdd / FloatToInt -> FloatShortcutAdd_rtl / FloatToInt_rtl (same
    attributes, folding included) where hw.ops has the backend; others are left alone."""

    def apply(self, model):
        from hw.ops import custom_op
        for n in model.graph.node:
            if n.domain == DOMAIN and n.op_type in FLOAT_LAYERS and f"{n.op_type}_rtl" in custom_op:
                n.op_type = f"{n.op_type}_rtl"
        return model, False


class XnorOffsetToRequant(Transformation):
    """XnorMVAU_rtl (popcount p) -> ElementwiseAdd(integer constant o) -> FloatShortcutAdd
    ==>  Requant_rtl with A = 1, B = o, S = 0, LO..HI = the add's reachable range: the float
    unit's integer accumulator c/2 = p - K/2 (hw.float_graph absorbed the 2 into its A).
    A 1 x p product: no DSP (hw.ops.requant.mult_dsps)."""

    def apply(self, model):
        for add in model.graph.node:
            if add.op_type != "ElementwiseAdd" or getCustomOp(add).get_nodeattr("rhs_style") != "const":
                continue
            mv = model.find_producer(add.input[0])
            cons = model.find_consumers(add.output[0]) or []
            o = model.get_initializer(add.input[1])
            if mv is None or mv.op_type != "XnorMVAU_rtl" or len(cons) != 1 or \
                    not cons[0].op_type.startswith("FloatShortcutAdd") or \
                    not np.array_equal(o, np.round(o)):
                continue
            C = getCustomOp(mv).get_nodeattr("MH")
            o = np.broadcast_to(np.asarray(o).reshape(-1), (C,)).astype(np.int64)
            idt = model.get_tensor_datatype(add.input[0])
            odt = model.get_tensor_datatype(add.output[0])
            lo, hi = int(idt.min()) + int(o.min()), int(idt.max()) + int(o.max())
            node = helper.make_node(
                "Requant_rtl", [add.input[0]], [add.output[0]], domain=DOMAIN,
                name=f"Requant_{add.name}", backend="fpgadataflow", NumChannels=C,
                PE=getCustomOp(add).get_nodeattr("PE"),
                numInputVectors=list(model.get_tensor_shape(add.output[0])[:-1]),
                inputDataType=idt.name, outputDataType=odt.name, A=[1] * C,
                B=[int(v) for v in o], S=0, LO=max(lo, int(odt.min())), HI=min(hi, int(odt.max())))
            g = model.graph
            g.node.insert(list(g.node).index(add), node)
            g.node.remove(add)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False
