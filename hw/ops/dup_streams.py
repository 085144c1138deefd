"""DuplicateStreams on this project's RTL (hw/rtl/dup_streams.sv): out_j = in0 for every j.

FINN's DuplicateStreams layer class gives shapes, widths, get_exp_cycles and the golden
execute_node; nodes are FINN's DuplicateStreams nodes with domain="hw.ops" and
op_type="DuplicateStreams_rtl".
"""

from __future__ import annotations

from finn.custom_op.fpgadataflow.duplicatestreams import DuplicateStreams
from hw.ops.base import BirealRTLBackend


class DuplicateStreams_rtl(DuplicateStreams, BirealRTLBackend):
    """Each input word is copied to all NumOutputStreams outputs (II=1 when all are ready)."""

    core_sv = "dup_streams.sv"
    core_module = "bireal_dup_streams"

    def _err(self, msg: str) -> ValueError:
        return ValueError(f"DuplicateStreams node {self.onnx_node.name}: {msg}")

    def verify_node(self):
        ch, pe = self.get_nodeattr("NumChannels"), self.get_nodeattr("PE")
        n = self.get_num_output_streams()
        if pe < 1 or ch % pe:
            raise self._err(f"PE={pe} must divide NumChannels={ch}")
        if n < 2 or n != len(self.onnx_node.output):
            raise self._err(f"NumOutputStreams={n} must be >= 2 and equal the "
                            f"{len(self.onnx_node.output)} node outputs")
        return [f"DuplicateStreams node {self.onnx_node.name}: attributes OK"]

    def core_params(self, model) -> dict:
        self.verify_node()
        return {"N_OUT": self.get_num_output_streams(), "WIDTH": self.get_instream_width_padded(0)}

    def wrapper_text(self, model) -> str:
        """Like BirealRTLBackend.wrapper_text, but the core's outputs are packed vectors:
        out{j}_V_* are slices j of out_V_TDATA / out_V_TVALID / out_V_TREADY."""
        n = self.get_num_output_streams()
        w = self.get_instream_width_padded(0)
        ports = ["input  wire ap_clk", "input  wire ap_rst_n",
                 f"input  wire [{w - 1}:0] in0_V_TDATA", "input  wire in0_V_TVALID",
                 "output wire in0_V_TREADY"]
        for j in range(n):
            ports += [f"output wire [{w - 1}:0] out{j}_V_TDATA", f"output wire out{j}_V_TVALID",
                      f"input  wire out{j}_V_TREADY"]
        cat = lambda s: "{" + ", ".join(f"out{j}_V_{s}" for j in reversed(range(n))) + "}"  # noqa: E731
        conns = [".ap_clk(ap_clk)", ".ap_rst_n(ap_rst_n)", ".in0_V_TDATA(in0_V_TDATA)",
                 ".in0_V_TVALID(in0_V_TVALID)", ".in0_V_TREADY(in0_V_TREADY)",
                 f".out_V_TDATA({cat('TDATA')})", f".out_V_TVALID({cat('TVALID')})",
                 f".out_V_TREADY({cat('TREADY')})"]
        return self.render_wrapper(model, ports, conns)

    def lut_estimation(self, fpgapart=None):
        """N_OUT (pending flags) + 2 (ready/and tree); the data register is FFs only."""
        return self.get_num_output_streams() + 2

    def golden_execute(self, context, graph):
        DuplicateStreams.execute_node(self, context, graph)
