// Bi-Real residual add: per-channel requant of the conv branch, add of the shortcut,
// per-tensor affine + saturate. For channel c = fold*PE + p of each pixel:
//   r = clamp((A1[c]*x + B1[c]) >>> S1, LO1, HI1)
//   y = clamp((A2*(r + s) + B2) >>> S2, OUT_MIN, OUT_MAX)
// (>>> = arithmetic shift = floor division by 2^S). in0 = branch x, in1 = shortcut s,
// out0 = y; one word of each input per output word, II=1, exact under any valid/ready
// stalls. A1/B1 come from MEM_FILE ($readmemh): one word per fold, lane p = {B1, A1} at
// bits [p*(A_BITS+B_BITS) +: A_BITS+B_BITS] (A1 in the low bits). All widths are derived
// by the Python op (hw/ops/shortcut_add.py) so that no intermediate can overflow.
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
  localparam integer MW = PE * AB;
  localparam integer FW = (FOLDS > 1) ? $clog2(FOLDS) : 1;

  // ---- pipeline control: the whole pipeline advances on `en`; the output skid register
  // makes `en` depend on registers only (no combinational path from out0 ready)
  logic v1, v2, v3, v4, v5;           // stage valids
  logic sk_valid;
  wire en = !v5 || !sk_valid;
  wire fire = en && in0_V_TVALID && in1_V_TVALID;
  assign in0_V_TREADY = en && in1_V_TVALID;
  assign in1_V_TREADY = en && in0_V_TVALID;

  // ---- fold counter and constant memory (synchronous read, addressed by the input's fold)
  logic [FW-1:0] fold;
  logic [MW-1:0] prm1;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) fold <= '0;
    else if (fire) fold <= (fold == FW'(FOLDS - 1)) ? '0 : fold + 1'b1;
  end
  generate
    if (RAM_STYLE == "block") begin : g_bram
      (* ram_style = "block" *) logic [MW-1:0] mem [0:FOLDS-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge ap_clk) if (en) prm1 <= mem[fold];
    end else if (RAM_STYLE == "distributed") begin : g_lutram
      (* ram_style = "distributed" *) logic [MW-1:0] mem [0:FOLDS-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge ap_clk) if (en) prm1 <= mem[fold];
    end else begin : g_auto
      (* ram_style = "auto" *) logic [MW-1:0] mem [0:FOLDS-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge ap_clk) if (en) prm1 <= mem[fold];
    end
  endgenerate

  // ---- stage valids
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      {v1, v2, v3, v4, v5} <= '0;
    end else if (en) begin
      v1 <= fire; v2 <= v1; v3 <= v2; v4 <= v3; v5 <= v4;
    end
  end

  // ---- per-lane datapath
  logic [PE*O_BITS-1:0] y5;
  genvar p;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
      logic signed [X_BITS:0] x1;      // one extra bit: unsigned inputs become signed
      logic signed [S_BITS:0] s1, s2;
      logic signed [P1_BITS-1:0] p2;
      logic signed [T_BITS-1:0] t3;
      logic signed [P2_BITS-1:0] u4;
      logic signed [O_BITS:0] y5l;
      wire signed [A_BITS-1:0] a1 = prm1[p*AB +: A_BITS];
      wire signed [B_BITS-1:0] b1 = prm1[p*AB + A_BITS +: B_BITS];
      wire [X_BITS-1:0] xin = in0_V_TDATA[p*X_BITS +: X_BITS];
      wire [S_BITS-1:0] sin = in1_V_TDATA[p*S_BITS +: S_BITS];
      // operands are sign-extended to the (overflow-free) result width by the assignment
      wire signed [P1_BITS-1:0] p1 = a1 * x1 + b1;                 // A1*x + B1
      wire signed [P1_BITS-1:0] q2 = p2 >>> S1;                    // floor(/2^S1)
      wire signed [R_BITS-1:0] r2 = (q2 < LO1) ? R_BITS'(LO1)
                                  : (q2 > HI1) ? R_BITS'(HI1) : R_BITS'(q2);
      wire signed [T_BITS-1:0] t2 = r2 + s2;                       // r + s
      wire signed [P2_BITS-1:0] u3 = t3 * A2 + B2;                 // A2*t + B2
      wire signed [P2_BITS-1:0] q4 = u4 >>> S2;                    // floor(/2^S2)
      wire signed [O_BITS:0] y4 = (q4 < OUT_MIN) ? (O_BITS + 1)'(OUT_MIN)
                                : (q4 > OUT_MAX) ? (O_BITS + 1)'(OUT_MAX) : (O_BITS + 1)'(q4);
      always_ff @(posedge ap_clk) begin
        if (en) begin
          x1 <= X_SIGNED ? {xin[X_BITS-1], xin} : {1'b0, xin};  // stage 1 (+ prm1)
          s1 <= S_SIGNED ? {sin[S_BITS-1], sin} : {1'b0, sin};
          p2 <= p1;                                             // stage 2
          s2 <= s1;
          t3 <= t2;                                             // stage 3
          u4 <= u3;                                             // stage 4
          y5l <= y4;                                            // stage 5
        end
      end
      assign y5[p*O_BITS +: O_BITS] = y5l[O_BITS-1:0];
    end
  endgenerate

  // ---- output skid register (holds one word while out0 is not ready)
  logic [PE*O_BITS-1:0] out_q, sk_q;
  logic out_v;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      out_v <= 1'b0;
      sk_valid <= 1'b0;
    end else if (!out_v || out0_V_TREADY) begin
      if (sk_valid) begin
        out_q <= sk_q; out_v <= 1'b1; sk_valid <= 1'b0;
      end else begin
        out_q <= y5; out_v <= v5 && en;
      end
    end else if (v5 && en) begin
      sk_q <= y5; sk_valid <= 1'b1;
    end
  end
  assign out0_V_TVALID = out_v;
  assign out0_V_TDATA = OUT_W'(out_q);
endmodule
