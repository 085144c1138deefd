"""The shipped bireal-tiny checkpoint: hash, weights_only load, deployed accuracy as recorded."""
import shutil

import pytest
import torch

from model import pretrained
from model.errors import BiRealError


def test_shipped_checkpoint_matches_its_record():
    rec = pretrained.record("bireal-tiny", "fixed8")
    p = pretrained.shipped("bireal-tiny", "fixed8")
    assert p is not None and pretrained.sha256(p) == rec["sha256"]
    state = torch.load(p, map_location="cpu", weights_only=True)
    assert state["arch"] == "bireal-tiny" and "optimizer" not in state
    acc = pretrained.deployed_accuracy(p, rec["data"])
    assert acc == rec["test_acc"] and acc >= 0.985


def test_changed_checkpoint_is_refused(tmp_path, monkeypatch):
    for f in pretrained.WEIGHTS.iterdir():
        shutil.copy(f, tmp_path / f.name)
    rec = pretrained.record("bireal-tiny", "fixed8")
    with open(tmp_path / rec["file"], "ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(pretrained, "WEIGHTS", tmp_path)
    with pytest.raises(BiRealError, match="sha256 .* differs"):
        pretrained.shipped("bireal-tiny", "fixed8")
    assert pretrained.shipped("bireal-cifar", "fixed8") is None
