// Behavioural SRLC32E (Xilinx 32-deep addressable shift register LUT) for simulating the
// Yosys copy of finn-rtllib fifo.sv (sim.synth SLANG_FIXUPS): on CE, r <= {r[30:0], D};
// Q = r[A] (A = 0: the last bit shifted in), Q31 = r[31]. Written from UG953's description.
module SRLC32E #(parameter [31:0] INIT = 32'h0, parameter [0:0] IS_CLK_INVERTED = 1'b0) (
  output Q, output Q31, input [4:0] A, input CE, input CLK, input D);
  logic [31:0] r = INIT;
  always_ff @(posedge CLK) if (CE) r <= {r[30:0], D};
  assign Q = r[A];
  assign Q31 = r[31];
endmodule
