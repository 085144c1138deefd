"""`bireal` command line, hw stage: adds `verify` and `compile` to model.cli's commands.

Data flows one way (model -> hw -> sim), so the console entry point lives in the last stage
that exists and extends the parser of the stage before it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from model import cli as model_cli
from model import guard

VERIFY_OWNED = ("verify.json", "verify.txt", "build.log", "build")

BOARD_NAMES = ["pynq-z2", "zcu104"]


def check_export_arg(a):
    guard.project_export(a.onnx, a.images)


def cmd_verify_flow(a):
    from .compile import verify_flow
    with guard.staged(a.out, VERIFY_OWNED) as tmp:    # a mismatch is a result: kept, exit 1
        _, rep = verify_flow(a.onnx, tmp, a.images)
    print((Path(a.out) / "verify.txt").read_text().rstrip())
    if not rep["bit_exact"]:
        sys.exit(1)


def cmd_compile(a):
    from .compile import compile_model, print_summary
    s = compile_model(a.onnx, a.out, board=a.board, target_fps=a.target_fps, folding=a.folding,
                      clock_mhz=a.clock_mhz, images=a.images, target_cycles=a.target_cycles,
                      weight_load=a.weight_load)
    print_summary(s, Path(a.out))


def add_commands(sub):
    s = sub.add_parser("verify", help="run the FINN build steps, checking every step against "
                                      "PyTorch (per-step, per-layer report)")
    s.add_argument("--onnx", required=True, help="model.onnx written by `bireal export`")
    s.add_argument("--out", required=True)
    s.add_argument("--images", type=int, help="golden images checked (default: all the export "
                                              "has)")
    s.set_defaults(fn=cmd_verify_flow, check=check_export_arg)
    s = sub.add_parser("compile", help="QONNX -> verified FINN dataflow graph, folding, "
                                       "estimates")
    s.add_argument("--onnx", required=True, help="model.onnx written by `bireal export`")
    s.add_argument("--board", default="pynq-z2", choices=BOARD_NAMES)
    g = s.add_mutually_exclusive_group()
    g.add_argument("--target-fps", type=float, help="frames/s at the clock -> cycles/frame")
    g.add_argument("--target-cycles", type=int, help="cycles per frame of the slowest layer")
    g.add_argument("--folding", help="folding_config.json (FINN format) to apply instead")
    s.add_argument("--clock-mhz", type=float, help="default: the board's (100 / 200 MHz)")
    s.add_argument("--images", type=int,
                   help="golden images checked after every step (default: all the export has)")
    s.add_argument("--weight-load", default="auto", choices=("auto", "off"),
                   help="auto: weight memories may go to URAM (UltraScale+), loaded at run "
                        "time through the wload_V stream; off: all weights are ROMs")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_compile)


def cmd_run(a):
    """Default job: model stage (train -> export -> check), then the FINN compile."""
    from .compile import compile_model, print_summary
    model_cli.cmd_run(a)
    out = Path(a.out) / "hw"
    print(f"\n[hw] FINN compile for {a.board}: build steps verified on {a.images} images "
          f"-> {out}")
    s = compile_model(Path(a.out) / "model.onnx", out, board=a.board, images=a.images)
    print("\n== bireal hw report ==")
    print_summary(s, out)


def parser():
    p = model_cli.parser()
    sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
    add_commands(sub)
    run = sub.choices["run"]
    run.add_argument("--board", default="pynq-z2", choices=BOARD_NAMES)
    run.set_defaults(fn=cmd_run)
    run.description = "default job: train -> export -> check -> FINN compile + estimates"
    return p


def main(argv=None):
    model_cli.main(argv, parser)


if __name__ == "__main__":
    main()
