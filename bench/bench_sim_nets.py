"""Verilator at the scale of the paper's nets: build time, peak memory and cycles/s per net.

    .venv/bin/python bench/bench_sim_nets.py DIR [DIR ...] [--images N] [--markdown]

Each DIR is a `bireal compile` folder (bireal-tiny / bireal-cifar on PYNQ-Z2, bireal18 on
ZCU104, ...). A folder without sim.json is simulated first (`bireal sim`: FIFO sizing, then
N frames); then one row per net from what the runs recorded: the FIFO-sizing build and the
final build (seconds, peak resident memory of the build's process tree, sim.verilate), the
simulated cycles/frame beside the bottleneck estimate, bit-exactness, and simulated cycles
per wall-clock second. Numbers are measured on this machine by these runs; nothing is
hard-coded. Heavy (bireal18: tens of minutes): a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COLS = ("net", "board", "layers", "est cyc/frame", "sim cyc/frame", "ratio", "bit-exact",
        "FIFO-sizing build s", "build s", "peak build MB", "sim cycles/s")


def _json(p: Path) -> dict:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def row(build: Path) -> dict:
    """One table row from DIR's compile.json, sim.json and the two builds' build.json."""
    info, sim = _json(build / "compile.json"), _json(build / "sim.json")
    fifo = _json(build / "sim" / "fifo_sizing" / "build" / "build.json")
    final = _json(build / "sim" / "build" / "build.json")
    peaks = [b.get("peak_rss_mb") for b in (fifo, final) if b.get("peak_rss_mb")]
    exp = _json(Path(info.get("onnx", build / "x")).parent / "export.json")
    return {"net": exp.get("arch") or Path(info.get("onnx", build)).parent.name,
            "board": sim.get("board"), "layers": info.get("rtl_layers"),
            "est cyc/frame": sim.get("est_cycles_per_frame"),
            "sim cyc/frame": sim.get("cycles_per_frame"),
            "ratio": sim.get("ratio_to_estimate"),
            "bit-exact": f"{sim.get('images', 0) - (sim.get('mismatches') or 0)}/"
                         f"{sim.get('images', 0)}" if sim else None,
            "FIFO-sizing build s": round(fifo["seconds"]) if "seconds" in fifo else None,
            "build s": sim.get("build_seconds"),
            "peak build MB": max(peaks) if peaks else None,
            "sim cycles/s": sim.get("sim_cycles_per_second")}


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if v < 10 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("builds", nargs="+", type=Path, help="`bireal compile` folders")
    ap.add_argument("--images", type=int, default=3, help="frames for folders not simulated")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    a = ap.parse_args(argv)
    from sim.run import simulate
    rows = []
    for b in a.builds:
        if not (b / "sim.json").is_file():
            print(f"simulating {b} ({a.images} frames) ...", file=sys.stderr)
            simulate(b, images=a.images, quiet=False)
        rows.append(row(b))
    if a.markdown:
        print("| " + " | ".join(COLS) + " |")
        print("|" + "---|" * len(COLS))
        for r in rows:
            print("| " + " | ".join(fmt(r[c]) for c in COLS) + " |")
    else:
        for r in rows:
            print("  ".join(f"{c}={fmt(r[c])}" for c in COLS))
    print("source: [sim] Verilator runs of these folders on this machine; peak build MB = "
          "resident memory of the build's process tree, sampled every 0.2 s")


if __name__ == "__main__":
    main()
