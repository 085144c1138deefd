// Bi-Real residual add: per-channel requant of the conv branch, add of the shortcut,
// per-tensor affine + saturate. For channel c = fold*PE + p of each pixel:
//   r = clamp((A1[c]*x + B1[c]) >>> S1, LO1, HI1)
//   y = clamp((A2*(r + s) + B2) >>> S2, OUT_MIN, OUT_MAX)
// (>>> = arithmetic shift = floor division by 2^S). in0 = branch x, in1 = shortcut s,
// out0 = y; one word of each input per output word, II=1, exact under any valid/ready
// stalls. A1/B1 come from MEM_FILE ($readmemh): one word per fold, lane p = {B1, A1} at
// bits [p*(A_BITS+B_BITS) +: A_BITS+B_BITS] (A1 in the low bits). All widths are derived
// by the Python op (hw/ops/shortcut_add.py) so that no intermediate can overflow.
// Pipeline: input registers + constant read (1), bireal_affine_lane for r (4), r + s into
// a second bireal_affine_lane with the constants A2, B2 for y (4), output skid buffer.
module bireal_shortcut_add #(
  parameter integer PE = 1,
  parameter integer FOLDS = 1,        // NumChannels / PE
  parameter integer X_BITS = 8,       // in0 element bits
  parameter integer X_SIGNED = 1,
  parameter integer S_BITS = 8,       // in1 element bits
  parameter integer S_SIGNED = 1,
  parameter integer O_BITS = 8,       // out0 element bits
  parameter integer IN0_W = 8,        // padded stream widths
  parameter integer IN1_W = 8,
  parameter integer OUT_W = 8,
  parameter integer A_BITS = 8,       // signed widths of A1, B1 in memory
  parameter integer B_BITS = 8,
  parameter integer P1_BITS = 24,     // A1*x + B1
  parameter integer R_BITS = 8,       // r in [LO1, HI1]
  parameter integer T_BITS = 9,       // r + s
  parameter integer A2_BITS = 2,      // signed widths of A2, B2
  parameter integer B2_BITS = 2,
  parameter integer P2_BITS = 16,     // A2*(r+s) + B2
  parameter integer S1 = 0,
  parameter integer LO1 = -128,
  parameter integer HI1 = 127,
  parameter integer A2 = 1,
  parameter integer B2 = 0,
  parameter integer S2 = 0,
  parameter integer OUT_MIN = -128,
  parameter integer OUT_MAX = 127,
  parameter MEM_FILE = "",            // "": no contents (lets tools elaborate the defaults)
  parameter RAM_STYLE = "auto"        // "auto" | "block" | "distributed"
) (
  input  wire ap_clk,
  input  wire ap_rst_n,
  input  wire [IN0_W-1:0] in0_V_TDATA,
  input  wire in0_V_TVALID,
  output wire in0_V_TREADY,
  input  wire [IN1_W-1:0] in1_V_TDATA,
  input  wire in1_V_TVALID,
  output wire in1_V_TREADY,
  output wire [OUT_W-1:0] out0_V_TDATA,
  output wire out0_V_TVALID,
  input  wire out0_V_TREADY
);
  localparam integer AB = A_BITS + B_BITS;
  localparam integer LANE = 4;        // bireal_affine_lane latency
  localparam integer LAT = 1 + 2 * LANE;

  // ---- control: the whole pipeline advances on `en`; valid bits, output register + skid
  // buffer (stall_pipe.sv)
  wire en, fire;
  wire [PE*O_BITS-1:0] y, out_q;
  bireal_stall_pipe #(.W(PE*O_BITS), .LAT(LAT)) ctl (
    .clk(ap_clk), .rst_n(ap_rst_n), .in_ok(in0_V_TVALID && in1_V_TVALID), .en(en), .fire(fire), .y(y),
    .out_data(out_q), .out_valid(out0_V_TVALID), .out_ready(out0_V_TREADY));
  assign in0_V_TREADY = en && in1_V_TVALID;
  assign in1_V_TREADY = en && in0_V_TVALID;

  // ---- A1/B1 of the accepted word's fold (stage 1)
  logic [PE*AB-1:0] prm1;
  bireal_fold_rom #(.W(PE*AB), .FOLDS(FOLDS), .MEM_FILE(MEM_FILE), .RAM_STYLE(RAM_STYLE)) rom (
    .clk(ap_clk), .rst_n(ap_rst_n), .en(en), .fire(fire), .q(prm1));

  // ---- per-lane datapath
  genvar p;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
      logic signed [X_BITS:0] x1;      // one extra bit: unsigned inputs become signed
      wire [X_BITS-1:0] xin = in0_V_TDATA[p*X_BITS +: X_BITS];
      wire [S_BITS-1:0] sin = in1_V_TDATA[p*S_BITS +: S_BITS];
      always_ff @(posedge ap_clk) begin
        if (en) x1 <= X_SIGNED ? {xin[X_BITS-1], xin} : {1'b0, xin};  // stage 1 (+ prm1)
      end
      wire signed [S_BITS:0] sx = S_SIGNED ? {sin[S_BITS-1], sin} : {1'b0, sin};
      wire signed [S_BITS:0] sd;       // s, delayed to meet r
      bireal_delay #(.W(S_BITS + 1), .N(1 + LANE)) sdel (.clk(ap_clk), .en(en), .d(sx), .q(sd));
      wire signed [R_BITS-1:0] r;      // stage 1 + LANE
      bireal_affine_lane #(.X_BITS(X_BITS + 1), .A_BITS(A_BITS), .B_BITS(B_BITS),
                           .P_BITS(P1_BITS), .S(S1), .LO(LO1), .HI(HI1), .Y_BITS(R_BITS)) lane1 (
        .clk(ap_clk), .en(en), .x(x1), .a(prm1[p*AB +: A_BITS]),
        .b(prm1[p*AB + A_BITS +: B_BITS]), .y(r));
      wire signed [T_BITS-1:0] t = r + sd;   // operands sign-extend to T_BITS
      wire signed [O_BITS:0] yl;       // stage 1 + 2*LANE
      bireal_affine_lane #(.X_BITS(T_BITS), .A_BITS(A2_BITS), .B_BITS(B2_BITS),
                           .P_BITS(P2_BITS), .S(S2), .LO(OUT_MIN), .HI(OUT_MAX),
                           .Y_BITS(O_BITS + 1)) lane2 (
        .clk(ap_clk), .en(en), .x(t), .a(A2_BITS'(A2)), .b(B2_BITS'(B2)), .y(yl));
      assign y[p*O_BITS +: O_BITS] = yl[O_BITS-1:0];
    end
  endgenerate

  assign out0_V_TDATA = OUT_W'(out_q);
endmodule
