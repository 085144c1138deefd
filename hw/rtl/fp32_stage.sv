// fp32_stage: one optional pipeline register of the fp32 units (valid + data).
// REG = 1: a register that loads on `en` (valid is reset by rst_n, synchronously; data has
// no reset, so Yosys can pack it into DSP and SRL cells); REG = 0: wires (the cut is off).
module fp32_stage #(
  parameter int W = 1,
  parameter bit REG = 1'b1
) (
  input  logic         clk,
  input  logic         rst_n,
  input  logic         en,
  input  logic         in_valid,
  input  logic [W-1:0] in_data,
  output logic         out_valid,
  output logic [W-1:0] out_data
);
  generate
    if (REG) begin : g_reg
      always_ff @(posedge clk) begin
        if (!rst_n) out_valid <= 1'b0;
        else if (en) out_valid <= in_valid;
      end
      always_ff @(posedge clk) begin
        if (en) out_data <= in_data;
      end
    end else begin : g_wire
      wire [2:0] unused_ctl = {clk, rst_n, en};
      assign out_valid = in_valid;
      assign out_data = in_data;
    end
  endgenerate
endmodule
