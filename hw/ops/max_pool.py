"""MaxPool_rtl: FINN's Pool (Function=MaxPool) plus an integer offset, on hw/rtl/max_pool.sv.

    out[n, h, w, c] = max over the K*K window of in[n, h, w, c] + OFFSET

The input is what FINN's Pool takes: the stream of a depthwise ConvolutionInputGenerator,
normal shape (N, OH, OW, K*K*C), streamed as (N, OH, OW, C/PE, K*K, PE) words of PE
channels. The numpy golden model reads that same depthwise layout (C/PE, K*K, PE) from the
tensor, as FINN's ConvolutionInputGenerator_rtl writes it in python execution (its cppsim
path interleaves depthwise channels by SIMD = PE); FINN's Pool.execute_node instead assumes
im2col order (K*K, C), which matches only the abstract ConvolutionInputGenerator (or PE = C). OFFSET (one integer for the
tensor) is a constant add FINN leaves behind the pool (e.g. -128 turning UINT8 into signed
codes); hw.rtl_pool.ToMaxPoolRTL absorbs it. `OutputDataType` need not equal the input type
(FINN's Pool insists on that for MaxPool): verify_node checks it holds
[in.min + OFFSET, in.max + OFFSET].

Shapes, widths and get_exp_cycles = C*K*K/PE * OH*OW * N (one input word per cycle; the
RTL takes exactly one word per cycle, latency 1) come from FINN's Pool class.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.pool import Pool
from hw.ops.base import BirealRTLBackend


class MaxPool_rtl(Pool, BirealRTLBackend):
    """Running max over K*K consecutive words per lane, + OFFSET at the window's last word."""

    core_sv = "max_pool.sv"
    core_module = "bireal_max_pool"
    FUNCTION = "MaxPool"             # FINN Pool Function this op implements
    SUM = 0                          # max_pool.sv mode: 0 max, 1 sum

    # Pool comes first in the MRO (shapes, cycles); route the backend methods explicitly
    execute_node = BirealRTLBackend.execute_node
    generate_hdl = BirealRTLBackend.generate_hdl
    get_rtl_file_list = BirealRTLBackend.get_rtl_file_list
    code_generation_ipi = BirealRTLBackend.code_generation_ipi

    def get_nodeattr_types(self):
        attrs = Pool.get_nodeattr_types(self)
        attrs.update(BirealRTLBackend.get_nodeattr_types(self))
        attrs["OFFSET"] = ("i", False, 0)
        return attrs

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"MaxPool node {self.onnx_node.name}: {msg}")

    def _k2(self) -> int:
        k = list(self.get_nodeattr("KernelSize"))
        if len(k) != 2 or min(k) < 1:
            raise self._err(f"KernelSize={k} must be [KH, KW] >= 1")
        return int(k[0] * k[1])

    def get_output_datatype(self, ind=0):
        return DataType[self.get_nodeattr("OutputDataType")]

    def out_range(self) -> tuple[int, int]:
        """[min, max] of max(window) (or sum(window)) + OFFSET over the input datatype."""
        idt, off = self.get_input_datatype(), int(self.get_nodeattr("OFFSET"))
        n = self._k2() if self.SUM else 1
        return n * int(idt.min()) + off, n * int(idt.max()) + off

    def infer_node_datatype(self, model):
        """Input type from the graph; the output keeps OutputDataType (verify_node checks it)."""
        idt = model.get_tensor_datatype(self.onnx_node.input[0])
        self.set_nodeattr("InputDataType", idt.name)
        model.set_tensor_datatype(self.onnx_node.output[0], self.get_output_datatype())

    def verify_node(self):
        if self.get_nodeattr("Function") != self.FUNCTION:
            raise self._err(f"Function={self.get_nodeattr('Function')} (only {self.FUNCTION})")
        ch, pe = self.get_nodeattr("Channels"), self.get_nodeattr("PE")
        if pe < 1 or ch < 1 or ch % pe:
            raise self._err(f"PE={pe} must divide Channels={ch}")
        self._k2()
        idt, odt = self.get_input_datatype(), self.get_output_datatype()
        for what, dt in (("InputDataType", idt), ("OutputDataType", odt)):
            if not dt.is_integer() or dt.name == "BIPOLAR":
                raise self._err(f"{what} {dt.name} must be an integer type (not BIPOLAR)")
        lo, hi = self.out_range()
        if not (odt.allowed(lo) and odt.allowed(hi)):
            raise self._err(f"OutputDataType {odt.name} does not hold the pool + OFFSET in "
                            f"[{lo}, {hi}] ({idt.name} + {self.get_nodeattr('OFFSET')})")
        return [f"MaxPool node {self.onnx_node.name}: attributes OK"]

    def core_params(self, model) -> dict:
        self.verify_node()
        idt = self.get_input_datatype()
        return {
            "PE": self.get_nodeattr("PE"),
            "K2": self._k2(),
            "I_BITS": idt.bitwidth(),
            "I_SIGNED": int(idt.signed()),
            "O_BITS": self.get_output_datatype().bitwidth(),
            "OFFSET": int(self.get_nodeattr("OFFSET")),
            "SUM": self.SUM,
            "IN_W": self.get_instream_width_padded(0),
            "OUT_W": self.get_outstream_width_padded(0),
        }

    # -- estimates (no memories, no DSPs: compare/mux/add in LUTs, state in FFs) -----------
    def lut_estimation(self, fpgapart=None):
        """PE * (I (compare, carry chain) + I (max/first mux) + O (offset add, if any)
        + O (output/skid mux)) + 10 (window counter, handshake)."""
        pe = self.get_nodeattr("PE")
        ib, ob = self.get_input_datatype().bitwidth(), self.get_output_datatype().bitwidth()
        add = ob if self.get_nodeattr("OFFSET") else 0
        return pe * (2 * ib + add + ob) + 10

    def ff_estimation(self, fpgapart=None):
        """PE * (I (running max) + 2 O (output + skid registers)) + ceil(log2 K*K) + 2."""
        pe = self.get_nodeattr("PE")
        ib, ob = self.get_input_datatype().bitwidth(), self.get_output_datatype().bitwidth()
        return pe * (ib + 2 * ob) + max(1, (self._k2() - 1).bit_length()) + 2

    def bram_estimation(self, fpgapart=None):
        return 0

    def uram_estimation(self, fpgapart=None):
        return 0

    def dsp_estimation(self, fpgapart=None):
        return 0

    def golden(self, x: np.ndarray) -> np.ndarray:
        """(..., C/PE * K*K * PE) in the RTL SWG's depthwise layout -> (..., C):
        max over the K*K axis, + OFFSET."""
        k2, ch, pe = self._k2(), self.get_nodeattr("Channels"), self.get_nodeattr("PE")
        w = np.asarray(x).reshape(*x.shape[:-1], ch // pe, k2, pe)
        w = w.astype(np.int64).sum(axis=-2) if self.SUM else w.max(axis=-2)
        return (w.reshape(*x.shape[:-1], ch) + int(self.get_nodeattr("OFFSET"))).astype(np.float32)

    def golden_execute(self, context, graph):
        node = self.onnx_node
        oshape = context[node.output[0]].shape
        context[node.output[0]] = self.golden(context[node.input[0]]).reshape(oshape)


class SumPool_rtl(MaxPool_rtl):
    """FINN's Pool (Function=AccPool) on max_pool.sv with SUM = 1: the Bi-Real downsample's
    2x2 sum pool before its 1x1 IntMVAU (hw.sum_pool).

        out[n, h, w, c] = sum over the K*K window of in[n, h, w, c] + OFFSET

    The running sum is I + ceil(log2 K*K) bits, so it cannot wrap; verify_node checks that
    OutputDataType holds [K*K in.min + OFFSET, K*K in.max + OFFSET]."""

    FUNCTION = "AccPool"
    SUM = 1

    def _acc_bits(self) -> int:
        return self.get_input_datatype().bitwidth() + max(0, (self._k2() - 1).bit_length())

    def lut_estimation(self, fpgapart=None):
        """PE * (A (running-sum adder, carry chain) + A (first/sum mux) + O (offset add, if
        any) + O (output/skid mux)) + 10, A = I + ceil(log2 K*K)."""
        pe, a = self.get_nodeattr("PE"), self._acc_bits()
        ob = self.get_output_datatype().bitwidth()
        add = ob if self.get_nodeattr("OFFSET") else 0
        return pe * (2 * a + add + ob) + 10

    def ff_estimation(self, fpgapart=None):
        """PE * (A (running sum) + 2 O (output + skid registers)) + ceil(log2 K*K) + 2."""
        pe, ob = self.get_nodeattr("PE"), self.get_output_datatype().bitwidth()
        return pe * (self._acc_bits() + 2 * ob) + max(1, (self._k2() - 1).bit_length()) + 2
