// N-stage delay line that shifts on en:  q = d delayed by N enabled edges (N = 0: q = d).
// No reset (SRL-friendly on Xilinx). Used for operands that must meet a pipelined result
// (float_shortcut_add.sv, shortcut_add.sv), the MVAUs' input beside the memory output
// register, and rom.sv's output register.
module bireal_delay #(
  parameter integer W = 8,
  parameter integer N = 1
) (
  input  wire clk,
  input  wire en,
  input  wire [W-1:0] d,
  output wire [W-1:0] q
);
  generate
    if (N == 0) begin : g_wire
      assign q = d;
    end else begin : g_regs
      logic [W-1:0] r [1:N];
      always_ff @(posedge clk) begin
        if (en) begin
          r[1] <= d;
          for (int k = 2; k <= N; k++) r[k] <= r[k-1];
        end
      end
      assign q = r[N];
    end
  endgenerate
endmodule
