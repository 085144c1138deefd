// fp32_mul: IEEE-754 binary32 product a * b, round to nearest, ties to even.
// Subnormal operands and results are exact IEEE (no flush to zero); overflow -> +-inf;
// underflow rounds to +-0 or a subnormal; 0 * finite = +-0 with sign(a) ^ sign(b);
// inf * nonzero = +-inf; 0 * inf and any NaN operand -> the quiet NaN 0x7fc00000.
//
// Pipeline: fixed latency LATENCY = fp32_pkg::fp32_latency(CUTS) + 2 cycles (default 8): an
// operand pair taken on a cycle with en && in_valid leaves as result/out_valid LATENCY
// enabled cycles later. The whole pipeline advances only on cycles with en = 1 (drop en to
// stall); out_valid/result are registers, stable while en = 0; the consumer takes them on
// a cycle with en && out_valid. rst_n (synchronous, active low) clears the valids only.
//   input register -> unpack, leading zeros of a subnormal operand -> CUTS[0] ->
//   normalize it -> multiplier input register -> partial products (DSP) -> partial
//   product register -> their sum -> CUTS[1] -> 1-bit normalize, exponent -> CUTS[2] ->
//   shift right for a subnormal result (sticky) -> CUTS[3] -> round (fp32_pkg::fp32_round),
//   special values -> output register
// The 24x24 significand product is split so that every partial product is one DSP
// multiply between two registers, with no adder behind it in the same cycle (an ECP5
// MULT18X18D used combinationally takes ~4 ns; the partial-product adders go one stage
// later): MULT18 = 0 (default) = 24x17 + 24x7, 2 DSP48E1/E2; MULT18 = 1: 18x18 +
// 6x18 + 18x6 + 6x6, 4 ECP5 MULT18X18D. Both give the same result bit for bit. The
// registers have no reset, so Yosys / Vivado may pack them into the DSP blocks.
// A_BITS < 24 (the float shortcut's f32(c) * A, c an integer with |c| <= 2^A_BITS): the
// caller promises that a is +-0 or a normal number whose significand has nonzero bits only
// in its top A_BITS bits (true for f32 of any integer with |c| <= 2^A_BITS); then b is
// always the operand normalized and, if A_BITS fits one multiplier port (<= 17 for DSP48,
// <= 18 for MULT18), the product is a single 24 x A_BITS multiply: 1 DSP48 instead of 2,
// 2 MULT18X18D instead of 4. Same result bit for bit on every such a.
module fp32_mul #(
  parameter logic [3:0] CUTS = 4'b1111,
  parameter bit MULT18 = 1'b0, // 0: partial products for DSP48 (24x17 + 24x7); 1: for ECP5
  parameter int A_BITS = 24    // significant leading significand bits of a (see above)
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
  localparam int LATENCY = fp32_pkg::fp32_latency({4'd0, CUTS}) + 2;
  /* verilator lint_on UNUSEDPARAM */
  // a has at most A_BITS significant bits and is never subnormal: one short product
  localparam bit SHORT_A = (A_BITS >= 1) && (A_BITS <= (MULT18 ? 18 : 17));
  localparam int KA = SHORT_A ? A_BITS : 1;  // width of a's kept significand bits

  // special-value outcome, decided up front and carried down the pipeline
  typedef struct packed {
    logic sign;  // sign(a) ^ sign(b)
    logic nan;   // NaN operand, or 0 * inf
    logic inf;   // inf * nonzero
    logic zero;  // 0 * finite
  } spec_t;

  // ---- stage 0: input register
  logic v0;
  logic [31:0] a0, b0;
  fp32_stage #(.W(64)) s0 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
    .in_data({a, b}), .out_valid(v0), .out_data({a0, b0}));

  // ---- unpack; x = the operand to normalize (b if b is subnormal, else a), y = the other.
  // If both are subnormal the product is below half the smallest subnormal anyway: y stays
  // unnormalized and the result still rounds to +-0 through the sticky bit.
  fp32_pkg::fp32_unpacked_t ua, ub;
  spec_t sp_a;
  logic [5:0] lza, lzb;
  assign ua = fp32_pkg::fp32_unpack(a0);
  assign ub = fp32_pkg::fp32_unpack(b0);
  assign lza = fp32_pkg::fp32_lzc32({ua.sig, 8'hff});  // 0 for a normal, 1..23 for a subnormal
  assign lzb = fp32_pkg::fp32_lzc32({ub.sig, 8'hff});
  wire [2:0] unused_a = {ua.sub, lza[5], lzb[5]};  // lz <= 24 (24 only for a zero operand)
  always_comb begin
    sp_a.sign = ua.sign ^ ub.sign;
    sp_a.nan = ua.nan || ub.nan || (ua.inf && ub.zero) || (ua.zero && ub.inf);
    sp_a.inf = ua.inf || ub.inf;
    sp_a.zero = ua.zero || ub.zero;
  end

  typedef struct packed {
    spec_t       sp;
    logic [23:0] xsig;
    logic [23:0] ysig;
    logic [4:0]  lz;
    logic [8:0]  esum;  // x.exp + y.exp
  } st1_t;
  st1_t d1_in, d1;
  logic v1;
  always_comb begin
    d1_in.sp = sp_a;
    if (SHORT_A) begin  // a is never subnormal: normalize b (lz = 0 when b is normal)
      d1_in.xsig = ub.sig;
      d1_in.ysig = ua.sig;
      d1_in.lz = lzb[4:0];
    end else begin
      d1_in.xsig = ub.sub ? ub.sig : ua.sig;
      d1_in.ysig = ub.sub ? ua.sig : ub.sig;
      d1_in.lz = ub.sub ? lzb[4:0] : lza[4:0];
    end
    d1_in.esum = {1'b0, ua.exp} + {1'b0, ub.exp};
  end
  fp32_stage #(.W($bits(d1_in)), .REG(CUTS[0])) s1 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v0), .in_data(d1_in), .out_valid(v1), .out_data(d1));

  // ---- normalize x; biased exponent of the product's bit 46: E0 = esum - lz - 127
  typedef struct packed {
    spec_t              sp;
    logic [23:0]        xs;
    logic [23:0]        ys;
    logic signed [10:0] e0;
  } st2_t;
  st2_t d2_in, d2;
  logic v2;
  always_comb begin
    d2_in.sp = d1.sp;
    d2_in.xs = d1.xsig << d1.lz;
    d2_in.ys = d1.ysig;
    d2_in.e0 = $signed({2'b0, d1.esum}) - $signed({6'b0, d1.lz}) - 11'sd127;
  end
  // multiplier input register (always present)
  fp32_stage #(.W($bits(d2_in))) s2 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(v1),
    .in_data(d2_in), .out_valid(v2), .out_data(d2));

  // ---- 24 x 24 product, one or two output registers. Beside the multiplier (whose delay
  // sets this stage's) the exponent logic prepares both outcomes of the 1-bit normalize:
  // hi for p[47] = 1 (E = E0 + 1), lo for p[47] = 0 (E = E0). A result with E < 1 is
  // subnormal: exponent field 0 and a right shift by 1 - E (clamped to 26: all sticky).
  typedef struct packed {
    logic [9:0] exp;  // exponent field (0 if subnormal)
    logic [4:0] sh;   // right shift for a subnormal result, 0..26
  } ex_t;
  typedef struct packed {
    spec_t       sp;
    logic [47:0] pa;  // partial products, aligned to their weight: p = pa + pb + pc
    logic [47:0] pb;
    logic [47:0] pc;
    ex_t         hi;
    ex_t         lo;
  } st3_t;
  // E = e0 + k (k = 1 for hi, 0 for lo); every comparison is on e0 against a constant, so
  // the three adders (e0 + 1, -e0, 1 - e0) and the compares run side by side
  /* verilator lint_off UNUSEDSIGNAL */  // e[10], sh[10:5]: the range checks are done by sub
  function automatic ex_t exp_of(input logic signed [10:0] e, input logic signed [10:0] sh,
                                 input logic sub, input logic all_sticky);
    ex_t r;  // e = E, sh = 1 - E, sub = (E < 1), all_sticky = (1 - E > 26)
    r.exp = sub ? 10'd0 : e[9:0];
    r.sh = !sub ? 5'd0 : all_sticky ? 5'd26 : sh[4:0];
    exp_of = r;
  endfunction
  /* verilator lint_on UNUSEDSIGNAL */
  st3_t d3_in, d3;
  logic v3;
  always_comb begin
    d3_in.sp = d2.sp;
    if (SHORT_A && MULT18) begin
      // y = a: only ys[23 -: KA] can be nonzero; 18 x KA + 6 x KA, 2 MULT18X18D
      d3_in.pa = 48'(42'(d2.xs[17:0] * d2.ys[23 -: KA])) << (24 - KA);
      d3_in.pb = 48'(30'(d2.xs[23:18] * d2.ys[23 -: KA])) << (42 - KA);
      d3_in.pc = 48'd0;
    end else if (SHORT_A) begin
      // y = a: 24 x KA, one DSP48 (25 x 18 signed)
      d3_in.pa = 48'(48'(d2.xs * d2.ys[23 -: KA])) << (24 - KA);
      d3_in.pb = 48'd0;
      d3_in.pc = 48'd0;
    end else if (MULT18) begin
      // 18 x 18 grid: {xh, xl} * {yh, yl} with 18-bit xl, yl; xh*yh and xl*yl do not overlap
      d3_in.pa = {12'(d2.xs[23:18] * d2.ys[23:18]), 36'(d2.xs[17:0] * d2.ys[17:0])};
      d3_in.pb = 48'(24'(d2.xs[23:18] * d2.ys[17:0])) << 18;
      d3_in.pc = 48'(24'(d2.xs[17:0] * d2.ys[23:18])) << 18;
    end else begin
      // 24 x 17 and 24 x 7: one DSP48 (25 x 18 / 27 x 18 signed) each
      d3_in.pa = 48'(41'(d2.xs * d2.ys[16:0]));
      d3_in.pb = 48'(31'(d2.xs * d2.ys[23:17])) << 17;
      d3_in.pc = 48'd0;
    end
    d3_in.hi = exp_of(d2.e0 + 11'sd1, -d2.e0, d2.e0 < 11'sd0, d2.e0 < -11'sd26);
    d3_in.lo = exp_of(d2.e0, 11'sd1 - d2.e0, d2.e0 < 11'sd1, d2.e0 < -11'sd25);
  end
  fp32_stage #(.W($bits(d3_in))) s3 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(v2),
    .in_data(d3_in), .out_valid(v3), .out_data(d3));

  // ---- sum of the partial products
  typedef struct packed {
    spec_t       sp;
    logic [47:0] p;
    ex_t         hi;
    ex_t         lo;
  } st4_t;
  st4_t d4_in, d4;
  logic v4;
  always_comb begin
    d4_in.sp = d3.sp;
    d4_in.p = d3.pa + d3.pb + d3.pc;
    d4_in.hi = d3.hi;
    d4_in.lo = d3.lo;
  end
  fp32_stage #(.W($bits(d4_in)), .REG(CUTS[1])) s4 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v3), .in_data(d4_in), .out_valid(v4), .out_data(d4));

  // ---- leading one to bit 47 (the product of normalized significands is in [2^46, 2^48));
  // keep hidden, 23 fraction bits, guard, sticky
  typedef struct packed {
    spec_t       sp;
    logic [25:0] q;     // {hidden, frac[22:0], guard, sticky}
    ex_t         ex;
  } st5_t;
  st5_t d5_in, d5;
  logic v5;
  logic [47:0] pn;
  always_comb begin
    pn = d4.p[47] ? d4.p : {d4.p[46:0], 1'b0};
    d5_in.sp = d4.sp;
    d5_in.q = {pn[47:23], |pn[22:0]};
    d5_in.ex = d4.p[47] ? d4.hi : d4.lo;
  end
  fp32_stage #(.W($bits(d5_in)), .REG(CUTS[2])) s5 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v4), .in_data(d5_in), .out_valid(v5), .out_data(d5));

  // ---- shift right by sh, OR-ing the bits shifted out into the sticky bit
  typedef struct packed {
    spec_t                     sp;
    fp32_pkg::fp32_unrounded_t u;
  } st6_t;
  st6_t d6_in, d6;
  logic v6;
  logic [25:0] qs, lost;
  always_comb begin
    qs = d5.q >> d5.ex.sh;
    for (int i = 0; i < 26; i++) lost[i] = d5.q[i] && (5'(i) < d5.ex.sh);
    d6_in.sp = d5.sp;
    d6_in.u.sign = d5.sp.sign;
    d6_in.u.exp = d5.ex.exp;
    d6_in.u.frac = qs[24:2];
    d6_in.u.g = qs[1];
    d6_in.u.s = qs[0] || (|lost);
  end
  wire unused_hidden = qs[25];  // the hidden bit: implied by exp != 0
  fp32_stage #(.W($bits(d6_in)), .REG(CUTS[3])) s6 (.clk(clk), .rst_n(rst_n), .en(en),
    .in_valid(v5), .in_data(d6_in), .out_valid(v6), .out_data(d6));

  // ---- round, special values, output register
  logic [31:0] res7;
  always_comb begin
    if (d6.sp.nan) res7 = fp32_pkg::FP32_QNAN;
    else if (d6.sp.inf) res7 = {d6.sp.sign, fp32_pkg::FP32_INF_MAG};
    else if (d6.sp.zero) res7 = {d6.sp.sign, 31'd0};
    else res7 = fp32_pkg::fp32_round(d6.u);
  end
  fp32_stage #(.W(32)) s7 (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(v6),
    .in_data(res7), .out_valid(out_valid), .out_data(result));
endmodule
