// One lane of a fixed-point requant:  y = clamp((a*x + b) >>> S, LO, HI)
// (>>> = arithmetic shift = floor division by 2^S). Used by requant.sv (per-channel a, b from
// its constant memory) and shortcut_add.sv (its branch requant, and its per-tensor affine +
// saturate with constant a, b).
//
// RNE = 1 (S >= 1): round half to even instead of floor. The caller passes b = B + 2^(S-1) - 1
// (the constant offset folded into b, so the DSP post-adder computes t' = t + 2^(S-1) - 1 for
// t = A x + B) and the lane computes
//   y = clamp((t' >>> S) + (&t'[S-1:0] & t'[S]), LO, HI) = clamp(rne(t / 2^S), LO, HI):
// rne(t/2^S) = (t + 2^(S-1) - 1 + t[S]) >> S (hw/affine.py) = (t' + t[S]) >> S; adding the
// bit changes t' >> S only when t'[S-1:0] is all ones, i.e. at a tie t = k 2^S + 2^(S-1),
// where t' = k 2^S + 2^S - 1 and so t[S] = t'[S] (= k mod 2): round up iff k is odd.
//
// Pipeline (4 stages, advancing on `en`), laid out as a DSP48 / MULT18 expects it:
//   1  x1, a1, b1      multiplier input registers (AREG/BREG; b: CREG)
//   2  m2 = a1*x1      product register (MREG), b2 = b1
//   3  p3 = m2 + b2    post-adder register (PREG)
//   4  y4 = clamp(p3 >>> S [+ RNE tie bit], LO, HI)   (two compares on carry chains + mux)
// P_BITS must hold every a*x + b (the Python op derives it from the constants and the input
// range). The product alone may not fit P_BITS (b can cancel part of it); it is kept mod 2^P_BITS,
// which is exact for the sum because a*x + b fits.
module bireal_affine_lane #(
  parameter integer X_BITS = 9,      // signed x (callers sign- or zero-extend unsigned inputs)
  parameter integer A_BITS = 8,      // signed a
  parameter integer B_BITS = 8,      // signed b
  parameter integer P_BITS = 24,     // signed a*x + b
  parameter integer S = 0,
  parameter integer RNE = 0,         // 1: round half to even (b carries + 2^(S-1) - 1), S >= 1
  parameter integer LO = -128,
  parameter integer HI = 127,
  parameter integer Y_BITS = 8       // signed y, holds LO..HI
) (
  input  wire clk,
  input  wire en,
  input  wire signed [X_BITS-1:0] x,
  input  wire signed [A_BITS-1:0] a,
  input  wire signed [B_BITS-1:0] b,
  output wire signed [Y_BITS-1:0] y
);
  logic signed [X_BITS-1:0] x1;
  logic signed [A_BITS-1:0] a1;
  logic signed [B_BITS-1:0] b1, b2;
  logic signed [P_BITS-1:0] m2, p3;
  logic signed [Y_BITS-1:0] y4;
  // operands sign-extend to the P_BITS result (context-determined width)
  wire signed [P_BITS-1:0] m1 = a1 * x1;
  wire signed [P_BITS-1:0] p2 = m2 + b2;
  wire up3;                          // RNE: a tie with an odd quotient rounds up
  generate
    if (RNE != 0 && S > 0) begin : g_rne
      assign up3 = (&p3[S-1:0]) & p3[S];
    end else begin : g_floor
      assign up3 = 1'b0;
    end
  endgenerate
  // (p3 >>> S) <= 2^(P_BITS-1-S) - 1, so + 1 cannot overflow for S >= 1; $signed keeps the
  // whole expression signed (an unsigned operand would make >>> a logical shift)
  wire signed [P_BITS-1:0] q3 = (p3 >>> S) + $signed({1'b0, up3});
  wire signed [Y_BITS-1:0] y3 = (q3 < LO) ? Y_BITS'(LO) : (q3 > HI) ? Y_BITS'(HI) : Y_BITS'(q3);
  always_ff @(posedge clk) begin
    if (en) begin
      x1 <= x; a1 <= a; b1 <= b;     // stage 1
      m2 <= m1; b2 <= b1;            // stage 2
      p3 <= p2;                      // stage 3
      y4 <= y3;                      // stage 4
    end
  end
  assign y = y4;
endmodule
