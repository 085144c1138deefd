// Output register + one-word skid buffer at the end of a stall-on-`en` pipeline.
// The pipeline advances on `en`; when it does, the word in its last stage (`in_valid`,
// `in_data`) moves into the output register, or into the skid register while out is not
// ready. en = !in_valid || !skid_full depends on registers only: there is no combinational
// path from out_ready to the pipeline (or to the unit's input TREADY), and II=1 holds while
// out_ready stays high. Used by stall_pipe.sv (requant, shortcut_add, float_to_int),
// float_shortcut_add.sv and global_acc_pool.sv.
// EN_COPIES > 1: en[k] for k >= 1 comes from its own copy of the two state bits (out_v,
// sk_v), updated by the same rule from the same inputs, so every en[k] equals en[0] on
// every cycle; each copy drives only part of the pipeline's clock enables (a wide pipeline's
// single enable net reaches thousands of FFs; its routing delay limited the clock).
module bireal_skid_buffer #(
  parameter integer W = 8,
  parameter integer EN_COPIES = 1
) (
  input  wire clk,
  input  wire rst_n,
  input  wire [W-1:0] in_data,   // the pipeline's last stage
  input  wire in_valid,          // ... holds a word
  output wire [EN_COPIES-1:0] en, // the pipeline may advance this cycle (all copies equal)
  output wire [W-1:0] out_data,
  output wire out_valid,
  input  wire out_ready
);
  logic [W-1:0] out_q, sk_q;
  (* keep *) logic [EN_COPIES-1:0] out_v, sk_v;
  assign en = ~({EN_COPIES{in_valid}} & sk_v);
  wire take = in_valid && en[0];  // the last stage's word leaves it at this edge
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      out_v[0] <= 1'b0;
      sk_v[0] <= 1'b0;
    end else if (!out_v[0] || out_ready) begin
      if (sk_v[0]) begin
        out_q <= sk_q; out_v[0] <= 1'b1; sk_v[0] <= 1'b0;
      end else begin
        out_q <= in_data; out_v[0] <= take;
      end
    end else if (take) begin
      sk_q <= in_data; sk_v[0] <= 1'b1;
    end
  end
  genvar k;
  generate
    for (k = 1; k < EN_COPIES; k = k + 1) begin : g_copy
      wire take_k = in_valid && en[k];
      always_ff @(posedge clk) begin
        if (!rst_n) begin
          out_v[k] <= 1'b0;
          sk_v[k] <= 1'b0;
        end else if (!out_v[k] || out_ready) begin
          out_v[k] <= sk_v[k] || take_k;
          sk_v[k] <= 1'b0;
        end else if (take_k) begin
          sk_v[k] <= 1'b1;
        end
      end
    end
  endgenerate
  assign out_valid = out_v[0];
  assign out_data = out_q;
endmodule
