"""Quantizers: sign(0)=+1, ApproxSign gradient, alpha = mean|W|, both gradient variants,
power-of-two fixed-point scales."""
import pytest
import torch

from model.errors import BiRealError
from model.quant import (FixedPoint, ScaledBinaryWeightQuant, approx_sign, binary_identity,
                         fixed_point_identity, input_identity, shortcut_format)


def test_sign_of_zero_is_plus_one():
    x = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0])
    assert approx_sign(x).tolist() == [-1, -1, 1, 1, 1]
    assert binary_identity()(x).tolist() == [-1, -1, 1, 1, 1]


def test_approx_sign_gradient_values():
    # 2+2x on [-1,0), 2-2x on [0,1), 0 elsewhere
    x = torch.tensor([-1.5, -1.0, -0.75, -0.25, 0.0, 0.25, 0.75, 0.999, 1.0, 2.0],
                     requires_grad=True)
    approx_sign(x).sum().backward()
    want = [0.0, 0.0, 0.5, 1.5, 2.0, 1.5, 0.5, 0.002, 0.0, 0.0]
    assert torch.allclose(x.grad, torch.tensor(want), atol=1e-6)


def test_binary_act_quantizer_uses_approx_sign_gradient():
    x = torch.tensor([-0.5, 0.5], requires_grad=True)
    binary_identity()(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def _w():
    torch.manual_seed(0)
    return (torch.randn(4, 3, 3, 3) * 0.8).requires_grad_(True)


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_alpha_is_mean_abs_per_output_channel(variant):
    w = _w()
    y, alpha, _, bw = ScaledBinaryWeightQuant(variant)(w)
    want = w.detach().abs().mean(dim=(1, 2, 3))
    assert torch.allclose(alpha.flatten(), want)
    assert torch.allclose(y.detach(), want.view(-1, 1, 1, 1) * torch.where(w >= 0, 1.0, -1.0))
    assert bw.item() == 1


def test_official_gradient_is_clip_ste_without_alpha():
    w = _w()
    g = torch.randn_like(w)
    y, *_ = ScaledBinaryWeightQuant("official")(w)
    (y * g).sum().backward()
    assert torch.allclose(w.grad, g * (w.detach().abs() <= 1))


def test_paper_gradient_flows_through_alpha():
    w = _w()
    g = torch.randn_like(w)
    y, *_ = ScaledBinaryWeightQuant("paper")(w)
    (y * g).sum().backward()
    wd = w.detach()
    n = wd[0].numel()
    alpha = wd.abs().mean(dim=(1, 2, 3), keepdim=True)
    sign = torch.where(wd >= 0, 1.0, -1.0)
    # d/dW_i [alpha(W) sign(W_j)] = alpha 1{|W_i|<=1} delta_ij + sign(W_i)/n * sign(W_j)
    through_alpha = sign / n * (g * sign).sum(dim=(1, 2, 3), keepdim=True)
    want = alpha * g * (wd.abs() <= 1) + through_alpha
    assert torch.allclose(w.grad, want, atol=1e-6)
    assert not torch.allclose(w.grad, alpha * g * (wd.abs() <= 1), atol=1e-4)


def test_fixed_point_identity_is_power_of_two_scale_round_half_even_saturating():
    q = fixed_point_identity(FixedPoint(8, 4))
    assert q.act_quant.scale().item() == 2.0 ** -4
    x = torch.tensor([-100.0, -8.0, 1 / 32, 3 / 32, 7.9375, 7.97, 100.0])
    assert q(x).tolist() == [-8.0, -8.0, 0.0, 0.125, 7.9375, 7.9375, 7.9375]


def test_input_quant_scale_is_exactly_2_to_minus_8():
    q = input_identity(8)
    assert q.act_quant.scale().item() == 2.0 ** -8
    x = torch.arange(256) / 256.0
    assert torch.equal(q(x), x)


@pytest.mark.parametrize("bits,frac", [(1, 0), (17, 4), (8, 40)])
def test_bad_fixed_point_formats(bits, frac):
    with pytest.raises(BiRealError, match="bits|frac"):
        FixedPoint(bits, frac)


def test_shortcut_formats_and_unknown_kind():
    assert shortcut_format("fixed", 6, 3) == FixedPoint(6, 3)
    f = shortcut_format("float32")
    assert f.kind == "float32" and f.int_format == FixedPoint(8, 4)
    assert FixedPoint(8, 4).int_format == FixedPoint(8, 4)
    with pytest.raises(BiRealError, match="'float16' is unknown.*'fixed', 'float32'"):
        shortcut_format("float16")
