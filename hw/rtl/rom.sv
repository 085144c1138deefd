// Synchronous-read ROM with the memory kind chosen by the folding (hw/memory.py):
//   q <= mem[addr]  at every edge with en = 1   (contents from MEM_FILE, $readmemh)
// and, with OREG = 1, one more register behind it (the block RAM / URAM primitive's output
// register DOA_REG / OREG), so q is then valid two enabled edges after addr.
// RAM_STYLE "distributed": LUTRAM in Vivado; Yosys cannot map a ROM into LUTRAM (a mapping
// error there), so under Yosys it is plain LUT logic ("logic"), which it is in Vivado too.
// Every other style goes to the ram_style / rom_style attributes (one branch per style: the
// attribute is a constant on each declaration). Used by xnor_mvau.sv and int_mvau.sv (weights,
// thresholds) and fold_rom.sv (per-fold constants).
// WR = 1 adds a write port (mem[waddr] <= wdata at every edge with we = 1; a simple dual-port
// RAM, read-first): the run-time weight load (wload.sv) of memories that have no bitstream
// initialisation (RAM_STYLE "ultra": URAM288, UG573). With WR = 0 the write inputs are unused.
// PORTS = 2 (RAM_STYLE "ultra", W >= 2; hw.memory.uram_map): each word is stored as two halves,
// the low WH = ceil(W/2) bits at address a and the high W - WH bits at 2^AW + a, and both are
// read in the same cycle on the URAM's two ports (true dual port: each port writes or reads,
// NO_CHANGE, UG901 "UltraRAM"), so a URAM delivers 144 bits per cycle and a wide, shallow
// memory needs half the URAMs. A write (we) stalls both reads for that cycle: it comes from
// the run-time load, before the unit reads.
module bireal_rom #(
  parameter integer W = 8,
  parameter integer DEPTH = 1,
  parameter integer AW = 1,
  parameter integer OREG = 0,
  parameter MEM_FILE = "",            // "": no contents (lets tools elaborate the defaults)
  parameter RAM_STYLE = "auto",       // "auto" | "block" | "ultra" | "distributed"
  parameter integer WR = 0,           // 1: write port (we, waddr, wdata)
  parameter integer PORTS = 1         // 2: "ultra" with the halves of a word on two ports
) (
  input  wire clk,
  input  wire en,
  input  wire [AW-1:0] addr,
  output wire [W-1:0] q,
  input  wire we,
  input  wire [AW-1:0] waddr,
  input  wire [W-1:0] wdata
);
  logic [W-1:0] rd;
  generate
    if (RAM_STYLE == "distributed") begin : g_lut
`ifdef YOSYS
      (* ram_style = "logic" *)
`else
      (* ram_style = "distributed", rom_style = "distributed" *)
`endif
      logic [W-1:0] mem [0:DEPTH-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge clk) if (en) rd <= mem[addr];
      if (WR != 0) begin : g_wr
        always_ff @(posedge clk) if (we) mem[waddr] <= wdata;
      end
    end else if (RAM_STYLE == "block") begin : g_bram
      (* ram_style = "block", rom_style = "block" *) logic [W-1:0] mem [0:DEPTH-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge clk) if (en) rd <= mem[addr];
      if (WR != 0) begin : g_wr
        always_ff @(posedge clk) if (we) mem[waddr] <= wdata;
      end
    end else if (RAM_STYLE == "ultra" && PORTS == 2 && W >= 2) begin : g_uram2
      localparam integer WH = (W + 1) / 2;               // low half; high half W - WH <= WH
      (* ram_style = "ultra" *) logic [WH-1:0] mem [0:(1 << AW) + DEPTH - 1];
      wire [AW-1:0] a = we ? waddr : addr;               // one address per port
      wire [2*WH-1:0] wd = (2*WH)'(wdata);
      logic [WH-1:0] lo, hi;                              // no MEM_FILE: URAM has no init,
                                                         // its words come through the write port
      always_ff @(posedge clk)                           // port A: low halves at a
        if (WR != 0 && we) mem[{1'b0, a}] <= wd[WH-1:0];
        else if (en) lo <= mem[{1'b0, a}];
      always_ff @(posedge clk)                           // port B: high halves at 2^AW + a
        if (WR != 0 && we) mem[{1'b1, a}] <= wd[2*WH-1:WH];
        else if (en) hi <= mem[{1'b1, a}];
      assign rd = {hi[W-WH-1:0], lo};
    end else if (RAM_STYLE == "ultra") begin : g_uram
      (* ram_style = "ultra", rom_style = "ultra" *) logic [W-1:0] mem [0:DEPTH-1];
      always_ff @(posedge clk) if (en) rd <= mem[addr];
      if (WR != 0) begin : g_wr
        always_ff @(posedge clk) if (we) mem[waddr] <= wdata;
      end
    end else begin : g_auto
      (* ram_style = "auto" *) logic [W-1:0] mem [0:DEPTH-1];
      if (MEM_FILE != "") begin : g_init
        initial $readmemh(MEM_FILE, mem);
      end
      always_ff @(posedge clk) if (en) rd <= mem[addr];
      if (WR != 0) begin : g_wr
        always_ff @(posedge clk) if (we) mem[waddr] <= wdata;
      end
    end
  endgenerate
  bireal_delay #(.W(W), .N(OREG)) oreg (.clk(clk), .en(en), .d(rd), .q(q));
endmodule
