"""Integerized (deployed) Bi-Real: the exact arithmetic the hardware performs.

`deploy(net)` folds, per layer, the weight scale (alpha_c = mean|W_c| for binary convs, the
per-channel int scale for 8-bit convs), the input scale and the eval-mode BatchNorm into one
fixed-point requant (see model.custom_op):

    a_c = s_w,c * 2**-in_frac * gamma_c / sqrt(var_c + eps) * 2**f
    b_c = (beta_c - gamma_c * mu_c / sqrt(var_c + eps)) * 2**f
    y_c = clamp(floor((A_c * acc + B_c + 2**(S-1)) / 2**S)),  A_c = round(|a_c| 2**S),
                                                              B_c = round(b_c 2**S)

with S the largest shift keeping every A_c below 2**(affine_bits-1). Channels with a_c < 0
get their weights negated (sign(W) -> -sign(W)), so A_c >= 0 and the requant is monotone
non-decreasing in acc (thresholds and affine units both stay simple).

Every float32 op left in the deployed graph is exact: weights are integers (+-1 or b-bit), all
activation scales are powers of two, and `deploy` checks that each accumulator's worst case
stays below 2**24 (float32 integers are exact up to there), naming the layer if not.

Shortcut mode float32 (see model.layers and model.float_path): the convolutions stay integer
(exact), every BN becomes a `FloatAffine` of two separately rounded float32 ops with constants
folded once in numpy float32, the residual add is one float32 add, and the path returns to
int8 (fixed-point Quant, power-of-two scale) before the downsample conv and the head.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brevitas.nn import QuantConv2d, QuantLinear

from .custom_op import DOMAIN, fixed_point_requant
from .errors import BiRealError
from .float_path import FloatAffine, check_float, fold_bn_float32
from .layers import PAD_VALUE, BinaryConv2d, BiRealBlock, ConvBNQ, Head
from .nets import BiRealNet, check_input
from .quant import (FixedPoint, UnitBinaryWeightQuant, UnitIntWeightQuant, binary_identity,
                    fixed_point_identity, input_identity, is_float, po2_exponent)

FLOAT32_EXACT = 2 ** 24
MAX_SHIFT = 40


class FixedPointRequantFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mult, bias, shift, in_frac, out_bits, out_frac, name):
        y = fixed_point_requant(x.detach().cpu().numpy(), mult.cpu().numpy(), bias.cpu().numpy(),
                                shift, in_frac, out_bits, out_frac, name=name)
        return torch.from_numpy(y).to(x.device)

    @staticmethod
    def symbolic(g, x, mult, bias, shift, in_frac, out_bits, out_frac, name):
        y = g.op(f"{DOMAIN}::FixedPointRequant", x, mult, bias, shift_i=shift, in_frac_i=in_frac,
                 out_bits_i=out_bits, out_frac_i=out_frac)
        y.setType(x.type())
        return y


class FixedPointRequant(nn.Module):
    def __init__(self, mult: np.ndarray, bias: np.ndarray, shift: int, in_frac: int,
                 fmt: FixedPoint, name: str):
        super().__init__()
        self.register_buffer("mult", torch.as_tensor(mult, dtype=torch.int64))
        self.register_buffer("bias", torch.as_tensor(bias, dtype=torch.int64))
        self.shift, self.in_frac, self.fmt, self.name = shift, in_frac, fmt, name

    def forward(self, x: Tensor) -> Tensor:
        return FixedPointRequantFn.apply(x, self.mult, self.bias, self.shift, self.in_frac,
                                         self.fmt.bits, self.fmt.frac, self.name)


def fold_requant(a: np.ndarray, b: np.ndarray, acc_bound: np.ndarray, fmt: FixedPoint,
                 affine_bits: int, name: str):
    """Integer (A, B, S) for y = round(a*acc + b) with a >= 0 (see module docstring)."""
    amax = float(a.max(initial=0.0))
    lim = 2 ** (affine_bits - 1) - 1
    shift = MAX_SHIFT if amax == 0 else int(math.floor(math.log2(lim / amax)))
    shift = min(shift, MAX_SHIFT)
    if shift < 0:
        raise BiRealError(f"{name}: BN scale {amax:.4g} per accumulator LSB needs more than "
                          f"affine_bits={affine_bits} bits; raise affine_bits")
    A = np.rint(a * 2.0 ** shift).astype(np.int64)
    A = np.minimum(A, lim)
    # |B| beyond this saturates every output anyway; clamping keeps widths sane
    bmax = int(A.max(initial=0)) * int(acc_bound.max(initial=0)) + 2 ** (shift + fmt.bits + 1)
    B = np.clip(np.rint(b * 2.0 ** shift), -bmax, bmax).astype(np.int64)
    return A, B, shift


def _check_acc(bound: int, name: str):
    if bound >= FLOAT32_EXACT:
        raise BiRealError(f"{name}: worst-case accumulator {bound} >= 2**24 cannot be computed "
                          "exactly in float32; use fewer weight bits or channels")


def _bn_affine(bn: nn.BatchNorm2d):
    sd = torch.sqrt(bn.running_var.double() + bn.eps)
    g = bn.weight.detach().double() / sd
    return g.numpy(), (bn.bias.detach().double() - g * bn.running_mean.double()).numpy()


class DeployConv(nn.Module):
    """[sign -> pad(-1)] -> conv with integer weights -> FixedPointRequant."""

    def __init__(self, w_int: np.ndarray, stride: int, padding: int, w_bits: int, binary: bool,
                 requant: FixedPointRequant):
        super().__init__()
        cout, cin, k, _ = w_int.shape
        self.binary, self.k = binary, k
        self.act = binary_identity() if binary else nn.Identity()
        q = dict(weight_quant=UnitBinaryWeightQuant) if binary else dict(
            weight_quant=UnitIntWeightQuant, weight_bit_width=w_bits,
            weight_scaling_const=2.0 ** (w_bits - 1) - 1)
        self.conv = QuantConv2d(cin, cout, k, stride=stride, padding=0 if binary else padding,
                                bias=False, return_quant_tensor=False, **q)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(w_int.astype(np.float32)))
        self.requant = requant

    def forward(self, x: Tensor) -> Tensor:
        if self.binary:
            p = self.k // 2
            x = F.pad(self.act(x), (p, p, p, p), value=PAD_VALUE)
        return self.requant(self.conv(x))


def _fold_conv(w_int, s_w, in_frac, x_max, bn, fmt, affine_bits, name):
    """Fold scales + BN of one conv; returns (flipped w_int, FixedPointRequant)."""
    gs, beta = _bn_affine(bn)
    a = np.asarray(s_w, np.float64).reshape(-1) * 2.0 ** (-in_frac) * gs * 2.0 ** fmt.frac
    b = beta * 2.0 ** fmt.frac
    flip = np.where(a < 0, -1.0, 1.0)
    w_int = w_int * flip.reshape(-1, 1, 1, 1)
    bound = x_max * np.abs(w_int).reshape(w_int.shape[0], -1).sum(1)
    _check_acc(int(bound.max()), name)
    A, B, S = fold_requant(np.abs(a), b, bound, fmt, affine_bits, name)
    return w_int, FixedPointRequant(A, B, S, in_frac, fmt, name)


def _fold_conv_float(w_int, s_w, in_frac, x_max, bn, name):
    """float32 mode: keep the weights (no flip), check the accumulator bound, and fold the
    weight scale and BN into a FloatAffine (constants in numpy float32, see float_path)."""
    bound = x_max * np.abs(w_int).reshape(w_int.shape[0], -1).sum(1)
    _check_acc(int(bound.max()), name)
    a, b = fold_bn_float32(bn, s_w)
    return w_int, FloatAffine(a, b, in_frac, name)


def _int_weights(conv: QuantConv2d | QuantLinear):
    qw = conv.quant_weight()
    return qw.int().detach().double().numpy(), qw.scale.detach().double().numpy()


def deploy_binary(m: BinaryConv2d, bn, fmt, affine_bits, name) -> DeployConv:
    w = m.conv.weight.detach().double()
    alpha = w.abs().mean(dim=(1, 2, 3)).numpy()
    w_sign = np.where(w.numpy() >= 0, 1.0, -1.0)
    if is_float(fmt):
        w_int, rq = _fold_conv_float(w_sign, alpha, 0, 1, bn, name)
    else:
        w_int, rq = _fold_conv(w_sign, alpha, 0, 1, bn, fmt, affine_bits, name)
    return DeployConv(w_int, m.stride, 0, 1, True, rq)


def deploy_convbnq(m: ConvBNQ, in_frac: int, x_max: int, fmt, w_bits, affine_bits, name):
    w_int, s_w = _int_weights(m.conv)
    if is_float(fmt):
        w_int, rq = _fold_conv_float(w_int, s_w, in_frac, x_max, m.bn, name)
    else:
        w_int, rq = _fold_conv(w_int, s_w, in_frac, x_max, m.bn, fmt, affine_bits, name)
    return DeployConv(w_int, m.conv.stride[0], m.conv.padding[0], w_bits, False, rq)


class DeployBlock(nn.Module):
    """fixed8: out = Q_s(requant(conv(x)) + r).  float32: out = (c * a + b) + r, three float32
    ops (FloatAffine's two, then this add), r = x or the downsample's float affine output."""

    def __init__(self, blk: BiRealBlock, fmt: FixedPoint, w_bits: int, affine_bits: int, name):
        super().__init__()
        self.name, self.float = name, is_float(fmt)
        self.conv = deploy_binary(blk.conv, blk.bn, fmt, affine_bits, f"{name}.conv")
        self.downsample = None
        if blk.downsample is not None:
            ifmt = fmt.int_format
            pooled = isinstance(blk.downsample.pool, nn.AvgPool2d)
            x_max = 2 ** (ifmt.bits - 1) * (4 if pooled else 1)
            self.downsample = nn.Sequential(
                *([fixed_point_identity(ifmt)] if self.float else []),   # float -> int8
                nn.AvgPool2d(2, 2) if pooled else nn.Identity(),
                deploy_convbnq(blk.downsample.proj, ifmt.frac + (2 if pooled else 0), x_max, fmt,
                               w_bits, affine_bits, f"{name}.downsample"))
        self.add_quant = nn.Identity() if self.float else fixed_point_identity(fmt)

    def forward(self, x: Tensor) -> Tensor:
        r = x if self.downsample is None else self.downsample(x)
        out = self.add_quant(self.conv(x) + r)
        if self.float:
            check_float(out, f"{self.name} (residual add)")
        return out


class DeployHead(nn.Module):
    """logits = (FC_int(q) + B) * 2**-f * s_w, s_w a power of two: exact, dyadic logits."""

    def __init__(self, head: Head, fmt: FixedPoint, w_bits: int):
        super().__init__()
        # float32 mode: the float features return to int8 first (quant_in), then as fixed8
        self.quant_in = fixed_point_identity(fmt.int_format) if is_float(fmt) else nn.Identity()
        fmt = fmt.int_format
        w_int, s = _int_weights(head.fc)
        s = float(np.asarray(s).reshape(-1)[0])
        po2_exponent(s)
        bound = 2 ** (fmt.bits - 1) * np.abs(w_int).sum(1)
        bias = head.fc.bias.detach().double().numpy()
        bmax = FLOAT32_EXACT - 1 - int(bound.max())
        _check_acc(int(bound.max()), "head.fc")
        B = np.clip(np.rint(bias / (s * fmt.scale)), -bmax, bmax)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.requant = fixed_point_identity(fmt)
        self.fc = QuantLinear(w_int.shape[1], w_int.shape[0], bias=False,
                              weight_quant=UnitIntWeightQuant, weight_bit_width=w_bits,
                              weight_scaling_const=2.0 ** (w_bits - 1) - 1,
                              return_quant_tensor=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(w_int.astype(np.float32)))
        self.register_buffer("fc_bias", torch.from_numpy((B * fmt.scale).astype(np.float32)))
        self.out_scale = s

    def forward(self, x: Tensor) -> Tensor:
        x = self.requant(self.pool(self.quant_in(x)).flatten(1))
        return (self.fc(x) + self.fc_bias) * self.out_scale


class DeployBiReal(nn.Module):
    def __init__(self, net: BiRealNet, affine_bits: int = 16):
        super().__init__()
        if not (8 <= affine_bits <= 24):
            raise BiRealError(f"affine_bits={affine_bits} out of range 8..24")
        fmt, q = net.q.shortcut, net.q
        self.spec, self.q, self.num_classes, self.affine_bits = net.spec, q, net.num_classes, affine_bits
        self.input_quant = input_identity(q.in_bits)
        self.stem = deploy_convbnq(net.stem, q.in_bits, 2 ** q.in_bits - 1, fmt, q.w_bits,
                                   affine_bits, "stem")
        self.stem_pool = nn.MaxPool2d(3, 2, 1) if net.spec.stem_pool else nn.Identity()
        self.blocks = nn.Sequential(*[DeployBlock(b, fmt, q.w_bits, affine_bits, f"blocks.{i}")
                                      for i, b in enumerate(net.blocks)])
        self.head = DeployHead(net.head, fmt, q.w_bits)
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        check_input(self.spec, x)
        x = self.stem_pool(self.stem(self.input_quant(x)))
        return self.head(self.blocks(x))


@torch.no_grad()
def deploy(net: BiRealNet, affine_bits: int = 16) -> DeployBiReal:
    """Integerize a trained (or random) BiRealNet; BN uses its running statistics."""
    net.eval()
    return DeployBiReal(net, affine_bits)
