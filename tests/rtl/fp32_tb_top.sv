// Test-only top for the bulk Verilator harness (tests/rtl/fp32_tb.cpp): every fp32 unit,
// in its default pipeline and with all optional cuts off, fed the same operands a, b under
// one en / in_valid. Unit k's result is res[k] (valid vld[k]); the harness picks one.
//   0 fp32_add            1 fp32_mul            2 fp32_from_int N=32 (a)
//   3 fp32_from_int N=25 (a[24:0])              4 fp32_from_int N=12 (a[11:0])
//   5 fp32_add CUTS=0     6 fp32_mul CUTS=0     7 fp32_from_int N=32 CUTS=0
//   8 fp32_pkg::fp32_ge_zero(a) behind one register (result 0 or 1)
//   9 fp32_mul MULT18=1 (the partial-product split for ECP5 MULT18X18D)
//  10 fp32_mul A_BITS=10 (a = f32 of an integer, |a| <= 2^10: one 24 x 10 product)
//  11 fp32_mul A_BITS=10 MULT18=1
module fp32_tb_top (
  input  logic             clk,
  input  logic             rst_n,
  input  logic             en,
  input  logic             in_valid,
  input  logic [31:0]      a,
  input  logic [31:0]      b,
  output logic [11:0]      vld,
  output logic [11:0][31:0] res
);
  fp32_add u_add (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid), .a(a), .b(b),
                  .out_valid(vld[0]), .result(res[0]));
  fp32_mul u_mul (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid), .a(a), .b(b),
                  .out_valid(vld[1]), .result(res[1]));
  fp32_from_int #(.N(32)) u_i32 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
                  .in_int(a), .out_valid(vld[2]), .result(res[2]));
  fp32_from_int #(.N(25)) u_i25 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
                  .in_int(a[24:0]), .out_valid(vld[3]), .result(res[3]));
  fp32_from_int #(.N(12)) u_i12 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
                  .in_int(a[11:0]), .out_valid(vld[4]), .result(res[4]));
  fp32_add #(.CUTS('0)) u_add0 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
                  .a(a), .b(b), .out_valid(vld[5]), .result(res[5]));
  fp32_mul #(.CUTS('0)) u_mul0 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
                  .a(a), .b(b), .out_valid(vld[6]), .result(res[6]));
  fp32_from_int #(.N(32), .CUTS('0)) u_i32_0 (.clk(clk), .rst_n(rst_n), .en(en),
                  .in_valid(in_valid), .in_int(a), .out_valid(vld[7]), .result(res[7]));
  fp32_mul #(.MULT18(1'b1)) u_mul18 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
                  .a(a), .b(b), .out_valid(vld[9]), .result(res[9]));
  fp32_mul #(.A_BITS(10)) u_mulk (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
                  .a(a), .b(b), .out_valid(vld[10]), .result(res[10]));
  fp32_mul #(.A_BITS(10), .MULT18(1'b1)) u_mulk18 (.clk(clk), .rst_n(rst_n), .en(en),
                  .in_valid(in_valid), .a(a), .b(b), .out_valid(vld[11]), .result(res[11]));
  always_ff @(posedge clk) begin
    if (!rst_n) vld[8] <= 1'b0;
    else if (en) vld[8] <= in_valid;
    if (en) res[8] <= {31'd0, fp32_pkg::fp32_ge_zero(a)};
  end
endmodule
