"""The shipped bireal-tiny checkpoints (fixed8, float32): hash, weights_only load, deployed
accuracy as recorded."""
import shutil

import pytest
import torch

from model import pretrained
from model.errors import BiRealError


@pytest.mark.parametrize("shortcut", ["fixed8", "float32"])
def test_shipped_checkpoint_matches_its_record(shortcut):
    rec = pretrained.record("bireal-tiny", shortcut)
    p = pretrained.shipped("bireal-tiny", shortcut)
    assert p is not None and pretrained.sha256(p) == rec["sha256"]
    state = torch.load(p, map_location="cpu", weights_only=True)
    assert state["arch"] == "bireal-tiny" and "optimizer" not in state
    assert state["quant"]["shortcut"]["kind"] == ("fixed" if shortcut == "fixed8" else "float32")
    acc = pretrained.deployed_accuracy(p, rec["data"])
    assert acc == rec["test_acc"]
    if shortcut == "fixed8":        # the default job's model: the first-run accuracy target
        assert acc >= 0.985


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
