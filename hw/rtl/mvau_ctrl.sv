// bireal_mvau_ctrl: the fold control both matrix-vector units share (xnor_mvau.sv,
// int_mvau.sv): issue order, input replay, the flags that travel with the data, and the
// credit-based output FIFO.
//
// Folding: an input vector is SF words (XB used bits each); the unit emits NF output words per
// vector. Order per vector: for nf in 0..NF-1, for sf in 0..SF-1, one fold step per clock
// (`fire`). Input words are consumed during nf=0 and replayed from a small buffer for nf>0,
// so a vector takes exactly NF*SF cycles and vectors follow each other without bubbles (II=1).
//
// Per fold step, at the clock edge where `fire` is high:
//   wa  = nf*SF + sf        weight memory address of this step (read at this edge); with
//         WSF < SF (weights that repeat every WSF input words, e.g. a 2x2 conv made of an
//         average pool and a 1x1 conv: the same weights for the 4 taps) wa = nf*WSF + sf mod WSF
//   x_q <= the step's input word (stage A register, aligned with the weight memory's read
//          register)
//   flags: {valid, first (sf=0), last (sf=SF-1), nf} enter a PIPE-deep shift register;
//          stage A is flags stage 0, so {vS, firstS, lastS, nfS} are the flags of the step
//          whose data the core's datapath delivers PIPE-1 edges after stage A.
// The core writes one result word per output fold (`res_v`, `res`) into the output FIFO.
//
// `go` = 0 holds the unit (no step is issued, the input is not ready): the core's weight
// memory is still being loaded at run time (wload.sv); tie it to 1 otherwise.
// Flow control is credit based: a step that completes an output word is only issued while
// fewer than DEPTH output words are in flight or waiting, so the FIFO never overflows and
// TREADY of the input never depends on TREADY of the output combinationally. DEPTH = LAT + 2
// with LAT = PIPE + 2 (issue -> FIFO write: stage A .. psum, accumulator, result register)
// keeps II=1 when the output is always ready.
module bireal_mvau_ctrl #(
  parameter int SF = 4,
  parameter int NF = 4,
  parameter int XB = 16,              // used input bits per word (in0_V_TDATA[XB-1:0])
  parameter int IN_W = 16,
  parameter int RW = 16,              // result word bits (PE lanes)
  parameter int OUT_W = 16,
  parameter int PIPE = 2,             // register stages stage A .. psum (inclusive)
  parameter int AW = 1,
  parameter int NFW = 1,
  parameter int WSF = SF              // weight words per output fold (SF % WSF == 0)
) (
  input  wire               ap_clk,
  input  wire               ap_rst_n,
  input  wire               go,           // 0: hold (weights not loaded yet)
  input  wire [IN_W-1:0]    in0_V_TDATA,
  input  wire               in0_V_TVALID,
  output wire               in0_V_TREADY,
  output wire [OUT_W-1:0]   out0_V_TDATA,
  output wire               out0_V_TVALID,
  input  wire               out0_V_TREADY,
  output wire [AW-1:0]      wa,           // weight address of the step issued at this edge
  output reg  [XB-1:0]      x_q,          // stage A: the input word of that step
  output wire               vS,           // flags PIPE-1 stages after stage A
  output wire               firstS,
  output wire               lastS,
  output wire [NFW-1:0]     nfS,
  input  wire               res_v,        // result word to the output FIFO
  input  wire [RW-1:0]      res
);
  localparam int SFW = (SF > 1) ? $clog2(SF) : 1;
  localparam int LAT = PIPE + 2;                      // issue -> FIFO write (cycles)
  localparam int DEPTH = LAT + 2;                     // output FIFO / credit
  localparam int CW = $clog2(DEPTH + 1);
  localparam int QW = (DEPTH > 1) ? $clog2(DEPTH) : 1;

  wire rst = !ap_rst_n;

  // ---------------- issue control -------------------------------------------------------
  reg [SFW-1:0] sf;
  reg [NFW-1:0] nf;
  reg [AW-1:0]  wa_r;                                // = nf*WSF + sf mod WSF
  reg [CW-1:0]  pending;                             // output words issued, not yet taken
  wire last_step = (sf == SF - 1);
  wire credit = (pending < DEPTH);
  wire need_in = (nf == 0);
  wire step_ok = go && (!last_step || credit);
  assign in0_V_TREADY = need_in && step_ok;
  wire fire = step_ok && (!need_in || in0_V_TVALID);
  wire out_hs = out0_V_TVALID && out0_V_TREADY;
  assign wa = wa_r;

  always @(posedge ap_clk) begin
    if (rst) begin
      sf <= 0; nf <= 0;
    end else if (fire) begin
      if (last_step) begin
        sf <= 0;
        nf <= (nf == NF - 1) ? 0 : nf + 1'b1;
      end else begin
        sf <= sf + 1'b1;
      end
    end
  end
  generate
    if (WSF == SF) begin : g_wa
      always @(posedge ap_clk) begin
        if (rst) wa_r <= 0;
        else if (fire) wa_r <= (last_step && nf == NF - 1) ? 0 : wa_r + 1'b1;
      end
    end else begin : g_wa_rep
      // ws = sf mod WSF, base = nf*WSF
      localparam int WSW = (WSF > 1) ? $clog2(WSF) : 1;
      reg [WSW-1:0] ws;
      reg [AW-1:0] base;
      always @(posedge ap_clk) begin
        if (rst) begin
          ws <= 0; base <= 0; wa_r <= 0;
        end else if (fire) begin
          if (last_step) begin
            ws <= 0;
            if (nf == NF - 1) begin base <= 0; wa_r <= 0; end
            else begin base <= base + WSF; wa_r <= base + WSF; end
          end else if (ws == WSF - 1) begin
            ws <= 0; wa_r <= base;
          end else begin
            ws <= ws + 1'b1; wa_r <= wa_r + 1'b1;
          end
        end
      end
    end
  endgenerate

  always @(posedge ap_clk) begin
    if (rst) pending <= 0;
    else pending <= pending + (fire && last_step) - out_hs;
  end

  // ---------------- input word: from the stream (nf=0) or replayed (nf>0) ---------------
  wire [XB-1:0] x_in = in0_V_TDATA[XB-1:0];
  wire [XB-1:0] x_sel;
  generate
    if (NF > 1) begin : g_buf
      reg [XB-1:0] ibuf [0:SF-1];
      always @(posedge ap_clk) if (fire && need_in) ibuf[sf] <= x_in;
      assign x_sel = need_in ? x_in : ibuf[sf];
    end else begin : g_nobuf
      assign x_sel = x_in;
    end
  endgenerate
  always @(posedge ap_clk) x_q <= x_sel;

  // ---------------- flags travel with the data: {valid, first, last, nf} ----------------
  localparam int FW = 3 + NFW;
  reg [PIPE*FW-1:0] flags;                            // flags[0 +: FW] = stage A
  generate
    if (PIPE > 1) begin : g_fl
      always @(posedge ap_clk) begin
        if (rst) flags <= 0;
        else flags <= {flags[(PIPE-1)*FW-1:0], fire, sf == 0, last_step, nf};
      end
    end else begin : g_fl1
      always @(posedge ap_clk) begin
        if (rst) flags <= 0;
        else flags <= {fire, sf == 0, last_step, nf};
      end
    end
  endgenerate
  wire [FW-1:0] fS = flags[(PIPE-1)*FW +: FW];
  assign vS = fS[FW-1];
  assign firstS = fS[FW-2];
  assign lastS = fS[FW-3];
  assign nfS = fS[NFW-1:0];

  // ---------------- output FIFO (DEPTH words; credit guarantees no overflow) ------------
  reg [RW-1:0] fifo [0:DEPTH-1];
  reg [QW-1:0] wp, rp;
  reg [CW-1:0] cnt;
  always @(posedge ap_clk) begin
    if (res_v) fifo[wp] <= res;
    if (rst) begin
      wp <= 0; rp <= 0; cnt <= 0;
    end else begin
      if (res_v) wp <= (wp == DEPTH - 1) ? 0 : wp + 1'b1;
      if (out_hs) rp <= (rp == DEPTH - 1) ? 0 : rp + 1'b1;
      cnt <= cnt + res_v - out_hs;
    end
  end
  assign out0_V_TVALID = (cnt != 0);
  assign out0_V_TDATA = fifo[rp];                    // zero-extended to OUT_W
endmodule
