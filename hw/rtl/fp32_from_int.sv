// fp32_from_int: signed N-bit integer (two's complement, 2 <= N <= 32) -> IEEE-754 binary32,
// round to nearest, ties to even (exact for |in_int| < 2^24; larger values round, e.g.
// 2^24 + 1 -> 2^24, 2^24 + 3 -> 2^24 + 4). 0 -> +0.0; -2^(N-1) is exact.
//
// Pipeline: fixed latency LATENCY = fp32_pkg::fp32_latency(CUTS) cycles (default 5): an
// operand taken on a cycle with en && in_valid leaves as result/out_valid LATENCY enabled
// cycles later. The whole pipeline advances only on cycles with en = 1 (drop en to stall);
// out_valid/result are registers, stable while en = 0; the consumer takes them on a cycle
// with en && out_valid. rst_n (synchronous, active low) clears the valids only.
//   input register -> |x| -> CUTS[0] -> leading-zero count -> CUTS[1] -> normalize shift
//   -> CUTS[2] -> round (fp32_pkg::fp32_round) -> output register
module fp32_from_int #(
  parameter int N = 32,
  parameter logic [2:0] CUTS = 3'b111
) (
  input  logic         clk,
  input  logic         rst_n,
  input  logic         en,
  input  logic         in_valid,
  input  logic [N-1:0] in_int,
  output logic         out_valid,
  output logic [31:0]  result
);
  /* verilator lint_off UNUSEDPARAM */
  localparam int LATENCY = fp32_pkg::fp32_latency({5'd0, CUTS});
  /* verilator lint_on UNUSEDPARAM */
  localparam logic [31:0] PAD = (32'd1 << (32 - N)) - 32'd1;  // ones below the left-aligned value

  // ---- stage 0: input register
  logic v0;
  logic [N-1:0] c0;
  fp32_stage #(.W(N)) s0 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid), .in_data(in_int),
                          .out_valid(v0), .out_data(c0));

  // ---- |x| (N bits unsigned: -(-2^(N-1)) = 2^(N-1) fits)
  logic [N-1:0] mag_a;
  assign mag_a = c0[N-1] ? (~c0 + N'(1)) : c0;

  logic v1, sign1;
  logic [N-1:0] mag1;
  fp32_stage #(.W(N + 1), .REG(CUTS[0])) s1 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(v0),
    .in_data({c0[N-1], mag_a}), .out_valid(v1), .out_data({sign1, mag1}));

  // ---- leading zeros of the magnitude, left-aligned in 32 bits
  logic [31:0] m32_1;
  logic [5:0] lz_b;
  assign m32_1 = 32'(mag1) << (32 - N);
  assign lz_b = fp32_pkg::fp32_lzc32(m32_1 | PAD);  // 0..N; N only for 0

  logic v2, sign2, zero2;
  logic [31:0] m32_2;
  logic [5:0] lz2;
  fp32_stage #(.W(40), .REG(CUTS[1])) s2 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(v1),
    .in_data({sign1, m32_1 == 32'd0, m32_1, lz_b}), .out_valid(v2),
    .out_data({sign2, zero2, m32_2, lz2}));

  // ---- normalize: leading one to bit 31, exponent 127 + (N - 1 - lz)
  logic [31:0] norm;
  fp32_pkg::fp32_unrounded_t u_c;
  assign norm = m32_2 << lz2[4:0];
  wire unused_hidden = norm[31];  // the leading one (or 0 for a zero input)
  always_comb begin
    u_c.sign = sign2;
    u_c.exp = zero2 ? 10'd0 : 10'(127 + N - 1) - 10'(lz2);
    u_c.frac = norm[30:8];
    u_c.g = norm[7];
    u_c.s = |norm[6:0];
  end

  logic v3;
  fp32_pkg::fp32_unrounded_t u3;
  fp32_stage #(.W($bits(u_c)), .REG(CUTS[2])) s3 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v2), .in_data(u_c), .out_valid(v3), .out_data(u3));

  // ---- round, output register
  fp32_stage #(.W(32)) s4 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(v3),
    .in_data(fp32_pkg::fp32_round(u3)), .out_valid(out_valid), .out_data(result));

  initial begin
    if (N < 2 || N > 32) $fatal(1, "fp32_from_int: N = %0d, must be 2..32", N);
  end
endmodule
