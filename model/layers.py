"""Bi-Real building blocks (training form: float BatchNorm, Brevitas quantizers).

Shortcut mode fixed8 (default), block (Liu et al. 2018, Fig. 1/3):
    out = Q_s( Q_s(BN(BinaryConv3x3(sign(x)))) + shortcut(x) )
  Q_s         fixed-point requant of the shortcut format (power-of-two scale, saturating)
  shortcut    x, or Q_s(BN(Conv1x1_8bit(AvgPool2x2(x)))) when the block changes shape.

Shortcut mode float32 (`quant.Float32`): the real-valued path is float32, no requant on it:
    out = BN(BinaryConv3x3(sign(x))) + shortcut(x)                      (all float32)
  shortcut    x, or BN(Conv1x1_8bit(AvgPool2x2(Q_i(x)))) when the block changes shape
  stem        BN(Conv_8bit(Q_in(image)))                                 (float32 output)
  head        FC_8bit(Q_i(GlobalAvgPool(Q_i(x))))
  Q_i         the fixed-point quantizer of `Float32.int_format` (8 bits, scale 2**-4): the
              path returns to integers only where an integer layer follows, because the 8-bit
              downsample conv and the 8-bit FC multiply integers (and the 2x2 average pool
              and the global pool then sum integers, exact in any order).
  The float tensors are: the stem output, every BN output, every residual-add output; sign(x)
  reads them directly (x >= 0 -> +1).

Deliberate deviation from the official code: the sign output is padded with -1 (not 0) before
the 3x3 binary conv. XNOR hardware has no 0 in the +-1 domain; FINN's binary padding inserts
bit 0 = -1, so training with -1 padding makes the hardware exact at the borders.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from brevitas.nn import QuantConv2d, QuantLinear

from .errors import BiRealError
from .quant import (BinaryWeightQuant, FixedPoint, IntWeightPerChannel, IntWeightPerTensorPo2,
                    binary_identity, fixed_point_identity, is_float)

PAD_VALUE = -1.0


class BinaryConv2d(nn.Module):
    """y = conv(pad_{-1}(sign(x)), alpha*sign(W)), 3x3, no bias.

    `binary=False` is stage 1 of the paper's recipe: clip(-1, x, 1) activations and real-valued
    weights (same padding), so stage 2 starts from these weights.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, grad_variant: str = "paper",
                 kernel: int = 3):
        super().__init__()
        self.stride, self.kernel, self.pad = stride, kernel, kernel // 2
        self.binary = True
        self.act = binary_identity()
        self.conv = QuantConv2d(cin, cout, kernel, stride=stride, padding=0, bias=False,
                                weight_quant=BinaryWeightQuant, weight_grad_variant=grad_variant,
                                return_quant_tensor=False)

    def forward(self, x: Tensor) -> Tensor:
        p = self.pad
        if self.binary:
            s = F.pad(self.act(x), (p, p, p, p), value=PAD_VALUE)
            return self.conv(s)
        s = F.pad(F.hardtanh(x), (p, p, p, p), value=PAD_VALUE)
        return F.conv2d(s, self.conv.weight, stride=self.stride)


class ConvBNQ(nn.Module):
    """Real-valued layer made integer: Q_s(BN(conv_{w_bits}(x))) (stem and downsample);
    in float32 mode BN(conv_{w_bits}(x)) with a float32 output (no requant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int,
                 fmt: FixedPoint, w_bits: int):
        super().__init__()
        self.conv = QuantConv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False,
                                weight_quant=IntWeightPerChannel, weight_bit_width=w_bits,
                                return_quant_tensor=False)
        self.bn = nn.BatchNorm2d(cout)
        self.requant = nn.Identity() if is_float(fmt) else fixed_point_identity(fmt)

    def forward(self, x: Tensor) -> Tensor:
        return self.requant(self.bn(self.conv(x)))


class Downsample(nn.Module):
    """Shortcut when shape changes: Q_s(BN(Conv1x1(AvgPool2x2(x)))) (AvgPool only if stride 2).
    float32 mode: BN(Conv1x1(AvgPool2x2(Q_i(x)))): the float input returns to int8 (Q_i) for
    the 8-bit conv; the output is the float BN."""

    def __init__(self, cin: int, cout: int, stride: int, fmt: FixedPoint, w_bits: int):
        super().__init__()
        if stride not in (1, 2):
            raise BiRealError(f"downsample stride {stride} unsupported (use 1 or 2)")
        self.quant_in = fixed_point_identity(fmt.int_format) if is_float(fmt) else nn.Identity()
        self.pool = nn.AvgPool2d(2, 2) if stride == 2 else nn.Identity()
        self.proj = ConvBNQ(cin, cout, 1, 1, 0, fmt, w_bits)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.pool(self.quant_in(x)))


class BiRealBlock(nn.Module):
    """out = Q_s(Q_s(BN(BinaryConv3x3(x))) + shortcut(x)); no ReLU.
    float32 mode: out = BN(BinaryConv3x3(x)) + shortcut(x), float32, no requant."""

    def __init__(self, cin: int, cout: int, stride: int, fmt: FixedPoint, w_bits: int,
                 grad_variant: str = "paper"):
        super().__init__()
        self.conv = BinaryConv2d(cin, cout, stride, grad_variant)
        self.bn = nn.BatchNorm2d(cout)
        fl = is_float(fmt)
        self.requant = nn.Identity() if fl else fixed_point_identity(fmt)
        self.downsample = (Downsample(cin, cout, stride, fmt, w_bits)
                           if stride != 1 or cin != cout else None)
        self.add_quant = nn.Identity() if fl else fixed_point_identity(fmt)

    def forward(self, x: Tensor) -> Tensor:
        y = self.requant(self.bn(self.conv(x)))
        r = x if self.downsample is None else self.downsample(x)
        return self.add_quant(y + r)


class Head(nn.Module):
    """logits = FC_{w_bits, po2 scale}(Q_s(GlobalAvgPool(x))) + bias.
    float32 mode: FC(Q_i(GlobalAvgPool(Q_i(x)))): the float features return to int8 first, so
    the pool sums integers (exact in any order) and its requant is today's exact one."""

    def __init__(self, cin: int, num_classes: int, fmt: FixedPoint, w_bits: int):
        super().__init__()
        fl = is_float(fmt)
        self.quant_in = fixed_point_identity(fmt.int_format) if fl else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.requant = fixed_point_identity(fmt.int_format)
        self.fc = QuantLinear(cin, num_classes, bias=True, weight_quant=IntWeightPerTensorPo2,
                              weight_bit_width=w_bits, return_quant_tensor=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.requant(self.pool(self.quant_in(x)).flatten(1)))
