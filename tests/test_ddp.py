"""The training script runs under torchrun (DistributedDataParallel, gloo on CPU, 2 ranks)."""
import json
import os
import subprocess
import sys


def test_train_under_torchrun_two_ranks(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
         "-m", "model.cli", "train", "--arch", "bireal-tiny", "--data", "digits",
         "--out", str(tmp_path), "--epochs1", "1", "--epochs2", "1", "--limit", "256",
         "--threads", "1"],
        capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert [e["stage"] for e in m["epochs"]] == [1, 2]      # written once, by rank 0
    assert 0.0 <= m["test_acc"] <= 1.0
    assert (tmp_path / "checkpoint.pt").is_file()
