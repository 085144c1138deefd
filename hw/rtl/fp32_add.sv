// fp32_add: IEEE-754 binary32 sum a + b, round to nearest, ties to even.
// Subnormal operands and results are exact IEEE (no flush to zero); overflow -> +-inf.
// Exact zeros: x + (-x) = +0 and (+0) + (-0) = +0 (round to nearest), (-0) + (-0) = -0.
// inf + finite = inf, inf + inf = inf, inf + (-inf) and any NaN operand -> the quiet NaN
// 0x7fc00000.
//
// Pipeline: fixed latency LATENCY = fp32_pkg::fp32_latency(CUTS) cycles (default 7): an
// operand pair taken on a cycle with en && in_valid leaves as result/out_valid LATENCY
// enabled cycles later. The whole pipeline advances only on cycles with en = 1 (drop en to
// stall); out_valid/result are registers, stable while en = 0; the consumer takes them on
// a cycle with en && out_valid. rst_n (synchronous, active low) clears the valids only.
//   input register -> unpack, order by magnitude (|x| >= |y|), exponent difference ->
//   CUTS[0] -> align y (shift right, sticky) -> CUTS[1] -> add / subtract the 27-bit
//   significands (24 + guard, round, sticky) -> CUTS[2] -> leading-zero count, limited
//   so that the exponent stays >= 1 (a smaller result is subnormal, exponent field 0) ->
//   CUTS[3] -> normalize shift -> CUTS[4] -> round (fp32_pkg::fp32_round), special values
//   -> output register
module fp32_add #(
  parameter logic [4:0] CUTS = 5'b11111
) (
  input  logic        clk,
  input  logic        rst_n,
  input  logic        en,
  input  logic        in_valid,
  input  logic [31:0] a,
  input  logic [31:0] b,
  output logic        out_valid,
  output logic [31:0] result
);
  /* verilator lint_off UNUSEDPARAM */
  localparam int LATENCY = fp32_pkg::fp32_latency({3'd0, CUTS});
  /* verilator lint_on UNUSEDPARAM */

  // special-value outcome and signs, decided up front and carried down the pipeline
  typedef struct packed {
    logic nan;    // NaN operand, or inf - inf
    logic inf;    // an infinite operand (and no NaN)
    logic isign;  // sign of the infinity
    logic sign;   // sign of a nonzero result: that of the larger magnitude
    logic zsign;  // sign of an exact zero result: -0 only for (-0) + (-0)
    logic sub;    // effective subtraction (operand signs differ)
  } spec_t;

  // ---- stage 0: input register
  logic v0;
  logic [31:0] a0, b0;
  fp32_stage #(.W(64)) s0 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
    .in_data({a, b}), .out_valid(v0), .out_data({a0, b0}));

  // ---- unpack, x = larger magnitude, y = the other; d = x.exp - y.exp >= 0
  typedef struct packed {
    spec_t       sp;
    logic [7:0]  xexp;
    logic [23:0] xsig;
    logic [23:0] ysig;
    logic [4:0]  d;     // exponent difference, clamped to 27 (y entirely below the sticky bit)
  } st1_t;
  fp32_pkg::fp32_unpacked_t ua, ub;
  logic a_ge;
  logic [7:0] dab, dba;
  st1_t d1_in, d1;
  logic v1;
  wire [3:0] unused_a = {ua.zero, ua.sub, ub.zero, ub.sub};  // zeros need no special case
  always_comb begin
    ua = fp32_pkg::fp32_unpack(a0);
    ub = fp32_pkg::fp32_unpack(b0);
    a_ge = a0[30:0] >= b0[30:0];  // magnitude order = order of the bit patterns
    dab = ua.exp - ub.exp;  // both clamped before the choice: no compare after the compare
    dba = ub.exp - ua.exp;
    d1_in.sp.nan = ua.nan || ub.nan || (ua.inf && ub.inf && (ua.sign != ub.sign));
    d1_in.sp.inf = ua.inf || ub.inf;
    d1_in.sp.isign = ua.inf ? ua.sign : ub.sign;
    d1_in.sp.sign = a_ge ? ua.sign : ub.sign;
    d1_in.sp.zsign = ua.sign && ub.sign;
    d1_in.sp.sub = ua.sign != ub.sign;
    d1_in.xexp = a_ge ? ua.exp : ub.exp;
    d1_in.xsig = a_ge ? ua.sig : ub.sig;
    d1_in.ysig = a_ge ? ub.sig : ua.sig;
    d1_in.d = a_ge ? ((dab > 8'd27) ? 5'd27 : dab[4:0]) : ((dba > 8'd27) ? 5'd27 : dba[4:0]);
  end
  fp32_stage #(.W($bits(d1_in)), .REG(CUTS[0])) s1 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v0), .in_data(d1_in), .out_valid(v1), .out_data(d1));

  // ---- align: y (with 3 zero bits below: guard, round, sticky) shifted right by d; the
  // bits shifted out are OR-ed into the sticky bit
  typedef struct packed {
    spec_t       sp;
    logic [7:0]  xexp;
    logic [26:0] x;
    logic [26:0] y;
  } st2_t;
  st2_t d2_in, d2;
  logic v2;
  logic [26:0] y27, lost;
  always_comb begin
    y27 = {d1.ysig, 3'b000};
    for (int i = 0; i < 27; i++) lost[i] = y27[i] && (5'(i) < d1.d);
    d2_in.sp = d1.sp;
    d2_in.xexp = d1.xexp;
    d2_in.x = {d1.xsig, 3'b000};
    d2_in.y = (y27 >> d1.d) | {26'd0, |lost};
  end
  fp32_stage #(.W($bits(d2_in)), .REG(CUTS[1])) s2 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v1), .in_data(d2_in), .out_valid(v2), .out_data(d2));

  // ---- add or subtract (x >= y, so the difference is >= 0). Beside it: the limit mask for
  // the normalization, a one at bit 26 - (x.exp - 1) of the 27-bit sum: the left shift may
  // not go past it (the exponent would drop below 1; the result is subnormal, and exact).
  typedef struct packed {
    spec_t       sp;
    logic [7:0]  xexp;
    logic [26:0] lim;
    logic [27:0] sum;
  } st3_t;
  st3_t d3_in, d3;
  logic v3;
  logic [7:0] xm1;
  always_comb begin
    xm1 = d2.xexp - 8'd1;
    d3_in.sp = d2.sp;
    d3_in.xexp = d2.xexp;
    d3_in.lim = (xm1 <= 8'd26) ? (27'h4000000 >> xm1[4:0]) : 27'd0;
    d3_in.sum = d2.sp.sub ? ({1'b0, d2.x} - {1'b0, d2.y}) : ({1'b0, d2.x} + {1'b0, d2.y});
  end
  fp32_stage #(.W($bits(d3_in)), .REG(CUTS[2])) s3 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v2), .in_data(d3_in), .out_valid(v3), .out_data(d3));

  // ---- normalization amount: carry (sum[27]) -> one right shift, exponent x.exp + 1;
  // otherwise a left shift by the leading zeros of sum[26:0] | lim = min(lz, x.exp - 1)
  typedef struct packed {
    spec_t       sp;
    logic        carry;
    logic        zero;
    logic [4:0]  shl;
    logic [7:0]  xexp;
    logic [27:0] sum;
  } st4_t;
  st4_t d4_in, d4;
  logic v4;
  logic [5:0] lz;
  always_comb begin
    lz = fp32_pkg::fp32_lzc32({d3.sum[26:0] | d3.lim, 5'b11111});  // 0..27
    d4_in.sp = d3.sp;
    d4_in.carry = d3.sum[27];
    d4_in.zero = d3.sum == 28'd0;
    d4_in.shl = lz[4:0];
    d4_in.xexp = d3.xexp;
    d4_in.sum = d3.sum;
  end
  wire unused_lz = lz[5];
  fp32_stage #(.W($bits(d4_in)), .REG(CUTS[3])) s4 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v3), .in_data(d4_in), .out_valid(v4), .out_data(d4));

  // ---- normalize shift; unrounded result. Left shift: the exponent is x.exp - shl if the
  // leading one reached bit 26, else the shift stopped at the limit (or the sum is 0) and
  // the exponent field is 0.
  typedef struct packed {
    spec_t                     sp;
    fp32_pkg::fp32_unrounded_t u;
  } st5_t;
  st5_t d5_in, d5;
  logic v5;
  logic [26:0] t;
  logic [9:0] e_left;
  always_comb begin
    t = d4.sum[26:0] << d4.shl;
    e_left = {2'b0, d4.xexp} - {5'b0, d4.shl};
    d5_in.sp = d4.sp;
    d5_in.u.sign = d4.zero ? d4.sp.zsign : d4.sp.sign;
    if (d4.carry) begin
      d5_in.u.exp = {2'b0, d4.xexp} + 10'd1;
      d5_in.u.frac = d4.sum[26:4];
      d5_in.u.g = d4.sum[3];
      d5_in.u.s = |d4.sum[2:0];
    end else begin
      d5_in.u.exp = t[26] ? e_left : 10'd0;
      d5_in.u.frac = t[25:3];
      d5_in.u.g = t[2];
      d5_in.u.s = |t[1:0];
    end
  end
  fp32_stage #(.W($bits(d5_in)), .REG(CUTS[4])) s5 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v4), .in_data(d5_in), .out_valid(v5), .out_data(d5));

  // ---- round, special values, output register
  logic [31:0] res6;
  always_comb begin
    if (d5.sp.nan) res6 = fp32_pkg::FP32_QNAN;
    else if (d5.sp.inf) res6 = {d5.sp.isign, fp32_pkg::FP32_INF_MAG};
    else res6 = fp32_pkg::fp32_round(d5.u);
  end
  fp32_stage #(.W(32)) s6 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(v5),
    .in_data(res6), .out_valid(out_valid), .out_data(result));
endmodule
