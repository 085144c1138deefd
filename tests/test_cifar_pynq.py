"""bireal-cifar (random weights) compiled for PYNQ-Z2 at a target that fits, then 2 frames in
Verilator: the folding fits every resource within FIT_CAP, the accelerator is bit-exact and
runs within 5 % of the bottleneck estimate. Slow (the 13 graph steps of a 37-layer net and a
Verilator build of ~300 units): marked `slow`."""
import json

import pytest

from conftest import export_random
from hw.boards import FIT_CAP, get_board
from sim.run import simulate

TARGET_FPS = 500   # fits (196,608 cycles/frame [analytical]); 2,500 does not: LUT and BRAM bind


@pytest.mark.slow
def test_cifar_pynq_z2_fits_and_sim_bit_exact(tmp_path):
    from hw.compile import compile_model
    onnx = export_random("bireal-cifar", tmp_path, 2)
    s = compile_model(onnx, tmp_path / "c", board="pynq-z2", target_fps=TARGET_FPS, images=2,
                      quiet=True)
    est = json.loads((tmp_path / "c" / "estimates.json").read_text())
    b = get_board("pynq-z2")
    assert s["fits"] and est["fits"], est["folding"]
    assert all(est["totals"][r] <= FIT_CAP * b.available(r) for r in ("LUT", "BRAM18", "DSP"))
    assert est["bottleneck_cycles"] <= b.clock_mhz * 1e6 / TARGET_FPS
    wm = est["rtl"]["weight_memory"]
    assert {m["kind"] for m in wm.values()} & {"logic", "distributed"} and \
        any(m["kind"] == "block" for m in wm.values())
    res = simulate(tmp_path / "c", images=2, quiet=True)
    assert res["mismatches"] == 0 and res["bit_exact"], res
    assert abs(res["cycles_per_frame"] / est["bottleneck_cycles"] - 1) <= 0.05, res
