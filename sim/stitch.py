"""Stitch the RTL of every layer of a dataflow partition into one top-level module.

`stitch(model, workdir)` copies each node's HDL and memory files (flat, de-duplicated) into
`workdir` and writes `bireal_top.sv`: the nodes in graph order, one AXI-stream edge per tensor
(FIFOs and width converters are nodes of the graph already, see hw.rtl_flow), the graph input
as `in0_V`, the graph output as `out0_V`, and `dbg_valid` / `dbg_ready` carrying every internal
edge's handshake (bit k = edge k), so a stall can be pinned on a layer. Units with a run-time
writeable weight memory (URAM, hw/rtl/wload.sv: ports wl_in_V / wl_out_V) are daisy-chained in
graph order behind one more input, `wload_V` (64-bit beats); the last unit's pass-through is
always ready (beats beyond the chain are dropped). Without such units there is no wload_V. Under
`+define+BIREAL_TAPS` each edge also writes its words to `tap_<k>.hex` (per-layer taps).
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from hw.dma import has_wload
from hw.ops.xnor_mvau import WL_BITS
from model.errors import BiRealError

TOP = "bireal_top"

# Verilator 5.48 cannot constant-evaluate finn-rtllib fifo.sv's struct-valued INIT_ABITS()
# ("can't determine constant for FUNCREF"). The copy in the sim folder (never the installed
# file) gets the same computation as two int-valued functions; `fixups` in the result lists it.
_FIFO_ABITS = re.compile(r"typedef struct \{\s*int unsigned\s+lo;\s*int unsigned\s+hi;\s*\}"
                         r"\s*abits_t;.*?localparam abits_t\s+ABITS\s*=\s*INIT_ABITS\(\);", re.S)
_FIFO_ABITS_NEW = """function int unsigned INIT_ABITS_LO();
		automatic int unsigned lo = $clog2(DEPTH_REQ);
		if(lo > MIN_ABITS && $clog2(DEPTH_REQ - 2**(lo-1)) < lo - 1)  return  lo - 1;
		return  lo;
	endfunction
	function int unsigned INIT_ABITS_HI();
		automatic int unsigned lo = $clog2(DEPTH_REQ);
		automatic int unsigned hi = $clog2(DEPTH_REQ - 2**(lo-1));
		if(lo > MIN_ABITS && hi < lo - 1)  return  hi < 1? 1 : hi;
		return  0;
	endfunction
	localparam int unsigned  ABITS_LO = INIT_ABITS_LO();
	localparam int unsigned  ABITS_HI = INIT_ABITS_HI();"""


def _fixup(name: str, text: str) -> str:
    if name == "fifo.sv" and _FIFO_ABITS.search(text):
        text = _FIFO_ABITS.sub(lambda m: _FIFO_ABITS_NEW, text)
        text = text.replace("ABITS.lo", "ABITS_LO").replace("ABITS.hi", "ABITS_HI")
    return text


@dataclass
class Edge:
    tensor: str
    producer: str          # node name, or "input"
    consumer: str          # node name, or "output"
    width: int


@dataclass
class Stitched:
    workdir: Path
    top: str
    sources: list[Path]
    mem_files: list[Path]
    in_width: int
    out_width: int
    edges: list[Edge] = field(default_factory=list)     # internal edges, dbg bit order
    fixups: list[str] = field(default_factory=list)     # copied files patched for Verilator
    wload: list[str] = field(default_factory=list)      # weight-load chain (node names, order)

    @property
    def n_dbg(self) -> int:
        return len(self.edges)


def wire(tensor: str) -> str:
    """Legal Verilog name for an ONNX tensor name (those may start with a digit)."""
    return "s_" + re.sub(r"\W", "_", tensor)


def _ports(op, node):
    """(inputs, outputs): lists of (port, tensor, width) from FINN's interface names."""
    intf = op.get_verilog_top_module_intf_names()
    if intf.get("axilite") or intf.get("aximm"):
        raise BiRealError(f"{node.name} ({node.op_type}) has an AXI-lite/MM port; runtime-"
                          "writeable weights are not supported by the stitcher")
    ins = [(p, node.input[int(p[2:].split("_")[0])], w) for p, w in intf["s_axis"]
           if not p.startswith(WL)]
    outs = [(p, node.output[int(p[3:].split("_")[0])], w) for p, w in intf["m_axis"]
            if not p.startswith(WL)]
    return ins, outs


WL = "wl_"              # weight-load chain ports of a unit (wl_in_V, wl_out_V)


def _copy_sources(model, workdir: Path):
    srcs, mems, seen, fixups = [], [], {}, []
    for n in model.graph.node:
        op = getCustomOp(n)
        code_dir = op.get_nodeattr("code_gen_dir_ipgen")
        if not code_dir or not Path(code_dir).is_dir():
            raise BiRealError(f"{n.name}: no generated HDL (run hw.rtl_flow.generate_rtl first)")
        for f in op.get_rtl_file_list(abspath=True):
            f = Path(f)
            if f.name in seen:
                if seen[f.name] != f.read_bytes():
                    raise BiRealError(f"two different HDL files named {f.name} ({n.name})")
                continue
            seen[f.name] = f.read_bytes()
            text = f.read_text()
            fixed = _fixup(f.name, text)
            if fixed != text:
                fixups.append(f.name)
            (workdir / f.name).write_text(fixed)
            srcs.append(workdir / f.name)
        for pat in ("*.dat", "*.mem"):
            for f in sorted(Path(code_dir).glob(pat)):
                shutil.copyfile(f, workdir / f.name)
                mems.append(workdir / f.name)
    # packages first (swg_pkg.sv, mvu_pkg.sv), then everything else in first-seen order
    srcs.sort(key=lambda p: 0 if p.stem.endswith("_pkg") else 1)
    return srcs, mems, fixups


def stitch(model, workdir) -> Stitched:
    """Write workdir/bireal_top.sv (+ copied sources) for the RTL-only partition `model`."""
    from hw.rtl_flow import finn_settings
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    finn_settings(workdir.resolve())
    g = model.graph
    if len(g.input) != 1 or len(g.output) != 1:
        raise BiRealError("the dataflow partition must have one input and one output stream")
    srcs, mems, fixups = _copy_sources(model, workdir)
    gin, gout = g.input[0].name, g.output[0].name
    width, prod, cons = {}, {gin: "input"}, {gout: "output"}
    body, inst, fifos, chain = [], [], [], []
    for n in g.node:
        op = getCustomOp(n)
        ins, outs = _ports(op, n)
        conns = [".ap_clk(ap_clk)", ".ap_rst_n(ap_rst_n)"]
        if has_wload(op):                              # link k -> k+1 of the load chain
            k = len(chain)
            chain.append(n.name)
            conns += [f".wl_in_V_{s}(wl_{k}_{s})" for s in ("TDATA", "TVALID", "TREADY")]
            conns += [f".wl_out_V_{s}(wl_{k + 1}_{s})" for s in ("TDATA", "TVALID", "TREADY")]
        for port, t, w in ins:
            if t in cons:
                raise BiRealError(f"tensor {t} feeds two stream inputs ({cons[t]}, {n.name})")
            cons[t] = n.name
            width.setdefault(t, w)
            if width[t] != w:
                raise BiRealError(f"stream {t}: {prod.get(t, '?')} gives {width[t]} bits, "
                                  f"{n.name} takes {w} bits (missing width converter)")
            conns += [f".{port}_{s}({wire(t)}_{s})" for s in ("TDATA", "TVALID", "TREADY")]
        for port, t, w in outs:
            prod[t] = n.name
            if t in width and width[t] != w:
                raise BiRealError(f"stream {t}: {n.name} gives {w} bits, its consumer takes "
                                  f"{width[t]} bits (missing width converter)")
            width[t] = w
            conns += [f".{port}_{s}({wire(t)}_{s})" for s in ("TDATA", "TVALID", "TREADY")]
        if n.op_type == "StreamingFIFO_rtl":          # occupancy monitor (FIFO sizing)
            fifos.append(n.name)
            body.append(f"  wire [31:0] {n.name}_maxcount;")
            conns.append(f".maxcount({n.name}_maxcount)")
        inst.append(f"  {n.name} {n.name}_i (\n    " + ",\n    ".join(conns) + "\n  );")
    for t in list(width):
        if t not in prod or t not in cons:
            raise BiRealError(f"stream {t} has no {'producer' if t not in prod else 'consumer'}")
    edges = [Edge(t, prod[t], cons[t], width[t]) for t in width if t not in (gin, gout)]
    for t, w in width.items():
        if t in (gin, gout):
            continue
        body.append(f"  wire [{w - 1}:0] {wire(t)}_TDATA; wire {wire(t)}_TVALID, {wire(t)}_TREADY;")
    wi, wo = wire(gin), wire(gout)
    body.append(f"  assign {wi}_TDATA = in0_V_TDATA; assign {wi}_TVALID = in0_V_TVALID; "
                f"assign in0_V_TREADY = {wi}_TREADY;")
    body.append(f"  assign out0_V_TDATA = {wo}_TDATA; assign out0_V_TVALID = {wo}_TVALID; "
                f"assign {wo}_TREADY = out0_V_TREADY;")
    wl_port = ""
    if chain:
        for k in range(len(chain) + 1):
            body.append(f"  wire [{WL_BITS - 1}:0] wl_{k}_TDATA; wire wl_{k}_TVALID, wl_{k}_TREADY;")
        body.append("  assign wl_0_TDATA = wload_V_TDATA; assign wl_0_TVALID = wload_V_TVALID; "
                    "assign wload_V_TREADY = wl_0_TREADY;")
        body.append(f"  assign wl_{len(chain)}_TREADY = 1'b1;   // end of the chain: drop")
        wl_port = (f"  input wire [{WL_BITS - 1}:0] wload_V_TDATA, input wire wload_V_TVALID, "
                   "output wire wload_V_TREADY,\n")
    nd = max(1, len(edges))
    dv = ", ".join(f"{wire(e.tensor)}_TVALID" for e in reversed(edges)) or "1'b0"
    dr = ", ".join(f"{wire(e.tensor)}_TREADY" for e in reversed(edges)) or "1'b0"
    taps = ["`ifdef BIREAL_TAPS"]
    for k, e in enumerate(edges):
        taps += [f"  integer tap_{k}; initial tap_{k} = $fopen(\"tap_{k}.hex\", \"w\");",
                 f"  always @(posedge ap_clk) if (ap_rst_n && {wire(e.tensor)}_TVALID && {wire(e.tensor)}_TREADY)"
                 f" begin $fwrite(tap_{k}, \"%h\\n\", {wire(e.tensor)}_TDATA); $fflush(tap_{k}); end"]
    taps.append("`endif")
    # per-stream cycle counters (+define+BIREAL_PERF): transfers, and cycles with data waiting
    # on a consumer that is not ready; printed at the end of the simulation
    taps.append("`ifdef BIREAL_PERF")
    for k, e in enumerate(edges):
        w = wire(e.tensor)
        taps += [f"  longint perf_x_{k} = 0, perf_b_{k} = 0;",
                 f"  always @(posedge ap_clk) if (ap_rst_n) begin if ({w}_TVALID && {w}_TREADY) "
                 f"perf_x_{k} <= perf_x_{k} + 1; if ({w}_TVALID && !{w}_TREADY) "
                 f"perf_b_{k} <= perf_b_{k} + 1; end",
                 f"  final $display(\"PERF {k} %0d %0d\", perf_x_{k}, perf_b_{k});"]
    taps += [f"  final $display(\"FIFOMAX {f} %0d\", {f}_maxcount);" for f in fifos]
    taps.append("`endif")
    win, wout = width[gin], width[gout]
    text = (
        f"// generated by bireal-fpga sim.stitch: {len(g.node)} layers, {len(edges)} internal streams\n"
        f"module {TOP} (\n  input wire ap_clk,\n  input wire ap_rst_n,\n"
        f"  input wire [{win - 1}:0] in0_V_TDATA, input wire in0_V_TVALID, output wire in0_V_TREADY,\n"
        f"  output wire [{wout - 1}:0] out0_V_TDATA, output wire out0_V_TVALID, input wire out0_V_TREADY,\n"
        + wl_port +
        f"  output wire [{nd - 1}:0] dbg_valid,\n  output wire [{nd - 1}:0] dbg_ready\n);\n"
        f"  wire [{win - 1}:0] {wi}_TDATA; wire {wi}_TVALID, {wi}_TREADY;\n"
        f"  wire [{wout - 1}:0] {wo}_TDATA; wire {wo}_TVALID, {wo}_TREADY;\n"
        + "\n".join(body) + "\n"
        + f"  assign dbg_valid = {{{dv}}};\n  assign dbg_ready = {{{dr}}};\n"
        + "\n".join(inst) + "\n" + "\n".join(taps) + "\nendmodule\n")
    tmp = workdir / f"{TOP}.sv.tmp"
    tmp.write_text(text)
    tmp.replace(workdir / f"{TOP}.sv")
    return Stitched(workdir, TOP, srcs + [workdir / f"{TOP}.sv"], mems, win, wout, edges, fixups,
                    chain)


def stall_report(st: Stitched, dbg_valid: int, dbg_ready: int) -> list[str]:
    """Readable lines for a stall: which streams hold data nobody takes, which are empty."""
    blocked = [e for k, e in enumerate(st.edges) if dbg_valid >> k & 1 and not dbg_ready >> k & 1]
    lines = [f"stream {e.tensor}: {e.producer} -> {e.consumer} has data, {e.consumer} not ready"
             for e in blocked]
    if not lines:
        lines = ["no stream holds data (the pipeline starved: the input or a unit stopped)"]
    return lines
