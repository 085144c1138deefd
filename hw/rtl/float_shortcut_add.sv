// Bi-Real's real-valued shortcut in IEEE-754 binary32 (shortcut float32). For channel
// ch = fold*PE + p of each pixel, c = the conv's integer accumulator (in0, C_BITS), x = the
// float32 shortcut (in1, only if HAS_RESIDUAL), three separately rounded binary32 ops
// (round to nearest even, no FMA), in this order:
//   y = RN(f32(c) * A[ch]);  y = RN(y + B[ch]);  out0 = RN(y + x)   (out0 = y without x)
// f32(c) is exact for |c| < 2^24. A/B are float32 bit patterns from MEM_FILE ($readmemh):
// one word per fold, lane p = {B, A} at bits [p*64 +: 64] (A in the low 32 bits).
// One word of each input per output word, II=1, exact under any valid/ready stalls.
//
// Pipeline (one global enable `en` from the output skid buffer, as shortcut_add.sv):
//   fp32_from_int (L_I2F = 5, its input register takes in0 at the accepting edge; the
//   constants are read into fold_rom's register at the same edge) -> fp32_mul with A
//   delayed by L_I2F - 1 (L_MUL = 8) -> fp32_add with B delayed by L_I2F + L_MUL - 1
//   (L_ADD = 7) -> [fp32_add with x delayed by L_I2F + L_MUL + L_ADD] -> skid buffer.
// Latency, accepting edge -> output register: L_I2F + L_MUL + L_ADD [+ L_ADD] + 1 = 21 [28].
// The delay lines have no reset and shift on en (SRL-friendly on Xilinx).
// f32(c) has |c| <= 2^(N-1), so at most N - 1 significant bits: fp32_mul's A_BITS = N - 1
// makes c * A one 24 x (N-1) multiply (1 DSP48) when N <= 18, else the 24 x 24 split (2).
module bireal_float_shortcut_add #(
  parameter integer PE = 1,
  parameter integer FOLDS = 1,        // NumChannels / PE
  parameter integer C_BITS = 16,      // in0 element bits (integer accumulator)
  parameter integer C_SIGNED = 1,
  parameter integer HAS_RESIDUAL = 1, // 0: no in1, out0 = RN(RN(c*A) + B)
  parameter integer IN0_W = 16,       // padded stream widths
  parameter integer IN1_W = 32,
  parameter integer OUT_W = 32,
  parameter integer MULT18 = 0,       // fp32_mul partial products: 0 DSP48, 1 ECP5 MULT18
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
  localparam logic [2:0] CUTS_I2F = 3'b111;
  localparam logic [3:0] CUTS_MUL = 4'b1111;
  localparam logic [4:0] CUTS_ADD = 5'b11111;
  localparam integer L_I2F = fp32_pkg::fp32_latency({5'd0, CUTS_I2F});
  localparam integer L_MUL = fp32_pkg::fp32_latency({4'd0, CUTS_MUL}) + 2;
  localparam integer L_ADD = fp32_pkg::fp32_latency({3'd0, CUTS_ADD});
  localparam integer N = C_BITS + (C_SIGNED != 0 ? 0 : 1);  // fp32_from_int input bits
  localparam integer DA = L_I2F - 1;                   // A: fold_rom register + DA
  localparam integer DB = L_I2F + L_MUL - 1;           // B: fold_rom register + DB
  localparam integer DX = L_I2F + L_MUL + L_ADD;       // x: DX registers from the input

  // ---- control: the whole pipeline advances on `en` (from the skid buffer). The skid
  // buffer gives 1 + 4*PE equal copies of it: en[0] for the input handshake and the constants,
  // en[1 + 4p + u] for unit u of lane p (int->float, multiply, + B, + x, with the delay line
  // feeding it): no enable net reaches more than one FP unit (~700 FFs)
  localparam integer NEN = 1 + 4 * PE;
  wire [NEN-1:0] ens;
  wire en = ens[0];
  wire in1_ok = (HAS_RESIDUAL != 0) ? in1_V_TVALID : 1'b1;
  wire fire = en && in0_V_TVALID && in1_ok;
  assign in0_V_TREADY = en && in1_ok;
  assign in1_V_TREADY = (HAS_RESIDUAL != 0) ? (en && in0_V_TVALID) : 1'b0;

  // ---- {B, A} of the accepted word's fold (register loaded at the accepting edge)
  logic [PE*64-1:0] prm1;
  bireal_fold_rom #(.W(PE*64), .FOLDS(FOLDS), .MEM_FILE(MEM_FILE), .RAM_STYLE(RAM_STYLE)) rom (
    .clk(ap_clk), .rst_n(ap_rst_n), .en(en), .fire(fire), .q(prm1));

  // ---- per-lane datapath
  logic [PE*32-1:0] y;
  logic [PE-1:0] yv;
  genvar p;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
      wire [C_BITS-1:0] cin = in0_V_TDATA[p*C_BITS +: C_BITS];
      wire [N-1:0] cn = (C_SIGNED != 0) ? N'($signed(cin)) : N'(cin);
      wire [31:0] ad, bd;             // A delayed to meet f32(c), B to meet the product
      wire [3:0] le = ens[1 + 4*p +: 4];  // this lane's enables, one per FP unit
      bireal_delay #(.W(32), .N(DA)) adel (.clk(ap_clk), .en(le[1]), .d(prm1[p*64 +: 32]), .q(ad));
      bireal_delay #(.W(32), .N(DB)) bdel (.clk(ap_clk), .en(le[2]), .d(prm1[p*64 + 32 +: 32]), .q(bd));
      wire [31:0] cf, prod, yb;
      wire cf_v, prod_v, yb_v;
      fp32_from_int #(.N(N), .CUTS(CUTS_I2F)) i2f (
        .clk(ap_clk), .rst_n(ap_rst_n), .en(le[0]), .in_valid(fire), .in_int(cn),
        .out_valid(cf_v), .result(cf));
      fp32_mul #(.CUTS(CUTS_MUL), .MULT18(MULT18 != 0), .A_BITS(N - 1)) mul (
        .clk(ap_clk), .rst_n(ap_rst_n), .en(le[1]), .in_valid(cf_v), .a(cf), .b(ad),
        .out_valid(prod_v), .result(prod));
      fp32_add #(.CUTS(CUTS_ADD)) addb (
        .clk(ap_clk), .rst_n(ap_rst_n), .en(le[2]), .in_valid(prod_v), .a(prod), .b(bd),
        .out_valid(yb_v), .result(yb));
      if (HAS_RESIDUAL != 0) begin : g_res
        wire [31:0] xd;               // x, delayed to meet RN(c*A + B)
        bireal_delay #(.W(32), .N(DX)) xdel (.clk(ap_clk), .en(le[3]), .d(in1_V_TDATA[p*32 +: 32]), .q(xd));
        fp32_add #(.CUTS(CUTS_ADD)) addx (
          .clk(ap_clk), .rst_n(ap_rst_n), .en(le[3]), .in_valid(yb_v), .a(yb), .b(xd),
          .out_valid(yv[p]), .result(y[p*32 +: 32]));
      end else begin : g_nores
        wire unused_le = le[3];
        assign yv[p] = yb_v;
        assign y[p*32 +: 32] = yb;
      end
    end
  endgenerate

  // ---- output register + skid buffer (all lanes are in step: lane 0's valid stands for all)
  wire [PE*32-1:0] out_q;
  wire unused_v = ^yv;
  bireal_skid_buffer #(.W(PE*32), .EN_COPIES(NEN)) skid (
    .clk(ap_clk), .rst_n(ap_rst_n), .in_data(y), .in_valid(yv[0]), .en(ens),
    .out_data(out_q), .out_valid(out0_V_TVALID), .out_ready(out0_V_TREADY));
  assign out0_V_TDATA = OUT_W'(out_q);

  initial begin
    if (N < 2 || N > 25)
      $fatal(1, "float_shortcut_add: C_BITS = %0d gives %0d-bit integers, must be 2..25", C_BITS, N);
  end
endmodule
