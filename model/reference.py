"""Plain-PyTorch Bi-Real Net (no Brevitas): the same math written out, as in the official code.

Used to check the Brevitas model's forward (tests) and as the baseline of the train-step
benchmark. Parameter names match `BiRealNet`, so `load_state_dict` works across the two
(`strict=False`: Brevitas adds quantizer buffers).

  input   q = clamp(round(x * 2**in_bits), 0, 2**in_bits - 1) * 2**-in_bits
  int W   per-channel s_c = max|W_c| / (2**(b-1)-1);  W_q = clamp(round(W/s_c), +-(2**(b-1)-1)) s_c
  FC W    per-tensor s = 2**ceil(log2(max|W| / 2**(b-1)))  (power of two)
  Q_s     clamp(round(y * 2**f), -2**(B-1), 2**(B-1)-1) * 2**-f      (round half to even)
  binary  sign(x) (sign(0)=+1), pad -1, alpha_c * sign(W), alpha_c = mean|W_c|

Shortcut mode float32: Q_s is dropped on the float path (stem, BN outputs, residual adds) and
Q_i (the same fixq with the Float32 format's bits/frac) is applied where the path returns to
integers: the downsample's input and the head's input (see model.layers).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .nets import ArchSpec, QuantConfig, get_arch
from .quant import is_float


class _STE(torch.autograd.Function):
    """round with identity gradient."""
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


def _q_path(y: Tensor, q: QuantConfig) -> Tensor:
    """Q_s on the real-valued path: identity in float32 mode."""
    return y if is_float(q.shortcut) else fixq(y, q.shortcut.bits, q.shortcut.frac)


def _q_int(y: Tensor, q: QuantConfig) -> Tensor:
    """Q_i where the float32 path returns to integers: identity in fixed mode (already fixed)."""
    return fixq(y, q.shortcut.bits, q.shortcut.frac) if is_float(q.shortcut) else y


def fixq(y: Tensor, bits: int, frac: int) -> Tensor:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return torch.clamp(_STE.apply(y * 2.0 ** frac), lo, hi) * 2.0 ** -frac


def int_weight(w: Tensor, bits: int) -> Tensor:
    n = 2 ** (bits - 1) - 1
    s = (w.detach().abs().flatten(1).max(1).values / n).view(-1, *[1] * (w.dim() - 1))
    return torch.clamp(_STE.apply(w / s), -n, n) * s


def po2_weight(w: Tensor, bits: int) -> Tensor:
    n = 2 ** (bits - 1) - 1
    s = 2.0 ** math.ceil(math.log2(w.detach().abs().max().item() / 2 ** (bits - 1)))
    return torch.clamp(_STE.apply(w / s), -n, n) * s


class _Sign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        d = torch.where(x < 0, 2 + 2 * x, 2 - 2 * x) * ((x >= -1) & (x < 1))
        return g * d


def binary_weight(w: Tensor) -> Tensor:
    alpha = w.abs().mean(dim=(1, 2, 3), keepdim=True)
    c = torch.clamp(w, -1, 1)
    sign = torch.where(w >= 0, 1.0, -1.0)
    return (sign.detach() - c.detach() + c) * alpha   # clip STE, gradient through alpha


class _Conv(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, k, k))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))


class _Binary(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv, self.stride = _Conv(cin, cout, 3), stride

    def forward(self, x):
        s = F.pad(_Sign.apply(x), (1, 1, 1, 1), value=-1.0)
        return F.conv2d(s, binary_weight(self.conv.weight), stride=self.stride)


class _ConvBNQ(nn.Module):
    def __init__(self, cin, cout, k, stride, pad, q: QuantConfig):
        super().__init__()
        self.conv, self.bn, self.q = _Conv(cin, cout, k), nn.BatchNorm2d(cout), q
        self.stride, self.pad = stride, pad

    def forward(self, x):
        y = F.conv2d(x, int_weight(self.conv.weight, self.q.w_bits), stride=self.stride,
                     padding=self.pad)
        return _q_path(self.bn(y), self.q)


class _Down(nn.Module):
    def __init__(self, cin, cout, stride, q):
        super().__init__()
        self.stride, self.proj, self.q = stride, _ConvBNQ(cin, cout, 1, 1, 0, q), q

    def forward(self, x):
        x = _q_int(x, self.q)
        return self.proj(F.avg_pool2d(x, 2) if self.stride == 2 else x)


class _Block(nn.Module):
    def __init__(self, cin, cout, stride, q):
        super().__init__()
        self.conv, self.bn, self.q = _Binary(cin, cout, stride), nn.BatchNorm2d(cout), q
        self.downsample = _Down(cin, cout, stride, q) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = _q_path(self.bn(self.conv(x)), self.q)
        r = x if self.downsample is None else self.downsample(x)
        return _q_path(y + r, self.q)


class _Head(nn.Module):
    def __init__(self, cin, classes, q):
        super().__init__()
        self.fc, self.q = nn.Linear(cin, classes), q

    def forward(self, x):
        x = fixq(_q_int(x, self.q).mean(dim=(2, 3)), self.q.shortcut.bits, self.q.shortcut.frac)
        return F.linear(x, po2_weight(self.fc.weight, self.q.w_bits), self.fc.bias)


class ReferenceBiReal(nn.Module):
    def __init__(self, arch: str | ArchSpec, num_classes: int | None = None,
                 q: QuantConfig | None = None):
        super().__init__()
        spec = get_arch(arch) if isinstance(arch, str) else arch
        q = q or QuantConfig()
        self.spec, self.q = spec, q
        k = spec.stem_kernel
        self.stem = _ConvBNQ(spec.in_ch, spec.stem_ch, k, spec.stem_stride, k // 2, q)
        blocks, cin = [], spec.stem_ch
        for i, (w, d) in enumerate(zip(spec.widths, spec.depths)):
            for j in range(d):
                blocks.append(_Block(cin, w, 2 if (i > 0 and j == 0) else 1, q))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = _Head(cin, num_classes or spec.classes, q)

    def forward(self, x: Tensor) -> Tensor:
        n = 2 ** self.q.in_bits
        x = torch.clamp(torch.round(x * n), 0, n - 1) / n
        x = self.stem(x)
        if self.spec.stem_pool:
            x = F.max_pool2d(x, 3, 2, 1)
        return self.head(self.blocks(x))
