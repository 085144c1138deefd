"""FloatShortcutAdd: Bi-Real's real-valued shortcut in IEEE-754 binary32 (shortcut float32).

For channel ch of each pixel, with c the integer accumulator of the conv before (in0), x the
float32 shortcut (in1) and A, B the per-channel float32 constants (model.float_path), three
separately rounded float32 ops in this order (round to nearest even, no FMA):

    y   = RN(f32(c) * A[ch])      f32(c) exact: |c| < 2**24
    y   = RN(y + B[ch])
    out = RN(y + x)               only if has_residual (the stem's affine has none)

A conv whose accumulator is c_int * 2**-k (an 8-bit downsample conv) gets A = a * 2**-k, which
is exact (a power-of-two scale of a normal float32) and gives the same rounded product.
RTL: hw/rtl/float_shortcut_add.sv (FloatShortcutAdd_rtl below).
A and B are stored as their float32 bit patterns (uint32 in `ints` attributes), so the ONNX
graph carries the exact constants. The golden model asserts what a flush-to-zero, no-NaN FP
unit needs: |c| < 2**24 and integer, every result finite and not subnormal; the error names
the node.
"""

from __future__ import annotations

import numpy as np

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from hw.ops.base import BirealRTLBackend
from hw.ops.elementwise import STREAM_ATTRS, TwoStreamTypes
from hw.ops.requant import AffineParams

F32_EXACT_INT = 2 ** 24
F32_TINY = np.float32(np.finfo(np.float32).tiny)


def f32_bits(values) -> list[int]:
    """float32 values -> their bit patterns as Python ints (0 .. 2**32-1)."""
    return [int(v) for v in np.asarray(values, dtype=np.float32).reshape(-1).view(np.uint32)]


def f32_from_bits(bits) -> np.ndarray:
    """Bit patterns (ints) -> float32 array."""
    return np.asarray([int(b) & 0xFFFFFFFF for b in bits], dtype=np.uint32).view(np.float32)


def check_f32(y: np.ndarray, where: str, err):
    """No NaN, inf or subnormal (zeros allowed): what a flush-to-zero FP unit reproduces."""
    bad = ~np.isfinite(y)
    if bad.any():
        raise err(f"{where}: {int(bad.sum())} NaN/inf value(s) on the float32 path")
    sub = (y != 0) & (np.abs(y) < F32_TINY)
    if sub.any():
        raise err(f"{where}: {int(sub.sum())} subnormal float32 value(s); the flush-to-zero "
                  "FP units would differ")


class FloatShortcutAdd(TwoStreamTypes, AffineParams, HWCustomOp):
    """Layer class (shapes, types, numpy golden); the RTL backend is FloatShortcutAdd_rtl."""

    def get_nodeattr_types(self):
        attrs = {
            **STREAM_ATTRS,
            "in0DataType": ("s", True, ""),            # integer accumulator c
            "in1DataType": ("s", False, "FLOAT32"),    # float32 shortcut x (has_residual)
            "outputDataType": ("s", False, "FLOAT32"),
            "A": ("ints", True, []),                   # float32 bit patterns, per channel
            "B": ("ints", True, []),
            "has_residual": ("i", False, 1, {0, 1}),
            "ram_style": ("s", False, "auto", {"auto", "block", "distributed"}),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"FloatShortcutAdd node {self.onnx_node.name}: {msg}")

    def _consts(self):
        """(A, B) bit patterns as int64 arrays of NumChannels, checked finite and normal."""
        a = np.asarray(self.get_nodeattr("A"), dtype=np.int64)
        b = np.asarray(self.get_nodeattr("B"), dtype=np.int64)
        self._check_consts(a, b, "A/B")
        if ((a < 0) | (a > 0xFFFFFFFF) | (b < 0) | (b > 0xFFFFFFFF)).any():
            raise self._err("A/B must be float32 bit patterns in 0 .. 2**32-1")
        for n, v in (("A", a), ("B", b)):
            check_f32(f32_from_bits(v), f"{self.onnx_node.name} constant {n}", self._err)
        return a, b

    def constants(self) -> tuple[np.ndarray, np.ndarray]:
        """(A, B) as float32 arrays."""
        a, b = self._consts()
        return f32_from_bits(a), f32_from_bits(b)

    def widths(self) -> dict:
        """Constant memory lane: {B, A}, 32 bits each (AffineParams)."""
        return {"A_BITS": 32, "B_BITS": 32}

    # -- shapes and types -----------------------------------------------------------------
    def n_inputs(self) -> int:
        return 1 + self.get_nodeattr("has_residual")

    def verify_node(self):
        """Check attributes; returns FINN-style messages, raises on illegal values."""
        node = self.onnx_node
        self._folds()
        self._consts()
        cdt = self.get_input_datatype(0)
        if not cdt.is_integer() or max(abs(int(cdt.min())), abs(int(cdt.max()))) >= F32_EXACT_INT:
            raise self._err(f"in0DataType {cdt.name} must be an integer type within +-2**24")
        if self.get_nodeattr("outputDataType") != "FLOAT32":
            raise self._err("outputDataType must be FLOAT32")
        if len(node.input) != self.n_inputs():
            raise self._err(f"has_residual={self.get_nodeattr('has_residual')} needs "
                            f"{self.n_inputs()} input(s), node has {len(node.input)}")
        if self.n_inputs() == 2 and self.get_nodeattr("in1DataType") != "FLOAT32":
            raise self._err("in1DataType (the shortcut) must be FLOAT32")
        return [f"FloatShortcutAdd node {node.name}: attributes OK"]

    # -- arithmetic -----------------------------------------------------------------------
    def golden(self, c: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        """The module docstring's three float32 ops (numpy float32: one rounding each)."""
        name = self.onnx_node.name
        a, b = self.constants()
        c = np.asarray(c, dtype=np.float64)
        if not (c == np.round(c)).all() or (np.abs(c) >= F32_EXACT_INT).any():
            raise self._err("accumulator input is not an integer below 2**24")
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            y = c.astype(np.float32) * a
            check_f32(y, f"{name} (c * A)", self._err)
            y = y + b
            check_f32(y, f"{name} (+ B)", self._err)
            if x is not None:
                y = y + np.asarray(x, dtype=np.float32)
                check_f32(y, f"{name} (+ shortcut)", self._err)
        assert y.dtype == np.float32
        return y

    def execute_node(self, context, graph):
        node = self.onnx_node
        shape = self.get_normal_output_shape()
        x = context[node.input[1]].reshape(shape) if self.n_inputs() == 2 else None
        context[node.output[0]] = self.golden(context[node.input[0]].reshape(shape), x)

    # -- resources (constant memory: AffineParams) ------------------------------------
    def int_bits(self) -> int:
        """Significant bits of f32(c): |c| <= 2**int_bits (fp32_mul's A_BITS)."""
        cdt = self.get_input_datatype(0)
        return cdt.bitwidth() - (1 if cdt.signed() else 0)

    def dsp_estimation(self, fpgapart=None):
        """DSP48E1 count per lane for the significand product of f32(c) * A: f32(c) has at
        most int_bits significant bits, so with int_bits <= 17 it is one 24 x int_bits
        multiply (1 DSP48: fp32_mul A_BITS), else the 24x24 split 24x17 + 24x7 (2; Yosys
        xc7, INT24: 2 at PE=1, 8 at PE=4)."""
        return (1 if self.int_bits() <= 17 else 2) * self.get_nodeattr("PE")

    def lut_estimation(self, fpgapart=None):
        """PE * (int->float 200 + multiply 420 + add 400 [+ add 400 with residual] + the
        delay lines as SRLs, 32 LUTs each for A, B [and x]) + the constant LUTRAM + 20
        control. Fitted to Yosys xc7 of FloatShortcutAdd_rtl, C=64, INT12, residual:
        PE=4 6,007 LUT + 401 SRL (estimate 6,340), PE=1 1,690 + 101 (estimate 1,600)."""
        res = self.get_nodeattr("has_residual")
        lane = 200 + 420 + 400 * (1 + res) + 32 * (2 + res)
        return self.get_nodeattr("PE") * lane + self.param_mem_luts() + 20


class FloatShortcutAdd_rtl(FloatShortcutAdd, BirealRTLBackend):
    """FloatShortcutAdd on the project's RTL core bireal_float_shortcut_add
    (hw/rtl/float_shortcut_add.sv: fp32_from_int -> fp32_mul -> fp32_add [-> fp32_add] per
    lane, one global enable, output skid buffer; latency 21 cycles, 28 with the residual)."""

    core_sv = "float_shortcut_add.sv"
    core_module = "bireal_float_shortcut_add"
    rtl_deps = ("fp32_pkg.sv", "fp32_stage.sv", "fp32_from_int.sv", "fp32_mul.sv",
                "fp32_add.sv", "rom.sv", "fold_rom.sv", "delay.sv", "skid_buffer.sv")
    LATENCY = {0: 5 + 8 + 7 + 1, 1: 5 + 8 + 7 + 7 + 1}   # input edge -> output register

    def get_nodeattr_types(self):
        attrs = super().get_nodeattr_types()
        # fp32_mul's partial-product split: 0 = 2 DSP48 (Xilinx), 1 = 4 MULT18X18D (ECP5)
        attrs["mult18"] = ("i", False, 0, {0, 1})
        return attrs

    def core_params(self, model) -> dict:
        g = self.get_nodeattr
        cdt = self.get_input_datatype(0)
        res = self.n_inputs() == 2
        return {
            "PE": g("PE"),
            "FOLDS": self._folds(),
            "C_BITS": cdt.bitwidth(),
            "C_SIGNED": int(cdt.signed()),
            "HAS_RESIDUAL": int(res),
            "IN0_W": self.get_instream_width_padded(0),
            "IN1_W": self.get_instream_width_padded(1) if res else 32,
            "OUT_W": self.get_outstream_width_padded(0),
            "MULT18": g("mult18"),
            "MEM_FILE": f"{self.onnx_node.name}_params.mem",
            "RAM_STYLE": g("ram_style"),
        }

    def golden_execute(self, context, graph):
        FloatShortcutAdd.execute_node(self, context, graph)
