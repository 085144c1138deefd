"""`bireal` command line: info, train, export, verify-export, run (the default job), data."""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path

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


def cmd_train(a):
    from .train import train
    names = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(a).items() if k in names and v is not None})
    m = train(cfg)
    if m["rank"] != 0:
        return
    kind = "float32" if cfg.shortcut == "float32" else "integer"
    print(f"done: test_acc (deployed {kind} model) {m['test_acc']:.4f}, "
          f"float-BN eval {m['test_acc_float']:.4f}; wrote {Path(a.out) / 'checkpoint.pt'}, "
          f"metrics.json, curves.png")


def do_export(a) -> dict:
    import torch
    from .checkpoint import model_from_checkpoint
    from .deploy import deploy
    from .export import export_model
    from .nets import bireal
    from .quant import mode_name, shortcut_mode
    mode = getattr(a, "shortcut", None)
    if mode is not None:
        shortcut_mode(mode)                     # one clear error for a bad name
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
    info = export_model(deploy(net, a.affine_bits), x, a.out,
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


def cmd_export(a):
    do_export(a)


def cmd_verify(a):
    r = do_verify(Path(a.dir), a.images)
    if not r["ok"]:
        sys.exit(1)


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
    s.add_argument("--resume", action="store_true")
    s.set_defaults(fn=cmd_train)

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
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("verify-export", help="qonnx execution of DIR/model.onnx vs golden")
    s.add_argument("--dir", required=True)
    s.add_argument("--images", type=int)
    s.set_defaults(fn=cmd_verify)

    s = sub.add_parser("run", help="default job: train bireal-tiny -> export -> verify")
    s.add_argument("--arch", default="bireal-tiny", choices=archs)
    s.add_argument("--data", default="mnist5k")
    s.add_argument("--out", default="runs/default")
    s.add_argument("--epochs1", type=int, default=TrainConfig.epochs1)
    s.add_argument("--epochs2", type=int, default=TrainConfig.epochs2)
    s.add_argument("--images", type=int, default=100)
    s.add_argument("--threads", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("download-cifar10", help="fetch + md5-check the CIFAR-10 binary tarball")
    s.add_argument("--root", required=True)
    s.set_defaults(fn=cmd_download)
    return p


def main(argv=None, make_parser=None):
    """Parse and run; a later stage passes its extended `make_parser` (see hw.cli)."""
    warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="qonnx")
    args = (make_parser or parser)().parse_args(argv)
    try:
        args.fn(args)
    except BiRealError as e:
        print(f"bireal: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
