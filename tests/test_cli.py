"""The `bireal` command: contracts of info/train/export and one clear error line per bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from model.cli import main
from model.errors import BiRealError
from model.nets import bireal


def run_cli(*args, check=True):
    """Run `bireal ARGS` in a subprocess (exit codes and stderr as a user sees them)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "model.cli", *args], capture_output=True,
                       text=True, env=env, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def error_line(p):
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert p.returncode == 2, p.stderr
    assert len(lines) == 1, p.stderr          # one clear line, no traceback
    assert lines[0].startswith("bireal: error:")
    return lines[0]


def test_info_json_contract(capsys):
    main(["info", "--arch", "bireal18", "--json"])
    info = json.loads(capsys.readouterr().out)
    for k in ("params", "binary_macs", "real_macs", "weight_bits"):
        assert k in info
    assert info["params"] == 11_689_512
    assert info["binary_macs"] > 10 * info["real_macs"] > 0
    assert abs(info["ops"] - 1.63e8) / 1.63e8 < 0.02        # paper: 1.63e8 OPs
    assert info["binary_weight_bits"] == sum(
        r["params"] for r in info["layers"] if r["kind"] == "binary conv")


def test_info_table(capsys):
    main(["info", "--arch", "bireal-tiny"])
    out = capsys.readouterr().out
    assert "blocks.0.conv.conv" in out and "binary conv" in out and "total" in out


def test_unknown_arch_cli():
    line = error_line(run_cli("info", "--arch", "resnet50", check=False))
    assert "unknown arch 'resnet50'" in line


def test_export_missing_checkpoint(tmp_path):
    line = error_line(run_cli("export", "--ckpt", str(tmp_path / "nope.pt"), "--out",
                              str(tmp_path / "o"), check=False))
    assert "checkpoint not found" in line and "nope.pt" in line


def test_export_corrupt_checkpoint(tmp_path):
    f = tmp_path / "bad.pt"
    f.write_bytes(b"this is not a checkpoint")
    line = error_line(run_cli("export", "--ckpt", str(f), "--out", str(tmp_path / "o"),
                              check=False))
    assert "corrupt" in line and "bad.pt" in line
    assert not (tmp_path / "o" / "model.onnx").exists()


def test_checkpoint_of_another_arch(tmp_path):
    f = tmp_path / "cifar.pt"
    save_checkpoint(f, bireal("bireal-cifar"), epoch=0)
    with pytest.raises(BiRealError, match="is for arch bireal-cifar, not bireal-tiny"):
        load_checkpoint(f, arch="bireal-tiny")
    line = error_line(run_cli("export", "--ckpt", str(f), "--arch", "bireal-tiny", "--out",
                              str(tmp_path / "o"), check=False))
    assert "bireal-cifar" in line


def test_checkpoint_loading_is_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    f = tmp_path / "evil.pt"
    torch.save({"format": "bireal-checkpoint-1", "arch": "bireal-tiny", "x": Evil()}, f)
    with pytest.raises(BiRealError, match="corrupt or not a bireal checkpoint"):
        load_checkpoint(f)
    assert not (tmp_path / "pwned").exists()


def test_checkpoint_without_marker(tmp_path):
    f = tmp_path / "plain.pt"
    torch.save({"state_dict": {}}, f)
    with pytest.raises(BiRealError, match="not a bireal checkpoint"):
        load_checkpoint(f)


def test_bad_bit_width_cli(tmp_path):
    line = error_line(run_cli("train", "--arch", "bireal-tiny", "--out", str(tmp_path),
                              "--shortcut-bits", "40", check=False))
    assert "bits=40" in line
    line = error_line(run_cli("train", "--arch", "bireal-tiny", "--out", str(tmp_path),
                              "--w-bits", "0", check=False))
    assert "w_bits=0" in line


def test_wrong_input_channels_for_dataset(tmp_path):
    line = error_line(run_cli("train", "--arch", "bireal-cifar", "--data", "mnist5k",
                              "--out", str(tmp_path), check=False))
    assert "(1, 28, 28)" in line and "(3, 32, 32)" in line


def test_export_random_init_contract(tmp_path):
    run_cli("export", "--arch", "bireal-tiny", "--random-init", "--out", str(tmp_path),
            "--images", "3")
    for f in ("model.onnx", "golden_in.npy", "golden_out.npy"):
        assert (tmp_path / f).is_file()
    gi, go = np.load(tmp_path / "golden_in.npy"), np.load(tmp_path / "golden_out.npy")
    assert gi.shape == (3, 1, 28, 28) and go.shape == (3, 10)
    p = run_cli("verify-export", "--dir", str(tmp_path))
    assert "export check OK" in p.stdout
    assert json.loads((tmp_path / "export_check.json").read_text())["bit_exact"]


def test_export_needs_a_source(tmp_path):
    line = error_line(run_cli("export", "--out", str(tmp_path), check=False))
    assert "--ckpt" in line


def test_train_contract_and_resume(trained_tiny, tmp_path):
    out, m = trained_tiny
    assert (out / "checkpoint.pt").is_file() and (out / "curves.png").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_acc"] <= 1.0
    assert [e["stage"] for e in metrics["epochs"]] == [1, 2]
    net = model_from_checkpoint(out / "checkpoint.pt")
    assert net.spec.name == "bireal-tiny"
    # resume a finished run with one more binary epoch: continues at epoch 3
    import shutil
    shutil.copy(out / "checkpoint.pt", tmp_path / "checkpoint.pt")
    p = run_cli("train", "--arch", "bireal-tiny", "--out", str(tmp_path), "--epochs1", "1",
                "--epochs2", "2", "--limit", "300", "--resume")
    assert "resumed" in p.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [0, 1, 2]
