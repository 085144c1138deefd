// Test-only AXI-stream wrappers of the fp32 units for the cocotb stall test
// (tests/rtl/tb_axis.py): each unit gets the project's stall pattern, en = the last stage is
// empty or the output skid register is free, so a stalled consumer freezes the whole
// pipeline through `en` without losing or repeating a word.
//   in0_V {b, a} -> fp32_add -> out0_V      in1_V {b, a} -> fp32_mul -> out1_V
//   in2_V c (32-bit signed) -> fp32_from_int -> out2_V
module fp32_axis_unit #(
  parameter int UNIT = 0,  // 0 add, 1 mul, 2 from_int
  parameter int IN_W = 64
) (
  input  logic            ap_clk,
  input  logic            ap_rst_n,
  input  logic [IN_W-1:0] in_TDATA,
  input  logic            in_TVALID,
  output logic            in_TREADY,
  output logic [31:0]     out_TDATA,
  output logic            out_TVALID,
  input  logic            out_TREADY
);
  logic uv, sk_valid, out_v;
  logic [31:0] ur, out_q, sk_q;
  wire en = !uv || !sk_valid;
  assign in_TREADY = en;
  generate
    if (UNIT == 0) begin : g_add
      fp32_add u (.clk(ap_clk), .rst_n(ap_rst_n), .en(en), .in_valid(in_TVALID),
                  .a(in_TDATA[31:0]), .b(in_TDATA[63:32]), .out_valid(uv), .result(ur));
    end else if (UNIT == 1) begin : g_mul
      fp32_mul u (.clk(ap_clk), .rst_n(ap_rst_n), .en(en), .in_valid(in_TVALID),
                  .a(in_TDATA[31:0]), .b(in_TDATA[63:32]), .out_valid(uv), .result(ur));
    end else begin : g_int
      fp32_from_int #(.N(IN_W)) u (.clk(ap_clk), .rst_n(ap_rst_n), .en(en),
                  .in_valid(in_TVALID), .in_int(in_TDATA), .out_valid(uv), .result(ur));
    end
  endgenerate
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      out_v <= 1'b0;
      sk_valid <= 1'b0;
    end else if (!out_v || out_TREADY) begin
      if (sk_valid) begin
        out_q <= sk_q; out_v <= 1'b1; sk_valid <= 1'b0;
      end else begin
        out_q <= ur; out_v <= uv && en;
      end
    end else if (uv && en) begin
      sk_q <= ur; sk_valid <= 1'b1;
    end
  end
  assign out_TVALID = out_v;
  assign out_TDATA = out_q;
endmodule

module fp32_axis_wrap (
  input  logic        ap_clk,
  input  logic        ap_rst_n,
  input  logic [63:0] in0_V_TDATA,
  input  logic        in0_V_TVALID,
  output logic        in0_V_TREADY,
  input  logic [63:0] in1_V_TDATA,
  input  logic        in1_V_TVALID,
  output logic        in1_V_TREADY,
  input  logic [31:0] in2_V_TDATA,
  input  logic        in2_V_TVALID,
  output logic        in2_V_TREADY,
  output logic [31:0] out0_V_TDATA,
  output logic        out0_V_TVALID,
  input  logic        out0_V_TREADY,
  output logic [31:0] out1_V_TDATA,
  output logic        out1_V_TVALID,
  input  logic        out1_V_TREADY,
  output logic [31:0] out2_V_TDATA,
  output logic        out2_V_TVALID,
  input  logic        out2_V_TREADY
);
  fp32_axis_unit #(.UNIT(0)) u_add (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .in_TDATA(in0_V_TDATA), .in_TVALID(in0_V_TVALID), .in_TREADY(in0_V_TREADY),
    .out_TDATA(out0_V_TDATA), .out_TVALID(out0_V_TVALID), .out_TREADY(out0_V_TREADY));
  fp32_axis_unit #(.UNIT(1)) u_mul (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .in_TDATA(in1_V_TDATA), .in_TVALID(in1_V_TVALID), .in_TREADY(in1_V_TREADY),
    .out_TDATA(out1_V_TDATA), .out_TVALID(out1_V_TVALID), .out_TREADY(out1_V_TREADY));
  fp32_axis_unit #(.UNIT(2), .IN_W(32)) u_int (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
    .in_TDATA(in2_V_TDATA), .in_TVALID(in2_V_TVALID), .in_TREADY(in2_V_TREADY),
    .out_TDATA(out2_V_TDATA), .out_TVALID(out2_V_TVALID), .out_TREADY(out2_V_TREADY));
endmodule
