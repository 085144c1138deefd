// Control of a fixed-latency pipeline that stalls as a whole: valid bits + output skid buffer.
//   fire = en && in_ok            (a word is accepted: every input of the unit is valid)
//   v[k] = stage k+1 holds a word (shifts on en; LAT stages, the last one's data is `y`)
// en comes from the skid buffer (bireal_skid_buffer: depends on registers only, II=1 while
// out_ready stays high). Used by requant.sv, shortcut_add.sv and float_to_int.sv.
module bireal_stall_pipe #(
  parameter integer W = 8,
  parameter integer LAT = 1
) (
  input  wire clk,
  input  wire rst_n,
  input  wire in_ok,
  output wire en,
  output wire fire,
  input  wire [W-1:0] y,              // the pipeline's last stage
  output wire [W-1:0] out_data,
  output wire out_valid,
  input  wire out_ready
);
  assign fire = en && in_ok;
  logic [LAT-1:0] v;                  // v[k]: stage k+1 holds a word
  wire [LAT:0] vf = {v, fire};
  always_ff @(posedge clk) begin
    if (!rst_n) v <= '0;
    else if (en) v <= vf[LAT-1:0];
  end
  bireal_skid_buffer #(.W(W)) skid (
    .clk(clk), .rst_n(rst_n), .in_data(y), .in_valid(v[LAT-1]), .en(en),
    .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready));
endmodule
