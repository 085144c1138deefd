"""FIFO depths from simulation, FINN's method (its set_fifo_depths with rtlsim) in Verilator.

`bireal compile` gives every FIFO a depth that cannot deadlock (hw.rtl_flow derives the
residual-fork FIFOs from the other branch's buffer capacity) but not one that sustains full
throughput: bursty units (an MVAU emits PE lanes per fold, a fork waits for its join) need
slack. Here every FIFO is made deep (two frames of its stream), a few frames are streamed
through the stitched design at the bottleneck's rate (its estimate; again at the measured
rate when the pipeline runs slower than that, so no frames pile up before the slowest unit),
and each FIFO's maximum occupancy (finn-rtllib's `maxcount`) is read; the depth becomes
max(derived depth, max occupancy + 2). The deeper FIFOs shift the design's LUT / block RAM
balance, so the FIFOs and weight memories are then mapped together again
(hw.memory.SetWeightMemory; weights in URAM stay, the weight-load chain is built):
bireal-cifar on PYNQ-Z2 at 2,500 FPS went from 47,409 LUT (over the cap) to 44,217 LUT /
233 BRAM18. DIR/rtl_model.onnx and the changed nodes' HDL are updated in place and
DIR/fifo_sizing.json records every number (`memory_remap`: node -> [old, new] ram_style).
"""
from __future__ import annotations

import copy
import json
import shutil
import time
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from model.errors import BiRealError
from model.export import atomic_write, save_json

from hw.memory import MVAU_OPS, SetWeightMemory
from hw.rtl_flow import relocate

from .design import Design, bottleneck, pixel_codes
from .verilate import run

MARGIN = 2
THROTTLE = 1.0        # sizing input rate: one frame per bottleneck estimate (the rate the
                      # accelerator is built for; a faster input only piles frames up)
RERUN_ABOVE = 1.005   # measured cycles/frame above this x the estimate (the input outran
                      # the pipeline): stream again at the measured rate. At 1.005 a run of
                      # 6 frames piles up at most 3 % of a frame's input words; a design at
                      # its estimate streams once (0.95 streamed every design twice:
                      # bireal18's sizing took 1,059 s)


def _words_per_frame(op) -> int:
    return int(np.prod(op.get_folded_input_shape(0)[:-1]))


def _update_estimates(d: Path, rtl, info: dict):
    """Re-estimate with the new FIFO depths (estimates.json/.txt/.png), keeping the notes."""
    from hw import estimates as E
    old = json.loads((d / "estimates.json").read_text())
    est = E.estimate(rtl, info["board"], clock_mhz=float(info["clock_mhz"]))
    for k in ("folding", "target_fps", "rtl", "shortcut"):   # shortcut: sim.json reads it
        if k in old:
            est[k] = old[k]
    est["fifo_depths"] = "sized by simulation (fifo_sizing.json)"
    # what the sizing added: sim.build folds again with it when the sized design is over
    est["compile_totals"] = old.get("compile_totals", old.get("totals"))
    save_json(d / "estimates.json", est)
    E.plot_estimates(est, d / "estimates.png")
    atomic_write(d / "estimates.txt", lambda t: Path(t).write_text(E.format_estimates(est) + "\n"),
                 ".txt")


def tail_cycles(stamps) -> float:
    """Mean spacing of the frame ends over the second half of a run (its first frames are
    still filling the pipeline); 0 with fewer than 3 frames."""
    last = stamps[:, 3]
    if len(last) < 3:
        return 0.0
    k = len(last) // 2
    return float(last[-1] - last[k - 1]) / (len(last) - k)


def size_fifos(build_dir, frames: int = 6, quiet: bool = False) -> dict:
    """Measure and set FIFO depths of DIR's RTL graph; returns (and writes) the report."""
    import sys
    from hw.compile import load_golden
    from hw.rtl_flow import fifo_ram_style, generate_rtl

    t0 = time.time()
    d = Path(build_dir)
    rtl = relocate(ModelWrapper(str(d / "rtl_model.onnx")), d)
    info = json.loads((d / "compile.json").read_text())
    part, clock = info["part"], float(info["clock_mhz"])
    work = d / "sim" / "fifo_sizing"
    if work.exists():
        shutil.rmtree(work)
    deep = copy.deepcopy(rtl)
    fifos = [n for n in deep.graph.node if n.op_type == "StreamingFIFO_rtl"]
    for n in fifos:
        op = getCustomOp(n)
        big = max(op.get_nodeattr("depth"), 2 * _words_per_frame(op) + MARGIN)
        op.set_nodeattr("depth", big)
        op.set_nodeattr("ram_style", fifo_ram_style(big))
    if not quiet:
        print(f"fifo sizing: {len(fifos)} FIFOs made deep, streaming {frames} frames",
              file=sys.stderr)
    generate_rtl(deep, work / "rtl", part, 1000.0 / clock)
    # 6 frames: an unoptimised C++ build (-O0) is quicker overall (sim.run.OPT_FAST)
    sim = Design(d, defines={"BIREAL_PERF": 1}, sub="fifo_sizing/build", rtl=deep,
                 opt_fast="-O0")
    gi, _ = load_golden(Path(info["onnx"]), frames)
    words = [sim.frame_words(c) for c in pixel_codes(Path(info["onnx"]), gi)]
    # feed frames at the bottleneck's rate (THROTTLE), as the accelerator sees them in
    # steady state; an unthrottled input would just pile whole frames into the first FIFOs
    est, _ = bottleneck(deep)
    gap = max(0.0, 1.0 - len(words[0]) / (THROTTLE * est))

    def stream(gap):
        # the last frames drain with no input: allow several frames of silence (a frame of a
        # slow folding, e.g. bireal-cifar at 196,608 cycles, outlasts a fixed 100,000)
        r = run(sim.exe, words, sim.words_out(), in_gap=gap,
                timeout_cycles=max(100000, 4 * est),
                wload=sim.load_beats())          # URAM weights first (none: None)
        if r.stalled:
            raise BiRealError(f"FIFO sizing run stalled at cycle {r.stall['cycle']} even with "
                              "deep FIFOs: a unit does not follow the stream protocol")
        return r
    r = stream(gap)
    # when the pipeline is slower than the input (THROTTLE x its estimate), every frame piled
    # up in the FIFO before its slowest unit: an occupancy that only grows with the frames
    # streamed, not slack the design needs (bireal18 at est. 75,264, 82,177 simulated: 5,690
    # x 392 bits = 132 BRAM18 before the stem). Stream again at the measured rate.
    measured = tail_cycles(r.stamps)
    rerun = None
    if measured > est * RERUN_ABOVE:
        first = gap
        gap = max(0.0, 1.0 - len(words[0]) / measured)
        r = stream(gap)
        rerun = {"first_input_gap": round(first, 4), "measured_cycles_per_frame": measured,
                 "why": f"the pipeline ran at {measured:.0f} cycles/frame, slower than the "
                        f"input ({THROTTLE} x the estimate {est}): streamed again at the "
                        "measured rate"}
    maxc = {}
    for ln in r.extra.get("stdout", "").splitlines():
        if ln.startswith("FIFOMAX "):
            _, name, v = ln.split()
            maxc[name] = int(v)
    missing = [n.name for n in fifos if n.name not in maxc]
    if missing:
        raise BiRealError(f"no occupancy reported for FIFOs {missing[:5]}")
    rows, changed = [], []
    for n in rtl.graph.node:
        if n.op_type != "StreamingFIFO_rtl":
            continue
        op = getCustomOp(n)
        before = op.get_nodeattr("depth")
        new = max(before, maxc[n.name] + MARGIN)
        rows.append({"fifo": n.name, "derived_depth": before, "max_occupancy": maxc[n.name],
                     "depth": new})
        if new != before:
            op.set_nodeattr("depth", new)          # its ram_style: the remap below
            changed.append(n.name)
    # the deeper FIFOs change the design's LUT / block RAM balance: map the FIFOs and the
    # weight memories together again (hw.memory.SetWeightMemory; URAM weights stay, the
    # weight-load chain is built), then regenerate only the nodes that changed
    mapped = (MVAU_OPS + ("StreamingFIFO_rtl",))
    style = {n.name: getCustomOp(n).get_nodeattr("ram_style") for n in rtl.graph.node
             if n.op_type in mapped}
    rtl = rtl.transform(SetWeightMemory(part, keep_ultra=True))
    remap = {}
    for n in rtl.graph.node:
        if n.op_type in mapped:
            new = getCustomOp(n).get_nodeattr("ram_style")
            if new != style[n.name]:
                remap[n.name] = [style[n.name], new]
    for n in rtl.graph.node:                # regenerate only the nodes that changed
        if n.name in changed or n.name in remap:
            getCustomOp(n).generate_hdl(rtl, part, 1000.0 / clock)
    atomic_write(d / "rtl_model.onnx", lambda t: rtl.save(t), ".onnx")
    _update_estimates(d, rtl, info)
    rep = {"frames": frames, "input_gap": round(gap, 4), "sim_cycles": r.cycles,
           "changed": len(changed), "rerun": rerun, "memory_remap": remap,
           "fifos": rows, "seconds": round(time.time() - t0, 1),
           "method": "max occupancy of deep FIFOs in Verilator (FINN's rtlsim FIFO sizing), "
                     f"depth = max(derived deadlock-free depth, occupancy + {MARGIN})"}
    save_json(d / "fifo_sizing.json", rep)
    return rep
