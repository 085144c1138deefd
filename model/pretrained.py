"""Checkpoints shipped with the project (model/weights/), checked before use.

Each `<name>.pt` has a `<name>.json` beside it recording its sha256, the command that trained
it and the accuracy its deployed integer model reaches on the held-out test digits
(`test_acc`, a fraction; tests/test_pretrained.py re-measures it). `shipped(arch, shortcut)`
returns the path after checking the hash, so a changed file is refused, not deployed.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import BiRealError

WEIGHTS = Path(__file__).resolve().parent / "weights"


def record(arch: str, shortcut: str = "fixed8") -> dict | None:
    """The JSON record of the shipped checkpoint for (arch, shortcut), or None."""
    f = WEIGHTS / f"{arch}-{shortcut}.json"
    return json.loads(f.read_text()) if f.is_file() else None


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shipped(arch: str, shortcut: str = "fixed8") -> Path | None:
    """Path of the shipped checkpoint for (arch, shortcut) after its sha256 check; None when
    none is shipped. A file whose hash differs from its record is an error."""
    rec = record(arch, shortcut)
    if rec is None:
        return None
    p = WEIGHTS / rec["file"]
    if not p.is_file():
        raise BiRealError(f"shipped checkpoint {p} is missing (its record {p.with_suffix('.json')} "
                          "exists)")
    got = sha256(p)
    if got != rec["sha256"]:
        raise BiRealError(f"shipped checkpoint {p}: sha256 {got} differs from the recorded "
                          f"{rec['sha256']}; the file was changed")
    return p


def deployed_accuracy(ckpt, data: str = "mnist5k") -> float:
    """Test accuracy (fraction) of the deployed integer model of checkpoint `ckpt` on the
    held-out split of `data` (loaded with torch.load(weights_only=True))."""
    import torch

    from .checkpoint import model_from_checkpoint
    from .data import load_dataset, make_loader
    from .deploy import deploy
    from .train import evaluate
    net = deploy(model_from_checkpoint(ckpt))
    with torch.no_grad():
        return evaluate(net, make_loader(load_dataset(data, "test"), 256, shuffle=False),
                        "cpu")[1]
