"""`bireal synth`: Yosys post-synthesis estimates of a compiled accelerator, beside FINN's
analytical ones.

Whole design: the stitched top (sim.stitch) through `synth_xilinx` for the board's family
(PYNQ-Z2 -> xc7, ZCU104 -> xcup). With `per_unit`, every project RTL unit (hw.ops) and one
node of each finn-rtllib type is synthesized on its own too. Writes DIR/synth.json and
DIR/synth.txt; every number is labelled with where it came from.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from model.export import atomic_write, save_json

from .run import relocate
from .stitch import stitch
from .synth import family_for_part, format_table, synth, synth_node


def synth_design(build_dir, per_unit=False, whole: bool = True, quiet: bool = False) -> dict:
    """per_unit: False, True (one layer of every RTL op type) or a set of op types;
    whole: also the stitched design (minutes for a whole net)."""
    import sys
    from hw.rtl_flow import finn_settings
    from model.guard import need_build
    d = Path(build_dir)
    need_build(d, "synth")
    finn_settings((d / "synth").resolve())
    info = json.loads((d / "compile.json").read_text())
    est = json.loads((d / "estimates.json").read_text())
    fam = family_for_part(info["part"])
    rtl = relocate(ModelWrapper(str(d / "rtl_model.onnx")), d)
    by_node = {r["name"]: r for r in est["layers"]}
    t0 = time.time()
    rows = []
    if per_unit:
        seen = set()
        for n in rtl.graph.node:
            if n.op_type in seen or n.op_type == "StreamingFIFO_rtl" or (
                    per_unit is not True and n.op_type not in per_unit):
                continue
            seen.add(n.op_type)
            if not quiet:
                print(f"synth: {n.name} ({n.op_type})", file=sys.stderr)
            r = synth_node(getCustomOp(n), rtl, d / "synth" / n.name, fam)
            a = by_node.get(n.name, {})
            rows.append({"unit": f"{n.name} ({n.op_type})", **{k: r[k] for k in
                         ("LUT", "FF", "BRAM18", "URAM", "DSP")},
                         "est_LUT": a.get("LUT"), "est_BRAM18": a.get("BRAM18"),
                         "est_DSP": a.get("DSP")})
    whole_res = None
    if whole:
        if not quiet:
            print(f"synth: whole design ({len(rtl.graph.node)} layers) for {fam}, a few "
                  "minutes", file=sys.stderr)
        st = stitch(rtl, d / "synth" / "src")
        whole_res = synth(st.top, [str(s) for s in st.sources], d / "synth" / "top", fam,
                          mem_files=[str(m) for m in st.mem_files])
        tot = est["totals"]
        rows.append({"unit": "whole accelerator", **{k: whole_res[k] for k in
                     ("LUT", "FF", "BRAM18", "URAM", "DSP")},
                     "est_LUT": tot.get("LUT"), "est_BRAM18": tot.get("BRAM18"),
                     "est_DSP": tot.get("DSP")})
    res = {"family": fam, "part": info["part"], "board": info["board"], "whole": whole_res,
           "rows": rows, "seconds": round(time.time() - t0, 1),
           "source": "yosys synth_xilinx (post-synthesis estimate, no place&route)",
           "analytical_source": "FINN analytical models + hw.ops estimates (estimates.json)"}
    save_json(d / "synth.json", res)
    atomic_write(d / "synth.txt", lambda t: Path(t).write_text(format_table(rows) + "\n"), ".txt")
    return res
