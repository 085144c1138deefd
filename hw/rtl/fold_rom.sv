// Per-fold constant memory of a streaming unit with FOLDS = C/PE words per pixel: a fold
// counter that advances on every accepted input word (`fire`) and a ROM read with it, so `q`
// holds the constants of the word accepted at the last enabled edge (synchronous read, the
// same stage as the unit's input register). Contents from MEM_FILE ($readmemh, one word per
// fold; the memory is bireal_rom, rom.sv). Used by shortcut_add.sv, requant.sv and
// float_shortcut_add.sv.
module bireal_fold_rom #(
  parameter integer W = 8,
  parameter integer FOLDS = 1,
  parameter MEM_FILE = "",            // "": no contents (lets tools elaborate the defaults)
  parameter RAM_STYLE = "auto"        // "auto" | "block" | "distributed"
) (
  input  wire clk,
  input  wire rst_n,
  input  wire en,                     // the unit's pipeline advances
  input  wire fire,                   // an input word is accepted (implies en)
  output wire [W-1:0] q
);
  localparam integer FW = (FOLDS > 1) ? $clog2(FOLDS) : 1;
  logic [FW-1:0] fold;
  always_ff @(posedge clk) begin
    if (!rst_n) fold <= '0;
    else if (fire) fold <= (fold == FW'(FOLDS - 1)) ? '0 : fold + 1'b1;
  end
  bireal_rom #(.W(W), .DEPTH(FOLDS), .AW(FW), .MEM_FILE(MEM_FILE), .RAM_STYLE(RAM_STYLE)) mem (
    .clk(clk), .en(en), .addr(fold), .q(q), .we(1'b0), .waddr(fold), .wdata({W{1'b0}}));
endmodule
