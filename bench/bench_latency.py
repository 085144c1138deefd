"""bireal18 forward latency at batch 1 on this CPU: Brevitas model (eval), plain-PyTorch
reference (eval) and the deployed integer model, measured side by side in one run.

    .venv/bin/python bench/bench_latency.py [--arch bireal18] [--reps 10] [--threads N]
"""
import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

import torch

from model import bireal
from model.deploy import deploy
from model.reference import ReferenceBiReal


@torch.no_grad()
def latency(fn, x, reps):
    fn(x)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(x)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="bireal18")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = bireal(a.arch).eval()
    ref = ReferenceBiReal(a.arch).eval()
    ref.load_state_dict(net.state_dict(), strict=False)
    dep = deploy(net)
    s = net.spec
    x = torch.randint(0, 256, (1, s.in_ch, s.in_size, s.in_size)) / 256.0
    res = {name: latency(m, x, a.reps) for name, m in
           (("brevitas", net), ("reference", ref), ("deployed", dep))}
    print(f"{a.arch} forward, batch 1, {torch.get_num_threads()} thread(s), median of {a.reps}")
    for k, v in res.items():
        print(f"  {k:10s} {v * 1e3:8.1f} ms   ({v / res['reference']:.2f}x reference)")


if __name__ == "__main__":
    main()
