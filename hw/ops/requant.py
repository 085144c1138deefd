"""Requant: a per-channel fixed-point requant in place of a multi-step FINN Thresholding.

For channel c:   y = clamp(q((A[c] * x + B[c]) / 2^S), LO, HI),  q by the attribute `rounding`:
  "floor":  q = floor,                 t >> S in integers (t = A x + B);
  "rne":    q = round half to even,    (t + 2^(S-1) - 1 + t[S]) >> S  (t[S] = bit S of t;
            hw.affine.shift_round; S = 0: q(t) = t).
In "rne" mode the constant memory holds B' = B + 2^(S-1) - 1 and the lane adds only the tie bit
(hw/rtl/affine_lane.sv); the attribute B is the B of the formula.

hw.rtl_requant.FuseRequant recovers (A, B, S, rounding) from the thresholds and proves them equal
on the reachable input range (hw.affine): two constants per channel instead of HI - LO thresholds.
RTL: hw/rtl/requant.sv (input register + constant read, hw/rtl/affine_lane.sv per lane, the
output skid buffer hw/rtl/skid_buffer.sv).

Also the helpers ShortcutAdd shares (hw/ops/shortcut_add.py): signed_bits, mult_dsps and
AffineParams (the per-fold {B, A} constant memory: layout, $readmemh words, estimates).
"""
from __future__ import annotations

import math

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from finn.util.logging import log
from hw.affine import shift_round
from hw.ops.base import BirealRTLBackend, hex_lines
from hw.ops.elementwise import STREAM_ATTRS, ChannelwiseStream
from hw.memory import bram18_count as bram18

INT32 = (-(1 << 31), (1 << 31) - 1)


def signed_bits(lo: int, hi: int) -> int:
    """Smallest n >= 2 with -2^(n-1) <= lo and hi <= 2^(n-1) - 1."""
    n = 2
    while lo < -(1 << (n - 1)) or hi > (1 << (n - 1)) - 1:
        n += 1
    return n


def mult_dsps(a_bits: int, x_bits: int) -> int:
    """DSP48E1 slices of a signed a_bits x x_bits product (25 x 18 ports, either operand on
    either port); 0 below 3 x 3 bits (synthesis builds those from LUTs)."""
    if min(a_bits, x_bits) < 3:
        return 0
    return min(math.ceil(a_bits / 25) * math.ceil(x_bits / 18),
               math.ceil(a_bits / 18) * math.ceil(x_bits / 25))


class AffineParams(ChannelwiseStream):
    """The per-fold constant memory of a unit with per-channel (A, B): FOLDS = C/PE words,
    lane p of word f = {B[c], A[c]} (A in the low bits), c = f*PE + p. Subclasses provide
    `_err`, `_consts() -> (A, B)` and `widths()` with A_BITS / B_BITS; `_mem_consts()` (default
    `_consts()`) is what the memory holds."""

    def _mem_consts(self):
        return self._consts()

    def _check_consts(self, a: np.ndarray, b: np.ndarray, names: str):
        ch = self.get_nodeattr("NumChannels")
        if a.shape != (ch,) or b.shape != (ch,):
            raise self._err(f"{names} need {ch} values (one per channel), got {a.size}/{b.size}")
        return a, b

    def _mem_style(self) -> str:
        """"block" or "distributed" as synthesis will pick it ("auto": BRAM above 64 words)."""
        style = self.get_nodeattr("ram_style")
        if style == "auto":
            return "block" if self._folds() > 64 else "distributed"
        return style

    def _mem_width(self) -> int:
        w = self.widths()
        return self.get_nodeattr("PE") * (w["A_BITS"] + w["B_BITS"])

    def param_mem_luts(self) -> int:
        """LUTRAM/ROM of the constants when distributed: W * ceil(F/64) LUTs, else 0."""
        if self._mem_style() != "distributed":
            return 0
        return self._mem_width() * math.ceil(self._folds() / 64)

    def bram_estimation(self, fpgapart=None):
        """RAMB18s of the constant memory (depth C/PE, width PE*(A_BITS+B_BITS), FINN's MVAU
        packing, hw.memory.bram18_count) when it is block RAM, else 0."""
        if self._mem_style() != "block":
            return 0
        return bram18(self._folds(), self._mem_width())

    def param_words(self) -> list[int]:
        a, b = self._mem_consts()
        w, pe = self.widths(), self.get_nodeattr("PE")
        ab, ma, mb = w["A_BITS"] + w["B_BITS"], (1 << w["A_BITS"]) - 1, (1 << w["B_BITS"]) - 1
        words = []
        for f in range(self._folds()):
            word = 0
            for p in range(pe):
                c = f * pe + p
                word |= ((int(a[c]) & ma) | ((int(b[c]) & mb) << w["A_BITS"])) << (p * ab)
            words.append(word)
        return words

    def mem_files(self, model) -> dict[str, str]:
        """{node}_params.mem: one word per fold (param_words)."""
        return {f"{self.onnx_node.name}_params.mem": hex_lines(self.param_words(), self._mem_width())}


class Requant(AffineParams, HWCustomOp):
    """Layer class (shapes, types, numpy golden, estimates); the RTL backend is Requant_rtl."""

    def get_nodeattr_types(self):
        attrs = {
            **STREAM_ATTRS,
            "inputDataType": ("s", True, ""),
            "outputDataType": ("s", True, ""),
            "A": ("ints", True, []),
            "B": ("ints", True, []),
            "S": ("i", True, 0),
            "LO": ("i", True, 0),
            "HI": ("i", True, 0),
            "ram_style": ("s", False, "auto", {"auto", "block", "distributed"}),
            "rounding": ("s", False, "floor", {"floor", "rne"}),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"Requant node {self.onnx_node.name}: {msg}")

    def _consts(self):
        """(A, B) as int64 arrays of NumChannels, checked."""
        return self._check_consts(np.asarray(self.get_nodeattr("A"), dtype=np.int64),
                                  np.asarray(self.get_nodeattr("B"), dtype=np.int64), "A/B")

    def _rne(self) -> bool:
        """Round half to even in hardware (rounding "rne" and S >= 1; at S = 0 both are t)."""
        return self.get_nodeattr("rounding") == "rne" and self.get_nodeattr("S") > 0

    def _mem_consts(self):
        """(A, B') as the constant memory holds them: B' = B + 2^(S-1) - 1 when _rne()."""
        a, b = self._consts()
        return (a, b + ((1 << (self.get_nodeattr("S") - 1)) - 1)) if self._rne() else (a, b)

    # -- shapes and types -----------------------------------------------------------------
    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("inputDataType")]

    def get_output_datatype(self, ind=0):
        return DataType[self.get_nodeattr("outputDataType")]

    def make_shape_compatible_op(self, model):
        exp = list(self.get_normal_input_shape())
        got = list(model.get_tensor_shape(self.onnx_node.input[0]))
        if got != exp:
            raise self._err(f"input has shape {got}, expected {exp}")
        return super().make_const_shape_op(exp)

    def infer_node_datatype(self, model):
        node = self.onnx_node
        idt = model.get_tensor_datatype(node.input[0])
        if idt.name != self.get_nodeattr("inputDataType"):
            log.warning(f"inputDataType changing for {node.name}: "
                        f"{self.get_nodeattr('inputDataType')} -> {idt.name}")
            self.set_nodeattr("inputDataType", idt.name)
        model.set_tensor_datatype(node.output[0], self.get_output_datatype())

    def verify_node(self):
        """Check attributes; returns a list of messages (FINN style), raises on illegal values."""
        self._folds()
        self._consts()
        self.widths()
        return [f"Requant node {self.onnx_node.name}: attributes OK"]

    # -- arithmetic -----------------------------------------------------------------------
    def widths(self) -> dict:
        """Signed widths that make every intermediate overflow-free, from the constants (as the
        memory holds them, _mem_consts) and the input datatype's range: A, B, A*x + B (P;
        "rne": P > S + 1, so bit S exists), y in [LO, HI] (Y)."""
        a, b = self._mem_consts()
        xdt, odt = self.get_input_datatype(), self.get_output_datatype()
        s, lo, hi = self.get_nodeattr("S"), self.get_nodeattr("LO"), self.get_nodeattr("HI")
        if not 0 <= s <= 62:
            raise self._err(f"S={s} must be in 0..62")
        if lo > hi:
            raise self._err(f"LO={lo} > HI={hi}")
        if not (xdt.is_integer() and odt.is_integer()) or "BIPOLAR" in (xdt.name, odt.name):
            raise self._err(f"datatypes must be integers, got {xdt.name}, {odt.name}")
        if lo < odt.min() or hi > odt.max():
            raise self._err(f"LO..HI = {lo}..{hi} is not within {odt.name}")
        for n, v in (("LO", lo), ("HI", hi)):
            if not INT32[0] <= v <= INT32[1]:
                raise self._err(f"{n}={v} does not fit a 32-bit Verilog parameter")
        xlo, xhi = int(xdt.min()), int(xdt.max())
        ax = [int(v) for v in np.concatenate([a * xlo, a * xhi])]
        w = {
            "A_BITS": signed_bits(int(a.min()), int(a.max())),
            "B_BITS": signed_bits(int(b.min()), int(b.max())),
            "P_BITS": signed_bits(min(min(ax) + int(b.min()), lo), max(max(ax) + int(b.max()), hi)),
            "Y_BITS": signed_bits(lo, hi),
        }
        if self._rne():
            w["P_BITS"] = max(w["P_BITS"], s + 2)
        if w["P_BITS"] > 63 or signed_bits(min(ax), max(ax)) > 63:
            raise self._err(f"intermediate widths {w} exceed 63 bits (int64 golden model)")
        return w

    def golden(self, x: np.ndarray) -> np.ndarray:
        """The formula in int64 (>> on int64 is floor division by 2^S; rne: shift_round)."""
        a, b = self._consts()
        g = self.get_nodeattr
        t = a * np.asarray(x).astype(np.int64) + b
        return np.clip(shift_round(t, g("S"), g("rounding")), g("LO"), g("HI"))

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = context[node.input[0]].reshape(self.get_normal_input_shape())
        context[node.output[0]] = self.golden(x).astype(np.float32)

    # -- resources ------------------------------------------------------------------------
    def dsp_estimation(self, fpgapart=None):
        """PE * mult_dsps(A_BITS, x bits + 1) for A*x (+ B in the DSP's post-adder)."""
        w = self.widths()
        return self.get_nodeattr("PE") * mult_dsps(w["A_BITS"], self.get_input_datatype().bitwidth() + 1)

    def lut_estimation(self, fpgapart=None):
        """PE * (P - S [two clamp compares on carry chains] + Y [clamp mux] (+ rne: P - S
        [the tie-bit incrementer] + ceil((S + 1) / 6) [the tie detect, an S+1-input AND])) +
        constant LUTRAM (param_mem_luts) + 20 (control); A*x + B is in the DSP."""
        w, pe, s = self.widths(), self.get_nodeattr("PE"), self.get_nodeattr("S")
        lane = max(1, w["P_BITS"] - s) + w["Y_BITS"]
        if self._rne():
            lane += max(1, w["P_BITS"] - s) + math.ceil((s + 1) / 6)
        return pe * lane + self.param_mem_luts() + 20


class Requant_rtl(Requant, BirealRTLBackend):
    """Requant on the project's RTL core bireal_requant (hw/rtl/requant.sv)."""

    core_sv = "requant.sv"
    core_module = "bireal_requant"
    rtl_deps = ("affine_lane.sv", "delay.sv", "rom.sv", "fold_rom.sv", "skid_buffer.sv",
                "stall_pipe.sv")

    def get_verilog_top_module_intf_names(self):
        intf = super().get_verilog_top_module_intf_names()
        intf["s_axis"] = [("in0_V", self.get_instream_width_padded(0))]
        intf["m_axis"] = [("out0_V", self.get_outstream_width_padded(0))]
        return intf

    def core_params(self, model) -> dict:
        self.verify_node()
        g = self.get_nodeattr
        xdt, odt = self.get_input_datatype(), self.get_output_datatype()
        return {
            "PE": g("PE"),
            "FOLDS": self._folds(),
            "X_BITS": xdt.bitwidth(),
            "X_SIGNED": int(xdt.signed()),
            "O_BITS": odt.bitwidth(),
            "IN_W": self.get_instream_width_padded(0),
            "OUT_W": self.get_outstream_width_padded(0),
            **self.widths(),
            "S": g("S"),
            "RNE": int(self._rne()),
            "LO": g("LO"),
            "HI": g("HI"),
            "MEM_FILE": f"{self.onnx_node.name}_params.mem",
            "RAM_STYLE": g("ram_style"),
        }

    def golden_execute(self, context, graph):
        Requant.execute_node(self, context, graph)

    def execute_node(self, context, graph):
        Requant.execute_node(self, context, graph)
