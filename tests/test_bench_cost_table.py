"""bench/bench_cost_table.py's table (no build needed: hand-made collect() results)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_cost_table",
                                                  ROOT / "bench" / "bench_cost_table.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def _collected(shortcut, cycles, exact, random):
    return {"shortcut": shortcut, "board": "pynq-z2", "random": random,
            "kinds": {"XnorMVAU_rtl": {"n": 2, "LUT": 1000, "DSP": 0, "BRAM18": 4}},
            "total": {"LUT": 46134, "DSP": 126, "BRAM18": 251}, "yosys": None, "ykinds": {},
            "cycles": cycles, "sim_exact": exact}


def test_table_sim_cycles_bit_exact_and_random_weights():
    b = _bench()
    t = b.table(_collected("fixed8", (98433.0, "[sim]"), (3, 0), True),
                _collected("float32", (65536, "[analytical]"), None, True), "bireal-cifar")
    # sim.json holds cycles_per_frame as a float: printed as a whole number
    assert "| cycles/frame | 98,433 [sim] | 65,536 [analytical] |" in t
    assert "| bit-exact frames [sim] | 3/3 | not measured |" in t
    assert ("| accuracy [PyTorch] | not measured (random weights) | "
            "not measured (random weights) |") in t
    assert "| LUT [Yosys] | not measured | not measured |" in t
    assert b._fmt(None) == "–" and b._fmt(1234.5) == "1,234.5"
