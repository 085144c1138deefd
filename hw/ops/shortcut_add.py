"""ShortcutAdd: Bi-Real's residual add (BN requant of the conv branch + shortcut + saturate).

Replaces FINN's Thresholding (per-channel BN requant) -> ElementwiseAdd -> Thresholding
(clip) chain with the integer arithmetic the model defines, for channel c:

    r = clamp(floor((A1[c] * x + B1[c]) / 2^S1), LO1, HI1)
    y = clamp(floor((A2 * (r + s) + B2) / 2^S2), out.min, out.max)

in0 = conv branch x, in1 = shortcut s, out0 = y (outputDataType). RTL: hw/rtl/shortcut_add.sv,
two hw/rtl/affine_lane.sv per lane (the same lane as Requant's, hw/ops/requant.py).
"""

from __future__ import annotations

import numpy as np

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from hw.ops.base import BirealRTLBackend
from hw.ops.elementwise import STREAM_ATTRS, TwoStreamTypes
from hw.ops.requant import INT32, AffineParams, mult_dsps, signed_bits


class ShortcutAdd(TwoStreamTypes, AffineParams, HWCustomOp):
    """Layer class (shapes, types, numpy golden); the RTL backend is ShortcutAdd_rtl."""

    def get_nodeattr_types(self):
        attrs = {
            **STREAM_ATTRS,
            "in0DataType": ("s", True, ""),
            "in1DataType": ("s", True, ""),
            "outputDataType": ("s", True, ""),
            "A1": ("ints", True, []),
            "B1": ("ints", True, []),
            "S1": ("i", True, 0),
            "LO1": ("i", True, 0),
            "HI1": ("i", True, 0),
            "A2": ("i", False, 1),
            "B2": ("i", False, 0),
            "S2": ("i", False, 0),
            "ram_style": ("s", False, "auto", {"auto", "block", "distributed"}),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    # -- errors ---------------------------------------------------------------------------
    def _err(self, msg: str) -> ValueError:
        return ValueError(f"ShortcutAdd node {self.onnx_node.name}: {msg}")

    def _consts(self):
        """(A1, B1) as int64 arrays of NumChannels, checked."""
        return self._check_consts(np.asarray(self.get_nodeattr("A1"), dtype=np.int64),
                                  np.asarray(self.get_nodeattr("B1"), dtype=np.int64), "A1/B1")

    # -- shapes and types -----------------------------------------------------------------
    def verify_node(self):
        """Check attributes; returns a list of messages (FINN style), raises on illegal values."""
        self._folds()
        self._consts()
        self.widths()
        return [f"ShortcutAdd node {self.onnx_node.name}: attributes OK"]

    # -- arithmetic -----------------------------------------------------------------------
    def widths(self) -> dict:
        """Signed bit widths that make every intermediate overflow-free, from the actual
        constants and the input ranges: A1, B1, A1*x+B1, r, r+s, A2, B2, A2*(r+s)+B2."""
        a1, b1 = self._consts()
        xdt, sdt, odt = self.get_input_datatype(0), self.get_input_datatype(1), self.get_output_datatype()
        s1, s2 = self.get_nodeattr("S1"), self.get_nodeattr("S2")
        lo1, hi1 = self.get_nodeattr("LO1"), self.get_nodeattr("HI1")
        a2, b2 = self.get_nodeattr("A2"), self.get_nodeattr("B2")
        for n, v in (("S1", s1), ("S2", s2)):
            if not 0 <= v <= 62:
                raise self._err(f"{n}={v} must be in 0..62")
        if lo1 > hi1:
            raise self._err(f"LO1={lo1} > HI1={hi1}")
        for n, v in (("LO1", lo1), ("HI1", hi1), ("A2", a2), ("B2", b2),
                     ("out min", int(odt.min())), ("out max", int(odt.max()))):
            if not INT32[0] <= v <= INT32[1]:
                raise self._err(f"{n}={v} does not fit a 32-bit Verilog parameter")
        if not (xdt.is_integer() and sdt.is_integer() and odt.is_integer()):
            raise self._err(f"datatypes must be integers, got {xdt.name}, {sdt.name}, {odt.name}")
        xlo, xhi = int(xdt.min()), int(xdt.max())
        ax = [int(v) for v in np.concatenate([a1 * xlo, a1 * xhi])]
        plo = min(ax) + int(b1.min())
        phi = max(ax) + int(b1.max())
        tlo, thi = lo1 + int(sdt.min()), hi1 + int(sdt.max())
        u = [a2 * tlo + b2, a2 * thi + b2]
        w = {
            "A_BITS": signed_bits(int(a1.min()), int(a1.max())),
            "B_BITS": signed_bits(int(b1.min()), int(b1.max())),
            "P1_BITS": signed_bits(min(plo, lo1), max(phi, hi1)),
            "R_BITS": signed_bits(lo1, hi1),
            "T_BITS": signed_bits(tlo, thi),
            "A2_BITS": signed_bits(a2, a2),
            "B2_BITS": signed_bits(b2, b2),
            "P2_BITS": signed_bits(min(min(u), int(odt.min())), max(max(u), int(odt.max()))),
        }
        if w["P1_BITS"] > 63 or w["P2_BITS"] > 63:
            raise self._err(f"intermediate widths {w} exceed 63 bits (int64 golden model)")
        return w

    def golden(self, x: np.ndarray, s: np.ndarray) -> np.ndarray:
        """The formula in int64 (>> on int64 is floor division by 2^S)."""
        a1, b1 = self._consts()
        g = self.get_nodeattr
        odt = self.get_output_datatype()
        x = np.asarray(x).astype(np.int64)
        s = np.asarray(s).astype(np.int64)
        r = np.clip((a1 * x + b1) >> g("S1"), g("LO1"), g("HI1"))
        y = (g("A2") * (r + s) + g("B2")) >> g("S2")
        return np.clip(y, int(odt.min()), int(odt.max()))

    def golden_execute(self, context, graph):
        node = self.onnx_node
        shape = self.get_normal_output_shape()
        y = self.golden(context[node.input[0]].reshape(shape), context[node.input[1]].reshape(shape))
        context[node.output[0]] = y.astype(np.float32)

    def execute_node(self, context, graph):
        self.golden_execute(context, graph)

    # -- resources (constant memory: AffineParams) ------------------------------------
    def dsp_estimation(self, fpgapart=None):
        """DSP48E1 count: PE * mult_dsps(A_BITS, x bits + 1) for A1*x, plus PE if A2 is not 0,
        +-1 or a power of two (otherwise shifts/wires)."""
        w, pe = self.widths(), self.get_nodeattr("PE")
        n = pe * mult_dsps(w["A_BITS"], self.get_input_datatype(0).bitwidth() + 1)
        a2 = abs(self.get_nodeattr("A2"))
        if a2 > 1 and a2 & (a2 - 1):
            n += pe
        return n

    def lut_estimation(self, fpgapart=None):
        """PE * (P1 [two clamp compares on carry chains] + R [clamp mux] + T [r+s]
        + P2 [+B2, only if A2 != 1 or B2 != 0] + P2 [two saturate compares] + O [mux])
        + W*ceil(F/64) (LUTRAM/ROM of A1,B1 if distributed) + 20 (control); A1*x + B1 is
        in the DSP (C port). Yosys, PE=4, C=64, INT12 -> INT8: 253 LUTs, estimate 392."""
        w, pe = self.widths(), self.get_nodeattr("PE")
        ob = self.get_output_datatype().bitwidth()
        affine2 = self.get_nodeattr("A2") != 1 or self.get_nodeattr("B2") != 0
        lane = w["P1_BITS"] + w["R_BITS"] + w["T_BITS"] + (1 + affine2) * w["P2_BITS"] + ob
        return pe * lane + self.param_mem_luts() + 20


class ShortcutAdd_rtl(ShortcutAdd, BirealRTLBackend):
    """ShortcutAdd on the project's RTL core bireal_shortcut_add (hw/rtl/shortcut_add.sv)."""

    core_sv = "shortcut_add.sv"
    core_module = "bireal_shortcut_add"
    rtl_deps = ("affine_lane.sv", "rom.sv", "fold_rom.sv", "delay.sv", "skid_buffer.sv",
                "stall_pipe.sv")

    def core_params(self, model) -> dict:
        g = self.get_nodeattr
        xdt, sdt, odt = self.get_input_datatype(0), self.get_input_datatype(1), self.get_output_datatype()
        return {
            "PE": g("PE"),
            "FOLDS": self._folds(),
            "X_BITS": xdt.bitwidth(),
            "X_SIGNED": int(xdt.signed()),
            "S_BITS": sdt.bitwidth(),
            "S_SIGNED": int(sdt.signed()),
            "O_BITS": odt.bitwidth(),
            "IN0_W": self.get_instream_width_padded(0),
            "IN1_W": self.get_instream_width_padded(1),
            "OUT_W": self.get_outstream_width_padded(0),
            **self.widths(),
            "S1": g("S1"),
            "LO1": g("LO1"),
            "HI1": g("HI1"),
            "A2": g("A2"),
            "B2": g("B2"),
            "S2": g("S2"),
            "OUT_MIN": int(odt.min()),
            "OUT_MAX": int(odt.max()),
            "MEM_FILE": f"{self.onnx_node.name}_params.mem",
            "RAM_STYLE": g("ram_style"),
        }

    def golden_execute(self, context, graph):
        ShortcutAdd.golden_execute(self, context, graph)
