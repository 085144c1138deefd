// Per-fold constant memory of a streaming unit with FOLDS = C/PE words per pixel: a fold
// counter that advances on every accepted input word (`fire`) and a ROM read with it, so `q`
// holds the constants of the word accepted at the last enabled edge (synchronous read, the
// same stage as the unit's input register). Contents from MEM_FILE ($readmemh, one word per
// fold). Used by shortcut_add.sv and requant.sv.
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
  output logic [W-1:0] q
);
  localparam integer FW = (FOLDS > 1) ? $clog2(FOLDS) : 1;
  logic [FW-1:0] fold;
  always_ff @(posedge clk) begin
    if (!rst_n) fold <= '0;
    else if (fire) fold <= (fold == FW'(FOLDS - 1)) ? '0 : fold + 1'b1;
  end
  // one branch per style: the attribute must be a constant on the declaration
  generate
    if (RAM_STYLE == "block") begin : g_bram
      (* ram_style = "block" *) logic [W-1:0] mem [0:FOLDS-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge clk) if (en) q <= mem[fold];
    end else if (RAM_STYLE == "distributed") begin : g_lutram
      (* ram_style = "distributed" *) logic [W-1:0] mem [0:FOLDS-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge clk) if (en) q <= mem[fold];
    end else begin : g_auto
      (* ram_style = "auto" *) logic [W-1:0] mem [0:FOLDS-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge clk) if (en) q <= mem[fold];
    end
  endgenerate
endmodule
