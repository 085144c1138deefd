"""TLastMarker: the accelerator's last stream -> the Zynq shell's AXI DMA (S2MM).

The DMA ends a transfer on TLAST and wants power-of-two byte widths: TLastMarker_rtl
(hw/rtl/tlast_marker.sv) zero-extends each word from in_width to out_width bits and raises
TLAST on the last word of every batch of `frames` frames (`frames` = an ap_none input port
set by software through an AXI GPIO; 0 means 1). The element values are unchanged, so the
golden execute_node is the identity. InsertTLastMarker appends it to an RTL graph.
(Named after FINN's old TLastMarker op.)
"""

from __future__ import annotations

import math

import numpy as np
from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from finn.util.logging import log
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from hw.dma import pow2_bytes
from hw.ops.base import BirealRTLBackend

OP_TYPE = "TLastMarker_rtl"


class TLastMarker(HWCustomOp):
    """Layer class (shapes, types, identity golden); the RTL backend is TLastMarker_rtl."""

    def get_nodeattr_types(self):
        attrs = {
            "words_per_frame": ("i", True, 0),
            "elems_per_word": ("i", True, 0),
            "dataType": ("s", True, ""),
            "in_width": ("i", True, 0),
            "out_width": ("i", True, 0),
            "folded_shape": ("ints", True, []),
            "normal_shape": ("ints", True, []),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"TLastMarker node {self.onnx_node.name}: {msg}")

    # -- shapes and types -----------------------------------------------------------------
    def get_normal_input_shape(self, ind=0):
        return tuple(self.get_nodeattr("normal_shape"))

    def get_folded_input_shape(self, ind=0):
        return tuple(self.get_nodeattr("folded_shape"))

    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("dataType")]

    def get_instream_width(self, ind=0):
        return self.get_input_datatype().bitwidth() * self.get_nodeattr("elems_per_word")

    def get_instream_width_padded(self, ind=0):
        return self.get_nodeattr("in_width")

    def get_outstream_width(self, ind=0):
        return self.get_nodeattr("out_width")

    def get_exp_cycles(self):
        """One word per cycle: words_per_frame."""
        return self.get_nodeattr("words_per_frame")

    # the stream passes unchanged (zero-extended): output = input
    get_normal_output_shape, get_folded_output_shape = get_normal_input_shape, get_folded_input_shape
    get_output_datatype, get_outstream_width_padded = get_input_datatype, get_outstream_width
    get_number_output_values = get_exp_cycles

    def make_shape_compatible_op(self, model):
        """An ONNX Identity (the output has the input's shape)."""
        node, exp = self.onnx_node, list(self.get_normal_input_shape())
        if list(model.get_tensor_shape(node.input[0])) != exp:
            raise self._err(f"input {node.input[0]} has shape "
                            f"{model.get_tensor_shape(node.input[0])}, expected {exp}")
        return helper.make_node("Identity", [node.input[0]], [node.output[0]])

    def infer_node_datatype(self, model):
        node = self.onnx_node
        idt = model.get_tensor_datatype(node.input[0])
        if idt.name != self.get_nodeattr("dataType"):
            log.warning(f"dataType changing for {node.name}: {self.get_nodeattr('dataType')} -> {idt.name}")
            self.set_nodeattr("dataType", idt.name)
        model.set_tensor_datatype(node.output[0], self.get_output_datatype())

    def verify_node(self):
        """Check attributes; returns a list of messages (FINN style), raises on illegal values."""
        g = self.get_nodeattr
        folded, normal = list(g("folded_shape")), list(g("normal_shape"))
        words, elems = g("words_per_frame"), g("elems_per_word")
        win, wout = g("in_width"), g("out_width")
        if not folded or words < 1 or elems < 1 or words != math.prod(folded[:-1]) \
                or elems != folded[-1]:
            raise self._err(f"words_per_frame={words} / elems_per_word={elems} do not match "
                            f"folded_shape={folded}")
        if math.prod(normal) != math.prod(folded):
            raise self._err(f"normal_shape={normal} and folded_shape={folded} differ in size")
        if win % 8 or win < self.get_instream_width():
            raise self._err(f"in_width={win} must be a multiple of 8 >= "
                            f"{self.get_instream_width()} ({elems} x {g('dataType')})")
        if wout % 8 or wout < win:
            raise self._err(f"out_width={wout} must be a multiple of 8 >= in_width={win}")
        return [f"TLastMarker node {self.onnx_node.name}: attributes OK"]

    def golden_execute(self, context, graph):
        node = self.onnx_node
        x = np.asarray(context[node.input[0]]).reshape(self.get_normal_output_shape())
        context[node.output[0]] = x.astype(np.float32)

    def execute_node(self, context, graph):
        self.golden_execute(context, graph)

    # -- resources ------------------------------------------------------------------------
    def lut_estimation(self, fpgapart=None):
        """32-bit frame counter (increment, clear) + its compare with the sampled `frames`
        (~32) + word counter (2 per bit: increment, compare) + 4 control; the data and
        `frames` registers are FFs only. Yosys synth_xilinx, 24 -> 32 bits, 5 words: 76."""
        ww = max(1, math.ceil(math.log2(max(1, self.get_nodeattr("words_per_frame")))))
        return 2 * 32 + 2 * ww + 4

    def bram_estimation(self, fpgapart=None):
        """No memories (explicit 0s: hw.estimates lists inherited placeholders as unmodelled)."""
        return 0

    uram_estimation = dsp_estimation = bram_estimation


class TLastMarker_rtl(TLastMarker, BirealRTLBackend):
    """TLastMarker on the project's RTL core bireal_tlast_marker (hw/rtl/tlast_marker.sv)."""

    core_sv = "tlast_marker.sv"
    core_module = "bireal_tlast_marker"

    def get_verilog_top_module_intf_names(self):
        intf = super().get_verilog_top_module_intf_names()
        intf["s_axis"] = [("in0_V", self.get_nodeattr("in_width"))]
        intf["m_axis"] = [("out_V", self.get_nodeattr("out_width"))]
        intf["aximm"], intf["axilite"], intf["ap_none"] = [], [], ["frames"]
        return intf

    def core_params(self, model) -> dict:
        self.verify_node()
        g = self.get_nodeattr
        return {"IN_WIDTH": g("in_width"), "OUT_WIDTH": g("out_width"), "WORDS": g("words_per_frame")}

    def wrapper_text(self, model) -> str:
        """Like BirealRTLBackend.wrapper_text, plus the `frames` input and out_V_TLAST."""
        wi, wo = self.get_nodeattr("in_width"), self.get_nodeattr("out_width")
        ports = ["input  wire ap_clk", "input  wire ap_rst_n", "input  wire [31:0] frames",
                 f"input  wire [{wi - 1}:0] in0_V_TDATA", "input  wire in0_V_TVALID",
                 "output wire in0_V_TREADY",
                 f"output wire [{wo - 1}:0] out_V_TDATA", "output wire out_V_TVALID",
                 "input  wire out_V_TREADY", "output wire out_V_TLAST"]
        conns = [f".{p.split()[-1]}({p.split()[-1]})" for p in ports]
        return self.render_wrapper(model, ports, conns)

    def golden_execute(self, context, graph):
        TLastMarker.golden_execute(self, context, graph)


class InsertTLastMarker(Transformation):
    """Append a TLastMarker_rtl node ("TLastMarker_rtl_0") after the node producing the graph
    output of an RTL graph: new graph output tensor with the old one's shape and datatype;
    in_width = that node's padded output width, out_width = 8 * hw.dma.pow2_bytes(in_width).
    Does nothing if the graph already has a TLastMarker_rtl node. Returns (model, False)."""

    def apply(self, model):
        graph = model.graph
        if any(n.op_type == OP_TYPE for n in graph.node):
            return model, False
        if len(graph.output) != 1:
            raise ValueError(f"InsertTLastMarker: needs one graph output, got {len(graph.output)}")
        old = graph.output[0]
        producer = model.find_producer(old.name)
        if producer is None:
            raise ValueError(f"InsertTLastMarker: no node produces the graph output {old.name}")
        last = getCustomOp(producer)
        folded = [int(v) for v in last.get_folded_output_shape(0)]
        shape = model.get_tensor_shape(old.name)
        dt = last.get_output_datatype(0)
        in_width = int(last.get_outstream_width_padded(0))
        new_name = model.make_new_valueinfo_name()
        new = helper.make_tensor_value_info(new_name, old.type.tensor_type.elem_type, shape)
        node = helper.make_node(
            OP_TYPE, [old.name], [new_name], name=f"{OP_TYPE}_0", domain="hw.ops",
            backend="fpgadataflow", words_per_frame=math.prod(folded[:-1]),
            elems_per_word=folded[-1], dataType=dt.name, in_width=in_width,
            out_width=8 * pow2_bytes(in_width), folded_shape=folded,
            normal_shape=[int(v) for v in shape])
        graph.value_info.append(old)
        graph.output.remove(old)
        graph.output.append(new)
        graph.node.append(node)
        model.set_tensor_datatype(new_name, dt)
        return model, False
