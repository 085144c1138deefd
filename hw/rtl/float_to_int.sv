// Where Bi-Real's float32 path returns to integers. Per element x (IEEE-754 binary32):
//   MODE 0 (sign):  q = (x >= 0)  as torch.where(x >= 0): -0.0 -> 1, NaN -> 0
//                   (fp32_pkg::fp32_ge_zero), O_BITS = 1
//   MODE 1 (quant): q = clamp(RNE(x * 2^FRAC), OUT_MIN, OUT_MAX), O_BITS-bit two's complement
//                   (or unsigned): x = sig * 2^(e - 150) exactly, so x * 2^FRAC is sig
//                   shifted by sh = e - 150 + FRAC: left (exact) or right with guard and
//                   sticky, then rounded to nearest, ties to even (fp32_pkg::fp32_rne_up,
//                   the rounding decision of the fp32 units). Subnormal inputs are exact too;
//                   inf saturates, NaN gives 0.
// One input word per output word (PE lanes), II=1, exact under any valid/ready stalls.
// Pipeline (on `en` from the output skid buffer, as requant.sv): input register -> unpack,
// shift amount -> register -> shift, guard, sticky -> register -> round, negate, saturate
// -> output register (latency LAT = 4).
module bireal_float_to_int #(
  parameter integer PE = 1,
  parameter integer MODE = 1,          // 0 sign, 1 quant
  parameter integer O_BITS = 8,        // output element bits (1 for sign)
  parameter integer FRAC = 0,          // -126 .. 127
  parameter longint OUT_MIN = -128,    // outputDataType's range (quant)
  parameter longint OUT_MAX = 127,
  parameter integer IN_W = 32,         // padded stream widths
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
  localparam integer LAT = 4;
  localparam logic [32:0] MAXP = 33'(OUT_MAX);              // largest positive magnitude
  localparam logic [32:0] MAXN = 33'(OUT_MIN < 0 ? -OUT_MIN : 0);  // largest negative one

  // ---- control: the whole pipeline advances on `en`; valid bits, output register + skid
  // buffer (stall_pipe.sv)
  wire en, fire;
  wire [PE*O_BITS-1:0] y, out_q;
  bireal_stall_pipe #(.W(PE*O_BITS), .LAT(LAT)) ctl (
    .clk(ap_clk), .rst_n(ap_rst_n), .in_ok(in0_V_TVALID), .en(en), .fire(fire), .y(y),
    .out_data(out_q), .out_valid(out0_V_TVALID), .out_ready(out0_V_TREADY));
  assign in0_V_TREADY = en;

  genvar p;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
      logic [31:0] x1;                 // stage 1: input register
      always_ff @(posedge ap_clk) if (en) x1 <= in0_V_TDATA[p*32 +: 32];
      if (MODE == 0) begin : g_sign
        logic [LAT-2:0] q;             // stages 2..LAT
        always_ff @(posedge ap_clk) begin
          if (en) q <= {q[LAT-3:0], fp32_pkg::fp32_ge_zero(x1)};
        end
        assign y[p*O_BITS +: O_BITS] = O_BITS'(q[LAT-2]);
      end else begin : g_quant
        // ---- stage 2: unpack; sh = e - 150 + FRAC
        fp32_pkg::fp32_unpacked_t u;
        assign u = fp32_pkg::fp32_unpack(x1);
        wire unused_u = ^{u.zero, u.sub};
        logic s2, nan2, big2, right2;
        logic [23:0] sig2;
        logic [4:0] amt2;              // left shift 0..10 or right shift 1..26 (26: all sticky)
        always_ff @(posedge ap_clk) begin
          if (en) begin : st2
            logic signed [10:0] sh;
            sh = $signed({3'b0, u.exp}) - 11'sd150 + $signed(11'(FRAC));
            s2 <= u.sign;
            nan2 <= u.nan;
            sig2 <= u.sig;
            right2 <= sh < 0;
            big2 <= u.inf || (sh > 11'sd9 && u.sig != 24'd0);  // >= 2^32: saturates
            amt2 <= (sh < -11'sd26) ? 5'd26 : (sh < 0) ? 5'(-sh) : (sh > 11'sd9) ? 5'd0 : 5'(sh);
          end
        end
        // ---- stage 3: shift; integer part, guard, sticky
        logic s3, nan3, big3, g3, st3;
        logic [32:0] m3;
        always_ff @(posedge ap_clk) begin
          if (en) begin : st3b
            logic [49:0] w;            // {sig, 26 bits below} for the right shift
            w = {sig2, 26'd0} >> amt2;
            s3 <= s2;
            nan3 <= nan2;
            big3 <= big2;
            if (right2) begin
              m3 <= 33'(w[49:26]);
              g3 <= w[25];
              st3 <= |w[24:0];
            end else begin
              m3 <= 33'({sig2, 9'd0} >> (5'd9 - amt2));   // sig << amt2, amt2 <= 9
              g3 <= 1'b0;
              st3 <= 1'b0;
            end
          end
        end
        // ---- stage 4: round half to even, saturate, negate
        logic [32:0] mr;
        logic [O_BITS-1:0] q4;
        assign mr = m3 + 33'(fp32_pkg::fp32_rne_up(m3[0], g3, st3));
        always_ff @(posedge ap_clk) begin
          if (en) begin
            if (nan3) q4 <= '0;
            else if (!s3) q4 <= (big3 || mr > MAXP) ? O_BITS'(MAXP) : O_BITS'(mr);
            else q4 <= (big3 || mr > MAXN) ? O_BITS'(-MAXN) : O_BITS'(-mr);
          end
        end
        assign y[p*O_BITS +: O_BITS] = q4;
      end
    end
  endgenerate

  assign out0_V_TDATA = OUT_W'(out_q);
endmodule
