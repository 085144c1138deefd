"""Build and run the bulk Verilator harness of the fp32 units (tests/rtl/fp32_tb.cpp on
tests/rtl/fp32_tb_top.sv): one executable for every unit, rebuilt only when a source's hash
changes; run(unit, a, b) streams operand pairs through one unit with random en drops and
valid gaps and checks its latency."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from sim.tools import verilator_env, verilator_root

ROOT = Path(__file__).resolve().parents[2]
RTL = ROOT / "hw" / "rtl"
TBDIR = ROOT / "tests" / "rtl"
UNIT_SOURCES = [RTL / "fp32_pkg.sv", RTL / "fp32_stage.sv", RTL / "fp32_from_int.sv",
                RTL / "fp32_mul.sv", RTL / "fp32_add.sv"]
TB_SOURCES = [TBDIR / "fp32_tb_top.sv", TBDIR / "fp32_tb.cpp"]

# harness unit index (tests/rtl/fp32_tb_top.sv) -> (name, latency in cycles)
UNITS = {"add": (0, 7), "mul": (1, 8), "i32": (2, 5), "i25": (3, 5), "i12": (4, 5),
         "add_nocut": (5, 2), "mul_nocut": (6, 4), "i32_nocut": (7, 2), "ge0": (8, 1),
         "mul18": (9, 8), "mulk": (10, 8), "mulk18": (11, 8)}

# ------------------------------------------------------------------------------------------
# build and run the harness


def build(workdir: Path, mutate: dict[str, list[tuple[str, str]]] | None = None) -> Path:
    """Verilate fp32_tb_top + fp32_tb.cpp into workdir (skipped when the source hash matches).
    mutate: {file name: [(old, new), ...]} text replacements on copies of the sources (for
    mutants); each `old` must occur exactly once."""
    workdir.mkdir(parents=True, exist_ok=True)
    srcs = []
    h = hashlib.sha256(str(verilator_root()).encode())
    for s in UNIT_SOURCES + TB_SOURCES:
        text = s.read_text()
        if mutate and s.name in mutate:
            for old, new in mutate[s.name]:
                assert text.count(old) == 1, f"mutation target not found once in {s.name}: {old!r}"
                text = text.replace(old, new)
            s = workdir / s.name
            s.write_text(text)
        h.update(s.name.encode() + b"\0" + text.encode() + b"\0")
        srcs.append(s)
    stamp = h.hexdigest()
    exe, stamp_file = workdir / "fp32_tb", workdir / "stamp"
    if exe.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return exe
    stamp_file.unlink(missing_ok=True)
    shutil.rmtree(workdir / "obj", ignore_errors=True)
    cmd = [str(verilator_root() / "bin" / "verilator"), "--cc", "--exe", "--build", "-j", "2",
           "-O3", "--x-assign", "unique", "--x-initial", "unique", "--top-module", "fp32_tb_top",
           "--Mdir", "obj", "-o", str(exe)] + [str(s) for s in srcs]
    r = subprocess.run(cmd, cwd=workdir, env=verilator_env(), capture_output=True, text=True)
    (workdir / "build.log").write_text(r.stdout + r.stderr)
    assert r.returncode == 0 and exe.is_file(), \
        f"harness build failed:\n{(r.stdout + r.stderr)[-3000:]}"
    stamp_file.write_text(stamp)
    return exe


class Harness:
    def __init__(self, exe: Path, workdir: Path):
        self.exe, self.workdir = exe, workdir

    def run(self, unit: str, a, b=None, p_drop=0.1, p_gap=0.1, seed=1, plusargs=()):
        """Results (uint32) of harness unit `unit` for operands a, b (uint32 arrays);
        asserts the measured latency. plusargs: "+name" switches for $test$plusargs (the
        mutants). Returns (results, seconds)."""
        a = np.asarray(a, dtype=np.uint32)
        b = np.zeros_like(a) if b is None else np.asarray(b, dtype=np.uint32)
        idx, lat = UNITS[unit]
        fin, fout = self.workdir / f"in_{unit}.bin", self.workdir / f"out_{unit}.bin"
        np.stack([a, b], axis=1).astype("<u4").tofile(fin)
        t0 = time.perf_counter()
        r = subprocess.run([str(self.exe), str(idx), str(fin), str(fout), str(p_drop),
                            str(p_gap), str(seed), *plusargs], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        assert r.returncode == 0, f"harness failed on {unit}: {r.stderr}{r.stdout}"
        got_lat = int(r.stdout.split()[1])
        assert got_lat == lat, f"{unit}: latency {got_lat}, documented {lat}"
        out = np.fromfile(fout, dtype="<u4")
        assert out.size == a.size
        return out.astype(np.uint32), dt
