// DuplicateStreams: every input word goes to all N_OUT outputs, in order.
// pend[j] = output j has not yet taken the held word; outputs may accept at different
// times (no word is duplicated or dropped on any output). A new input word is taken when
// every output has taken the held one or takes it in this cycle: II=1 when all are ready.
// Outputs are packed vectors (output j at bits [j*WIDTH +: WIDTH]); the Python op's
// wrapper connects them to out{j}_V_TDATA/TVALID/TREADY.
module bireal_dup_streams #(
  parameter integer N_OUT = 2,
  parameter integer WIDTH = 8
) (
  input  wire ap_clk,
  input  wire ap_rst_n,
  input  wire [WIDTH-1:0] in0_V_TDATA,
  input  wire in0_V_TVALID,
  output wire in0_V_TREADY,
  output wire [N_OUT*WIDTH-1:0] out_V_TDATA,
  output wire [N_OUT-1:0] out_V_TVALID,
  input  wire [N_OUT-1:0] out_V_TREADY
);
  logic [WIDTH-1:0] data;
  logic [N_OUT-1:0] pend;
  // the held word is gone after this cycle on every output
  wire free = &(~pend | out_V_TREADY);
  assign in0_V_TREADY = free;

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      pend <= '0;
    end else if (in0_V_TVALID && free) begin
      pend <= '1;
    end else begin
      pend <= pend & ~out_V_TREADY;
    end
  end
  always_ff @(posedge ap_clk) begin
    if (in0_V_TVALID && free) data <= in0_V_TDATA;
  end

  assign out_V_TVALID = pend;
  assign out_V_TDATA = {N_OUT{data}};
endmodule
