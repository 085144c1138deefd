// bireal_int_mvau: FINN MVAU for fixed-point layers (binaryXnorMode=0, noActivation=1):
//
//   out[c] = acc[c] = bias[c] + sum_{i<MW} x[i] * W[i][c]   (c = nf*PE + p, OB-bit two's
//   complement; bias = 0 without BIAS_FILE)
//
// x: IN_BITS per element (unsigned if IN_SIGNED=0, e.g. the UINT8 image; else signed INT8),
// W: signed W_BITS. Same folding, order and flow control as bireal_xnor_mvau (xnor_mvau.sv):
// SF = MW/SIMD input words per vector (element sf*SIMD+s at bits [s*IN_BITS +: IN_BITS]),
// NF = MH/PE output words (lane p at [p*OB +: OB]), for nf: for sf: one step per clock,
// input words replayed from a buffer for nf>0, credit-based output FIFO.
// Weight memory: NF*WSF words (WSF = SF/WREP) of PE*SIMD*W_BITS bits, word nf*WSF+sf, element
// p*SIMD+s (at bits (p*SIMD+s)*W_BITS) = W[sf*SIMD+s][nf*PE+p] (step sf reads word sf mod WSF).
// Datapath: issue (bireal_mvau_ctrl, mvau_ctrl.sv) -> x / weight read registers -> block RAM
// output register (RAM_STYLE block/ultra: DOA_REG) -> PE*SIMD products, each a DSP48 with input
// (AREG/BREG), product (MREG) and output (PREG) registers (MUL_STYLE "dsp"), or in LUTs
// (MUL_STYLE "lut": shift-and-add, p = sum_{k<W-1} b[k]*(a<<k) - b[W-1]*(a<<(W-1)), the two
// halves of the partial products summed in the MREG stage, their sum in the PREG stage, no `*`
// and use_dsp = "no", so no tool infers a DSP48), or two products per DSP48 (MUL_STYLE "dsp2",
// PE even: lanes 2q, 2q+1 share x[s], P = x*(W[s][2q+1]*2^K + W[s][2q]) + 2^(K-1) in one
// multiplier with the same registers and latency, bireal_mul2 in mul2.sv) -> adder tree per PE
// (a register every second level) -> accumulator (mod 2^OB) -> output FIFO (bireal_mvau_ctrl).
module bireal_int_mvau #(
  parameter int MW = 16,
  parameter int MH = 4,
  parameter int PE = 2,
  parameter int SIMD = 4,
  parameter int IN_BITS = 8,
  parameter int IN_SIGNED = 1,
  parameter int W_BITS = 8,
  parameter int OB = 24,              // output (= accumulator) bits, two's complement
  parameter int IN_W = ((SIMD * IN_BITS + 7) / 8) * 8,
  parameter int OUT_W = ((PE * OB + 7) / 8) * 8,
  parameter WEIGHT_FILE = "",         // $readmemh file (no directory); "" = none
  parameter BIAS_FILE = "",           // per-channel bias, NF words of PE*OB bits; "" = no bias
  parameter RAM_STYLE = "auto",
  parameter int MEM_PORTS = 1,        // 2: "ultra" weights read on both URAM ports (rom.sv)
  parameter int WLOAD = 0,            // 1: weights written at run time through wl_in_V
                                      // (wload.sv; WEIGHT_FILE unused), beats on to wl_out_V
  parameter MUL_STYLE = "dsp",        // "dsp": DSP48 products; "lut": LUT shift-and-add;
                                      // "dsp2": two products per DSP48 (PE even)
  parameter int WREP = 1              // weights repeat every MW/WREP inputs (W[i] = W[i mod
                                      // MW/WREP]): the ROM holds NF*SF/WREP words
) (
  input  wire               ap_clk,
  input  wire               ap_rst_n,
  input  wire [IN_W-1:0]    in0_V_TDATA,
  input  wire               in0_V_TVALID,
  output wire               in0_V_TREADY,
  output wire [OUT_W-1:0]   out0_V_TDATA,
  output wire               out0_V_TVALID,
  input  wire               out0_V_TREADY,
  input  wire [63:0]        wl_in_V_TDATA,      // weight load chain (WLOAD = 1)
  input  wire               wl_in_V_TVALID,
  output wire               wl_in_V_TREADY,
  output wire [63:0]        wl_out_V_TDATA,
  output wire               wl_out_V_TVALID,
  input  wire               wl_out_V_TREADY
);
  localparam int SF = MW / SIMD;
  localparam int NF = MH / PE;
  localparam int WSF = SF / WREP;                    // weight words per output fold
  localparam int WD = NF * WSF;                      // weight memory depth
  localparam int AW = (WD > 1) ? $clog2(WD) : 1;
  localparam int NFW = (NF > 1) ? $clog2(NF) : 1;
  localparam int XB = IN_BITS * SIMD;                // used input bits per word
  localparam int PW = IN_BITS + 1 + W_BITS;          // product width (signed)
  localparam int NL = $clog2(SIMD);                  // adder tree levels above the products
  localparam int SW = PW + NL;                       // width of tree nodes (exact sums)
  localparam int ACC_W = OB;
  localparam int TREE_LAT = (NL + 1) / 2 + 1;        // registered tree levels (see below)
  // block RAM / URAM: the primitive's output register (DOA_REG / OREG) is one more stage
  localparam int W_OREG = (RAM_STYLE == "distributed") ? 0 : 1;
  // stage A .. psum: A, [B], multiplier input registers (DSP A/B), M, P, tree levels >= 1
  localparam int PIPE = 1 + W_OREG + 2 + TREE_LAT;

  generate
    if (MUL_STYLE != "dsp" && MUL_STYLE != "lut" && MUL_STYLE != "dsp2") begin : g_bad_style
      $error("bireal_int_mvau: MUL_STYLE must be \"dsp\", \"lut\" or \"dsp2\"");
    end
    if (MUL_STYLE == "dsp2" && PE % 2 != 0) begin : g_bad_pe
      $error("bireal_int_mvau: MUL_STYLE \"dsp2\" needs an even PE");
    end
  endgenerate

  // ---------------- issue, replay, flags, output FIFO (mvau_ctrl.sv) --------------------
  wire [AW-1:0] wa;
  wire [XB-1:0] x_a;                                 // stage A input word
  wire vS, firstS, lastS;
  wire [NFW-1:0] nfS;
  wire [PE*OB-1:0] res_out;
  reg res_v;
  wire loaded;                                       // weights present (WLOAD: loaded)
  bireal_mvau_ctrl #(.SF(SF), .NF(NF), .XB(XB), .IN_W(IN_W), .RW(PE*OB), .OUT_W(OUT_W),
                     .PIPE(PIPE), .AW(AW), .NFW(NFW), .WSF(WSF)) ctrl (
    .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .go(loaded),
    .in0_V_TDATA(in0_V_TDATA), .in0_V_TVALID(in0_V_TVALID), .in0_V_TREADY(in0_V_TREADY),
    .out0_V_TDATA(out0_V_TDATA), .out0_V_TVALID(out0_V_TVALID), .out0_V_TREADY(out0_V_TREADY),
    .wa(wa), .x_q(x_a), .vS(vS), .firstS(firstS), .lastS(lastS), .nfS(nfS),
    .res_v(res_v), .res(res_out));
  wire rst = !ap_rst_n;

  // ---------------- stage A: weight memory read register (+ output register) -------------
  // weight ROM, read every cycle at wa (the data belongs to the step issued at this edge);
  // stage B (block RAM / URAM only): the primitive's output register, x delayed alongside
  wire [PE*SIMD*W_BITS-1:0] w_d;
  wire [XB-1:0] x_q;
  // the weight memory: a ROM, or (WLOAD = 1) written at run time through the wl_* chain
  // before the unit computes (loaded gates the fold control); wload.sv
  bireal_weight_mem #(.W(PE*SIMD*W_BITS), .DEPTH(WD), .AW(AW), .OREG(W_OREG), .MEM_FILE(WEIGHT_FILE),
                      .RAM_STYLE(RAM_STYLE), .PORTS(MEM_PORTS), .WLOAD(WLOAD)) wmem (
    .clk(ap_clk), .rst_n(ap_rst_n), .addr(wa), .q(w_d), .loaded(loaded),
    .wl_in_TDATA(wl_in_V_TDATA), .wl_in_TVALID(wl_in_V_TVALID), .wl_in_TREADY(wl_in_V_TREADY),
    .wl_out_TDATA(wl_out_V_TDATA), .wl_out_TVALID(wl_out_V_TVALID),
    .wl_out_TREADY(wl_out_V_TREADY));
  bireal_delay #(.W(XB), .N(W_OREG)) xdel (.clk(ap_clk), .en(1'b1), .d(x_a), .q(x_q));

  // sum_{k0<=k<k1} b[k] * (a << k), bit W_BITS-1 of b with weight -2^(W_BITS-1) (two's
  // complement): the LUT multiplier's partial products
  function automatic signed [PW-1:0] pp_sum(input signed [IN_BITS:0] a,
                                            input signed [W_BITS-1:0] b, input int k0,
                                            input int k1);
    reg signed [PW-1:0] s, ax;
    s = '0;
    ax = PW'(a);
    for (int k = k0; k < k1; k++) begin
      if (b[k]) begin
        if (k == W_BITS - 1) s = s - (ax <<< k);
        else s = s + (ax <<< k);
      end
    end
    return s;
  endfunction

  // ---------------- products: pr[(p*SIMD + j)*PW +: PW] = x[j] * W[j][p] (registered) -------
  wire [PE*SIMD*PW-1:0] pr;
  genvar p, j;
  generate
    if (MUL_STYLE == "dsp2") begin : g_dsp2
      // PE lanes 2q, 2q+1 share x[j]: one packed multiplier (one DSP48) per pair (mul2.sv)
      for (p = 0; p < PE; p = p + 2) begin : g_pair
        for (j = 0; j < SIMD; j = j + 1) begin : g_mul
          bireal_mul2 #(.IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .W_BITS(W_BITS), .PW(PW)) m (
            .clk(ap_clk), .x(x_q[j*IN_BITS +: IN_BITS]),
            .wl(w_d[(p*SIMD + j)*W_BITS +: W_BITS]), .wh(w_d[((p+1)*SIMD + j)*W_BITS +: W_BITS]),
            .lo(pr[(p*SIMD + j)*PW +: PW]), .hi(pr[((p+1)*SIMD + j)*PW +: PW]));
        end
      end
    end else begin : g_one
      for (p = 0; p < PE; p = p + 1) begin : g_pe
        for (j = 0; j < SIMD; j = j + 1) begin : g_mul
          // one multiplier per product, registered as a DSP48 wants it: input registers
          // (AREG/BREG), product register (MREG), output register (PREG)
          wire [IN_BITS-1:0] xr = x_q[j*IN_BITS +: IN_BITS];
          wire signed [IN_BITS:0] xs = IN_SIGNED ? {xr[IN_BITS-1], xr} : {1'b0, xr};
          wire signed [W_BITS-1:0] ws = w_d[(p*SIMD + j)*W_BITS +: W_BITS];
          reg signed [IN_BITS:0] ma;
          reg signed [W_BITS-1:0] mb;
          always @(posedge ap_clk) begin
            ma <= xs;
            mb <= ws;
          end
          if (MUL_STYLE == "lut") begin : g_lutmul
            // partial products k < H in mlo, k >= H in mhi (bit W_BITS-1 weighs -2^(W_BITS-1))
            localparam int H = W_BITS / 2;
            (* use_dsp = "no" *) reg signed [PW-1:0] mlo, mhi, mp;
            always @(posedge ap_clk) begin
              mlo <= pp_sum(ma, mb, 0, H);
              mhi <= pp_sum(ma, mb, H, W_BITS);
              mp <= mlo + mhi;
            end
            assign pr[(p*SIMD + j)*PW +: PW] = mp;
          end else begin : g_dspmul
            reg signed [PW-1:0] mm, mp;
            always @(posedge ap_clk) begin
              mm <= ma * mb;
              mp <= mm;
            end
            assign pr[(p*SIMD + j)*PW +: PW] = mp;
          end
        end
      end
    end
  endgenerate

  // ---------------- adder trees, one per PE lane ------------------------------------------
  // leaves: the SIMD registered products, then bireal_adder_tree (adder_tree.sv):
  // TREE_LAT = (NL+1)/2 + 1 register stages.
  wire [PE*SW-1:0] psum;                             // registered tree outputs (signed)
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_pe
      wire [SIMD*SW-1:0] t;                          // the SIMD products (tree leaves)
      for (j = 0; j < SIMD; j = j + 1) begin : g_leaf
        wire signed [PW-1:0] prod = pr[(p*SIMD + j)*PW +: PW];
        wire signed [SW-1:0] rx = prod;              // sign-extended
        assign t[j*SW +: SW] = rx;
      end
      bireal_adder_tree #(.N(SIMD), .SW(SW)) tree (.clk(ap_clk), .leaves(t),
                                                   .sum(psum[p*SW +: SW]));
    end
  endgenerate

  // ---------------- accumulate over the SF fold steps (mod 2^ACC_W) --------------------
  // accumulator start value: the channel's bias (FC layer) or 0
  wire [PE*ACC_W-1:0] acc0;
  generate
    if (BIAS_FILE != "") begin : g_bias
      reg [PE*ACC_W-1:0] bmem [0:NF-1];
      initial $readmemh(BIAS_FILE, bmem);
      assign acc0 = bmem[nfS];
    end else begin : g_nobias
      assign acc0 = {PE*ACC_W{1'b0}};
    end
  endgenerate
  reg  [PE*ACC_W-1:0] acc;
  wire [PE*ACC_W-1:0] acc_next;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_acc
      wire signed [SW-1:0] ps = psum[p*SW +: SW];
      wire signed [ACC_W-1:0] pse = ps;              // sign-extended (or wrapped) to ACC_W
      assign acc_next[p*ACC_W +: ACC_W] = (firstS ? acc0[p*ACC_W +: ACC_W] : acc[p*ACC_W +: ACC_W]) + pse;
    end
  endgenerate
  reg [PE*ACC_W-1:0] res;
  always @(posedge ap_clk) begin
    if (vS) acc <= acc_next;
    res <= acc_next;
    res_v <= !rst && vS && lastS;
  end
  assign res_out = res;

endmodule
