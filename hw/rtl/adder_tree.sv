// Pipelined binary adder tree of the MVAUs:  sum = sum_{j<N} leaf[j]  (mod 2^SW; callers size
// SW so that the sum is exact). Level 0 are the N leaves (registered by the caller); level l
// (1..NL, NL = ceil(log2 N)) adds pairs of level l-1 nodes (an odd last node passes through);
// levels with even l and the last level NL are registered, so the latency is LAT = (NL+1)/2
// cycles after the leaves. Used by xnor_mvau.sv (popcount leaves) and int_mvau.sv (products).
module bireal_adder_tree #(
  parameter integer N = 2,
  parameter integer SW = 8
) (
  input  wire clk,
  input  wire [N*SW-1:0] leaves,
  output wire [SW-1:0] sum
);
  localparam integer NL = (N > 1) ? $clog2(N) : 0;
  wire [(NL+1)*N*SW-1:0] t;                          // node j of level l at (l*N+j)*SW
  assign t[N*SW-1:0] = leaves;
  genvar l, j;
  generate
    for (l = 1; l <= NL; l = l + 1) begin : g_lvl
      for (j = 0; j < ((N + (1 << l) - 1) >> l); j = j + 1) begin : g_node
        wire [SW-1:0] s;
        if (2 * j + 1 < ((N + (1 << (l - 1)) - 1) >> (l - 1))) begin : g_add
          assign s = t[((l-1)*N+2*j)*SW +: SW] + t[((l-1)*N+2*j+1)*SW +: SW];
        end else begin : g_pass
          assign s = t[((l-1)*N+2*j)*SW +: SW];
        end
        if ((l % 2 == 0) || (l == NL)) begin : g_r
          reg [SW-1:0] r;
          always @(posedge clk) r <= s;
          assign t[(l*N+j)*SW +: SW] = r;
        end else begin : g_c
          assign t[(l*N+j)*SW +: SW] = s;
        end
      end
    end
  endgenerate
  assign sum = t[(NL*N)*SW +: SW];
endmodule
