"""`bireal compile`: exported QONNX -> verified HW graph + folding + estimates in one folder.

DIR/ after a run:
  model_hw.onnx          parent graph: one StreamingDataflowPartition + host Mul/Flatten
  dataflow_model.onnx    the partition: every HW layer, folded
  folding_config.json    FINN's folding format (PE/SIMD/... per node)
  estimates.json/.png    per-layer cycles and resources, fit check, bottleneck, FPS
  verify.json/.txt       per-step, per-layer bit-exactness against PyTorch
  build.log              FINN's own chatter
"""
from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from pathlib import Path

import numpy as np

from model import guard
from model.errors import BiRealError
from model.export import atomic_write, save_json

from .flow import FlowConfig, STEPS, partition_model, partition_node, run_steps, step_name
from .verify import StepVerifier, format_report


def load_golden(onnx_path: Path, images: int | None):
    d = Path(onnx_path).parent
    gi, go = d / "golden_in.npy", d / "golden_out.npy"
    for f in (gi, go):
        if not f.is_file():
            raise BiRealError(f"missing {f}: `bireal export` writes it next to model.onnx")
    x, y = np.load(gi), np.load(go)
    if images is not None:
        if images < 1:
            raise BiRealError(f"--images must be >= 1, got {images}")
        x, y = x[:images], y[:images]
    return x, y


def _save_text(path: Path, text: str):
    def w(t):
        Path(t).write_text(text)
    atomic_write(path, w, ".txt")


def _save_onnx(path: Path, model):
    atomic_write(path, lambda t: model.save(t), ".onnx")


class _Progress:
    """One line per build step (log friendly) + a tqdm bar over images on a terminal."""

    def __init__(self, verifier: StepVerifier, log, quiet: bool):
        self.v, self.log, self.quiet, self.i = verifier, log, quiet, 0

    def __call__(self, name, model):
        ok = self.v(name, model)
        s = self.v.steps[-1]
        if not self.quiet:
            verdict = "exact" if ok else ("ERROR" if s["error"] else
                                          f"MISMATCH on {s['mismatching_images']} images"
                                          if s["mismatching_images"] else "LAYER MISMATCH")
            obs = [x for x in s["layers"] if x["status"] != "not observable"]
            print(f"  [{self.i:2d}/{len(STEPS) + 1}] {name:26s} {verdict:>8s}  layers "
                  f"{sum(x['status'] == 'exact' for x in obs)}/{len(obs)} exact  "
                  f"({s['transform_seconds']:.1f} s + verify {s['verify_seconds']:.1f} s)",
                  file=self.log, flush=True)
        self.i += 1
        return ok


def shortcut_of(onnx_path) -> str:
    """The export's shortcut mode (export.json next to model.onnx; fixed8 when absent)."""
    f = Path(onnx_path).parent / "export.json"
    try:
        return json.loads(f.read_text()).get("shortcut") or "fixed8"
    except (OSError, ValueError):
        return "fixed8"


def verify_flow(onnx_path, out_dir, images: int | None = 100, cfg: FlowConfig | None = None,
                quiet: bool = False, keep: dict | None = None):
    """Run the build steps with verification after each; writes verify.json/.txt.
    `keep` (a dict) receives the verifier callback ("check") to verify later steps with."""
    import sys
    from tqdm import tqdm
    guard.project_export(onnx_path, images)
    gi, go = load_golden(Path(onnx_path), images)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = cfg or FlowConfig()
    cfg.build_dir = cfg.build_dir or str(out / "build")
    err = sys.stderr                   # FINN's chatter is redirected below, progress is not
    ver = StepVerifier(gi, go, progress=lambda it, **k: tqdm(
        it, file=err, disable=True if quiet else None, **k))
    if not quiet:
        print(f"building + verifying {onnx_path} on {len(gi)} images after every step",
              file=sys.stderr)
    log = io.StringIO()
    prog = _Progress(ver, sys.stderr, quiet)
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = run_steps(onnx_path, cfg, prog)
    _save_text(out / "build.log", log.getvalue())
    rep = _save_verify(out, ver, onnx_path, ["export"] + [step_name(f) for f in STEPS])
    if keep is not None:
        keep.update(check=prog, verifier=ver, log=log)
    return model, rep


def _save_verify(out: Path, ver: StepVerifier, onnx_path, steps: list[str]) -> dict:
    rep = ver.report()
    rep["onnx"] = str(onnx_path)
    rep["step_list"] = steps
    save_json(out / "verify.json", rep)
    _save_text(out / "verify.txt", format_report(rep) + "\n")
    return rep


# a compile folder's files and the results derived from them (a new compile replaces them all)
COMPILE_OWNED = ("model_hw.onnx", "dataflow_model.onnx", "rtl_model.onnx", "rtl", "build",
                 "folding_config.json", "estimates.json", "estimates.png", "estimates.txt",
                 "estimates_finn.json", "verify.json", "verify.txt", "build.log",
                 "rtl_report.json", "compile.json", "fifo_sizing.json", "sim", "sim.json",
                 "synth", "synth.json", "synth.txt", "timing", "timing.json", "timing.txt",
                 "vivado")


def check_compile(onnx_path, board: str, target_fps=None, folding=None, clock_mhz=None,
                  images=None, target_cycles=None) -> float:
    """Every input of compile_model, before the (minute-long) build steps; returns the clock.
    A target faster than the input stream allows names the fastest reachable one: the first
    layer takes at most one pixel (all channels) per clock cycle, so cycles/frame >= H * W."""
    from .boards import get_board
    from .folding import target_from_fps
    b = get_board(board)
    if sum(x is not None for x in (target_fps, folding, target_cycles)) > 1:
        raise BiRealError("give one of --target-fps, --target-cycles, --folding, not both")
    guard.need_positive("--target-fps", target_fps)
    guard.need_int("--target-cycles", target_cycles, 1)
    guard.need_positive("--clock-mhz", clock_mhz)
    clock = clock_mhz or b.clock_mhz
    if folding is not None:
        cfg = guard.need_json(folding, "folding file")
        if not all(isinstance(v, dict) for v in cfg.values()):
            raise BiRealError(f"folding file {folding}: expected {{\"<node name>\": {{\"PE\": "
                              "..}, ...}} (FINN folding_config.json format)")
    guard.project_export(onnx_path, images)
    m = guard.read_onnx(onnx_path)
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) == 4 and all(dims) and (target_fps or target_cycles):
        least = dims[2] * dims[3]
        fps_max = clock * 1e6 / least
        want = target_cycles or target_from_fps(target_fps, clock)
        if want < least:
            raise BiRealError(
                f"{'--target-fps %g' % target_fps if target_fps else '--target-cycles %d' % want}"
                f" is out of reach: the accelerator reads at most one {dims[2]}x{dims[3]} image "
                f"pixel per cycle, so a frame takes >= {least} cycles; reachable: --target-fps "
                f"<= {fps_max:.0f} at {clock:g} MHz (--target-cycles >= {least})")
    return clock


def compile_model(onnx_path, out_dir, board: str = "pynq-z2", target_fps: float | None = None,
                  folding: str | None = None, clock_mhz: float | None = None,
                  images: int | None = 100, quiet: bool = False,
                  target_cycles: int | None = None, weight_load: str = "auto",
                  sizing_growth: dict | None = None) -> dict:
    """Check every input, then compile into a temporary sibling of out_dir renamed at the end
    (model.guard.staged: a failure leaves out_dir as it was). weight_load: "auto" lets weight
    memories go to URAM, loaded at run time through wload_V (UltraScale+ boards only; see
    hw.memory), "off" keeps every weight memory a ROM. sizing_growth (resource -> amount:
    what FIFO sizing added to a previous build) goes to the automatic folding
    (hw.rtl_folding.fold_rtl growth)."""
    if weight_load not in ("auto", "off"):
        raise BiRealError(f"--weight-load must be auto or off, got {weight_load!r}")
    clock = check_compile(onnx_path, board, target_fps, folding, clock_mhz, images,
                          target_cycles)
    with guard.staged(out_dir, COMPILE_OWNED) as work:
        return _compile(onnx_path, work, Path(out_dir), board, clock, target_fps, folding,
                        images, quiet, target_cycles, weight_load, sizing_growth)


def _compile(onnx_path, out: Path, final: Path, board, clock, target_fps, folding, images,
             quiet, target_cycles, weight_load="auto", sizing_growth=None) -> dict:
    """compile_model's work in folder `out`; paths stored in the files name `final`."""
    from qonnx.custom_op.registry import getCustomOp
    from . import estimates as E
    from . import folding as F
    from .boards import get_board
    t0 = time.time()
    b = get_board(board)
    keep: dict = {}
    parent, rep = verify_flow(onnx_path, out, images, quiet=quiet, keep=keep)
    if not rep["bit_exact"]:
        fd = rep["first_difference"]
        raise BiRealError(f"verification failed at step {fd['step']}, layer {fd['layer']} "
                          f"(nothing written to {final}; rerun `bireal verify --out DIR` for "
                          "the per-step report)")
    child0 = partition_model(parent)
    from .memory import LOAD_META
    child0.set_metadata_prop(LOAD_META, weight_load)     # read by hw.memory (URAM allowed?)
    log = keep["log"]
    from .rtl_flow import float_rtl_missing
    missing = float_rtl_missing(child0)
    if missing:
        _graph_only(parent, child0, out, b, clock, folding, target_fps, target_cycles, keep,
                    onnx_path)
        raise BiRealError(f"float32 RTL not available ({', '.join(missing)} missing in hw.ops): "
                          f"stopped after the verified graph and its estimates in {out}")
    if folding:
        child = F.load_folding(child0, folding)
        how = f"user folding file {folding}"
        est = E.estimate(child, board, clock_mhz=clock)
        rtl, rrep = _specialize(child, b.part, log)
    else:
        # no target: the fastest folding that fits. The folding is chosen on the RTL units
        # (fused shortcuts, affine requants, project MVAUs) and the fit decided on the
        # estimate of the finished design (hw.rtl_folding), then copied back to FINN's graph
        # so folding_config.json rebuilds the same design through --folding.
        from .rtl_folding import copy_back, fold_rtl
        target = (F.target_from_fps(target_fps, clock) if target_fps else
                  target_cycles or 1)
        mapped, mrep = _specialize(child0, b.part, log, stage="map")
        rtl, folded, frep = fold_rtl(mapped, b, target, clock_mhz=clock,
                                     finish=lambda m: _specialize(m, b.part, log, stage="finish",
                                                                  extra=sizing_growth),
                                     growth=sizing_growth)
        rrep = {**mrep, **frep.pop("finish"), "folding_search": frep}
        if not frep["fits"]:
            rrep["rtl_fits"] = False
        child = copy_back(child0, folded)
        how = ((f"auto: target {frep['requested_cycles']} cycles/frame"
                + (f" ({target_fps:g} FPS at {clock:g} MHz)" if target_fps else ""))
               if (target_fps or target_cycles) else f"auto: fastest folding that fits {board}"
               ) + f", achieved {frep['achieved_cycles']} cycles/frame, decided on the " \
            "estimate of the RTL design"
        if sizing_growth:
            how += ("; judged with what FIFO sizing added to a previous build: " + ", ".join(
                f"+{v} {k}" for k, v in sizing_growth.items() if v))
        if frep.get("warning"):
            how += f"; {frep['warning']}"
        if not frep["fits"]:
            how += (f"; the RTL design does not fit {board} at any folding searched: kept "
                    f"{frep['achieved_cycles']} cycles/frame")
        if target_fps and frep["est_fps"] < target_fps:
            how += (f"; target {target_fps:g} FPS not reached: the fastest folding that fits "
                    f"{board} reaches {frep['est_fps']:.0f} FPS at {clock:g} MHz")
        est = E.estimate(child, board, clock_mhz=clock)     # FINN's graph at that folding
    sdp = partition_node(parent)
    _save_onnx(out / "dataflow_model.onnx", child)
    getCustomOp(sdp).set_nodeattr("model", str((final / "dataflow_model.onnx").resolve()))
    _save_onnx(out / "model_hw.onnx", parent)
    save_json(out / "folding_config.json", F.folding_config(child))
    est["folding"] = how
    est["target_fps"] = target_fps
    save_json(out / "estimates_finn.json", est)
    # RTL: this project's units + finn-rtllib, FIFOs sized, HDL written, verified again
    rep = build_rtl(parent, rtl, out, b, clock, keep, onnx_path, final)
    save_json(out / "rtl_report.json", rrep)
    est = E.estimate(rtl, board, clock_mhz=clock)
    est["folding"] = how
    est["target_fps"] = target_fps
    est["rtl"] = rrep
    est["shortcut"] = shortcut_of(onnx_path)
    save_json(out / "estimates.json", est)
    E.plot_estimates(est, out / "estimates.png")
    _save_text(out / "estimates.txt", E.format_estimates(est) + "\n")
    summary = {"onnx": str(onnx_path), "board": board, "clock_mhz": clock,
               "bit_exact": rep["bit_exact"], "images": rep["images"],
               "part": b.part, "rtl_layers": len(rtl.graph.node),
               "shortcuts_fused": sum(r["fused"] for r in rrep["shortcut_fusion"]),
               "est_fps": est["est_fps"], "bottleneck_cycles": est["bottleneck_cycles"],
               "bottleneck_layer": est.get("bottleneck_layer"), "fits": est.get("fits"),
               "folding": how, "seconds": round(time.time() - t0, 1),
               "weight_load": weight_load, "weight_load_bits": est["weight_load"]["bits"],
               "files": ["model_hw.onnx", "dataflow_model.onnx", "rtl_model.onnx", "rtl/",
                         "folding_config.json", "estimates.json", "estimates.png",
                         "estimates.txt", "estimates_finn.json", "verify.json", "verify.txt",
                         "build.log"]}
    save_json(out / "compile.json", summary)
    return summary


def _graph_only(parent, child0, out: Path, b, clock, folding, target_fps, target_cycles, keep,
                onnx_path):
    """The float32 path without its RTL backends: fold the mapped units (project units + the
    float layer classes) on their own estimates (no FIFOs / width converters: those need the
    finished RTL design), write model_hw / dataflow_model / folding_config / estimates, and
    verify the mapped unit graph (rtl_units_model.onnx) against PyTorch as step "rtl_units"."""
    import copy
    from qonnx.custom_op.registry import getCustomOp
    from .rtl_flow import python_exec
    log = keep["log"]
    from . import estimates as E
    from . import folding as F
    from .rtl_folding import copy_back, fold_rtl
    if folding:
        child, how = F.load_folding(child0, folding), f"user folding file {folding}"
        mapped, rrep = _specialize(child, b.part, log, stage="map")
    else:
        target = F.target_from_fps(target_fps, clock) if target_fps else target_cycles or 1
        m0, mrep = _specialize(child0, b.part, log, stage="map")
        mapped, folded, frep = fold_rtl(m0, b, target, clock_mhz=clock,
                                        finish=lambda m: (m, {"finished": False}))
        child = copy_back(child0, folded)
        rrep = {**mrep, "folding_search": {k: v for k, v in frep.items() if k != "finish"}}
        how = (f"auto: {frep['achieved_cycles']} cycles/frame, decided on the units' estimate "
               "(float32 RTL not available: no FIFOs / width converters counted)")
    sdp = partition_node(parent)
    _save_onnx(out / "dataflow_model.onnx", child)
    getCustomOp(sdp).set_nodeattr("model", str((out / "dataflow_model.onnx").resolve()))
    _save_onnx(out / "model_hw.onnx", parent)
    save_json(out / "folding_config.json", F.folding_config(child))
    est = E.estimate(mapped, b.name, clock_mhz=clock)
    est.update(folding=how, target_fps=target_fps, rtl=rrep, shortcut=shortcut_of(onnx_path),
               rtl_available=False)
    save_json(out / "estimates.json", est)
    _save_text(out / "estimates.txt", E.format_estimates(est) + "\n")
    _save_onnx(out / "rtl_units_model.onnx", python_exec(copy.deepcopy(mapped)))
    vparent = copy.deepcopy(parent)
    getCustomOp(partition_node(vparent)).set_nodeattr(
        "model", str((out / "rtl_units_model.onnx").resolve()))
    keep["check"]("rtl_units", vparent)
    _save_text(out / "build.log", log.getvalue())
    rep = _save_verify(out, keep["verifier"], onnx_path,
                       ["export"] + [step_name(f) for f in STEPS] + ["rtl_units"])
    if not rep["bit_exact"]:
        raise BiRealError(f"the RTL-unit graph differs from PyTorch at layer "
                          f"{rep['first_difference']['layer']} (see {out / 'verify.json'})")
    return est


def _specialize(child, part: str, log, stage: str = "all", **kw):
    """hw.rtl_flow's map_rtl ("map"), finish_rtl ("finish", kw: its extra) or both ("all") on
    a copy, FINN's chatter into the build log."""
    import copy
    from . import rtl_flow
    fn = {"map": rtl_flow.map_rtl, "finish": rtl_flow.finish_rtl,
          "all": rtl_flow.specialize_rtl}[stage]
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(copy.deepcopy(child), part, **kw)


def build_rtl(parent, rtl, out: Path, b, clock: float, keep: dict, onnx_path, final=None):
    """The RTL graph's HDL into out/rtl/<layer>/, saved as out/rtl_model.onnx, then verified
    against PyTorch like every build step ("rtl")."""
    import copy
    from qonnx.custom_op.registry import getCustomOp
    from .rtl_flow import generate_rtl, python_exec
    log = keep["log"]
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generate_rtl(rtl, out / "rtl", b.part, 1000.0 / clock)
    python_exec(rtl)
    _save_onnx(out / "rtl_model.onnx", rtl)
    vparent = copy.deepcopy(parent)
    getCustomOp(partition_node(vparent)).set_nodeattr("model", str((out / "rtl_model.onnx").resolve()))
    keep["check"]("rtl", vparent)
    _save_text(out / "build.log", log.getvalue())
    rep = _save_verify(out, keep["verifier"], onnx_path,
                       ["export"] + [step_name(f) for f in STEPS] + ["rtl"])
    if not rep["bit_exact"]:
        fd = rep["first_difference"]
        raise BiRealError(f"the RTL graph differs from PyTorch at layer {fd['layer']} "
                          f"(nothing written to {final or out})")
    if final is not None and final != out:         # the HDL folders where they will be
        _save_onnx(out / "rtl_model.onnx", repoint(copy.deepcopy(rtl), out, final))
    return rep


def repoint(model, old: Path, new: Path):
    """Every string attribute naming a path under folder `old` names it under `new`."""
    o, n = str(Path(old).resolve()), str(Path(new).resolve())
    for node in model.graph.node:
        for a in node.attribute:
            v = a.s.decode(errors="replace") if a.type == a.STRING else ""
            if v == o or v.startswith(o + "/"):
                a.s = (n + v[len(o):]).encode()
    return model


def print_summary(s: dict, out: Path):
    est = json.loads((out / "estimates.json").read_text())
    print((out / "verify.txt").read_text().rstrip().splitlines()[-1])
    print((out / "estimates.txt").read_text().rstrip())
    print(f"folding      {s['folding']}")
    print(f"estimate     {est['bottleneck_cycles']} cycles/frame (bottleneck "
          f"{est.get('bottleneck_layer')}), {est['est_fps']:.0f} FPS at {s['clock_mhz']} MHz on "
          f"{s['board']}; fits: {s['fits']}")
    print(f"files        {out}/ " + " ".join(s["files"]))
