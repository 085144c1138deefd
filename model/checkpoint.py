"""Checkpoints: plain dicts of tensors and numbers, written atomically, read with
`torch.load(weights_only=True)`; a checkpoint names its arch and number formats."""
from __future__ import annotations

from pathlib import Path

import torch

from .errors import BiRealError
from .export import atomic_write
from .nets import ARCHS, BiRealNet, QuantConfig, bireal

FORMAT = "bireal-checkpoint-1"


def save_checkpoint(path, net: BiRealNet, **extra):
    state = {"format": FORMAT, "arch": net.spec.name, "num_classes": net.num_classes,
             "quant": net.q.to_dict(), "state_dict": net.state_dict(), **extra}
    atomic_write(Path(path), lambda t: torch.save(state, t), ".pt")


def load_checkpoint(path, arch: str | None = None) -> dict:
    """Load and validate; `arch` (if given) must match the checkpoint's arch."""
    p = Path(path)
    if not p.is_file():
        raise BiRealError(f"checkpoint not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on garbage (IndexError, EOFError…)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BiRealError(f"checkpoint {p} is corrupt or not a bireal checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise BiRealError(f"checkpoint {p} is not a bireal checkpoint (no '{FORMAT}' marker)")
    if state.get("arch") not in ARCHS:
        raise BiRealError(f"checkpoint {p} has unknown arch {state.get('arch')!r}")
    if arch is not None and state["arch"] != arch:
        raise BiRealError(f"checkpoint {p} is for arch {state['arch']}, not {arch}")
    return state


def model_from_checkpoint(path, arch: str | None = None) -> BiRealNet:
    state = load_checkpoint(path, arch)
    net = bireal(state["arch"], num_classes=state["num_classes"],
                 q=QuantConfig.from_dict(state["quant"]))
    try:
        net.load_state_dict(state["state_dict"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise BiRealError(f"checkpoint {path}: weights do not fit {state['arch']} ({first})") from None
    net.set_binary(True)
    return net.eval()
