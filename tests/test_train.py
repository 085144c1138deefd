"""Training helpers: BN recalibration, weight EMA, BN freezing, two-stage switch."""
import json

import torch
from torch import nn

from model import bireal
from model.layers import BinaryConv2d
from model.train import TrainConfig, WeightEMA, recalibrate_bn, train


def test_recalibrate_bn_is_the_plain_average_of_batch_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    batches = [(torch.randn(8, 1, 6, 6) + i, 0) for i in range(4)]
    recalibrate_bn(net, batches, "cpu", batches=3)
    bn = net[1]
    with torch.no_grad():
        feats = [net[0](x) for x, _ in batches[:3]]
    want_mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    want_var = torch.stack([f.var((0, 2, 3)) for f in feats]).mean(0)   # unbiased, as BN
    assert torch.allclose(bn.running_mean, want_mean, atol=1e-5)
    assert torch.allclose(bn.running_var, want_var, atol=1e-4)
    assert bn.momentum == 0.1 and not net.training


def test_weight_ema_update_and_swap():
    net = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema = WeightEMA(net, 0.5)
    with torch.no_grad():
        net.weight.fill_(3.0)
    ema.update(net)                                  # 0.5*1 + 0.5*3 = 2
    ema.swap(net)
    assert net.weight.tolist() == [[2.0, 2.0]]
    ema.swap(net)
    assert net.weight.tolist() == [[3.0, 3.0]]


def test_set_binary_switches_every_binary_conv():
    net = bireal("bireal-tiny")
    net.set_binary(False)
    assert not any(m.binary for m in net.modules() if isinstance(m, BinaryConv2d))
    net.set_binary(True)
    assert all(m.binary for m in net.modules() if isinstance(m, BinaryConv2d))


def test_frozen_bn_epochs_keep_statistics_and_record_it(tmp_path):
    m = train(TrainConfig(arch="bireal-tiny", data="digits", out=str(tmp_path), epochs1=1,
                          epochs2=3, bn_freeze=1, limit=128, bn_recal_batches=2,
                          progress=False), log=lambda *a: None)
    assert [e["bn_frozen"] for e in m["epochs"]] == [False, False, False, True]
    assert [e["stage"] for e in m["epochs"]] == [1, 2, 2, 2]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test_acc"] == m["test_acc"]
