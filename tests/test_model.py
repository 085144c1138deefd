"""Architectures, reference equality, +-1 padding, the deployed integer model."""
import numpy as np
import pytest
import torch

from model import ARCHS, BiRealError, bireal
from model.custom_op import fixed_point_requant
from model.deploy import deploy
from model.layers import BinaryConv2d
from model.reference import ReferenceBiReal


def _images(spec, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, spec.in_ch, spec.in_size, spec.in_size), generator=g) / 256.0


def _warm_bn(net, x, steps=3):
    """Give BatchNorm non-trivial running statistics."""
    net.train()
    with torch.no_grad():
        for _ in range(steps):
            net(x)
    return net.eval()


def test_param_counts_match_the_paper():
    # Bi-Real-18 / -34 have the parameter counts of ResNet-18 / -34
    assert sum(p.numel() for p in bireal("bireal18").parameters()) == 11_689_512
    assert sum(p.numel() for p in bireal("bireal34").parameters()) == 21_797_672


def test_stage_depths():
    assert ARCHS["bireal18"].depths == (4, 4, 4, 4)
    assert ARCHS["bireal34"].depths == (6, 8, 12, 6)
    assert len(bireal("bireal34").blocks) == 32
    assert sum(isinstance(m, BinaryConv2d) for m in bireal("bireal18").modules()) == 16


@pytest.mark.parametrize("arch", ["bireal-tiny", "bireal-cifar"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_forward_equals_plain_pytorch_reference(arch, mode):
    torch.manual_seed(1)
    net = bireal(arch)
    ref = ReferenceBiReal(arch)
    ref.load_state_dict(net.state_dict(), strict=False)
    x = _images(net.spec)
    if mode == "eval":
        _warm_bn(net, x)
        ref.load_state_dict(net.state_dict(), strict=False)
    getattr(net, mode)()
    getattr(ref, mode)()
    assert torch.equal(net(x), ref(x))


def test_reference_check_can_fail():
    net, ref = bireal("bireal-tiny"), ReferenceBiReal("bireal-tiny")
    ref.load_state_dict(net.state_dict(), strict=False)
    with torch.no_grad():
        ref.blocks[1].conv.conv.weight.neg_()
    x = _images(net.spec)
    assert not torch.equal(net.eval()(x), ref.eval()(x))


def test_binary_conv_pads_with_minus_one():
    conv = BinaryConv2d(1, 1)
    with torch.no_grad():
        conv.conv.weight.fill_(0.5)            # alpha = 0.5, sign(W) = +1
    y = conv(torch.ones(1, 1, 4, 4))          # sign = +1 inside, -1 in the padding
    # interior: 9 ones; edge: 6 ones - 3 pads; corner: 4 ones - 5 pads  (times alpha)
    want = 0.5 * torch.tensor([[-1, 3, 3, -1], [3, 9, 9, 3], [3, 9, 9, 3], [-1, 3, 3, -1.0]])
    assert torch.equal(y[0, 0], want)
    conv.binary = False      # stage 1: clip(1)=1, real W=0.5, and the same -1 padding
    assert torch.equal(conv(torch.ones(1, 1, 4, 4))[0, 0], want)


def test_wrong_input_shape_is_a_clear_error():
    net = bireal("bireal-tiny")
    with pytest.raises(BiRealError, match=r"expects input of shape \(N, 1, 28, 28\).*got \(2, 3, 28, 28\)"):
        net(torch.zeros(2, 3, 28, 28))
    with pytest.raises(BiRealError, match="got"):
        deploy(net)(torch.zeros(1, 1, 32, 32))


def test_unknown_arch_and_bad_bits():
    with pytest.raises(BiRealError, match="unknown arch 'resnet'"):
        bireal("resnet")
    with pytest.raises(BiRealError, match="w_bits=9"):
        bireal("bireal-tiny", w_bits=9)
    with pytest.raises(BiRealError, match="shortcut_bits=1"):
        bireal("bireal-tiny", shortcut_bits=1)
    with pytest.raises(BiRealError, match="num_classes"):
        bireal("bireal-tiny", num_classes=1)


def test_fixed_point_requant_golden():
    x = np.array([[-3.0, 0.0, 1.0, 5.0, 100.0]], np.float32).reshape(1, 1, 1, 5)
    # y = floor((3*acc + 1 + 2) / 4), clamp to int4 [-8, 7], out scale 2**-1
    y = fixed_point_requant(x, np.array([3]), np.array([1]), shift=2, in_frac=0, out_bits=4,
                            out_frac=1)
    assert y.flatten().tolist() == [-2 * 0.5, 0.5 * 0, 1 * 0.5, 4 * 0.5, 7 * 0.5]
    # round half up at exact ties: acc/2 = +0.5 -> 1, -0.5 -> 0, 1.5 -> 2
    y = fixed_point_requant(np.array([[1.0, -1.0, 3.0]]), np.array([1]), np.array([0]), 1, 0, 8, 0)
    assert y.tolist() == [[1.0, 0.0, 2.0]]
    with pytest.raises(BiRealError, match="not a multiple of 2\\*\\*-2"):
        fixed_point_requant(np.array([[0.1]]), np.array([1]), np.array([0]), 0, 2, 8, 0)


@pytest.mark.parametrize("arch", ["bireal-tiny", "bireal-cifar"])
def test_deployed_model_is_integer_and_close_to_float_bn(arch):
    torch.manual_seed(0)
    net = bireal(arch)
    x = _images(net.spec, 8)
    _warm_bn(net, x)
    dep = deploy(net)
    with torch.no_grad():
        out = dep(x)
        stem = dep.stem(dep.input_quant(x))
    # every tensor on the shortcut path is an integer multiple of 2**-frac within int8
    q = stem * 2 ** net.q.shortcut.frac
    assert torch.equal(q, q.round()) and q.abs().max() <= 128
    # logits are dyadic: integer accumulator times a power of two
    acc = out / (dep.head.out_scale * net.q.shortcut.scale)
    assert torch.equal(acc, acc.round())
    with torch.no_grad():
        s_float = net.stem(net.input_quant(x))
    # the folded fixed-point BN differs from float BN only by rare 1-LSB rounding
    assert (stem != s_float).float().mean() < 1e-3
    assert (stem - s_float).abs().max() <= net.q.shortcut.scale


def test_deploy_flips_negative_bn_scales():
    torch.manual_seed(0)
    net = bireal("bireal-tiny")
    with torch.no_grad():
        net.blocks[0].bn.weight[::2] = -1.0
    x = _images(net.spec, 8)
    _warm_bn(net, x)
    dep = deploy(net)
    assert (dep.blocks[0].conv.requant.mult >= 0).all()
    w_dep = dep.blocks[0].conv.conv.weight
    w = torch.where(net.blocks[0].conv.conv.weight >= 0, 1.0, -1.0)
    assert torch.equal(w_dep[::2], -w[::2]) and torch.equal(w_dep[1::2], w[1::2])
    with torch.no_grad():
        s = net.stem(net.input_quant(x))
        a = dep.blocks[0].conv(s)
        b = net.blocks[0].requant(net.blocks[0].bn(net.blocks[0].conv(s)))
    assert (a != b).float().mean() < 1e-3
