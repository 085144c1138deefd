"""Validate the accelerator of this deploy package.

    python validate.py [--backend pynq|sim] [--limit N] [--batch B] [--golden G]
                       [--dir DEPLOY_DIR] [--out validate.json]

1. accuracy = correct / n: top-1 of the accelerator's logits vs testset.npz labels (when the
   labels are PyTorch's own top-1, label_source says so and this is agreement with PyTorch);
2. bit-exactness: logits of the first G golden images == PyTorch's float32 logits, exactly.
Writes validate.json (default: in the deploy folder) and prints a summary; exit 1 if not
bit-exact. Backend pynq = measured on the board; sim = cycle-accurate Verilator simulation.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from driver import BirealAccelerator, DeployError, write_json

SOURCE = {"pynq": "measured on board", "sim": "cycle-accurate simulation (Verilator) of the "
          "compiled RTL; same driver path as the board"}


class _Plain:
    """Progress without tqdm: one line per ~10 %."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.n, self.next = total, desc, 0, 0

    def update(self, k: int):
        self.n += k
        if self.n >= self.next or self.n == self.total:
            print(f"{self.desc}: {self.n}/{self.total}", file=sys.stderr, flush=True)
            self.next = self.n + max(1, self.total // 10)

    def close(self):
        pass


def progress(total: int, desc: str):
    """A tqdm bar if tqdm is importable (and the run is long enough to care), else _Plain."""
    try:
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, unit="img", file=sys.stderr)
    except ImportError:
        return _Plain(total, desc)


def run_images(acc: BirealAccelerator, px: np.ndarray, divisor: float, desc: str):
    """(logits float32, accelerator seconds) of images px (float image = px / divisor)."""
    sec, bar = [0.0], progress(len(px), desc)

    def step(n, s):
        sec[0] += s
        bar.update(n)
    try:
        logits = acc.execute(px.astype(np.float32) / np.float32(divisor), on_batch=step)
    finally:
        bar.close()
    return logits, sec[0]


def validate(deploy_dir: Path, backend: str, limit: int | None, batch: int,
             golden: int | None) -> dict:
    ts_path = deploy_dir / "testset.npz"
    if not ts_path.is_file():
        raise DeployError(f"{ts_path} not found")
    ts = np.load(ts_path)
    acc = BirealAccelerator(deploy_dir, backend=backend, batch_size=batch)
    n = len(ts["labels"]) if limit is None else min(limit, len(ts["labels"]))
    logits, sec = run_images(acc, ts["images"][:n], float(ts["pixel_divisor"]), "test set")
    top1 = acc.topk(logits, 1)[:, 0]
    correct = int((top1 == ts["labels"][:n]).sum())
    g = len(ts["golden_logits"]) if golden is None else min(golden, len(ts["golden_logits"]))
    res = {"backend": backend, "source": SOURCE[backend], "board": acc.cfg.get("board"),
           "arch": acc.cfg.get("arch"), "n": n, "correct": correct,
           "accuracy": correct / n if n else None,
           "metric": ("accuracy vs true labels" if str(ts["metric"]) == "accuracy" else
                      "top-1 agreement with PyTorch (labels are PyTorch's top-1)"),
           "label_source": str(ts["label_source"]), "golden_checked": g,
           "accelerator_seconds": sec, "accelerator_seconds_source": acc.last_run.get("source")}
    if g:
        gl, _ = run_images(acc, ts["golden_images"][:g], float(ts["golden_divisor"]), "golden")
        want = ts["golden_logits"][:g].astype(np.float32)
        bad = np.flatnonzero(~np.all(gl == want, axis=1))
        res.update(bit_exact_vs_pytorch=bool(len(bad) == 0), golden_mismatches=len(bad),
                   first_mismatch=int(bad[0]) if len(bad) else None,
                   max_abs_diff=float(np.max(np.abs(gl - want))))
    else:
        res.update(bit_exact_vs_pytorch=None, golden_mismatches=None, first_mismatch=None,
                   max_abs_diff=None)
    return res


def summary(r: dict) -> str:
    acc = "n/a" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f} %"
    if r["bit_exact_vs_pytorch"] is None:
        ex = "not checked (--golden 0)"
    elif r["bit_exact_vs_pytorch"]:
        ex = f"bit-exact on {r['golden_checked']}/{r['golden_checked']} golden images"
    else:
        ex = (f"MISMATCH on {r['golden_mismatches']}/{r['golden_checked']} golden images "
              f"(first {r['first_mismatch']}, max |diff| {r['max_abs_diff']:g})")
    return (f"{r['metric']}: {acc} ({r['correct']}/{r['n']}; {r['label_source']})\n"
            f"logits vs PyTorch: {ex}\nbackend {r['backend']}: {r['source']}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("pynq", "sim"), default="pynq")
    p.add_argument("--limit", type=int, default=None, help="first N test images (default all)")
    p.add_argument("--batch", type=int, default=64, help="frames per DMA transfer (default 64)")
    p.add_argument("--golden", type=int, default=None,
                   help="golden images checked bit-exact (default all stored)")
    p.add_argument("--dir", type=Path, default=HERE, help="deploy folder (default: this script's)")
    p.add_argument("--out", type=Path, default=None, help="default DIR/validate.json")
    a = p.parse_args(argv)
    if a.limit is not None and a.limit < 1:
        p.error(f"--limit must be >= 1, got {a.limit}")
    if a.batch < 1:
        p.error(f"--batch must be >= 1, got {a.batch}")
    if a.golden is not None and a.golden < 0:
        p.error(f"--golden must be >= 0, got {a.golden}")
    try:
        r = validate(a.dir.resolve(), a.backend, a.limit, a.batch, a.golden)
    except DeployError as e:
        print(f"validate: {e}", file=sys.stderr)
        return 2
    out = a.out or a.dir / "validate.json"
    write_json(out, r)
    print(summary(r))
    print(f"wrote {out}")
    return 1 if r["bit_exact_vs_pytorch"] is False else 0


if __name__ == "__main__":
    sys.exit(main())
