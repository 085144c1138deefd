"""GlobalAccPool on this project's RTL (hw/rtl/global_acc_pool.sv).

out[n, 0, 0, c] = sum over (h, w) of in[n, h, w, c]; outputDataType = FINN's (smallest type
holding pixels * extreme input). FINN's GlobalAccPool layer class gives shapes, widths,
get_exp_cycles (pixels*C/PE + C/PE) and the golden execute_node. The RTL emits the sums
while the last pixel streams in, so it needs pixels*C/PE cycles per frame (+ latency 3).
"""

from __future__ import annotations

import math


from finn.custom_op.fpgadataflow.globalaccpool import GlobalAccPool
from hw.ops.base import BirealRTLBackend


class GlobalAccPool_rtl(GlobalAccPool, BirealRTLBackend):
    """Per-channel accumulation over a frame's pixels; accumulators in a C/PE-deep memory."""

    core_sv = "global_acc_pool.sv"
    core_module = "bireal_global_acc_pool"
    rtl_deps = ("skid_buffer.sv",)

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"GlobalAccPool node {self.onnx_node.name}: {msg}")

    def _folds(self) -> int:
        ch, pe = self.get_nodeattr("NumChannels"), self.get_nodeattr("PE")
        if pe < 1 or ch < 1 or ch % pe:
            raise self._err(f"PE={pe} must divide NumChannels={ch}")
        return ch // pe

    def _npix(self) -> int:
        vecs = list(self.get_nodeattr("numInputVectors"))
        if len(vecs) != 3:
            raise self._err(f"numInputVectors={vecs} must be [N, H, W]")
        return int(vecs[1] * vecs[2])

    def verify_node(self):
        self._folds()
        self._npix()
        idt = self.get_input_datatype()
        if not idt.is_integer() or idt.name == "BIPOLAR":
            raise self._err(f"inputDataType {idt.name} must be an integer type (not BIPOLAR)")
        return [f"GlobalAccPool node {self.onnx_node.name}: attributes OK"]

    def core_params(self, model) -> dict:
        self.verify_node()
        idt = self.get_input_datatype()
        return {
            "PE": self.get_nodeattr("PE"),
            "FOLDS": self._folds(),
            "NPIX": self._npix(),
            "I_BITS": idt.bitwidth(),
            "I_SIGNED": int(idt.signed()),
            "ACC_BITS": self.get_output_datatype().bitwidth(),
            "IN_W": self.get_instream_width_padded(0),
            "OUT_W": self.get_outstream_width_padded(0),
        }

    def lut_estimation(self, fpgapart=None):
        """PE * 2*ACC (adder + first/forward mux) + PE*ACC*ceil(F/64) (LUTRAM, F = C/PE)
        + 30 (counters, control)."""
        pe, acc = self.get_nodeattr("PE"), self.get_output_datatype().bitwidth()
        return pe * 2 * acc + pe * acc * math.ceil(self._folds() / 64) + 30

    def golden_execute(self, context, graph):
        GlobalAccPool.execute_node(self, context, graph)
