"""Two-stage Bi-Real training (Liu et al. 2018, Sec. 3.4 / 4.1).

Stage 1: real-valued weights, clip(-1, x, 1) activations (set_binary(False)).
Stage 2: binary net (sign / alpha*sign(W)) initialized from stage 1's weights.
Adam, learning rate decayed to 0 within each stage (cosine), cross-entropy loss.
CPU by default; under `torchrun` it runs DistributedDataParallel (rank 0 writes files).

Writes into OUT: checkpoint.pt (atomic, after every epoch; `--resume` continues from it),
metrics.json (per epoch; final `test_acc` is the accuracy of the *deployed* integer model,
i.e. what the hardware computes) and curves.png.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .checkpoint import load_checkpoint, save_checkpoint
from .data import load_dataset, make_loader
from .deploy import deploy
from .errors import BiRealError
from .export import save_json
from .layers import BinaryConv2d
from .nets import QuantConfig, bireal, get_arch
from .quant import shortcut_mode


@dataclass
class TrainConfig:
    arch: str = "bireal-tiny"
    data: str = "mnist5k"
    out: str = "runs/tiny"
    data_root: str | None = None
    # defaults: the measured recipe of the default job (bireal-tiny on MNIST-5k, see README)
    epochs1: int = 6           # stage 1: real-valued weights, clip activations
    epochs2: int = 20          # stage 2: binary
    batch_size: int = 64
    lr: float = 3e-3           # Adam learning rate, stage 1
    lr2: float | None = 1e-3    # stage 2 (None: same as lr)
    weight_decay: float = 1e-4  # not applied to binary conv weights
    grad_variant: str = "official"
    shortcut: str = "fixed8"   # fixed8 (fixed point, shortcut_bits/frac) or float32
    shortcut_bits: int = 8
    shortcut_frac: int = 4
    w_bits: int = 8
    seed: int = 0
    workers: int = 0
    threads: int = 0           # torch CPU threads (0: leave default)
    limit: int = 0             # use only the first N training images (0: all); for quick tests
    bn_recal_batches: int = 40  # re-estimate BN statistics on this many batches before eval
    ema: float = 0.0           # stage 2: evaluate/keep an EMA of the latent weights (0: off)
    bn_freeze: int = 5         # last N epochs of stage 2 train with frozen (recalibrated) BN stats
    resume: bool = False
    progress: bool | None = None  # None: tqdm only on a terminal


def _dist():
    """(rank, world, device); initializes torch.distributed under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if torch.cuda.is_available():
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    return rank, world, dev


def _optimizer(net: nn.Module, cfg: TrainConfig, lr: float, epochs: int, steps: int):
    binary = {id(m.conv.weight) for m in net.modules() if isinstance(m, BinaryConv2d)}
    params = [p for p in net.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if id(p) in binary], "weight_decay": 0.0},
              {"params": [p for p in params if id(p) not in binary],
               "weight_decay": cfg.weight_decay}]
    opt = torch.optim.Adam(groups, lr=lr)
    total = max(1, epochs * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    return opt, sched


class WeightEMA:
    """Exponential moving average of parameters: p_ema <- d p_ema + (1-d) p, per step.
    For a binary net, sign(EMA(W)) is a majority vote over recent steps; it removes the
    step-to-step sign flipping of latent weights near zero. BN statistics are re-estimated
    for the averaged weights (recalibrate_bn)."""

    def __init__(self, net: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: p.detach().clone() for k, p in net.named_parameters()}

    @torch.no_grad()
    def update(self, net: nn.Module):
        for k, p in net.named_parameters():
            self.shadow[k].mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)

    @torch.no_grad()
    def swap(self, net: nn.Module):
        """Exchange the live and averaged parameters (call twice to undo)."""
        for k, p in net.named_parameters():
            tmp = p.detach().clone()
            p.copy_(self.shadow[k])
            self.shadow[k] = tmp


@torch.no_grad()
def recalibrate_bn(net: nn.Module, loader, device, batches: int):
    """Re-estimate BN running statistics as the plain average over `batches` training batches.
    The running averages kept during training lag behind weights whose signs keep flipping;
    eval (and the deployed integer model) must see the statistics of the final weights."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns or batches <= 0:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                       # cumulative average
    net.train()
    for i, (x, _) in enumerate(loader):
        if i >= batches:
            break
        net(x.to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    net.eval()


@torch.no_grad()
def evaluate(net: nn.Module, loader, device) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy as a fraction)."""
    net.eval()
    loss = correct = n = 0
    for x, y in loader:
        x, y = x.to(device), torch.as_tensor(y).to(device)
        out = net(x)
        loss += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
        n += len(y)
    return loss / max(n, 1), correct / max(n, 1)


def plot_curves(metrics: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ep = metrics["epochs"]
    xs = [e["epoch"] + 1 for e in ep]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(xs, [e["train_loss"] for e in ep], label="train")
    a1.plot(xs, [e["test_loss"] for e in ep], label="test")
    a1.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    a2.plot(xs, [e["train_acc"] for e in ep], label="train")
    a2.plot(xs, [e["test_acc_float"] for e in ep], label="test (float BN)")
    dep = [(x, e["test_acc_deployed"]) for x, e in zip(xs, ep) if e["test_acc_deployed"] is not None]
    if dep:
        a2.plot(*zip(*dep), "o-", label="test (deployed integer model)")
    a2.set(xlabel="epoch", ylabel="accuracy", title=f"{metrics['arch']} on {metrics['data']}")
    for a in (a1, a2):
        e1 = metrics["config"]["epochs1"]
        if 0 < e1 < len(xs):
            a.axvline(e1 + 0.5, color="gray", ls="--", lw=0.8)
        a.legend()
        a.grid(alpha=0.3)
    fig.tight_layout()
    from .export import atomic_write
    atomic_write(path, lambda t: fig.savefig(t, format="png", dpi=100), ".png")
    plt.close(fig)


def _progress(it, enabled, desc):
    if enabled is False:
        return it
    from tqdm import tqdm
    return tqdm(it, desc=desc, leave=False, disable=None if enabled is None else not enabled)


def train(cfg: TrainConfig, log=print, write_dir=None) -> dict:
    """Run both stages; returns the metrics dict (also written to OUT/metrics.json).
    write_dir: write the files there instead of cfg.out (`bireal train` stages its output)."""
    spec = get_arch(cfg.arch)
    rank, world, device = _dist()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(write_dir or cfg.out)
    # float32: shortcut_bits/frac format the returns to integers (downsample input, head)
    q = QuantConfig(shortcut=shortcut_mode(cfg.shortcut, cfg.shortcut_bits, cfg.shortcut_frac),
                    w_bits=cfg.w_bits, grad_variant=cfg.grad_variant)
    train_ds = load_dataset(cfg.data, "train", cfg.data_root)
    test_ds = load_dataset(cfg.data, "test", cfg.data_root)
    x0, _ = train_ds[0]
    if tuple(x0.shape) != (spec.in_ch, spec.in_size, spec.in_size):
        raise BiRealError(f"dataset {cfg.data} gives images of shape {tuple(x0.shape)} but "
                          f"{cfg.arch} expects ({spec.in_ch}, {spec.in_size}, {spec.in_size})")
    if cfg.limit:
        train_ds = torch.utils.data.Subset(train_ds, range(min(cfg.limit, len(train_ds))))
    classes = getattr(test_ds, "classes", None)
    net = bireal(cfg.arch, num_classes=len(classes) if classes else spec.classes, q=q).to(device)

    metrics = {"arch": cfg.arch, "data": cfg.data, "config": asdict(cfg), "epochs": []}
    start, opt_state = 0, None
    ck = out / "checkpoint.pt"
    if cfg.resume and ck.exists():
        state = load_checkpoint(ck, arch=cfg.arch)
        if state.get("quant", q.to_dict())["shortcut"] != q.to_dict()["shortcut"]:
            raise BiRealError(f"{ck} was trained with shortcut {state['quant']['shortcut']}, "
                              f"not {q.to_dict()['shortcut']}; use another --out to change it")
        net.load_state_dict(state["state_dict"])
        start, opt_state = state["epoch"] + 1, state.get("optimizer")
        metrics["epochs"] = state.get("metrics", {}).get("epochs", [])
        log(f"resumed from {ck} after epoch {start}")
    total = cfg.epochs1 + cfg.epochs2
    if total < 1 or cfg.epochs1 < 0 or cfg.epochs2 < 0:
        raise BiRealError(f"epochs1={cfg.epochs1}, epochs2={cfg.epochs2}: need >= 0 and a total >= 1")

    sampler = (torch.utils.data.distributed.DistributedSampler(train_ds, seed=cfg.seed)
               if world > 1 else None)
    train_dl = make_loader(train_ds, cfg.batch_size, shuffle=True, workers=cfg.workers,
                           seed=cfg.seed, sampler=sampler)
    test_dl = make_loader(test_ds, 256, shuffle=False, workers=cfg.workers)
    # BN recalibration sees un-augmented training images (less noise than augmented ones)
    recal_ds = load_dataset(cfg.data, "train", cfg.data_root, augment=False)
    if cfg.limit:
        recal_ds = torch.utils.data.Subset(recal_ds, range(min(cfg.limit, len(recal_ds))))
    recal_dl = make_loader(recal_ds, cfg.batch_size, shuffle=True, workers=cfg.workers,
                           seed=cfg.seed + 1)
    model = nn.parallel.DistributedDataParallel(net) if world > 1 else net
    opt = sched = ema = None
    t_start = time.time()
    for epoch in range(start, total):
        stage = 1 if epoch < cfg.epochs1 else 2
        net.set_binary(stage == 2)
        if opt is None or epoch == cfg.epochs1:
            n_ep = cfg.epochs1 if stage == 1 else cfg.epochs2
            lr = cfg.lr if stage == 1 or cfg.lr2 is None else cfg.lr2
            opt, sched = _optimizer(net, cfg, lr, n_ep, len(train_dl))
            first = cfg.epochs1 if stage == 2 else 0
            if opt_state is not None and epoch > first:   # resuming inside a stage
                opt.load_state_dict(opt_state["opt"])
                sched.load_state_dict(opt_state["sched"])
            opt_state = None
            ema = WeightEMA(net, cfg.ema) if stage == 2 and cfg.ema > 0 else None
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        # never the first binary epoch: its statistics would be those of the stage-1 net
        frozen = stage == 2 and epoch >= max(total - cfg.bn_freeze, cfg.epochs1 + 1)
        if frozen:
            # train against the fixed normalization the deployed integer model uses; the
            # statistics were re-estimated at the end of the previous epoch
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        t0, loss_sum, correct, n = time.time(), 0.0, 0, 0
        for x, y in _progress(train_dl, cfg.progress and rank == 0,
                              f"stage {stage} epoch {epoch + 1}/{total}"):
            x, y = x.to(device), torch.as_tensor(y).to(device)
            out_ = model(x)
            loss = F.cross_entropy(out_, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update(net)
            loss_sum += loss.item() * len(y)
            correct += (out_.argmax(1) == y).sum().item()
            n += len(y)
        if ema is not None:
            ema.swap(net)               # evaluate and checkpoint the averaged weights
        if not frozen:
            recalibrate_bn(net, recal_dl, device, cfg.bn_recal_batches)
        net.eval()
        if rank == 0:
            test_loss, acc_f = evaluate(net, test_dl, device)
            acc_d = evaluate(deploy(net).to(device), test_dl, device)[1] if stage == 2 else None
            rec = {"epoch": epoch, "stage": stage, "bn_frozen": frozen,
                   "lr": opt.param_groups[0]["lr"],
                   "train_loss": loss_sum / max(n, 1), "train_acc": correct / max(n, 1),
                   "test_loss": test_loss, "test_acc_float": acc_f, "test_acc_deployed": acc_d,
                   "seconds": time.time() - t0}
            metrics["epochs"].append(rec)
            log(f"stage {stage} epoch {epoch + 1:3d}/{total}  loss {rec['train_loss']:.4f}  "
                f"train {rec['train_acc']:.4f}  test(float BN) {acc_f:.4f}"
                + (f"  test(deployed) {acc_d:.4f}" if acc_d is not None else "")
                + f"  {rec['seconds']:.1f}s")
            metrics["test_acc"] = acc_d
            metrics["test_acc_float"] = acc_f
            metrics["train_seconds"] = metrics.get("train_seconds", 0.0) + rec["seconds"]
            save_checkpoint(ck, net, epoch=epoch, stage=stage, metrics=metrics,
                            optimizer={"opt": opt.state_dict(), "sched": sched.state_dict()})
            save_json(out / "metrics.json", metrics)
            plot_curves(metrics, out / "curves.png")
        if ema is not None and epoch + 1 < total:
            ema.swap(net)               # continue training the live weights
        if world > 1:
            dist.barrier()
    metrics["rank"] = rank
    if rank != 0:                       # rank 0 evaluates and writes; the others are done
        return metrics
    if "test_acc" not in metrics or metrics["test_acc"] is None:
        # nothing left to train (resumed a finished run) or no binary stage: measure now
        net.set_binary(True)
        metrics["test_acc"] = evaluate(deploy(net).to(device), test_dl, device)[1]
        if "test_acc_float" not in metrics:
            metrics["test_acc_float"] = evaluate(net, test_dl, device)[1]
        save_json(out / "metrics.json", metrics)
    metrics["wall_seconds"] = time.time() - t_start
    return metrics
