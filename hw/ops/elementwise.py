"""Shapes and stream widths shared by the channel-wise units (Requant, ShortcutAdd,
FloatShortcutAdd, FloatToInt): every input and the output are [*numInputVectors, C], streamed
as C/PE words of PE elements, one word per cycle:

    folded shape = [*numInputVectors, C/PE, PE],  width(i) = bits(dtype_i) * PE,
    exp_cycles   = prod(numInputVectors) * C/PE

Subclasses provide `_err`, `get_input_datatype(ind)` and `get_output_datatype()`; the
two-input units (ShortcutAdd, FloatShortcutAdd) take those and their shape/type inference from
`TwoStreamTypes`.
"""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from finn.util.logging import log

STREAM_ATTRS = {
    "NumChannels": ("i", True, 0),
    "PE": ("i", True, 0),
    "numInputVectors": ("ints", False, [1]),
}


class ChannelwiseStream:
    def _folds(self) -> int:
        ch, pe = self.get_nodeattr("NumChannels"), self.get_nodeattr("PE")
        if pe < 1 or ch < 1 or ch % pe:
            raise self._err(f"PE={pe} must divide NumChannels={ch}")
        return ch // pe

    def get_normal_input_shape(self, ind=0):
        return tuple(list(self.get_nodeattr("numInputVectors")) + [self.get_nodeattr("NumChannels")])

    def get_normal_output_shape(self, ind=0):
        return self.get_normal_input_shape()

    def get_folded_input_shape(self, ind=0):
        return tuple(list(self.get_nodeattr("numInputVectors")) + [self._folds(), self.get_nodeattr("PE")])

    def get_folded_output_shape(self, ind=0):
        return self.get_folded_input_shape()

    def get_instream_width(self, ind=0):
        return self.get_input_datatype(ind).bitwidth() * self.get_nodeattr("PE")

    def get_outstream_width(self, ind=0):
        return self.get_output_datatype().bitwidth() * self.get_nodeattr("PE")

    def get_number_output_values(self):
        return int(np.prod(self.get_folded_output_shape()[:-1]))

    def get_exp_cycles(self):
        """prod(numInputVectors) * NumChannels / PE (one word per cycle)."""
        return int(np.prod(self.get_nodeattr("numInputVectors"))) * self._folds()


class TwoStreamTypes:
    """Types and shape inference of a unit with inputs in0 (and in1, when the node has it),
    each of the output's shape [*numInputVectors, C], types in the in0DataType / in1DataType /
    outputDataType attributes."""

    IN_DTYPE_ATTRS = ("in0DataType", "in1DataType")

    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr(self.IN_DTYPE_ATTRS[ind])]

    def get_output_datatype(self, ind=0):
        return DataType[self.get_nodeattr("outputDataType")]

    def make_shape_compatible_op(self, model):
        """Identity (one input) or an ONNX Add of the two inputs, after checking their shapes."""
        node = self.onnx_node
        exp = list(self.get_normal_input_shape())
        for t in node.input:
            if list(model.get_tensor_shape(t)) != exp:
                raise self._err(f"input {t} has shape {model.get_tensor_shape(t)}, expected {exp}")
        if len(node.input) == 1:
            return helper.make_node("Identity", [node.input[0]], [node.output[0]])
        return helper.make_node("Add", list(node.input), [node.output[0]])

    def infer_node_datatype(self, model):
        """Input types from the graph (the attributes follow them), output type from the attribute."""
        node = self.onnx_node
        for t, attr in zip(node.input, self.IN_DTYPE_ATTRS):
            idt = model.get_tensor_datatype(t)
            if idt.name != self.get_nodeattr(attr):
                log.warning(f"{attr} changing for {node.name}: {self.get_nodeattr(attr)} -> {idt.name}")
                self.set_nodeattr(attr, idt.name)
        model.set_tensor_datatype(node.output[0], self.get_output_datatype())
