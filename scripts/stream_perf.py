"""Per-stream throughput of a compiled design in the Verilator simulation: which unit limits.

    PYTHONPATH=. .venv/bin/python scripts/stream_perf.py BUILD_DIR [FRAMES]

BUILD_DIR is a `bireal compile` folder (after `bireal sim`, so the FIFOs are sized). The
stitched design is built with +define+BIREAL_PERF (sim.stitch's per-stream counters); a design
with run-time (URAM) weights gets its weight-load beats first, as sim/run.py sends them. The
golden images are streamed with no gaps, repeated in turn when FRAMES (default 12) exceeds
what the export has (the pipeline's timing does not depend on the data; outputs are not
checked here). Two runs, FRAMES // 2 and FRAMES frames, and their difference per frame is
printed: the fill, the weight load and the drain cancel, so the numbers are steady state
(once the frame-end spacing printed has settled; it may take several frames).

Printed per stream producer -> consumer with each side's modelled cycles
(hw.estimates.exp_cycles), transfers T and blocked cycles B (data waiting on a consumer that
is not ready) per frame. A unit limiting the pipeline shows a blocked input and a free
output; with T transfers and B blocked cycles per frame on a stream that is never empty,
T + B is that consumer's cycles per frame (how the 4 -> 6 lane width converters of wip/h11
were found: 2,352 + 784 = 3,136); frame cycles minus T + B is the time the stream was empty.
"""
import json
import sys
from pathlib import Path

import numpy as np


def cycled(n_golden: int, frames: int) -> list[int]:
    """Golden image index of each of `frames` frames: 0, 1, ..., n_golden - 1, 0, 1, ..."""
    return [i % n_golden for i in range(frames)]


def per_frame(short: dict, n_short: int, long: dict, n_long: int) -> dict:
    """{stream: (transfers, blocked)} per frame in steady state: the difference of two runs'
    counters over the frames the longer run added."""
    d = n_long - n_short
    return {k: ((long[k][0] - short[k][0]) / d, (long[k][1] - short[k][1]) / d) for k in long}


def _counters(stdout: str) -> dict:
    perf = {}
    for ln in stdout.splitlines():
        if ln.startswith("PERF "):
            _, k, x, b = ln.split()
            perf[int(k)] = (int(x), int(b))
    return perf


def main(d: Path, nf: int) -> None:
    from qonnx.custom_op.registry import getCustomOp

    from hw.compile import load_golden
    from hw.estimates import exp_cycles
    from sim.design import Design, pixel_codes
    from sim.verilate import run
    info = json.loads((d / "compile.json").read_text())
    des = Design(d, defines={"BIREAL_PERF": 1}, sub="perf")
    gi, _ = load_golden(Path(info["onnx"]), None)
    words = [des.frame_words(c) for c in pixel_codes(Path(info["onnx"]), gi)]
    wl = des.load_beats()             # URAM weights: loaded before frame 1, as sim/run.py does
    runs = {}
    for n in (max(2, nf // 2), nf):
        r = run(des.exe, [words[i] for i in cycled(len(words), n)], des.words_out(),
                timeout_cycles=max(200000, 4 * 10 ** 6), wload=wl)
        if r.stalled or len(r.outputs) < n:
            raise SystemExit(f"{n} frames: the design stalled at cycle {r.cycles}")
        runs[n] = (r, _counters(r.extra["stdout"]))
    (n1, (r1, p1)), (n2, (r2, p2)) = sorted(runs.items())
    print(f"frames {n2} (from {len(words)} golden images), frame-end spacing",
          np.diff(r2.stamps[:, 3]).tolist())
    print(f"steady state over frames {n1 + 1}..{n2}: "
          f"{(r2.stamps[n2 - 1, 3] - r2.stamps[n1 - 1, 3]) / (n2 - n1):.1f} cycles/frame")
    pf = per_frame(p1, n1, p2, n2)
    byname = {n.name: n for n in des.rtl.graph.node}

    def ec(name):
        n = byname.get(name)
        return exp_cycles(getCustomOp(n)) if n is not None else -1
    for k, e in enumerate(des.st.edges):
        x, b = pf[k]
        print(f"{k:3d} {e.producer:36s}({ec(e.producer):7d}) -> {e.consumer:36s}"
              f"({ec(e.consumer):7d}) T {x:9.1f} B {b:9.1f} T+B {x + b:9.1f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 12)
