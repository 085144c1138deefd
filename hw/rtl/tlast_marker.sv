// TLastMarker: passes the accelerator's output stream to the AXI DMA (S2MM) and marks the
// end of each transfer. Words are zero-extended from IN_WIDTH to OUT_WIDTH bits and
// leave in order; with N = (frames == 0 ? 1 : frames) sampled when the first word of a
// batch is accepted (changing `frames` mid-batch affects the next batch only), word k of
// a batch (k = 0 .. N*WORDS-1) has
//   TLAST = (k == N*WORDS - 1)  i.e.  (word in frame == WORDS-1) && (frame in batch == N-1)
// Output register with in0_V_TREADY = !out_V_TVALID || out_V_TREADY: II=1 when the
// output is ready, exact under any valid/ready stalls.
module bireal_tlast_marker #(
  parameter integer IN_WIDTH = 8,     // padded input stream width
  parameter integer OUT_WIDTH = 8,    // DMA stream width (>= IN_WIDTH)
  parameter integer WORDS = 1         // words per frame
) (
  input  wire ap_clk,
  input  wire ap_rst_n,
  input  wire [31:0] frames,          // frames per DMA transfer (0 means 1)
  input  wire [IN_WIDTH-1:0] in0_V_TDATA,
  input  wire in0_V_TVALID,
  output wire in0_V_TREADY,
  output wire [OUT_WIDTH-1:0] out_V_TDATA,
  output wire out_V_TVALID,
  input  wire out_V_TREADY,
  output wire out_V_TLAST
);
  localparam integer WW = (WORDS > 1) ? $clog2(WORDS) : 1;
  localparam logic [WW-1:0] WLAST = WW'(WORDS - 1);

  logic [WW-1:0] wcnt;                // word in frame
  logic [31:0] fcnt;                  // frame in batch
  logic start;                        // the next word taken is the first of a batch
  logic [31:0] nfr;                   // `frames` sampled at the batch's first word
  logic one;                          // ... and it was 0 or 1: a batch of one frame
  logic [OUT_WIDTH-1:0] data;
  logic valid, last;

  wire take = in0_V_TVALID && in0_V_TREADY;
  wire [31:0] fnext = fcnt + 32'd1;
  wire one_now = start ? (frames[31:1] == 31'd0) : one;
  wire end_frame = (wcnt == WLAST);
  wire end_batch = end_frame && (one_now || (!start && fnext == nfr));

  assign in0_V_TREADY = !valid || out_V_TREADY;

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      wcnt <= '0;
      fcnt <= '0;
      start <= 1'b1;
      valid <= 1'b0;
    end else begin
      if (take) begin
        start <= end_batch;
        wcnt <= end_frame ? '0 : wcnt + 1'b1;
        if (end_batch) fcnt <= '0;
        else if (end_frame) fcnt <= fnext;
      end
      if (in0_V_TREADY) valid <= in0_V_TVALID;
    end
  end
  always_ff @(posedge ap_clk) begin
    if (take && start) begin
      nfr <= frames;
      one <= one_now;
    end
    if (take) begin
      data <= OUT_WIDTH'(in0_V_TDATA);
      last <= end_batch;
    end
  end

  assign out_V_TDATA = data;
  assign out_V_TVALID = valid;
  assign out_V_TLAST = last;
endmodule
