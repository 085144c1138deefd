// bireal_mul2: two products sharing one operand in ONE multiplier (one DSP48E1/E2), the
// "two 8-bit products per DSP" packing of Xilinx WP486:
//
//   P  = x * (wh * 2^K + wl) + 2^(K-1)          K = IN_BITS + W_BITS
//   lo = x*wl = P[K-1:0] - 2^(K-1)  = signed {~P[K-1], P[K-2:0]}
//   hi = x*wh = P[2K-1:K]                        (exact: the low field never borrows)
//
// x: IN_BITS unsigned (IN_SIGNED=0) or signed, wh/wl: signed W_BITS. Every product x*w lies in
// [-2^(K-1), 2^(K-1)) (|x*w| <= 2^(K-2) signed x, (2^IN_BITS-1)*2^(W_BITS-1) unsigned x), so
// the low field x*wl + 2^(K-1) lies in [0, 2^K): adding 2^(K-1) (the DSP post-adder's
// constant, the rounding constant of WP486) is the borrow correction: without it the high
// field would read x*wh - 1 whenever x*wl < 0. Operand widths: A/D = W_BITS + K + 1 bits
// (pre-adder wh*2^K + wl; 25 for 8-bit x and weights: fits DSP48E1's 25x18 and DSP48E2's
// 27x18), B = IN_BITS + 1 bits.
// Registers as a DSP48 has them (latency 3 like the "dsp" style of int_mvau.sv): input
// registers AREG/DREG (wh, wl) and BREG (x), the pre-adder combinational (ADREG=0), the
// product MREG, the post-adder's output PREG.
module bireal_mul2 #(
  parameter int IN_BITS = 8,
  parameter int IN_SIGNED = 1,
  parameter int W_BITS = 8,
  parameter int PW = IN_BITS + 1 + W_BITS     // width of lo / hi (sign-extended)
) (
  input  wire                      clk,
  input  wire [IN_BITS-1:0]        x,
  input  wire signed [W_BITS-1:0]  wl,
  input  wire signed [W_BITS-1:0]  wh,
  output wire signed [PW-1:0]      lo,
  output wire signed [PW-1:0]      hi
);
  localparam int K = IN_BITS + W_BITS;
  localparam int AW = W_BITS + K + 1;                // pre-adder result width
  reg signed [IN_BITS:0] mb;                         // BREG
  reg signed [W_BITS-1:0] ma, md;                    // AREG (wh), DREG (wl)
  always @(posedge clk) begin
    mb <= IN_SIGNED ? {x[IN_BITS-1], x} : {1'b0, x};
    ma <= wh;
    md <= wl;
  end
  wire signed [AW-1:0] ad = (AW'(ma) <<< K) + AW'(md);   // pre-adder: wh*2^K + wl
  reg signed [2*K-1:0] mm, mp;                       // MREG, PREG (2K bits: hi fits K)
  always @(posedge clk) begin
    mm <= mb * ad;
    mp <= mm + (2*K)'(1 << (K - 1));                 // borrow correction (see above)
  end
  wire signed [K-1:0] lo_k = {~mp[K-1], mp[K-2:0]};
  wire signed [K-1:0] hi_k = mp[2*K-1:K];
  assign lo = PW'(lo_k);                             // sign-extended (or exact truncation)
  assign hi = PW'(hi_k);
endmodule
