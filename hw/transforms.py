"""Bi-Real-specific graph transformations (FINN style: one class each, `apply -> (model, changed)`).

These bridge what the exported Bi-Real QONNX graph has and what FINN's standard transformations
expect; every one of them is exact (integers times powers of two, no rounding anywhere).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from model.errors import BiRealError


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _po2(value: float, what: str) -> int:
    e = int(np.round(np.log2(value))) if value > 0 else None
    if e is None or 2.0 ** e != value:
        raise BiRealError(f"{what}: scale {value!r} is not a power of two")
    return e


def _new_tensor(model: ModelWrapper, shape) -> str:
    name = model.make_new_valueinfo_name()
    model.graph.value_info.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    return name


def _scalar_init(model: ModelWrapper, value: float) -> str:
    name = model.make_new_valueinfo_name()
    model.set_initializer(name, np.asarray(value, dtype=np.float32))
    return name


def _rewire(model: ModelWrapper, old: str, new: str):
    """Every consumer of tensor `old` reads tensor `new` instead."""
    for c in model.find_consumers(old):
        for k, x in enumerate(c.input):
            if x == old:
                c.input[k] = new


class IntegerInput(Transformation):
    """Graph input Quant(x; 2^-b, unsigned, b bits) -> UINT<b> input followed by Mul(2^-b).

    The accelerator then takes raw pixels x_int = clip(round(x 2^b), 0, 2^b - 1).
    """

    def apply(self, model):
        iname = model.graph.input[0].name
        n = model.find_consumer(iname)
        if n is None or n.op_type != "Quant":
            return model, False
        scale, zp, bits = (float(model.get_initializer(n.input[k])) for k in (1, 2, 3))
        if _attr(n, "signed") or zp != 0 or _attr(n, "narrow"):
            raise BiRealError(f"{n.name}: input quantizer must be unsigned, zero-point 0, "
                              "not narrow")
        e = _po2(scale, n.name)
        if bits != int(bits) or e != -int(bits):
            raise BiRealError(f"{n.name}: input quantizer must map [0,1) to UINT{int(bits)} "
                              f"(scale 2^-{int(bits)}), got scale {scale} bits {bits}")
        n.op_type, n.domain = "Mul", ""
        del n.input[2:]
        del n.attribute[:]
        model.set_tensor_datatype(iname, DataType[f"UINT{int(bits)}"])
        return model.transform(InferShapes()).transform(InferDataTypes()), True


class AvgPoolConv1x1ToConv2x2(Transformation):
    """AveragePool(2x2, s2) -> Conv1x1(W) == Mul(1/4) after Conv2x2 s2 with W on all 4 taps.

    FINN has no AveragePool HW layer; the 2x2 conv maps onto an ordinary SWG + MVAU and the
    integer weights stay integers (the 1/4 is a power of two, absorbed by streamlining).
    """

    def apply(self, model):
        g = model.graph
        for n in g.node:
            if n.op_type != "AveragePool":
                continue
            ks = list(_attr(n, "kernel_shape"))
            st = list(_attr(n, "strides", ks))
            pads = list(_attr(n, "pads", [0, 0, 0, 0]))
            conv = model.find_consumer(n.output[0])
            if (ks != [2, 2] or st != [2, 2] or any(pads) or conv is None or conv.op_type != "Conv"
                    or list(_attr(conv, "kernel_shape")) != [1, 1]
                    or list(_attr(conv, "strides", [1, 1])) != [1, 1]
                    or any(_attr(conv, "pads", [0, 0, 0, 0])) or _attr(conv, "group", 1) != 1
                    or len(model.find_consumers(n.output[0])) != 1):
                raise BiRealError(f"{n.name}: only AveragePool(2x2, stride 2) feeding one 1x1 "
                                  "conv (the Bi-Real downsample) is supported")
            W = model.get_initializer(conv.input[1])
            if W is None:
                raise BiRealError(f"{conv.name}: downsample weights must be constant")
            model.set_initializer(conv.input[1], np.tile(W, (1, 1, 2, 2)).astype(np.float32))
            conv.input[0] = n.input[0]
            for a in list(conv.attribute):
                if a.name in ("kernel_shape", "strides", "pads"):
                    conv.attribute.remove(a)
            conv.attribute.extend([helper.make_attribute("kernel_shape", [2, 2]),
                                   helper.make_attribute("strides", [2, 2]),
                                   helper.make_attribute("pads", [0, 0, 0, 0])])
            out = conv.output[0]
            tmp = _new_tensor(model, model.get_tensor_shape(out))
            conv.output[0] = tmp
            mul = helper.make_node("Mul", [tmp, _scalar_init(model, 0.25)], [out],
                                   name=f"Mul_{conv.name}_avg")
            g.node.insert(list(g.node).index(conv) + 1, mul)
            g.node.remove(n)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


class LowerSignPadConvs(Transformation):
    """Pad(constant -1) -> Conv(pads 0) on a BIPOLAR tensor -> Im2Col(pad_value=-1) + MatMul.

    FINN's LowerConvsToMatMul pads with 0, which is no value of a sign; the Bi-Real model pads
    the sign output with -1 (bit 0 after the XNOR conversion), so the pad goes into Im2Col.
    """

    def apply(self, model):
        from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
        g = model.graph
        lowered = []
        for n in list(g.node):
            if n.op_type != "Pad":
                continue
            conv = model.find_consumer(n.output[0])
            val = model.get_initializer(n.input[2]) if len(n.input) > 2 else None
            dt = model.get_tensor_datatype(n.input[0])
            if dt != DataType["BIPOLAR"]:
                raise BiRealError(f"{n.name}: Pad on a {dt.name} tensor; only the -1 pad of a "
                                  "sign (BIPOLAR) before a binary conv is supported")
            if (conv is None or conv.op_type != "Conv" or val is None or float(val) != -1.0
                    or any(_attr(conv, "pads", [0, 0, 0, 0]))):
                raise BiRealError(f"{n.name}: expected Pad(constant -1) feeding an unpadded Conv")
            pads = [int(p) for p in model.get_initializer(n.input[1])]   # onnx: [b,c,h,w]x2
            if pads[0] or pads[1] or pads[4] or pads[5]:
                raise BiRealError(f"{n.name}: padding on batch/channel axes is not supported")
            for a in list(conv.attribute):
                if a.name == "pads":
                    conv.attribute.remove(a)
            conv.attribute.append(helper.make_attribute("pads", [pads[2], pads[3], pads[6], pads[7]]))
            conv.input[0] = n.input[0]
            g.node.remove(n)
            lowered.append(conv.input[1])
        if not lowered:
            return model, False
        model = model.transform(LowerConvsToMatMul())
        for w in lowered:
            mm = [c for c in model.find_consumers(w) if c.op_type == "MatMul"]
            i2c = model.find_producer(mm[0].input[0]) if mm else None
            if i2c is None or i2c.op_type != "Im2Col":
                raise BiRealError(f"lowering of the conv with weights {w} produced no Im2Col")
            getCustomOp(i2c).set_nodeattr("pad_value", -1)
        return model.transform(InferShapes()).transform(InferDataTypes()), True


class XnorPadValue(Transformation):
    """After the XNOR conversion a sign is BINARY {0,1}: bipolar -1 pads become bit 0."""

    def apply(self, model):
        changed = False
        for n in model.graph.node:
            if n.op_type == "Im2Col" and model.get_tensor_datatype(n.input[0]) == DataType["BINARY"]:
                inst = getCustomOp(n)
                if inst.get_nodeattr("pad_value") == -1:
                    inst.set_nodeattr("pad_value", 0)
                    changed = True
        return model, changed


class SeedChannelsLastInput(Transformation):
    """Make the graph input NHWC when its first consumer is the NCHW->NHWC Transpose of a lowered
    conv: the accelerator then reads pixels in the order the sliding window wants them."""

    def apply(self, model):
        from qonnx.core.data_layout import NHWC
        iname = model.graph.input[0].name
        cons = model.find_consumers(iname)
        if len(cons) != 1 or cons[0].op_type != "Transpose" or list(_attr(cons[0], "perm")) != [0, 2, 3, 1]:
            return model, False
        t = cons[0]
        _rewire(model, t.output[0], iname)
        model.graph.node.remove(t)
        n, c, h, w = model.get_tensor_shape(iname)
        model.set_tensor_shape(iname, [n, h, w, c])
        model.set_tensor_layout(iname, NHWC)
        return model.transform(InferShapes()).transform(InferDataTypes()), True


class MoveFlattenToOutput(Transformation):
    """Flatten of a [1,1,1,C] global-pool result -> dropped; one Flatten at the graph output.

    Everything between (thresholds, the FC MatMul, the scalar Mul/Add) works on the last axis,
    so the 4D [1,1,1,C] stream feeds the FC MVAU directly and no reshape sits inside the
    dataflow partition.
    """

    def apply(self, model):
        g = model.graph
        oname = g.output[0].name
        for n in g.node:
            if n.op_type not in ("Flatten", "Reshape") or n.output[0] == oname:
                continue
            shp = model.get_tensor_shape(n.input[0])
            if len(shp) != 4 or shp[1:3] != [1, 1]:
                continue
            _rewire(model, n.output[0], n.input[0])
            g.node.remove(n)
            last = model.find_producer(oname)
            new_out = model.make_new_valueinfo_name()
            last.output[0] = new_out
            g.node.append(helper.make_node("Flatten", [new_out], [oname], axis=1,
                                           name="Flatten_output"))
            # shapes downstream of the dropped flatten change: forget them, re-infer
            down, todo = set(), [n.input[0]]
            while todo:
                for c in model.find_consumers(todo.pop()) or []:
                    for o in c.output:
                        if o not in down:
                            down.add(o)
                            todo.append(o)
            for vi in list(g.value_info):
                if vi.name in down:
                    g.value_info.remove(vi)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


class MoveScaleAfterBias(Transformation):
    """Mul(c) -> Add(b) == Add(b / c) -> Mul(c) when b / c is an integer (exact in float32).

    At the FC output this leaves an integer bias add (a HW layer) and one scalar logit scale
    (a power of two) for the host.
    """

    def apply(self, model):
        for n in model.graph.node:
            if n.op_type != "Mul":
                continue
            c = model.get_initializer(n.input[1])
            add = model.find_consumer(n.output[0])
            if c is None or c.size != 1 or add is None or add.op_type != "Add":
                continue
            b = model.get_initializer(add.input[1])
            if b is None or len(model.find_consumers(n.output[0])) != 1:
                continue
            bq = b.astype(np.float64) / float(c.reshape(-1)[0])
            if not np.array_equal(bq, np.rint(bq)) or np.abs(bq).max(initial=0) >= 2 ** 24:
                continue
            x, mid, out = n.input[0], n.output[0], add.output[0]
            model.set_initializer(add.input[1], bq.astype(np.float32))
            lo, hi = float(bq.min(initial=0)), float(bq.max(initial=0))
            dt = DataType.get_smallest_possible(lo if -lo > hi else hi)
            model.set_tensor_datatype(add.input[1], dt if dt.signed() else
                                      DataType.get_smallest_possible(-hi - 1))
            add.input[0], add.output[0] = x, mid
            n.input[0], n.output[0] = mid, out
            g = model.graph
            g.node.remove(add)
            g.node.insert(list(g.node).index(n), add)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


class MaxPoolOnUnsigned(Transformation):
    """MultiThreshold(INT<b>, out_bias qmin) -> MaxPool  ==  MultiThreshold(UINT<b>) -> MaxPool ->
    Add(qmin), all integer.

    max(u + qmin) = max(u) + qmin, and on UINT data the pool's pad value (the type minimum) is 0,
    which FINN's FMPadding can insert (it pads only 0); equal to PyTorch's -inf padding.
    Run on the streamlined channels-last graph, right before HW inference.
    """

    def apply(self, model):
        g = model.graph
        for mp in g.node:
            if mp.op_type not in ("MaxPool", "MaxPoolNHWC"):
                continue
            mt = model.find_producer(mp.input[0])
            if mt is not None and mt.op_type == "MultiThreshold" and \
                    getCustomOp(mt).get_nodeattr("out_dtype").startswith("UINT"):
                continue                                    # already rewritten
            if mt is None or mt.op_type != "MultiThreshold" or \
                    len(model.find_consumers(mt.output[0])) != 1:
                raise BiRealError(f"{mp.name}: MaxPool is supported only right after the stem "
                                  "requant thresholds")
            inst = getCustomOp(mt)
            odt = inst.get_nodeattr("out_dtype")
            qmin = inst.get_nodeattr("out_bias")
            if not odt.startswith("INT") or qmin != -(2 ** (int(odt[3:]) - 1)) or \
                    inst.get_nodeattr("out_scale") != 1.0:
                raise BiRealError(f"{mt.name}: expected a signed integer requant before {mp.name}")
            inst.set_nodeattr("out_dtype", "U" + odt)
            inst.set_nodeattr("out_bias", 0.0)
            out = mp.output[0]
            pooled = _new_tensor(model, model.get_tensor_shape(out))
            mp.output[0] = pooled
            c = _scalar_init(model, qmin)
            model.set_tensor_datatype(c, DataType[odt])
            g.node.insert(list(g.node).index(mp) + 1,
                          helper.make_node("Add", [pooled, c], [out], name=f"Add_{mp.name}_offset"))
            for t in (mt.output[0], pooled):
                model.set_tensor_datatype(t, DataType["U" + odt])
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False
