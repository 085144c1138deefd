"""`bireal` command line, sim stage: adds `sim` to hw.cli's commands and ends the default
job with the simulated accelerator's verdict (the console entry point lives in the last stage).
"""
from __future__ import annotations

import sys
from pathlib import Path

from hw import cli as hw_cli
from model import cli as model_cli
from model import guard
from model.errors import BiRealError


def check_sim(a):
    """A complete compile folder whose export has the golden images asked for."""
    guard.need_int("--images", a.images, 1)
    if not 0.0 <= a.backpressure < 1.0:
        raise BiRealError(f"--backpressure must be in [0, 1), got {a.backpressure}")
    info = guard.need_build(a.build, "sim")
    onnx = Path(info["onnx"])
    if not onnx.is_file():
        raise BiRealError(f"{Path(a.build) / 'compile.json'} names the export {onnx}, which is "
                          "gone (the golden images sit next to it): recompile from an export")
    guard.project_export(onnx, a.images)


def check_synth(a):
    guard.need_build(a.build, "synth")


def check_timing(a):
    guard.need_build(a.build, "timing", files=("rtl_model.onnx", "rtl"))
    guard.need_int("--jobs", a.jobs, 1)
    guard.need_positive("--freq", a.freq)


def cmd_sim(a):
    from .run import format_sim, simulate
    res = simulate(a.build, images=a.images, backpressure=a.backpressure, seed=a.seed)
    print(format_sim(res))
    print(f"files        {Path(a.build) / 'sim.json'}")
    if not res["bit_exact"]:
        sys.exit(1)


def cmd_synth(a):
    from .synth_design import synth_design
    res = synth_design(a.build, per_unit=a.per_unit)
    print((Path(a.build) / "synth.txt").read_text().rstrip())
    print(f"files        {Path(a.build) / 'synth.json'} ({res['seconds']:.0f} s, family {res['family']})")


def cmd_timing(a):
    from .timing import check
    res = check(a.build, kinds=a.kinds, freq=a.freq, jobs=a.jobs, use_cache=not a.no_cache)
    print((Path(a.build) / "timing.txt").read_text().rstrip())
    print(f"files        {Path(a.build) / 'timing.json'} ({res['seconds']:.0f} s)")
    if not res["pass"]:
        sys.exit(1)


def check_hls4ml(a):
    from model.quant import SHORTCUT_MODES
    guard.need_int("--trace-images", a.trace_images, 1)
    info = guard.project_export(a.onnx, a.images)
    mode = info.get("shortcut", "fixed8")
    if a.shortcut is not None and a.shortcut not in SHORTCUT_MODES:
        raise BiRealError(f"--shortcut must be one of {', '.join(SHORTCUT_MODES)}, "
                          f"got {a.shortcut!r}")
    if a.shortcut is not None and a.shortcut != mode:
        raise BiRealError(f"--shortcut {a.shortcut}: {a.onnx} was exported with shortcut "
                          f"{mode} (its export.json)")
    if a.build is not None:
        from hw.hls4ml_flow.flow import sim_logits
        sim_logits(Path(a.build))


def cmd_hls4ml(a):
    from hw.hls4ml_flow.flow import format_result, run
    res = run(a.onnx, a.board, a.out, shortcut=a.shortcut, images=a.images, build=a.build,
              trace_images=a.trace_images)
    print(format_result(res))
    print(f"files        {Path(a.out) / 'hls4ml.json'}, HLS project {Path(a.out) / 'prj'}")
    agree = res.get("three_way", {}).get("agree", True)
    if not (res["bit_exact"] and agree):
        sys.exit(1)


def add_commands(sub):
    s = sub.add_parser("hls4ml", help="the export through hls4ml 1.3.0 (Vitis, io_stream): "
                                      "its C++ emulation checked bit for bit against PyTorch "
                                      "(and a Verilator sim), the HLS project for the board")
    s.add_argument("--onnx", required=True, help="model.onnx written by `bireal export`")
    s.add_argument("--board", default="pynq-z2", choices=hw_cli.BOARD_NAMES)
    s.add_argument("--shortcut", help="fixed8 or float32 (default: the export's, export.json)")
    s.add_argument("--out", required=True)
    s.add_argument("--images", type=int, help="golden images run (default: all the export has)")
    s.add_argument("--trace-images", type=int, default=20,
                   help="images of the per-layer trace comparison (default 20)")
    s.add_argument("--build", help="a `bireal sim`-ed compile folder (or `bireal build` DIR): "
                                   "adds the RTL simulation to a three-way verdict")
    s.set_defaults(fn=cmd_hls4ml, check=check_hls4ml)
    s = sub.add_parser("sim", help="cycle-accurate Verilator simulation of the compiled "
                                   "accelerator, every output checked against PyTorch")
    s.add_argument("--build", required=True, help="folder written by `bireal compile --out`")
    s.add_argument("--images", type=int, help="frames to stream (default: every golden image "
                                              "of the export, 100 by default)")
    s.add_argument("--backpressure", type=float, default=0.0,
                   help="probability the output is not ready in a cycle (default 0)")
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(fn=cmd_sim, check=check_sim)
    s = sub.add_parser("synth", help="Yosys synth_xilinx of the compiled accelerator: "
                                     "post-synthesis LUT/FF/BRAM/DSP beside the analytical ones")
    s.add_argument("--build", required=True, help="folder written by `bireal compile --out`")
    s.add_argument("--per-unit", action="store_true",
                   help="also synthesize one layer of every RTL unit type on its own")
    s.set_defaults(fn=cmd_synth, check=check_synth)
    s = sub.add_parser("timing", help="per-unit timing check: one node of each unit kind "
                                      "placed and routed out of context (nextpnr-ecp5) for "
                                      "its Fmax and critical path, plus Yosys ltp logic depth")
    s.add_argument("--build", required=True, help="folder written by `bireal compile --out`")
    s.add_argument("--kinds", nargs="+", metavar="OP_TYPE",
                   help="only these unit kinds (op_type, e.g. XnorMVAU_rtl); default all")
    s.add_argument("--freq", type=float, default=None,
                   help="target clock in MHz (default: the build's clock, 100)")
    s.add_argument("--jobs", type=int, default=1, help="units in parallel (default 1)")
    s.add_argument("--no-cache", action="store_true", help="ignore cached results")
    s.set_defaults(fn=cmd_timing, check=check_timing)


def cmd_run(a):
    """Default job: model stage, FINN compile + RTL, then the simulated accelerator's verdict."""
    from .run import format_sim, simulate
    hw_cli.cmd_run(a)
    out = Path(a.out) / "hw"
    print(f"\n[sim] Verilator cycle-accurate simulation of the whole accelerator, "
          f"{a.images} images -> {out / 'sim.json'}")
    res = simulate(out, images=a.images)
    print("\n== bireal verdict ==")
    print(format_sim(res))
    if not res["bit_exact"]:
        sys.exit(1)


def parser():
    from model.nets import ARCHS

    from .build import add_command as add_build
    p = hw_cli.parser()
    sub = next(x for x in p._actions if x.__class__.__name__ == "_SubParsersAction")
    add_commands(sub)
    add_build(sub, hw_cli.BOARD_NAMES, sorted(ARCHS))
    from .synth_bg import add_command as add_report
    add_report(sub)
    run = sub.choices["run"]
    run.set_defaults(fn=cmd_run)
    run.description = ("default job: train -> export -> check -> FINN compile + RTL -> "
                       "Verilator simulation verdict")
    return p


def tool_errors() -> tuple:
    """The sim stage's error classes a user can act on (a tool failed or is missing)."""
    from .synth import SynthError
    from .tools import ToolMissing
    from .verilate import SimError, VerilateError
    return (SynthError, ToolMissing, VerilateError, SimError)


def main(argv=None):
    model_cli.main(argv, parser, errors=tool_errors())


if __name__ == "__main__":
    main()
