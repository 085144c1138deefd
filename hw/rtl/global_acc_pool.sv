// GlobalAccPool: per-channel sum over the NPIX pixels of a frame.
// Input words are pixel-major with FOLDS = C/PE words per pixel; lane p of word f is
// channel c = f*PE + p. out[c] = sum over pixels of in[pixel][c] (ACC_BITS, signed),
// emitted as FOLDS words while the last pixel streams in (acc + x of the last pixel goes
// straight to the output), so input II=1 holds across frames and no extra output phase.
// Accumulators: memory acc[FOLDS] of PE*ACC_BITS, read at accept, written one stage later
// (with a forward for back-to-back accesses of the same fold, i.e. FOLDS == 1).
module bireal_global_acc_pool #(
  parameter integer PE = 1,
  parameter integer FOLDS = 1,
  parameter integer NPIX = 1,
  parameter integer I_BITS = 8,
  parameter integer I_SIGNED = 1,
  parameter integer ACC_BITS = 16,
  parameter integer IN_W = 8,
  parameter integer OUT_W = 16
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
  localparam integer FW = (FOLDS > 1) ? $clog2(FOLDS) : 1;
  localparam integer PW = (NPIX > 1) ? $clog2(NPIX) : 1;
  localparam integer AW = PE * ACC_BITS;

  // ---- control: stage 1 (read) -> stage 2 (output word) -> output skid buffer; the
  // pipeline advances on `en` (from the skid buffer)
  logic v1, v2;
  wire en;
  wire fire = en && in0_V_TVALID;
  assign in0_V_TREADY = en;

  logic [FW-1:0] fold, fold1;
  logic [PW-1:0] pix;
  logic first1, last1;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      fold <= '0; pix <= '0; v1 <= 1'b0; v2 <= 1'b0;
    end else if (en) begin
      v1 <= fire;
      v2 <= v1 && last1;
      if (fire) begin
        fold <= (fold == FW'(FOLDS - 1)) ? '0 : fold + 1'b1;
        if (fold == FW'(FOLDS - 1)) pix <= (pix == PW'(NPIX - 1)) ? '0 : pix + 1'b1;
      end
    end
  end

  // ---- accumulator memory and lanes
  (* ram_style = "distributed" *) logic [AW-1:0] acc [0:FOLDS-1];
  logic [AW-1:0] rd1, fwd_q, sum1, out2;
  logic fwd1;
  logic [IN_W-1:0] x1;
  genvar p;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_lane
      wire [I_BITS-1:0] xi = x1[p*I_BITS +: I_BITS];
      wire signed [ACC_BITS-1:0] xe = I_SIGNED ? ACC_BITS'($signed(xi)) : ACC_BITS'(xi);
      wire signed [ACC_BITS-1:0] prev = first1 ? '0
                                        : (fwd1 ? fwd_q[p*ACC_BITS +: ACC_BITS]
                                                : rd1[p*ACC_BITS +: ACC_BITS]);
      assign sum1[p*ACC_BITS +: ACC_BITS] = prev + xe;
    end
  endgenerate

  always_ff @(posedge ap_clk) begin
    if (en) begin
      // stage 1: register the input and read its fold's accumulators
      x1 <= in0_V_TDATA;
      fold1 <= fold;
      first1 <= (pix == '0);
      last1 <= (pix == PW'(NPIX - 1));
      rd1 <= acc[fold];
      fwd1 <= v1 && (fold1 == fold);   // stage 1 writes this fold at this very edge
      fwd_q <= sum1;
      // stage 2: write back; the last pixel's sums are the output
      if (v1) acc[fold1] <= sum1;
      out2 <= sum1;
    end
  end

  // ---- output register + skid buffer
  wire [AW-1:0] out_q;
  bireal_skid_buffer #(.W(AW)) skid (
    .clk(ap_clk), .rst_n(ap_rst_n), .in_data(out2), .in_valid(v2), .en(en),
    .out_data(out_q), .out_valid(out0_V_TVALID), .out_ready(out0_V_TREADY));
  assign out0_V_TDATA = OUT_W'(out_q);
endmodule
