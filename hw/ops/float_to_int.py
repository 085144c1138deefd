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
rounds half to even with np.rint. RTL: hw/rtl/float_to_int.sv (FloatToInt_rtl below).
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from hw.ops.base import BirealRTLBackend
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
        if mode == "quant" and not (odt.is_integer() and odt.bitwidth() <= 24):
            raise self._err(f"mode quant needs an integer outputDataType of <= 24 bits (exact "
                            f"in the float32 golden), got {odt.name}")
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
        + 20 control. Yosys xc7 of FloatToInt_rtl quant, PE=4, INT8: 1,153 LUT, 502 FF
        (estimate 1,300)."""
        pe = self.get_nodeattr("PE")
        if self.get_nodeattr("mode") == "sign":
            return pe + 20
        return pe * (5 * 32 + 3 * 32 + 8 * self.get_output_datatype().bitwidth()) + 20


class FloatToInt_rtl(FloatToInt, BirealRTLBackend):
    """FloatToInt on the project's RTL core bireal_float_to_int (hw/rtl/float_to_int.sv:
    per lane fp32_ge_zero (sign) or an exponent-driven shift + RNE + saturate (quant);
    latency 4 + output register)."""

    core_sv = "float_to_int.sv"
    core_module = "bireal_float_to_int"
    rtl_deps = ("fp32_pkg.sv", "skid_buffer.sv", "stall_pipe.sv")
    LATENCY = 5   # input edge -> output register

    def core_params(self, model) -> dict:
        odt = self.get_output_datatype()
        return {
            "PE": self.get_nodeattr("PE"),
            "MODE": int(self.get_nodeattr("mode") == "quant"),
            "O_BITS": odt.bitwidth(),
            "FRAC": self.get_nodeattr("Frac"),
            "OUT_MIN": int(odt.min()),
            "OUT_MAX": int(odt.max()),
            "IN_W": self.get_instream_width_padded(0),
            "OUT_W": self.get_outstream_width_padded(0),
        }

    def golden_execute(self, context, graph):
        FloatToInt.execute_node(self, context, graph)
