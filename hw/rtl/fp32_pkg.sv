// fp32_pkg: shared pieces of the project's IEEE-754 binary32 units (fp32_from_int,
// fp32_mul, fp32_add). Everything here is combinational (functions and types); the units
// put their own pipeline registers (fp32_stage) between the calls.
//   fp32_unpack    binary32 -> sign, effective exponent, significand, class flags
//   fp32_round     THE rounding step of all three units: round to nearest, ties to even, of
//                  an unrounded (exponent field, fraction, guard, sticky) value, with
//                  overflow to +-inf; subnormal results are rounded like normal ones
//   fp32_rne_up    the round-to-nearest-even decision (also float_to_int.sv's integer rounding)
//   fp32_lzc32     leading-zero count of a 32-bit vector (0..32), a shallow tree
//   fp32_ge_zero   the binarizer's sign test: x >= 0 (-0.0 -> 1, NaN -> 0)
//   fp32_latency   pipeline latency of a unit from its CUTS parameter
// Written for Verilator and Yosys' own `read_verilog -sv` as well as slang: units refer to
// everything as fp32_pkg::name (no `import`), functions assign their name (no `return`).
package fp32_pkg;

  /* verilator lint_off UNUSEDPARAM */
  localparam logic [31:0] FP32_QNAN = 32'h7fc00000;  // the canonical quiet NaN produced
  localparam logic [30:0] FP32_INF_MAG = 31'h7f800000;
  /* verilator lint_on UNUSEDPARAM */

  // An operand taken apart. Subnormals and zero get the effective exponent 1 and no hidden
  // bit, so every finite value is sig * 2^(exp - 150) exactly.
  typedef struct packed {
    logic        sign;
    logic [7:0]  exp;    // max(exponent field, 1)
    logic [23:0] sig;    // {hidden bit, fraction}; hidden = (exponent field != 0)
    logic        zero;   // +-0
    logic        sub;    // nonzero subnormal
    logic        inf;    // +-inf
    logic        nan;    // any NaN
  } fp32_unpacked_t;

  // A result before rounding: exp is the biased exponent field the result would have (0 for
  // a subnormal or zero, >= 255 for an overflow), frac its 23 fraction bits (the hidden bit
  // is implied by exp != 0), g the first bit below frac (weight half an ulp) and s the OR
  // of all bits below g.
  typedef struct packed {
    logic        sign;
    logic [9:0]  exp;
    logic [22:0] frac;
    logic        g;
    logic        s;
  } fp32_unrounded_t;

  function automatic fp32_unpacked_t fp32_unpack(input logic [31:0] x);
    fp32_unpacked_t u;
    logic hidden, frac_nz, exp_max;
    hidden = |x[30:23];
    exp_max = &x[30:23];
    frac_nz = |x[22:0];
    u.sign = x[31];
    u.exp = hidden ? x[30:23] : 8'd1;
    u.sig = {hidden, x[22:0]};
    u.zero = !hidden && !frac_nz;
    u.sub = !hidden && frac_nz;
    u.inf = exp_max && !frac_nz;
    u.nan = exp_max && frac_nz;
    fp32_unpack = u;
  endfunction

  // Round to nearest, ties to even, of a value whose last kept bit is lsb, followed by the
  // guard bit g (half a unit) and the sticky OR s of everything below: add one unit iff
  // above half (g && s) or exactly half with an odd last bit (g && lsb).
  function automatic logic fp32_rne_up(input logic lsb, input logic g, input logic s);
    fp32_rne_up = g && (s || lsb);
  endfunction

  // Round to nearest, ties to even. Rounding up adds one unit in the last place to the
  // concatenation {exp, frac}: a carry out of the fraction moves into the exponent, which
  // covers subnormal -> smallest normal, 1.11..1 * 2^e -> 2^(e+1) and max finite -> inf.
  function automatic logic [31:0] fp32_round(input fp32_unrounded_t u);
    logic up;
    logic [32:0] sum;
    up = fp32_rne_up(u.frac[0], u.g, u.s);
    sum = {u.exp, u.frac} + 33'(up);
    if (sum[32:23] >= 10'd255) fp32_round = {u.sign, FP32_INF_MAG};
    else fp32_round = {u.sign, sum[30:0]};
  endfunction

  // Number of leading zeros of x (32 when x == 0): per-nibble counts, then a binary search
  // over the eight nibble-nonzero flags (depth ~5 LUT4 levels, not a 32-deep priority chain).
  function automatic logic [5:0] fp32_lzc32(input logic [31:0] x);
    logic [7:0] nz;          // nz[i]: nibble i (i = 0 is x[31:28]) is nonzero
    logic [7:0][1:0] n4;     // leading zeros within nibble i (valid when nz[i])
    logic [3:0] q;
    logic [2:0] f;           // first nonzero nibble
    for (int i = 0; i < 8; i++) begin
      q = x[31 - 4 * i -: 4];
      nz[i] = |q;
      n4[i] = q[3] ? 2'd0 : q[2] ? 2'd1 : q[1] ? 2'd2 : 2'd3;
    end
    f[2] = !(|nz[3:0]);
    f[1] = f[2] ? !(|nz[5:4]) : !(|nz[1:0]);
    f[0] = !nz[{f[2:1], 1'b0}];
    fp32_lzc32 = (nz == 8'd0) ? 6'd32 : {1'b0, f, n4[f]};
  endfunction

  // x >= 0 as torch.where(x >= 0) sees it: +0, -0, positive values and +inf are >= 0;
  // negative values, -inf and every NaN (either sign) are not.
  function automatic logic fp32_ge_zero(input logic [31:0] x);
    fp32_ge_zero = (x == 32'h80000000) || (!x[31] && !(&x[30:23] && |x[22:0]));
  endfunction

  // Latency in cycles of a unit with input and output registers plus one register per set
  // bit of its CUTS parameter (a 1 enables the optional pipeline register at that cut).
  function automatic int fp32_latency(input logic [7:0] cuts);
    int n;
    n = 2;
    for (int i = 0; i < 8; i++) n = n + int'(cuts[i]);
    fp32_latency = n;
  endfunction

endpackage
