// MaxPool or SumPool (+ integer offset) behind a depthwise sliding-window generator.
// The depthwise SWG streams, per output pixel, FOLDS = C/PE channel folds of K2 = K*K words
// (layout (C/PE, K, K, PE)): lane p of word (f, k) is window element k of channel f*PE + p.
// So every K2 consecutive words are one window of PE channels:
//   out[c] = max over the K2 words of in[c] + OFFSET      (I_BITS in, O_BITS out)
// or, with SUM = 1, out[c] = sum over the K2 words of in[c] + OFFSET (the Bi-Real downsample's
// 2x2 sum pool: the running register is I_BITS + clog2(K2) bits wide, so the sum never wraps).
// OFFSET is one integer for the tensor (the caller checks O_BITS holds the result: it is
// truncated to O_BITS). A running max per lane is kept in a register; the word that
// closes a window goes to the output register (or a skid register while out0 stalls). Input
// II=1 (one word per cycle, one output word per K2 inputs); in0_V_TREADY is a register.
module bireal_max_pool #(
  parameter integer PE = 1,
  parameter integer K2 = 9,
  parameter integer I_BITS = 8,
  parameter integer I_SIGNED = 0,
  parameter integer O_BITS = 8,
  parameter integer OFFSET = 0,
  parameter integer SUM = 0,
  parameter integer IN_W = 8,
  parameter integer OUT_W = 8
) (
  input  wire ap_clk,
  input  wire ap_rst_n,
  input  wire [IN_W-1:0] in0_V_TDATA,
  input  wire in0_V_TVALID,
  output wire in0_V_TREADY,
  output wire [OUT_W-1:0] out0_V_TDATA,
  output wire out0_V_TVALID,
  input  wire out0_V_TREADY
);
  localparam integer KW = (K2 > 1) ? $clog2(K2) : 1;
  // running value: the max (I_BITS) or the sum of K2 inputs (I_BITS + clog2(K2))
  localparam integer AW = SUM ? I_BITS + ((K2 > 1) ? $clog2(K2) : 0) : I_BITS;
  // sum width: the AW+1-bit signed running value plus a 32-bit signed OFFSET
  localparam integer SW = ((AW + 1 > 32) ? AW + 1 : 32) + 1;
  localparam signed [SW-1:0] OFF = SW'(OFFSET);

  logic sk_valid, out_v;
  wire fire = in0_V_TVALID && !sk_valid;
  assign in0_V_TREADY = !sk_valid;

  logic [KW-1:0] k;
  wire first = (k == '0);
  wire last = (k == KW'(K2 - 1));
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      k <= '0;
    end else if (fire) begin
      k <= last ? '0 : k + 1'b1;
    end
  end

  logic [PE*AW-1:0] m, nm;
  logic [PE*O_BITS-1:0] res;
  genvar p;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
      wire [I_BITS-1:0] xi = in0_V_TDATA[p*I_BITS +: I_BITS];
      wire [AW-1:0] mi = m[p*AW +: AW];
      // input and running value as AW+1-bit signed numbers (zero- or sign-extended)
      wire signed [AW:0] xs = I_SIGNED ? (AW+1)'($signed(xi)) : (AW+1)'(xi);
      wire signed [AW:0] ms = I_SIGNED ? {mi[AW-1], mi} : {1'b0, mi};
      wire [AW-1:0] ni;
      if (SUM) begin : g_sum
        wire signed [AW:0] acc = ms + xs;
        assign ni = first ? xs[AW-1:0] : acc[AW-1:0];
      end else begin : g_max
        assign ni = (first || xs > ms) ? xs[AW-1:0] : mi;
      end
      assign nm[p*AW +: AW] = ni;
      wire signed [AW:0] ns = I_SIGNED ? {ni[AW-1], ni} : {1'b0, ni};
      wire signed [SW-1:0] sum = SW'(ns) + OFF;
      assign res[p*O_BITS +: O_BITS] = sum[O_BITS-1:0];
    end
  endgenerate

  always_ff @(posedge ap_clk) begin
    if (fire) m <= nm;
  end

  // ---- output register + skid register (holds the window closed while out0 stalls)
  wire push = fire && last;
  logic [PE*O_BITS-1:0] out_q, sk_q;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      out_v <= 1'b0;
      sk_valid <= 1'b0;
    end else if (!out_v || out0_V_TREADY) begin
      if (sk_valid) begin
        out_q <= sk_q; out_v <= 1'b1; sk_valid <= 1'b0;
      end else begin
        out_v <= push;
        if (push) out_q <= res;
      end
    end else if (push) begin
      sk_q <= res; sk_valid <= 1'b1;
    end
  end
  assign out0_V_TVALID = out_v;
  assign out0_V_TDATA = OUT_W'(out_q);
endmodule
