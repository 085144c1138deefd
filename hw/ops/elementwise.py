"""Shapes and stream widths shared by the channel-wise units (Requant, ShortcutAdd,
FloatShortcutAdd, FloatToInt): every input and the output are [*numInputVectors, C], streamed
as C/PE words of PE elements, one word per cycle:

    folded shape = [*numInputVectors, C/PE, PE],  width(i) = bits(dtype_i) * PE,
    exp_cycles   = prod(numInputVectors) * C/PE

Subclasses provide `_err`, `get_input_datatype(ind)` and `get_output_datatype()`.
"""
from __future__ import annotations

import numpy as np

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
