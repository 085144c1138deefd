"""Train-step time: Brevitas Bi-Real vs the plain-PyTorch reference, same batch, one run.

    .venv/bin/python bench/bench_train_step.py [--arch bireal-tiny] [--batch 64] [--steps 10]

Both models hold the same weights; each step is forward + cross-entropy + backward + Adam.
Prints median seconds per step for each and the ratio Brevitas / reference (measured side
by side in this run, alternating, after warm-up).
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
import torch.nn.functional as F

from model import bireal
from model.reference import ReferenceBiReal


def step(net, opt, x, y):
    t = time.perf_counter()
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="bireal-tiny")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = bireal(a.arch).train()
    ref = ReferenceBiReal(a.arch).train()
    ref.load_state_dict(net.state_dict(), strict=False)
    s = net.spec
    x = torch.randint(0, 256, (a.batch, s.in_ch, s.in_size, s.in_size)) / 256.0
    y = torch.randint(0, net.num_classes, (a.batch,))
    with torch.no_grad():
        same = torch.equal(net(x), ref(x))
    opts = [torch.optim.Adam(m.parameters(), 1e-3) for m in (net, ref)]
    for _ in range(2):
        step(net, opts[0], x, y), step(ref, opts[1], x, y)
    tb, tr = [], []
    for _ in range(a.steps):
        tb.append(step(net, opts[0], x, y))
        tr.append(step(ref, opts[1], x, y))
    mb, mr = statistics.median(tb), statistics.median(tr)
    print(f"{a.arch}, batch {a.batch}, {a.threads} thread(s), {a.steps} steps each "
          f"(forward outputs identical before training: {same})")
    print(f"  brevitas  train step  {mb * 1e3:8.1f} ms")
    print(f"  reference train step  {mr * 1e3:8.1f} ms")
    print(f"  ratio brevitas/reference  {mb / mr:.2f}x")


if __name__ == "__main__":
    main()
