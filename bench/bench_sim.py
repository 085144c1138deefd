"""Whole-accelerator Verilator speed: simulated clock cycles per wall-clock second.

    .venv/bin/python bench/bench_sim.py [--build runs/default/hw] [--images 50]

Builds the stitched design of a `bireal compile` folder three times — -O1 (what `bireal sim`
uses, sim.run.OPT_FAST), Verilator's default C++ optimisation -Os, and -O2 — streams the same
frames through each in one run and prints cycles/s, frames/s and build seconds side by side
with their ratio.
Numbers are measured here, on this machine, now; nothing is hard-coded.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    from hw.compile import load_golden
    from sim.run import Design, pixel_codes
    from sim.verilate import run
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="runs/default/hw", help="folder of `bireal compile`")
    ap.add_argument("--images", type=int, default=50)
    a = ap.parse_args(argv)
    rows = []
    for label, opt in (("-O1 (bireal sim)", "-O1"), ("-Os (Verilator default)", None),
                       ("-O2", "-O2")):
        t0 = time.time()
        d = Design(Path(a.build), sub=f"bench{opt or ''}", opt_fast=opt)
        built = time.time() - t0
        gi, _ = load_golden(Path(d.info["onnx"]), a.images)
        frames = [d.frame_words(c) for c in pixel_codes(Path(d.info["onnx"]), gi)]
        r = run(d.exe, frames, d.words_out())
        rows.append((label, r.cycles, r.wall_s, r.cycles / r.wall_s, len(frames) / r.wall_s, built))
    print(f"design: {a.build} ({len(d.rtl.graph.node)} layers, {d.info['board']}), "
          f"{a.images} frames; source: Verilator {d.exe.name} runs on this machine")
    print(f"{'build':24s}{'cycles':>12s}{'wall s':>9s}{'cycles/s':>12s}{'frames/s':>10s}"
          f"{'build s':>9s}")
    for lab, cyc, wall, cps, fps, b in rows:
        print(f"{lab:24s}{cyc:12d}{wall:9.2f}{cps:12.0f}{fps:10.1f}{b:9.1f}")
    print(f"ratio -O2 / -Os cycles/s: {rows[2][3] / rows[1][3]:.2f}; -O1 / -Os: "
          f"{rows[0][3] / rows[1][3]:.2f}")


if __name__ == "__main__":
    main()
