"""The cost table of issue 12 item 5: fixed8 vs float32 shortcut on one arch/board, per unit
kind and whole design (not a test; reads finished builds, seconds):
    .venv/bin/python bench/bench_cost_table.py --fixed8 DIR --float32 DIR [--out FILE.md]
DIR is a `bireal compile --out` folder (or the `hw/` folder of a `bireal build`); read from it:
  rtl_model.onnx  LUT / BRAM18 / DSP per layer, re-estimated with the current code
                  (hw.estimates.estimate; board from estimates.json)     [analytical]
  synth.json      LUT / FF / BRAM18 / DSP of the whole stitched design  [Yosys]
                  (`bireal synth --build DIR`; per unit kind with --per-unit)
  sim.json        cycles/frame of the Verilator run                     [sim]
                  (`bireal sim --build DIR`, without --backpressure); else the estimate's
                  bottleneck, marked [analytical]
Accuracy [PyTorch]: model/weights/<arch>-<shortcut>.json (the shipped checkpoints' record).
Whatever a folder lacks is printed as "not measured", never guessed."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RES = ("LUT", "FF", "DSP", "BRAM18")


def _load(d: Path, name: str):
    f = d / name
    return json.loads(f.read_text()) if f.is_file() else None


def _fmt(v) -> str:
    """Thousands separators; a whole float (sim.json's cycles_per_frame) prints as an int."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return "–" if v is None else f"{v:,}"


def collect(d: Path) -> dict:
    old = _load(d, "estimates.json")
    if old is None or not (d / "rtl_model.onnx").is_file():
        raise SystemExit(f"error: {d} has no estimates.json / rtl_model.onnx (give a `bireal "
                         "compile --out` folder)")
    # re-estimated with the current code from the build's RTL graph (same folding)
    sys.path.insert(0, str(ROOT))
    from qonnx.core.modelwrapper import ModelWrapper

    import hw.ops  # noqa: F401 - registers the project's ops
    from hw.estimates import estimate
    from hw.rtl_flow import relocate
    est = estimate(relocate(ModelWrapper(str(d / "rtl_model.onnx")), d), old["board"],
                   old.get("clock_mhz"))
    est["shortcut"] = old.get("shortcut")
    kinds: dict[str, dict] = {}
    for r in est["layers"]:
        k = kinds.setdefault(r["op_type"], {"n": 0, **{x: 0 for x in ("LUT", "DSP", "BRAM18")}})
        k["n"] += 1
        for x in ("LUT", "DSP", "BRAM18"):
            k[x] += int(r.get(x) or 0)
    syn = _load(d, "synth.json")
    ykinds = {}
    if syn:
        for row in syn.get("rows", []):
            if row["unit"] != "whole accelerator" and "(" in row["unit"]:
                ykinds[row["unit"].split("(")[1].rstrip(")")] = {x: row.get(x) for x in RES}
    sim = _load(d, "sim.json")
    if sim and sim.get("backpressure"):       # cycles under output stalls are not the rate
        sim = None
    cyc = (sim.get("cycles_per_frame"), "[sim]") if sim else (est.get("bottleneck_cycles"),
                                                             "[analytical]")
    bj = _load(d.parent, "build.json") if d.name == "hw" else None
    return {"shortcut": est.get("shortcut"), "board": est.get("board"), "kinds": kinds,
            "random": bool(bj and str(bj.get("weights", "")).startswith("random")),
            "total": est["totals"], "yosys": (syn or {}).get("whole"), "ykinds": ykinds,
            "cycles": cyc, "sim_exact": None if not sim else
            (sim.get("images"), sim.get("mismatches"))}


def accuracy(arch: str, shortcut: str):
    f = ROOT / "model" / "weights" / f"{arch}-{shortcut}.json"
    if not f.is_file():
        return None
    j = json.loads(f.read_text())
    return j.get("test_acc"), j.get("test_images")


def table(fx: dict, fl: dict, arch: str) -> str:
    out = [f"Cost of the float32 shortcut, {arch} on {fx['board']} (fixed8 vs float32):", "",
           "| | fixed8 | float32 |", "|---|---|---|"]
    for name, m in (("fixed8", fx), ("float32", fl)):
        if m["shortcut"] not in (None, name):
            raise SystemExit(f"error: the {name} folder holds a {m['shortcut']} build")
    for x in ("LUT", "DSP", "BRAM18"):
        out.append(f"| {x} [analytical] | {_fmt(fx['total'].get(x))} | {_fmt(fl['total'].get(x))} |")
    for x in RES:
        g = [(m["yosys"] or {}).get(x) for m in (fx, fl)]
        out.append(f"| {x} [Yosys] | " + " | ".join(_fmt(v) if v is not None else "not measured"
                                                    for v in g) + " |")
    out.append("| cycles/frame | " + " | ".join(f"{_fmt(m['cycles'][0])} {m['cycles'][1]}"
                                                for m in (fx, fl)) + " |")
    out.append("| bit-exact frames [sim] | " + " | ".join(
        "not measured" if m["sim_exact"] is None else
        f"{m['sim_exact'][0] - m['sim_exact'][1]}/{m['sim_exact'][0]}" for m in (fx, fl)) + " |")
    acc = [None if m.get("random") else accuracy(arch, s)
           for m, s in ((fx, "fixed8"), (fl, "float32"))]
    out.append("| accuracy [PyTorch] | " + " | ".join(
        ("not measured (random weights)" if m.get("random") else "not recorded") if a is None
        else f"{100 * a[0]:.1f} % ({a[1]} test images)" for a, m in zip(acc, (fx, fl))) + " |")
    out += ["", "Per unit kind (all instances summed) [analytical]; [Yosys] where `bireal synth "
            "--per-unit` ran (one instance):", "",
            "| unit kind | fixed8 n / LUT / DSP / BRAM18 | float32 n / LUT / DSP / BRAM18 |",
            "|---|---|---|"]
    for k in sorted(set(fx["kinds"]) | set(fl["kinds"])):
        cells = []
        for m in (fx, fl):
            r = m["kinds"].get(k)
            c = "–" if r is None else f"{r['n']} / {r['LUT']:,} / {r['DSP']} / {r['BRAM18']}"
            y = m["ykinds"].get(k)
            if y:
                c += f"; one: {y['LUT']:,} LUT, {y['FF']:,} FF, {y['DSP']} DSP [Yosys]"
            cells.append(c)
        out.append(f"| {k} | {cells[0]} | {cells[1]} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixed8", required=True)
    ap.add_argument("--float32", required=True)
    ap.add_argument("--arch", default="bireal-tiny")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    t = table(collect(Path(a.fixed8)), collect(Path(a.float32)), a.arch)
    if a.out:
        tmp = Path(a.out).with_suffix(".tmp")
        tmp.write_text(t)
        tmp.replace(a.out)
    sys.stdout.write(t)


if __name__ == "__main__":
    main()
