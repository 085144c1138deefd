"""Per-stream throughput of a compiled design in the Verilator simulation: which unit limits.

    PYTHONPATH=. .venv/bin/python scripts/stream_perf.py BUILD_DIR [FRAMES]

BUILD_DIR is a `bireal compile` folder (after `bireal sim`, so the FIFOs are sized). The
stitched design is built with +define+BIREAL_PERF (sim.stitch's per-stream counters) and
FRAMES golden frames (default 12) are streamed with no gaps. Printed: the spacing of frame
ends (steady state = its tail), then per stream producer -> consumer with each side's
modelled cycles (hw.estimates.exp_cycles), transfers per frame and the fraction of cycles
it held data its consumer did not take. A unit limiting the pipeline shows a blocked input
and a free output; with T transfers and B blocked cycles per frame on a stream that is never
empty, T + B is that consumer's cycles per frame (how the 4 -> 6 lane width converters of
wip/h11 were found: 2,352 + 784 = 3,136).
"""
import json
import sys
from pathlib import Path

import numpy as np
from qonnx.custom_op.registry import getCustomOp

from hw.compile import load_golden
from hw.estimates import exp_cycles
from sim.design import Design, pixel_codes
from sim.verilate import run


def main(d: Path, nf: int) -> None:
    info = json.loads((d / "compile.json").read_text())
    des = Design(d, defines={"BIREAL_PERF": 1}, sub="perf")
    gi, _ = load_golden(Path(info["onnx"]), nf)
    words = [des.frame_words(c) for c in pixel_codes(Path(info["onnx"]), gi)]
    r = run(des.exe, words, des.words_out(), timeout_cycles=200000)
    print("cycles", r.cycles, "frame-end spacing", np.diff(r.stamps[:, 3]).tolist())
    perf = {}
    for ln in r.extra["stdout"].splitlines():
        if ln.startswith("PERF "):
            _, k, x, b = ln.split()
            perf[int(k)] = (int(x), int(b))
    byname = {n.name: n for n in des.rtl.graph.node}

    def ec(name):
        n = byname.get(name)
        return exp_cycles(getCustomOp(n)) if n is not None else -1
    for k, e in enumerate(des.st.edges):
        x, b = perf[k]
        print(f"{k:3d} {e.producer:36s}({ec(e.producer):6d}) -> {e.consumer:36s}"
              f"({ec(e.consumer):6d}) x/frame {x / nf:9.1f} blocked {b / r.cycles:6.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 12)
