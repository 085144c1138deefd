// Per-channel fixed-point requant (replaces a multi-step FINN Thresholding): for channel
// c = fold*PE + p of each pixel
//   y = clamp((A[c]*x + B[c]) >>> S, LO, HI)
// (>>> = arithmetic shift = floor division by 2^S), or with RNE = 1 round half to even,
//   y = clamp(rne((A[c]*x + B[c]) / 2^S), LO, HI),
// for which MEM_FILE holds B[c] + 2^(S-1) - 1 (see affine_lane.sv). One input word per output
// word, II=1, exact under any valid/ready stalls. A/B come from MEM_FILE ($readmemh): one word per fold,
// lane p = {B, A} at bits [p*(A_BITS+B_BITS) +: A_BITS+B_BITS] (A in the low bits). All widths
// are derived by the Python op (hw/ops/requant.py) so that no intermediate can overflow.
// Pipeline: input register + constant read (1), bireal_affine_lane (4), output skid buffer.
module bireal_requant #(
  parameter integer PE = 1,
  parameter integer FOLDS = 1,        // NumChannels / PE
  parameter integer X_BITS = 24,      // input element bits
  parameter integer X_SIGNED = 1,
  parameter integer O_BITS = 8,       // output element bits (outputDataType)
  parameter integer IN_W = 24,        // padded stream widths
  parameter integer OUT_W = 8,
  parameter integer A_BITS = 16,      // signed widths of A, B in memory
  parameter integer B_BITS = 32,
  parameter integer P_BITS = 40,      // A*x + B
  parameter integer Y_BITS = 8,       // signed y in [LO, HI]
  parameter integer S = 0,
  parameter integer RNE = 0,          // 1: round half to even (S >= 1, P_BITS > S)
  parameter integer LO = -128,
  parameter integer HI = 127,
  parameter MEM_FILE = "",            // "": no contents (lets tools elaborate the defaults)
  parameter RAM_STYLE = "auto"        // "auto" | "block" | "distributed"
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
  localparam integer AB = A_BITS + B_BITS;
  localparam integer LAT = 5;         // input register + affine lane

  // ---- control: the whole pipeline advances on `en`; valid bits, output register + skid
  // buffer (stall_pipe.sv)
  wire en, fire;
  wire [PE*O_BITS-1:0] y, out_q;
  bireal_stall_pipe #(.W(PE*O_BITS), .LAT(LAT)) ctl (
    .clk(ap_clk), .rst_n(ap_rst_n), .in_ok(in0_V_TVALID), .en(en), .fire(fire), .y(y),
    .out_data(out_q), .out_valid(out0_V_TVALID), .out_ready(out0_V_TREADY));
  assign in0_V_TREADY = en;

  // ---- constants of the accepted word's fold (stage 1)
  logic [PE*AB-1:0] prm;
  bireal_fold_rom #(.W(PE*AB), .FOLDS(FOLDS), .MEM_FILE(MEM_FILE), .RAM_STYLE(RAM_STYLE)) rom (
    .clk(ap_clk), .rst_n(ap_rst_n), .en(en), .fire(fire), .q(prm));

  // ---- lanes
  genvar p;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
      logic signed [X_BITS:0] x1;     // one extra bit: unsigned inputs become signed
      wire [X_BITS-1:0] xin = in0_V_TDATA[p*X_BITS +: X_BITS];
      always_ff @(posedge ap_clk) begin
        if (en) x1 <= X_SIGNED ? {xin[X_BITS-1], xin} : {1'b0, xin};
      end
      wire signed [Y_BITS-1:0] yl;
      bireal_affine_lane #(.X_BITS(X_BITS + 1), .A_BITS(A_BITS), .B_BITS(B_BITS), .P_BITS(P_BITS),
                           .S(S), .RNE(RNE), .LO(LO), .HI(HI), .Y_BITS(Y_BITS)) lane (
        .clk(ap_clk), .en(en), .x(x1), .a(prm[p*AB +: A_BITS]), .b(prm[p*AB + A_BITS +: B_BITS]),
        .y(yl));
      assign y[p*O_BITS +: O_BITS] = O_BITS'(yl);
    end
  endgenerate

  assign out0_V_TDATA = OUT_W'(out_q);
endmodule
