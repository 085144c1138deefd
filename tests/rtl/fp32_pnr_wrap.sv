// Test-only top for an out-of-context place & route timing check of one fp32 unit
// (tests/rtl/fp32_measure.py): a 64-bit LFSR drives the operands, in_valid and en, and the
// registered XOR of the unit's outputs is the only output pin (3 pins in all).
//   UNIT 0 fp32_add, 1 fp32_mul, 2 fp32_from_int (N bits)
module fp32_pnr_wrap #(
  parameter int UNIT = 0,
  parameter int N = 32,
  parameter bit MULT18 = 1'b1   // fp32_mul's partial-product split for ECP5
) (
  input  logic clk,
  input  logic rst_n,
  output logic out
);
  logic [63:0] lfsr;
  always_ff @(posedge clk) begin
    if (!rst_n) lfsr <= 64'h0123_4567_89ab_cdef;
    else lfsr <= {lfsr[62:0], lfsr[63] ^ lfsr[62] ^ lfsr[60] ^ lfsr[59]};
  end
  wire en = lfsr[3] | lfsr[17];  // enabled ~3/4 of the cycles
  wire in_valid = lfsr[29];
  wire [31:0] a = lfsr[63:32] ^ {lfsr[9:0], lfsr[31:10]};
  wire [31:0] b = lfsr[31:0] ^ {lfsr[40:33], lfsr[63:40]};
  logic out_valid;
  logic [31:0] result;
  generate
    if (UNIT == 0) begin : g_add
      fp32_add u (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid), .a(a), .b(b),
                  .out_valid(out_valid), .result(result));
    end else if (UNIT == 1) begin : g_mul
      fp32_mul #(.MULT18(MULT18)) u (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid), .a(a), .b(b),
                  .out_valid(out_valid), .result(result));
    end else begin : g_int
      fp32_from_int #(.N(N)) u (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(in_valid),
                                .in_int(a[N-1:0]), .out_valid(out_valid), .result(result));
    end
  endgenerate
  always_ff @(posedge clk) out <= ^{out_valid, result};
endmodule
