"""FloatToInt: where Bi-Real's float32 path returns to integers (shortcut float32).

Two modes, per element x (float32, finite, no subnormals — model.float_path asserts that):

    mode "sign":  q = 1 if x >= 0 else 0           BINARY, the XnorMVAU input code of
                                                   where(x >= 0, +1, -1); -0.0 >= 0 holds
    mode "quant": q = clamp(RNE(x * 2**Frac), out.min, out.max)
                                                   the fixed-point Quant (ROUND = half to
                                                   even) before the 8-bit downsample conv
                                                   and the head; x * 2**Frac is exact

x * 2**Frac is a power-of-two scaling, exact for every normal float32 as long as it neither
overflows nor goes subnormal; the golden model computes it in float64 (always exact here) and
rounds half to even with np.rint.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from hw.ops.elementwise import STREAM_ATTRS, ChannelwiseStream
from hw.ops.float_shortcut_add import check_f32


class FloatToInt(ChannelwiseStream, HWCustomOp):
    """Layer class (shapes, types, numpy golden); the RTL backend is FloatToInt_rtl."""

    def get_nodeattr_types(self):
        attrs = {
            **STREAM_ATTRS,
            "inputDataType": ("s", False, "FLOAT32"),
            "outputDataType": ("s", True, ""),
            "mode": ("s", True, "", {"sign", "quant"}),
            "Frac": ("i", False, 0),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"FloatToInt node {self.onnx_node.name}: {msg}")

    # -- shapes and types -----------------------------------------------------------------
    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("inputDataType")]

    def get_output_datatype(self, ind=0):
        return DataType[self.get_nodeattr("outputDataType")]

    def make_shape_compatible_op(self, model):
        return helper.make_node("Identity", [self.onnx_node.input[0]], [self.onnx_node.output[0]])

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], self.get_output_datatype())

    def verify_node(self):
        """Check attributes; returns FINN-style messages, raises on illegal values."""
        self._folds()
        odt, mode = self.get_output_datatype(), self.get_nodeattr("mode")
        if self.get_nodeattr("inputDataType") != "FLOAT32":
            raise self._err("inputDataType must be FLOAT32")
        if mode == "sign" and odt != DataType["BINARY"]:
            raise self._err(f"mode sign gives BINARY, outputDataType is {odt.name}")
        if mode == "quant" and not (odt.is_integer() and odt.bitwidth() <= 32):
            raise self._err(f"mode quant needs an integer outputDataType of <= 32 bits, "
                            f"got {odt.name}")
        if not -126 <= self.get_nodeattr("Frac") <= 127:
            raise self._err(f"Frac={self.get_nodeattr('Frac')} out of -126..127")
        return [f"FloatToInt node {self.onnx_node.name}: attributes OK"]

    # -- arithmetic -----------------------------------------------------------------------
    def golden(self, x: np.ndarray) -> np.ndarray:
        """The module docstring's formula; returns the integer codes as float32."""
        x = np.asarray(x, dtype=np.float32)
        check_f32(x, f"{self.onnx_node.name} (input)", self._err)
        if self.get_nodeattr("mode") == "sign":
            return (x >= 0).astype(np.float32)
        odt = self.get_output_datatype()
        q = np.rint(x.astype(np.float64) * 2.0 ** self.get_nodeattr("Frac"))
        return np.clip(q, int(odt.min()), int(odt.max())).astype(np.float32)

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = context[node.input[0]].reshape(self.get_normal_input_shape())
        context[node.output[0]] = self.golden(x)

    # -- resources --------------------------------------------------------------------
    def dsp_estimation(self, fpgapart=None):
        return 0

    def bram_estimation(self, fpgapart=None):
        return 0

    def lut_estimation(self, fpgapart=None):
        """sign: 1 LUT per lane. quant: per lane a 32-bit barrel shift by the exponent (~5
        levels of 32 muxes), the RNE increment and the saturation compare, ~3*32 + 8*out bits;
        + 20 control."""
        pe = self.get_nodeattr("PE")
        if self.get_nodeattr("mode") == "sign":
            return pe + 20
        return pe * (5 * 32 + 3 * 32 + 8 * self.get_output_datatype().bitwidth()) + 20
