"""The Bi-Real downsample shortcut as a 2x2 sum pool + 1x1 MVAU instead of one 2x2 conv.

hw.flow's avgpool_to_conv turns AvgPool 2x2 -> Conv 1x1 (W) into one 2x2 stride-2 conv with W
on all four taps (x 1/4, absorbed by streamlining); after HW inference that is a sliding window
(2x2, stride 2) feeding an MVAU with MW = 4 C whose weight rows repeat every C rows. Its 4 C
multiplies per output can be 1 add per input channel and tap plus C multiplies:

    sum_{t, c} W[c, o] x[t, c]  =  sum_c W[c, o] (sum_t x[t, c])          (integers: exact)

SumPoolDownsample rewrites exactly that pattern into
    ConvolutionInputGenerator(2x2, s2, depthwise) -> Pool(AccPool, 2x2) -> MVAU(MW = C, W[:C])
The pool's output type is the smallest holding 4 x the input range (INT8 -> INT10); the MVAU
reads it as its inputDataType. A quarter of the multipliers for the same cycles; the 1/4 of
the average is already in the requant constants after it. The Pool maps onto hw/rtl/max_pool.sv
in its SUM mode (hw.rtl_pool.ToMaxPoolRTL -> SumPool_rtl). `done` lists what was rewritten.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes


def sum_datatype(idt: DataType, k2: int) -> DataType:
    """Smallest integer type holding the sum of k2 values of idt."""
    lo, hi = k2 * int(idt.min()), k2 * int(idt.max())
    for bits in range(1, 65):
        dt = DataType[f"INT{bits}"] if lo < 0 else DataType[f"UINT{bits}"]
        if dt.allowed(lo) and dt.allowed(hi):
            return dt
    raise ValueError(f"no integer type holds [{lo}, {hi}]")


def tap_shared(w: np.ndarray, taps: int) -> bool:
    """W (MW, MH) with rows in (tap, channel) order has the same weights on every tap."""
    if w is None or w.shape[0] % taps:
        return False
    t = w.reshape(taps, w.shape[0] // taps, -1)
    return bool((t == t[:1]).all())


class SumPoolDownsample(Transformation):
    """SWG(2x2, s2) -> MVAU(W shared by the 4 taps)  ==>  depthwise SWG -> Pool(AccPool) ->
    MVAU(MW/4). Only non-XNOR MVAUs whose SWG feeds nothing else and has no dilation."""

    def __init__(self):
        super().__init__()
        self.done: list[dict] = []

    def _match(self, model, mv):
        if mv.op_type != "MVAU" or getCustomOp(mv).get_nodeattr("binaryXnorMode"):
            return None
        swg = model.find_producer(mv.input[0])
        if swg is None or swg.op_type != "ConvolutionInputGenerator":
            return None
        s = getCustomOp(swg)
        if (list(s.get_nodeattr("ConvKernelDim")) != [2, 2] or list(s.get_nodeattr("Stride")) != [2, 2]
                or list(s.get_nodeattr("Dilation")) != [1, 1] or s.get_nodeattr("depthwise")
                or len(model.find_consumers(swg.output[0]) or []) != 1):
            return None
        c = int(s.get_nodeattr("IFMChannels"))
        w = model.get_initializer(mv.input[1])
        if getCustomOp(mv).get_nodeattr("MW") != 4 * c or not tap_shared(w, 4):
            return None
        return swg, s, c, w

    def apply(self, model):
        for mv in model.graph.node:
            m = self._match(model, mv)
            if m is None:
                continue
            swg, s, c, w = m
            idt = s.get_input_datatype()
            odt = sum_datatype(idt, 4)
            oh, ow = (int(v) for v in s.get_nodeattr("OFMDim"))
            s.set_nodeattr("depthwise", 1)
            s.set_nodeattr("SIMD", 1)     # a depthwise SWG streams its consumer's PE (= 1 below)
            out = model.make_new_valueinfo_name()
            model.graph.value_info.append(
                helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, oh, ow, c]))
            model.set_tensor_datatype(out, odt)
            pool = helper.make_node(
                "Pool", [swg.output[0]], [out], domain="finn.custom_op.fpgadataflow",
                backend="fpgadataflow", InputDataType=idt.name, OutputDataType=odt.name,
                Channels=c, PE=1, KernelSize=[2, 2], Function="AccPool", OutImgDims=[oh, ow],
                AccumBits=odt.bitwidth(), Size=1, BatchSize=1, name=f"SumPool_{mv.name}")
            model.graph.node.insert(list(model.graph.node).index(mv), pool)
            mv.input[0] = out
            op = getCustomOp(mv)
            op.set_nodeattr("MW", c)
            op.set_nodeattr("inputDataType", odt.name)
            model.set_initializer(mv.input[1], np.ascontiguousarray(w[:c]))
            self.done.append({"mvau": mv.name, "pool": pool.name, "channels": c,
                              "pool_dtype": odt.name})
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False
