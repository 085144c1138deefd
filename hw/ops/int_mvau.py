"""IntMVAU_rtl: FINN's MVAU for the 8-bit layers (stem conv, 2x2 stride-2 downsample conv, FC)
on this project's RTL core hw/rtl/int_mvau.sv.

    out[c] = bias[c] + sum_i x[i] * W[i, c]   (noActivation=1 only; OB = outputDataType bits;
                                               bias: node attribute, default none = 0)

x: integer inputDataType (UINT8 stem image or INT8), W: signed integer weightDataType (INT8).
Products (resType, FINN's attribute, so folding files carry the choice):
  "auto": one DSP48 per product (RTL MUL_STYLE "dsp");
  "dsp":  two products per DSP48 (MUL_STYLE "dsp2", Xilinx WP486 packing, mul2.sv): PE lanes
          2q, 2q+1 share x[s], P = x*(W[s,2q+1]*2^K + W[s,2q]) + 2^(K-1), K = IN_BITS+W_BITS;
          needs PE even and the packed operand (2*W_BITS + IN_BITS + 1 bits) within the
          family's multiplier (DSP48E1 25x18, DSP48E2 27x18), else one per DSP48 as "auto";
  "lut":  LUT shift-and-add multipliers (MUL_STYLE "lut").
hw.rtl_folding picks "dsp", then "lut", per layer where DSPs bind.
Weights live in on-chip memory inside the core ($readmemh); no weight stream. Shapes, widths,
folding, get_exp_cycles and the numpy golden model come from FINN's MVAU.
"""

from __future__ import annotations


import numpy as np
from qonnx.core.datatype import DataType

from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU
from hw.ops.base import BirealRTLBackend, hex_lines
from hw import memory as M
from hw.ops.xnor_mvau import MVAUCoreMixin, check_folding, weight_words

# (packed operand A incl. pre-adder, operand B) bits of the DSP multiplier per family
DSP_MULT_BITS = {"xc7": (25, 18), "xcup": (27, 18)}          # DSP48E1 25x18, DSP48E2 27x18


class IntMVAU_rtl(MVAUCoreMixin, MVAU, BirealRTLBackend):
    """Fixed-point MVAU (multiply-accumulate); see module docstring."""

    core_sv = "int_mvau.sv"
    core_module = "bireal_int_mvau"
    rtl_deps = MVAUCoreMixin.rtl_deps + ("mul2.sv",)

    def __init__(self, onnx_node, **kwargs):
        super().__init__(onnx_node, **kwargs)

    def get_nodeattr_types(self):
        """MVAU's attributes + `bias` (per output channel integers; [] = no bias)."""
        attrs = MVAUCoreMixin.get_nodeattr_types(self)
        attrs["bias"] = ("ints", False, [])
        # W[i] = W[i mod MW/weightRepeat] (set by SetWeightRepeat): the ROM holds 1/R of W
        attrs["weightRepeat"] = ("i", False, 1)
        return attrs

    def weight_repeat(self) -> int:
        """R the ROM uses: weightRepeat when SIMD divides MW/R (a word never straddles two
        repeats), else 1."""
        r, mw, simd = (self.get_nodeattr(k) for k in ("weightRepeat", "MW", "SIMD"))
        return r if r > 1 and mw % r == 0 and (mw // r) % simd == 0 else 1

    def bias(self) -> np.ndarray | None:
        b = list(self.get_nodeattr("bias"))
        if not b:
            return None
        if len(b) != self.get_nodeattr("MH"):
            raise ValueError(f"{self.onnx_node.name}: bias has {len(b)} values for "
                             f"MH={self.get_nodeattr('MH')} channels")
        return np.asarray(b, dtype=np.int64)

    def golden_execute(self, context, graph):
        """FINN's MVAU numpy model, plus the per-channel bias."""
        MVAU.execute_node(self, context, graph)
        b = self.bias()
        if b is not None:
            o = self.onnx_node.output[0]
            context[o] = (context[o] + b.astype(np.float32)).astype(np.float32)

    def check(self) -> None:
        """Raise ValueError naming the node and the offending value if the core can't run it."""
        name = self.onnx_node.name
        check_folding(self)
        if self.get_nodeattr("binaryXnorMode") != 0:
            raise ValueError(f"{name}: IntMVAU_rtl needs binaryXnorMode=0 (XnorMVAU_rtl for XNOR)")
        if self.get_nodeattr("noActivation") != 1:
            raise ValueError(f"{name}: IntMVAU_rtl supports noActivation=1 only "
                             f"(got noActivation={self.get_nodeattr('noActivation')})")
        idt, wdt, odt = (self.get_input_datatype(0), self.get_input_datatype(1),
                         self.get_output_datatype())
        for what, dt in (("input", idt), ("output", odt)):
            if not dt.is_integer() or dt == DataType["BIPOLAR"]:
                raise ValueError(f"{name}: IntMVAU_rtl needs an integer {what} type, got {dt.name}")
        if not wdt.is_integer() or not wdt.signed() or wdt == DataType["BIPOLAR"]:
            raise ValueError(f"{name}: IntMVAU_rtl needs signed integer weights, got {wdt.name}")

    def verify_node(self):
        """FINN's messages after check() (which raises on anything the core cannot do)."""
        self.check()
        return MVAU.verify_node(self)

    def acc_range(self, w: np.ndarray) -> tuple[int, int]:
        """(min, max) of sum_i x[i]*W[i,c] over all inputs of inputDataType and channels c."""
        idt = self.get_input_datatype(0)
        lo, hi = int(idt.min()), int(idt.max())
        w = w.astype(np.int64)
        mx = np.maximum(w * lo, w * hi).sum(axis=0)
        mn = np.minimum(w * lo, w * hi).sum(axis=0)
        return int(mn.min()), int(mx.max())

    def core_params(self, model) -> dict:
        self.check()
        idt = self.get_input_datatype(0)
        return {
            "MW": self.get_nodeattr("MW"),
            "MH": self.get_nodeattr("MH"),
            "PE": self.get_nodeattr("PE"),
            "SIMD": self.get_nodeattr("SIMD"),
            "IN_BITS": idt.bitwidth(),
            "IN_SIGNED": int(idt.signed()),
            "W_BITS": self.get_input_datatype(1).bitwidth(),
            "OB": self.get_output_datatype().bitwidth(),
            "IN_W": self.get_instream_width_padded(0),
            "OUT_W": self.get_outstream_width_padded(0),
            "WEIGHT_FILE": self.weight_file(),
            "BIAS_FILE": f"{self.onnx_node.name}_bias.mem" if self.bias() is not None else "",
            "RAM_STYLE": self.weight_memory().ram_style,
            "MEM_PORTS": self.weight_memory().ports,
            "MUL_STYLE": self.mul_style(),            # the part of generate_hdl (_part)
            "WREP": self.weight_repeat(),
            "WLOAD": int(self.runtime_writeable()),
        }

    def mul_style(self, fpgapart=None) -> str:
        """RTL MUL_STYLE: 'lut' (resType lut), 'dsp2' (resType dsp where dsp2_problem is None:
        two products per DSP48), else 'dsp' (one per DSP48)."""
        rt = self.get_nodeattr("resType")
        if rt == "lut":
            return "lut"
        return "dsp2" if rt == "dsp" and self.dsp2_problem(fpgapart) is None else "dsp"

    def dsp2_problem(self, fpgapart=None) -> str | None:
        """Why two products cannot share one DSP48 on `fpgapart`'s family, or None: PE must be
        even and the packed operand W_BITS + K + 1 = 2*W_BITS + IN_BITS + 1 bits (pre-adder
        W[hi]*2^K + W[lo]) and x (IN_BITS + 1 bits) must fit the multiplier (DSP_MULT_BITS)."""
        pe = self.get_nodeattr("PE")
        ib, wb = self.get_input_datatype(0).bitwidth(), self.get_input_datatype(1).bitwidth()
        part = self._part(fpgapart)
        amax, bmax = DSP_MULT_BITS[M.family(part)]
        if pe % 2:
            return f"PE={pe} is odd"
        if 2 * wb + ib + 1 > amax or ib + 1 > bmax:
            return (f"packed operand {2 * wb + ib + 1} bits x {ib + 1} bits exceeds the "
                    f"{amax}x{bmax} multiplier of {part}")
        return None

    def mem_files(self, model) -> dict[str, str]:
        """weights: NF*SF words of PE*SIMD elements of W_BITS bits (two's complement); checks
        that the weights are integers of weightDataType and that outputDataType holds every
        possible accumulator value (the core wraps mod 2^OB)."""
        name = self.onnx_node.name
        mh, pe = self.get_nodeattr("MH"), self.get_nodeattr("PE")
        odt = self.get_output_datatype()
        files = self.weight_mem_files(model)
        b = self.bias()
        if b is not None:                       # NF words, lane p at [p*OB +: OB]
            ob = odt.bitwidth()
            mask = (1 << ob) - 1
            bw = [sum((int(b[nf * pe + p]) & mask) << (p * ob) for p in range(pe))
                  for nf in range(mh // pe)]
            files[f"{name}_bias.mem"] = hex_lines(bw, pe * ob)
        return files

    def weight_mem_words(self, model) -> list[int]:
        """Weight memory words (NF*SF/R of PE*SIMD*W_BITS bits, weight_words), after checking
        that the weights are integers of weightDataType, that outputDataType holds every
        possible accumulator value (the core wraps mod 2^OB) and that they repeat R times."""
        self.check()
        name = self.onnx_node.name
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        wdt, odt = self.get_input_datatype(1), self.get_output_datatype()
        w = model.get_initializer(self.onnx_node.input[1])
        if w is None or tuple(w.shape) != (mw, mh):
            raise ValueError(f"{name}: weights must be an initializer of shape ({mw}, {mh}), "
                             f"got {None if w is None else tuple(w.shape)}")
        if not (np.round(w) == w).all() or w.min() < wdt.min() or w.max() > wdt.max():
            raise ValueError(f"{name}: weights must be {wdt.name} integers, got range "
                             f"[{w.min()}, {w.max()}]")
        lo, hi = self.acc_range(w)
        b = self.bias()
        if b is not None:
            lo, hi = lo + int(min(0, b.min())), hi + int(max(0, b.max()))
        if lo < odt.min() or hi > odt.max():
            raise ValueError(f"{name}: outputDataType {odt.name} cannot hold the accumulator "
                             f"range [{lo}, {hi}]")
        wbits = wdt.bitwidth()
        r = self.weight_repeat()
        wr = w.reshape(r, mw // r, mh)
        if not (wr == wr[:1]).all():
            raise ValueError(f"{name}: weightRepeat={r} but the weights do not repeat every "
                             f"{mw // r} rows")
        return weight_words(wr[0].astype(np.int64), pe, simd, wbits)

    def weight_mem_shape(self) -> tuple[int, int]:
        """(depth, width) of the weight ROM: (NF*SF/R, PE*SIMD*W_BITS), R = weight_repeat()."""
        depth, width = super().weight_mem_shape()
        return depth // self.weight_repeat(), width

    # -- estimates ---------------------------------------------------------------------------
    def extra_memories(self, fpgapart=None) -> list[M.MemMap]:
        """The bias ROM (NF words of PE*OB bits, asynchronous read: LUT ROM)."""
        if self.bias() is None:
            return []
        sf, nf = check_folding(self)
        return [M.lut_map(nf, self.get_nodeattr("PE") * self.get_output_datatype().bitwidth())]

    def tree_width(self) -> int:
        """Adder tree node width SW = IN_BITS + 1 + W_BITS + clog2(SIMD)."""
        simd = self.get_nodeattr("SIMD")
        return (self.get_input_datatype(0).bitwidth() + 1 + self.get_input_datatype(1).bitwidth()
                + (simd - 1).bit_length())

    def datapath_luts(self, fpgapart=None) -> int:
        """LUTs of the products' adder trees and accumulators, per PE lane: level l >= 1 adds
        pairs of (PW+l-1)-bit sums (PW = IN_BITS+1+W_BITS), PW+l LUTs each (carry chain);
        the accumulator OB LUTs (none when SF = 1 and there is no bias: acc = psum). The
        products are DSP48s with their registers (AREG/BREG, MREG, PREG): no LUTs; or LUT
        multipliers (mul_style 'lut'): mult_luts() each; two products per DSP48 (mul_style
        'dsp2'): no LUTs either (pre-adder, product and the 2^(K-1) borrow correction are in
        the DSP48; the unpack is wiring and one inverter that folds into the first adder)."""
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        sf, _ = check_folding(self)
        pw = self.get_input_datatype(0).bitwidth() + 1 + self.get_input_datatype(1).bitwidth()
        n, lvl, tree = simd, 1, 0
        while n > 1:
            tree += (n // 2) * (pw + lvl)
            n, lvl = -(-n // 2), lvl + 1
        acc = self.get_output_datatype().bitwidth() if (sf > 1 or self.bias() is not None) else 0
        mul = simd * self.mult_luts() if self.mul_style(fpgapart) == "lut" else 0
        return pe * (tree + acc + mul)

    def mult_luts(self) -> int:
        """LUTs of one LUT multiplier (int_mvau.sv g_lutmul): W_BITS partial products summed
        by W_BITS - 1 adders of PW = IN_BITS+1+W_BITS bits (two half sums, then their sum),
        one LUT per adder bit (the AND of a partial product folds into the adder's LUT)."""
        wb = self.get_input_datatype(1).bitwidth()
        return (wb - 1) * (self.get_input_datatype(0).bitwidth() + 1 + wb)

    def lut_estimation(self, fpgapart):
        """datapath_luts + ctrl_luts (replay buffer, output FIFO, counters) + memory_luts
        (weight LUT ROM or block RAM read muxes, bias ROM; hw.memory)."""
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        ob, ib = self.get_output_datatype().bitwidth(), self.get_input_datatype(0).bitwidth()
        return int(self.datapath_luts(fpgapart) + self.ctrl_luts(simd * ib, pe * ob)
                   + self.memory_luts(fpgapart) + self.wload_luts(fpgapart))

    def dsp_estimation(self, fpgapart):
        """One DSP48 per product: PE*SIMD; ceil(PE/2)*SIMD with two per DSP48 (mul_style
        'dsp2'); 0 with LUT multipliers."""
        style = self.mul_style(fpgapart)
        if style == "lut":
            return 0
        pe = self.get_nodeattr("PE")
        return (-(-pe // 2) if style == "dsp2" else pe) * self.get_nodeattr("SIMD")


def repeat_of(w: np.ndarray) -> int:
    """Largest R (R | MW, R <= 16) with W[i] = W[i mod MW/R] for every row i of W (MW, MH)."""
    mw = w.shape[0]
    for r in range(min(16, mw), 1, -1):
        if mw % r == 0:
            wr = w.reshape(r, mw // r, -1)
            if (wr == wr[:1]).all():
                return r
    return 1


class SetWeightRepeat(Transformation):
    """weightRepeat of every IntMVAU_rtl = repeat_of(its weights): the 2x2 stride-2 conv that
    replaces AvgPool 2x2 + 1x1 conv (hw.flow avgpool_to_conv) has the same weights for its 4
    taps, so its ROM needs a quarter of the words (int_mvau.sv WREP)."""

    def apply(self, model):
        for n in model.graph.node:
            if n.op_type == "IntMVAU_rtl":
                w = model.get_initializer(n.input[1])
                if w is not None:
                    getCustomOp(n).set_nodeattr("weightRepeat", repeat_of(w))
        return model, False
