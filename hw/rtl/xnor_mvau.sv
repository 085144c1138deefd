// bireal_xnor_mvau: FINN MVAU with binaryXnorMode=1 (binary activations x binary weights).
//
//   acc[c] = sum_{i<MW} XNOR(x[i], W[i][c])            (number of matching bits, 0..MW)
//   out[c] = NO_ACT ? acc[c] : (acc[c] >= T[c])         (c = nf*PE + p)
//
// Folding: an input vector is SF = MW/SIMD words of SIMD bits (element sf*SIMD+s at bit s);
// the unit emits NF = MH/PE output words per vector (lane p at bits [p*OB +: OB]).
// Order per vector: for nf in 0..NF-1, for sf in 0..SF-1 (one fold step per clock). Input
// words are consumed during nf=0 and replayed from a small buffer for nf>0, so a vector
// takes exactly NF*SF cycles and vectors follow each other without bubbles.
// Weight memory: NF*SF words of PE*SIMD bits, word nf*SF+sf, bit p*SIMD+s = W[sf*SIMD+s][nf*PE+p].
// Threshold memory (NO_ACT=0): NF words of PE*TW bits, lane p = T[nf*PE+p] clipped to 0..MW+1.
//
// Datapath (free running, no clock enables): issue -> x/w registers -> block RAM output
// register (RAM_STYLE block/ultra: DOA_REG) -> XNOR + 3-lane count in LUT6s -> binary adder
// tree (a register every second level) -> accumulator -> output FIFO. Issue order, input
// replay, the flags and the credit-based output FIFO are bireal_mvau_ctrl (mvau_ctrl.sv).
module bireal_xnor_mvau #(
  parameter int MW = 64,
  parameter int MH = 16,
  parameter int PE = 4,
  parameter int SIMD = 16,
  parameter int NO_ACT = 1,           // 1: output the accumulator, 0: one threshold per channel
  parameter int OB = 8,               // output bits per lane (1 when NO_ACT=0)
  parameter int IN_W = ((SIMD + 7) / 8) * 8,
  parameter int OUT_W = ((PE * OB + 7) / 8) * 8,
  parameter WEIGHT_FILE = "",            // $readmemh files (no directory); "" = none
  parameter THRESH_FILE = "",
  parameter RAM_STYLE = "auto",
  parameter int MEM_PORTS = 1,        // 2: "ultra" weights read on both URAM ports (rom.sv)
  parameter int WLOAD = 0,            // 1: weights written at run time through wl_in_V
                                      // (wload.sv; WEIGHT_FILE unused), beats on to wl_out_V
  parameter THR_RAM_STYLE = "distributed"
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
  localparam int WD = NF * SF;                       // weight memory depth
  localparam int AW = (WD > 1) ? $clog2(WD) : 1;
  localparam int NFW = (NF > 1) ? $clog2(NF) : 1;
  localparam int ACC_W = $clog2(MW + 1);             // accumulator 0..MW
  localparam int TW = $clog2(MW + 2);                // threshold 0..MW+1
  localparam int N1 = (SIMD + 2) / 3;                // 3-lane groups (tree leaves)
  localparam int NL = $clog2(N1);                    // adder tree levels above the leaves
  localparam int SW = $clog2(SIMD + 1);              // width of tree nodes
  localparam int TREE_LAT = (NL + 1) / 2 + 1;        // registered tree levels (see below)
  // block RAM / URAM: the primitive's output register (DOA_REG / OREG) is one more stage
  localparam int W_OREG = (RAM_STYLE == "distributed") ? 0 : 1;
  localparam int PIPE = 1 + W_OREG + TREE_LAT;       // stage A .. psum (bireal_mvau_ctrl)

  // ---------------- issue, replay, flags, output FIFO (mvau_ctrl.sv) --------------------
  wire [AW-1:0] wa;
  wire [SIMD-1:0] x_a;                               // stage A input word
  wire vS, firstS, lastS;
  wire [NFW-1:0] nfS;
  wire [PE*OB-1:0] res_out;
  reg res_v;
  wire loaded;                                       // weights present (WLOAD: loaded)
  bireal_mvau_ctrl #(.SF(SF), .NF(NF), .XB(SIMD), .IN_W(IN_W), .RW(PE*OB), .OUT_W(OUT_W),
                     .PIPE(PIPE), .AW(AW), .NFW(NFW)) ctrl (
    .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .go(loaded),
    .in0_V_TDATA(in0_V_TDATA), .in0_V_TVALID(in0_V_TVALID), .in0_V_TREADY(in0_V_TREADY),
    .out0_V_TDATA(out0_V_TDATA), .out0_V_TVALID(out0_V_TVALID), .out0_V_TREADY(out0_V_TREADY),
    .wa(wa), .x_q(x_a), .vS(vS), .firstS(firstS), .lastS(lastS), .nfS(nfS),
    .res_v(res_v), .res(res_out));
  wire rst = !ap_rst_n;

  // ---------------- stage A: weight memory read register (+ output register) -------------
  // weight ROM, read every cycle at wa (the data belongs to the step issued at this edge);
  // stage B (block RAM / URAM only): the primitive's output register, x delayed alongside
  wire [PE*SIMD-1:0] w_d;
  wire [SIMD-1:0] x_q;
  // the weight memory: a ROM, or (WLOAD = 1) written at run time through the wl_* chain
  // before the unit computes (loaded gates the fold control); wload.sv
  bireal_weight_mem #(.W(PE*SIMD), .DEPTH(WD), .AW(AW), .OREG(W_OREG), .MEM_FILE(WEIGHT_FILE),
                      .RAM_STYLE(RAM_STYLE), .PORTS(MEM_PORTS), .WLOAD(WLOAD)) wmem (
    .clk(ap_clk), .rst_n(ap_rst_n), .addr(wa), .q(w_d), .loaded(loaded),
    .wl_in_TDATA(wl_in_V_TDATA), .wl_in_TVALID(wl_in_V_TVALID), .wl_in_TREADY(wl_in_V_TREADY),
    .wl_out_TDATA(wl_out_V_TDATA), .wl_out_TVALID(wl_out_V_TVALID),
    .wl_out_TREADY(wl_out_V_TREADY));
  bireal_delay #(.W(SIMD), .N(W_OREG)) xdel (.clk(ap_clk), .en(1'b1), .d(x_a), .q(x_q));

  // ---------------- XNOR popcount trees, one per PE lane ---------------------------------
  // leaves (level 0, registered): 3 lanes -> 2-bit count (6 inputs per output bit: one LUT6
  // each), then bireal_adder_tree (adder_tree.sv): TREE_LAT = (NL+1)/2 + 1 register stages.
  wire [PE*SW-1:0] psum;                             // registered tree outputs
  genvar p, j, k;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_pe
      wire [N1*SW-1:0] leaves;
      for (j = 0; j < N1; j = j + 1) begin : g_leaf
        wire [2:0] xs, ws;
        for (k = 0; k < 3; k = k + 1) begin : g_m
          if (3 * j + k < SIMD) begin : g_in
            assign xs[k] = x_q[3*j+k];
            assign ws[k] = w_d[p*SIMD + 3*j + k];
          end else begin : g_pad                     // x=0, w=1: XNOR = 0, adds nothing
            assign xs[k] = 1'b0;
            assign ws[k] = 1'b1;
          end
        end
        wire [1:0] c;
        bireal_xnor_popcount3 u_cnt (.x(xs), .w(ws), .c(c));
        reg [1:0] r;                                 // leaves are always registered
        always @(posedge ap_clk) r <= c;
        assign leaves[j*SW +: SW] = SW'(r);
      end
      bireal_adder_tree #(.N(N1), .SW(SW)) tree (.clk(ap_clk), .leaves(leaves),
                                                 .sum(psum[p*SW +: SW]));
    end
  endgenerate

  // ---------------- accumulate over the SF fold steps ------------------------------------
  reg  [PE*ACC_W-1:0] acc;
  wire [PE*ACC_W-1:0] acc_next;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_acc
      assign acc_next[p*ACC_W +: ACC_W] =
          (firstS ? {ACC_W{1'b0}} : acc[p*ACC_W +: ACC_W]) + psum[p*SW +: SW];
    end
  endgenerate
  reg [PE*ACC_W-1:0] res;
  always @(posedge ap_clk) begin
    if (vS) acc <= acc_next;
    res <= acc_next;
    res_v <= !rst && vS && lastS;
  end

  // ---------------- output: accumulator or threshold bit ---------------------------------
  generate
    if (NO_ACT != 0) begin : g_noact
      for (p = 0; p < PE; p = p + 1) begin : g_o
        assign res_out[p*OB +: OB] = res[p*ACC_W +: ACC_W];  // zero-extended
      end
    end else begin : g_thr
      wire [PE*TW-1:0] thr_q;                          // threshold ROM (see rom.sv)
      bireal_rom #(.W(PE*TW), .DEPTH(NF), .AW(NFW), .MEM_FILE(THRESH_FILE),
                   .RAM_STYLE(THR_RAM_STYLE)) trom (.clk(ap_clk), .en(1'b1), .addr(nfS), .q(thr_q),
                   .we(1'b0), .waddr(nfS), .wdata({PE*TW{1'b0}}));
      for (p = 0; p < PE; p = p + 1) begin : g_o
        assign res_out[p] = ({1'b0, res[p*ACC_W +: ACC_W]} >= {1'b0, thr_q[p*TW +: TW]});
      end
    end
  endgenerate

endmodule

// popcount(XNOR(x, w)) of 3 lanes: 2 outputs of 6 inputs each = two LUT6. A module of its own
// so that synthesis tools keeping the hierarchy (Yosys) map it alone: flattened, ABC shares
// an XOR between the two outputs and spends 3 LUTs instead of 2.
module bireal_xnor_popcount3 (
  input  wire [2:0] x,
  input  wire [2:0] w,
  output wire [1:0] c
);
  wire [2:0] m = ~(x ^ w);
  assign c = {(m[0] & m[1]) | (m[0] & m[2]) | (m[1] & m[2]), m[0] ^ m[1] ^ m[2]};
endmodule
