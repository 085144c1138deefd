// bireal_wload: run-time weight load of one memory from a daisy-chained AXI stream.
//
// The stitched accelerator has one weight-load input (wload_V, BW = 64-bit beats) that runs
// through every unit with a run-time writeable memory (bireal_rom WR = 1, e.g. URAM288, which
// the bitstream cannot initialise). Each unit takes the first DEPTH * NB beats,
// NB = ceil(W / BW), and passes every later beat on (m_*), registered (skid_buffer.sv):
//   word a = beats a*NB .. a*NB+NB-1,  word bits [b*BW +: BW] = beat b  (bits >= W dropped)
// written to address a = 0, 1, ..., DEPTH-1 in order. `loaded` rises the cycle after the last
// word is written and stays high until reset; the unit computes only while it is high (so no
// read ever sees a half-loaded memory). While loading the input is always ready.
// Deserialiser: an NB*BW-bit shift register (beat k shifted in at the top, so after NB beats
// beat 0 sits at bits [0, BW)), a beat counter and an address counter.
module bireal_wload #(
  parameter integer W = 64,            // memory word bits
  parameter integer DEPTH = 1,         // memory words
  parameter integer AW = 1,
  parameter integer BW = 64            // beat bits
) (
  input  wire           clk,
  input  wire           rst_n,
  input  wire [BW-1:0]  s_TDATA,
  input  wire           s_TVALID,
  output wire           s_TREADY,
  output wire [BW-1:0]  m_TDATA,
  output wire           m_TVALID,
  input  wire           m_TREADY,
  output reg            we,
  output reg  [AW-1:0]  waddr,
  output wire [W-1:0]   wdata,
  output reg            loaded
);
  localparam integer NB = (W + BW - 1) / BW;
  localparam integer BCW = (NB > 1) ? $clog2(NB) : 1;

  reg [NB*BW-1:0] sh;
  reg [BCW-1:0] beat;
  reg [AW-1:0] addr;
  reg filling;                          // own beats still to come
  wire pass_en;
  assign s_TREADY = filling || (loaded && pass_en);
  wire take = s_TVALID && filling;      // one of this memory's beats
  wire last_beat = (NB == 1) || (beat == BCW'(NB - 1));

  always @(posedge clk) begin
    if (take) begin
      if (NB > 1) sh <= {s_TDATA, sh[NB*BW-1:BW]};
      else sh <= s_TDATA;
    end
    if (!rst_n) begin
      beat <= 0; addr <= 0; filling <= 1'b1; we <= 1'b0; waddr <= 0; loaded <= 1'b0;
    end else begin
      we <= take && last_beat;
      if (take) begin
        beat <= last_beat ? '0 : beat + 1'b1;
        if (last_beat) begin
          waddr <= addr;
          addr <= addr + 1'b1;
          if (addr == AW'(DEPTH - 1)) filling <= 1'b0;
        end
      end
      if (we && waddr == AW'(DEPTH - 1)) loaded <= 1'b1;   // the last word is written now
    end
  end
  assign wdata = sh[W-1:0];

  // beats after this memory's: on to the next unit of the chain (registered)
  bireal_skid_buffer #(.W(BW)) pass (
    .clk(clk), .rst_n(rst_n), .in_data(s_TDATA), .in_valid(s_TVALID && loaded),
    .en(pass_en), .out_data(m_TDATA), .out_valid(m_TVALID), .out_ready(m_TREADY));
endmodule

// bireal_weight_mem: an MVAU's weight memory, q <= mem[addr] (+ OREG output register; see
// rom.sv). WLOAD = 0: a ROM with MEM_FILE's contents, loaded = 1 from reset, the load chain
// unused (its input always ready, nothing out). WLOAD = 1: no bitstream contents; the memory
// gets a write port filled by bireal_wload from the chain (wl_in -> wl_out) and `loaded`
// rises once it is full. Shared by xnor_mvau.sv and int_mvau.sv.
module bireal_weight_mem #(
  parameter integer W = 8,
  parameter integer DEPTH = 1,
  parameter integer AW = 1,
  parameter integer OREG = 0,
  parameter MEM_FILE = "",
  parameter RAM_STYLE = "auto",
  parameter integer PORTS = 1,           // 2: URAM read on both ports (rom.sv)
  parameter integer WLOAD = 0
) (
  input  wire           clk,
  input  wire           rst_n,
  input  wire [AW-1:0]  addr,
  output wire [W-1:0]   q,
  output wire           loaded,
  input  wire [63:0]    wl_in_TDATA,
  input  wire           wl_in_TVALID,
  output wire           wl_in_TREADY,
  output wire [63:0]    wl_out_TDATA,
  output wire           wl_out_TVALID,
  input  wire           wl_out_TREADY
);
  wire we;
  wire [AW-1:0] waddr;
  wire [W-1:0] wdata;
  generate
    if (WLOAD != 0) begin : g_wload
      bireal_wload #(.W(W), .DEPTH(DEPTH), .AW(AW)) wl (
        .clk(clk), .rst_n(rst_n),
        .s_TDATA(wl_in_TDATA), .s_TVALID(wl_in_TVALID), .s_TREADY(wl_in_TREADY),
        .m_TDATA(wl_out_TDATA), .m_TVALID(wl_out_TVALID), .m_TREADY(wl_out_TREADY),
        .we(we), .waddr(waddr), .wdata(wdata), .loaded(loaded));
    end else begin : g_rom
      assign we = 1'b0, waddr = '0, wdata = '0, loaded = 1'b1;
      assign wl_in_TREADY = 1'b1, wl_out_TDATA = '0, wl_out_TVALID = 1'b0;
    end
  endgenerate
  bireal_rom #(.W(W), .DEPTH(DEPTH), .AW(AW), .OREG(OREG),
               .MEM_FILE(WLOAD != 0 ? "" : MEM_FILE), .RAM_STYLE(RAM_STYLE), .WR(WLOAD),
               .PORTS(PORTS))
    mem (.clk(clk), .en(1'b1), .addr(addr), .q(q), .we(we), .waddr(waddr), .wdata(wdata));
endmodule
