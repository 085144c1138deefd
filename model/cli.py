"""`bireal` command line: info, train, export, verify-export, run (the default job), data.

Every command checks its inputs before it starts (its parser's `check`, model.guard) and
writes its --out all or nothing (model.guard.staged / swapped); `main` turns the project's
error classes into one `bireal: error: ...` line and exit code 2."""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path

from . import guard
from .errors import BiRealError
from .nets import ARCHS
from .quant import SHORTCUT_MODES
from .train import TrainConfig

SHORTCUT_HELP = (f"shortcut number format: {' or '.join(SHORTCUT_MODES)} (default fixed8: "
                 "8-bit fixed point; float32: IEEE binary32 real-valued path)")


def _images_for(arch: str, n: int, data: str | None, root: str | None, seed: int = 0):
    """N golden test images: the arch's dataset if it is available offline, else random."""
    import torch
    from .data import load_dataset
    spec = ARCHS[arch]
    data = data or spec.dataset
    if data in ("mnist5k", "digits") or root:
        ds = load_dataset(data, "test", root)
        n = min(n, len(ds))
        return torch.stack([ds[i][0] for i in range(n)]), f"{data} test split, first {n}"
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, spec.in_ch, spec.in_size, spec.in_size), generator=g)
    return x.float() / 256, f"random uint8 images (seed {seed}): no offline {data} data given"


def cmd_info(a):
    from .info import arch_info, format_info
    info = arch_info(a.arch, a.num_classes)
    print(json.dumps(info) if a.json else format_info(info))


def train_config(a) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(a).items() if k in names and v is not None})


def check_train(a):
    """Arch, dataset, shortcut and every number of the recipe, before any data is loaded."""
    from .data import _check_name
    from .nets import get_arch
    from .quant import shortcut_mode
    c = train_config(a)
    get_arch(c.arch)
    _check_name(c.data)
    shortcut_mode(c.shortcut, c.shortcut_bits, c.shortcut_frac)
    guard.need_int("--epochs1", c.epochs1, 0)
    guard.need_int("--epochs2", c.epochs2, 0)
    if c.epochs1 + c.epochs2 < 1:
        raise BiRealError(f"--epochs1 {c.epochs1} + --epochs2 {c.epochs2}: train at least 1 epoch")
    for k in ("batch_size", "bn_recal_batches"):
        guard.need_int("--" + k.replace("_", "-"), getattr(c, k), 1)
    for k in ("workers", "threads", "limit", "bn_freeze"):
        guard.need_int("--" + k.replace("_", "-"), getattr(c, k), 0)
    guard.need_positive("--lr", c.lr)
    guard.need_positive("--lr2", c.lr2)
    if not 0 <= c.ema < 1 or not c.weight_decay >= 0:
        raise BiRealError(f"--ema must be in [0, 1) and --weight-decay >= 0, got {c.ema} and "
                          f"{c.weight_decay}")
    if c.data_root is not None and not Path(c.data_root).is_dir():
        raise BiRealError(f"--data-root {c.data_root} is not a folder")
    if c.resume and (Path(c.out) / "checkpoint.pt").exists():
        from .checkpoint import load_checkpoint
        load_checkpoint(Path(c.out) / "checkpoint.pt", arch=c.arch)


def cmd_train(a):
    import os
    from .train import train
    cfg = train_config(a)
    if cfg.resume or int(os.environ.get("RANK", "0")) != 0:
        m = train(cfg)              # --resume continues OUT in place; other ranks write nothing
    else:
        with guard.staged(cfg.out, ("checkpoint.pt", "metrics.json", "curves.png")) as tmp:
            m = train(cfg, write_dir=tmp)
    if m["rank"] != 0:
        return
    kind = "float32" if cfg.shortcut == "float32" else "integer"
    print(f"done: test_acc (deployed {kind} model) {m['test_acc']:.4f}, "
          f"float-BN eval {m['test_acc_float']:.4f}; wrote {Path(a.out) / 'checkpoint.pt'}, "
          f"metrics.json, curves.png")


def do_export(a, write_dir=None) -> dict:
    """Export into write_dir (default a.out); messages name a.out."""
    import torch
    from .checkpoint import model_from_checkpoint
    from .deploy import deploy
    from .export import export_model
    from .nets import bireal
    from .quant import mode_name, shortcut_mode
    mode = getattr(a, "shortcut", None)
    if mode is not None:
        shortcut_mode(mode)                     # one clear error for a bad name
    guard.need_int("--images", a.images, 1)
    if a.ckpt:
        net = model_from_checkpoint(a.ckpt, a.arch)
        src = f"checkpoint {a.ckpt}"
        if mode is not None and mode != mode_name(net.q.shortcut):
            raise BiRealError(f"checkpoint {a.ckpt} was trained with --shortcut "
                              f"{mode_name(net.q.shortcut)}, not {mode}; retrain to change it")
    elif a.arch and a.random_init:
        torch.manual_seed(a.seed)
        net = bireal(a.arch, shortcut=mode or "fixed8").eval()
        src = f"random init (seed {a.seed})"
    else:
        raise BiRealError("export needs --ckpt FILE, or --arch A with --random-init")
    x, desc = _images_for(net.spec.name, a.images, a.data, a.data_root, a.seed)
    info = export_model(deploy(net, a.affine_bits), x, write_dir or a.out,
                        meta={"weights": src, "golden_inputs": desc})
    print(f"exported {info['arch']} ({src}) to {Path(a.out) / 'model.onnx'} with golden "
          f"tensors for {info['images']} images ({desc})")
    return info


def do_verify(d: Path, limit: int | None = None) -> dict:
    import numpy as np
    from .export import save_json, verify_onnx
    from tqdm import tqdm
    gi, go = d / "golden_in.npy", d / "golden_out.npy"
    for f in (gi, go, d / "model.onnx"):
        if not f.is_file():
            raise BiRealError(f"missing {f}; run `bireal export --out {d}` first")
    x, y = np.load(gi), np.load(go)
    if limit:
        x, y = x[:limit], y[:limit]
    gf = None
    if (d / "golden_float.npz").is_file():      # float32 shortcut: float tensors, tolerance 0
        with np.load(d / "golden_float.npz") as z:
            gf = {k: z[k][:limit] if limit else z[k] for k in z.files}
    r = verify_onnx(d / "model.onnx", x, y, golden_float=gf,
                    progress=lambda it: tqdm(it, desc="qonnx execute", leave=False, disable=None))
    save_json(d / "export_check.json", r)
    verdict = "OK" if r["ok"] else "MISMATCH"
    print(f"export check {verdict}: qonnx execute_onnx vs PyTorch on {r['images']} images, "
          f"max |diff| {r['max_abs_diff']:.3g} (tolerance {r['tolerance']}), "
          f"argmax identical: {r['identical_argmax']}, bit-exact: {r['bit_exact']}"
          + (f"; float32 residual adds on {r['float_images']} images bit for bit: "
             f"{r['float_bit_exact']}" if "float_bit_exact" in r else ""))
    return r


EXPORT_OWNED = guard.EXPORT_FILES + ("golden_float.npz", "export_check.json")


def check_export(a):
    guard.need_int("--images", a.images, 1)
    guard.need_int("--affine-bits", a.affine_bits, 8, 24)     # model.deploy.DeployBiReal
    if a.ckpt:
        from .checkpoint import load_checkpoint
        load_checkpoint(a.ckpt, a.arch)
    elif not (a.arch and a.random_init):
        raise BiRealError("export needs --ckpt FILE, or --arch A with --random-init")
    if a.data_root is not None and not Path(a.data_root).is_dir():
        raise BiRealError(f"--data-root {a.data_root} is not a folder")


def cmd_export(a):
    with guard.staged(a.out, EXPORT_OWNED) as tmp:    # a new export replaces the old files
        do_export(a, write_dir=tmp)


def check_verify(a):
    guard.need_int("--images", a.images, 1)
    d = Path(a.dir)
    if not d.is_dir():
        raise BiRealError(f"--dir {d} is not a folder (give the folder `bireal export --out` "
                          "wrote)")
    guard.project_export(d / "model.onnx", a.images)


def cmd_verify(a):
    r = do_verify(Path(a.dir), a.images)
    if not r["ok"]:
        sys.exit(1)


def check_run(a):
    """The default job's numbers (each stage adds its own checks)."""
    guard.need_int("--epochs1", a.epochs1, 0)
    guard.need_int("--epochs2", a.epochs2, 0)
    if a.epochs1 + a.epochs2 < 1:
        raise BiRealError(f"--epochs1 {a.epochs1} + --epochs2 {a.epochs2}: train at least 1 epoch")
    guard.need_int("--images", a.images, 1)
    guard.need_int("--threads", a.threads, 0)
    from .data import _check_name
    _check_name(a.data)


def cmd_run(a):
    """The default job: train bireal-tiny on MNIST-5k (both stages) -> export -> verify."""
    from .train import train
    out = Path(a.out)
    t0 = time.time()
    print(f"[1/3] training {a.arch} on {a.data} (stage 1: {a.epochs1} epochs real-valued, "
          f"stage 2: {a.epochs2} epochs binary) -> {out}")
    m = train(TrainConfig(arch=a.arch, data=a.data, out=str(out), epochs1=a.epochs1,
                          epochs2=a.epochs2, threads=a.threads, seed=a.seed))
    t1 = time.time()
    print(f"[2/3] exporting QONNX + golden tensors for {a.images} test images")
    ex = argparse.Namespace(ckpt=str(out / "checkpoint.pt"), arch=a.arch, random_init=False,
                            images=a.images, data=a.data, data_root=None, seed=a.seed,
                            affine_bits=16, out=str(out))
    info = do_export(ex)
    print("[3/3] verifying the QONNX file against PyTorch")
    r = do_verify(out)
    t2 = time.time()
    report = {"arch": a.arch, "data": a.data, "test_acc": m["test_acc"],
              "test_acc_float": m["test_acc_float"], "train_seconds": round(t1 - t0, 1),
              "export_check": r, "total_seconds": round(t2 - t0, 1), "export": info,
              "sources": {"test_acc": "deployed integer PyTorch model on the 1,000 held-out "
                                      "MNIST-5k digits (metrics.json)",
                          "export_check": "qonnx execute_onnx of model.onnx vs PyTorch "
                                          "(export_check.json)"}}
    from .export import save_json
    save_json(out / "report.json", report)
    print("\n== bireal report ==")
    sc = info['quant']['shortcut']
    desc = ("float32 shortcut" if sc["kind"] == "float32" else
            f"{sc['bits']}-bit shortcut (2^-{sc['frac']} scale)")
    print(f"model        {a.arch}, {desc}, {info['quant']['w_bits']}-bit stem/FC")
    print(f"accuracy     {m['test_acc'] * 100:.2f} % on 1,000 held-out digits (deployed integer "
          f"model; float-BN eval {m['test_acc_float'] * 100:.2f} %)")
    print(f"export       {out / 'model.onnx'}: {'bit-exact' if r['bit_exact'] else 'NOT exact'}"
          f" vs PyTorch on {r['images']} images (max |diff| {r['max_abs_diff']:.3g})")
    print(f"time         train {t1 - t0:.0f} s, total {t2 - t0:.0f} s")
    print(f"files        {out}/ checkpoint.pt metrics.json curves.png model.onnx golden_*.npy "
          f"report.json")
    if not r["ok"]:
        sys.exit(1)


def cmd_download(a):
    from .data import download_cifar10
    print(f"CIFAR-10 ready in {download_cifar10(a.root)}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bireal", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    archs = sorted(ARCHS)

    s = sub.add_parser("info", help="parameters, MACs/OPs and weight memory per layer")
    s.add_argument("--arch", required=True)
    s.add_argument("--num-classes", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("train", help="two-stage training (real-valued, then binary)")
    s.add_argument("--arch", default="bireal-tiny")
    s.add_argument("--data", default="mnist5k")
    s.add_argument("--data-root")
    s.add_argument("--out", required=True)
    for k, t in (("epochs1", int), ("epochs2", int), ("batch-size", int), ("lr", float),
                 ("lr2", float), ("ema", float), ("bn-freeze", int), ("weight-decay", float),
                 ("shortcut-bits", int), ("shortcut-frac", int), ("w-bits", int), ("seed", int),
                 ("workers", int), ("threads", int), ("limit", int), ("bn-recal-batches", int)):
        s.add_argument(f"--{k}", type=t)
    s.add_argument("--shortcut", help=SHORTCUT_HELP)
    s.add_argument("--grad-variant", choices=["paper", "official"])
    s.add_argument("--resume", action="store_true",
                   help="continue OUT/checkpoint.pt in place (without it OUT is written all or "
                        "nothing at the end)")
    s.set_defaults(fn=cmd_train, check=check_train)

    s = sub.add_parser("export", help="QONNX + golden tensors (deployed integer model)")
    s.add_argument("--ckpt")
    s.add_argument("--arch")
    s.add_argument("--random-init", action="store_true")
    s.add_argument("--out", required=True)
    s.add_argument("--images", type=int, default=100)
    s.add_argument("--data")
    s.add_argument("--data-root")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--affine-bits", type=int, default=16)
    s.add_argument("--shortcut", help=SHORTCUT_HELP + " (with --random-init; a checkpoint "
                                      "keeps its own)")
    s.set_defaults(fn=cmd_export, check=check_export)

    s = sub.add_parser("verify-export", help="qonnx execution of DIR/model.onnx vs golden")
    s.add_argument("--dir", required=True)
    s.add_argument("--images", type=int)
    s.set_defaults(fn=cmd_verify, check=check_verify)

    s = sub.add_parser("run", help="default job: train bireal-tiny -> export -> verify")
    s.add_argument("--arch", default="bireal-tiny", choices=archs)
    s.add_argument("--data", default="mnist5k")
    s.add_argument("--out", default="runs/default")
    s.add_argument("--epochs1", type=int, default=TrainConfig.epochs1)
    s.add_argument("--epochs2", type=int, default=TrainConfig.epochs2)
    s.add_argument("--images", type=int, default=100)
    s.add_argument("--threads", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=cmd_run, check=check_run, swap_out=True)

    s = sub.add_parser("download-cifar10", help="fetch + md5-check the CIFAR-10 binary tarball")
    s.add_argument("--root", required=True)
    s.set_defaults(fn=cmd_download)
    return p


def run_command(args):
    """`check` (inputs, before any work), then the command; `swap_out` jobs (run) write --out
    all or nothing through guard.swapped."""
    if getattr(args, "check", None):
        args.check(args)
    if getattr(args, "swap_out", False):
        with guard.swapped(args.out):
            args.fn(args)
    else:
        args.fn(args)


def main(argv=None, make_parser=None, errors: tuple = ()):
    """Parse and run; a later stage passes its extended `make_parser` (see hw.cli) and its own
    error classes (`errors`: tool failures the user can act on). Those and BiRealError become
    one `bireal: error:` line (a tool's log tail follows, indented) and exit code 2; any
    other exception is a bug and keeps its traceback."""
    warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="qonnx")
    args = (make_parser or parser)().parse_args(argv)
    try:
        run_command(args)
    except (BiRealError, *errors) as e:
        lines = str(e).strip().splitlines() or [type(e).__name__]
        print(f"bireal: error: {lines[0]}", file=sys.stderr)
        for ln in lines[1:]:
            print(f"    {ln}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bireal: interrupted (no --out was changed: outputs are written all or nothing)",
              file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
