"""QONNX export equals the PyTorch (deployed) model under qonnx execution."""
import numpy as np
import onnx
import pytest
import torch

from model import bireal
from model.checkpoint import model_from_checkpoint
from model.deploy import deploy
from model.export import EXPORT_TOL, export_model, verify_onnx


def _export(net, tmp_path, n=4, seed=0):
    s = net.spec
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, s.in_ch, s.in_size, s.in_size), generator=g) / 256.0
    net.train()
    with torch.no_grad():                      # non-trivial BN statistics
        for _ in range(2):
            net(x)
    export_model(deploy(net), x, tmp_path)
    return np.load(tmp_path / "golden_in.npy"), np.load(tmp_path / "golden_out.npy")


def _check(tmp_path, gi, go):
    r = verify_onnx(tmp_path / "model.onnx", gi, go)
    assert r["ok"] and r["identical_argmax"] and r["max_abs_diff"] <= EXPORT_TOL
    # the arithmetic is exact by construction, so the outputs are identical
    assert r["bit_exact"]
    return r


@pytest.mark.parametrize("arch,n", [("bireal-tiny", 6), ("bireal-cifar", 2)])
def test_export_random_init_equals_pytorch(arch, n, tmp_path):
    torch.manual_seed(0)
    gi, go = _export(bireal(arch), tmp_path, n)
    _check(tmp_path, gi, go)


def test_export_trained_tiny_equals_pytorch(trained_tiny, tmp_path):
    ck, _ = trained_tiny
    net = model_from_checkpoint(ck / "checkpoint.pt", "bireal-tiny")
    from model.data import load_dataset
    ds = load_dataset("mnist5k", "test")
    x = torch.stack([ds[i][0] for i in range(20)])
    export_model(deploy(net), x, tmp_path)
    go = np.load(tmp_path / "golden_out.npy")
    with torch.no_grad():
        assert np.array_equal(go, deploy(net)(x).numpy())
    _check(tmp_path, np.load(tmp_path / "golden_in.npy"), go)


def test_export_check_can_fail(tmp_path):
    torch.manual_seed(0)
    gi, go = _export(bireal("bireal-tiny"), tmp_path, 2)
    bad = go.copy()
    bad[0, 0] += 1e-3
    assert not verify_onnx(tmp_path / "model.onnx", gi, bad)["ok"]


def test_exported_graph_structure(tmp_path):
    torch.manual_seed(0)
    _export(bireal("bireal-tiny"), tmp_path, 1)
    g = onnx.load(tmp_path / "model.onnx").graph
    ops = [n.op_type for n in g.node]
    # sign activations and binary weights are BipolarQuant, 5 binary convs -> 10 of them
    assert ops.count("BipolarQuant") == 10
    assert ops.count("FixedPointRequant") == 7       # stem, 5 binary convs, 1 downsample
    assert "BatchNormalization" not in ops
    pads = [n for n in g.node if n.op_type == "Pad"]
    assert len(pads) == 5
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in g.initializer}
    for p in pads:   # constant pad value -1 on the sign output
        assert p.input[2] in inits and inits[p.input[2]].item() == -1.0
    assert ops[-1] == "Mul" and "GlobalAveragePool" in ops
    import json
    info = json.loads((tmp_path / "export.json").read_text())
    assert info["shortcut"] == "fixed8" and "golden_float.npz" not in info["files"]


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    from model.export import atomic_write

    def boom(t):
        open(t, "w").write("partial")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "x.json", boom)
    assert list(tmp_path.iterdir()) == []
    atomic_write(tmp_path / "y.txt", lambda t: open(t, "w").write("ok"))
    assert (tmp_path / "y.txt").read_text() == "ok"
    assert (tmp_path / "y.txt").stat().st_mode & 0o044       # readable by others, not 0600
