// Output register + one-word skid buffer at the end of a stall-on-`en` pipeline.
// The pipeline advances on `en`; when it does, the word in its last stage (`in_valid`,
// `in_data`) moves into the output register, or into the skid register while out is not
// ready. en = !in_valid || !skid_full depends on registers only: there is no combinational
// path from out_ready to the pipeline (or to the unit's input TREADY), and II=1 holds while
// out_ready stays high. Used by stall_pipe.sv (requant, shortcut_add, float_to_int),
// float_shortcut_add.sv and global_acc_pool.sv.
module bireal_skid_buffer #(
  parameter integer W = 8
) (
  input  wire clk,
  input  wire rst_n,
  input  wire [W-1:0] in_data,   // the pipeline's last stage
  input  wire in_valid,          // ... holds a word
  output wire en,                // the pipeline may advance this cycle
  output wire [W-1:0] out_data,
  output wire out_valid,
  input  wire out_ready
);
  logic [W-1:0] out_q, sk_q;
  logic out_v, sk_v;
  assign en = !in_valid || !sk_v;
  wire take = in_valid && en;    // the last stage's word leaves it at this edge
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      out_v <= 1'b0;
      sk_v <= 1'b0;
    end else if (!out_v || out_ready) begin
      if (sk_v) begin
        out_q <= sk_q; out_v <= 1'b1; sk_v <= 1'b0;
      end else begin
        out_q <= in_data; out_v <= take;
      end
    end else if (take) begin
      sk_q <= in_data; sk_v <= 1'b1;
    end
  end
  assign out_valid = out_v;
  assign out_data = out_q;
endmodule
