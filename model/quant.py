"""Brevitas quantizers for Bi-Real Net, composed declaratively like Brevitas' own.

Binary activation (sign with sign(0)=+1, ApproxSign backward), binary weights alpha*sign(W)
with two gradient variants, and fixed-point (power-of-two scale) quantizers for the
real-valued path: shortcut/requant activations, the 8-bit input and the 8-bit layers.

Shortcut mode fixed8 (default): every scale on the activation path is a power of two, so a
quantized value is ``q * 2**-frac`` with ``q`` an integer: the residual add of two such values
is an exact integer add, and the hardware never sees a float. Shortcut mode float32 (`Float32`):
the real-valued path is IEEE binary32 and returns to fixed point only where an integer layer
follows (see model.layers).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from brevitas.core.bit_width import BitWidthConst
from brevitas.core.utils import StatelessBuffer
from brevitas.inject.enum import RestrictValueType, ScalingImplType
from brevitas.nn import QuantIdentity
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from brevitas.quant.fixed_point import Int8WeightPerTensorFixedPoint
from brevitas.quant.scaled_int import (
    Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Int8WeightPerTensorFloat,
    Uint8ActPerTensorFloat)

from .errors import BiRealError

GRAD_VARIANTS = ("paper", "official")


# --------------------------------------------------------------------------- sign functions
def binary_sign(x: Tensor) -> Tensor:
    """sign(x) with sign(0) = +1: x >= 0 -> +1, x < 0 -> -1 (Brevitas/larq/FINN convention)."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class ApproxSignFn(torch.autograd.Function):
    """Forward sign(x) (sign(0)=+1); backward ApproxSign of the paper (Bi-Real, eq. 4):
    d/dx = 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return binary_sign(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        d = torch.where(x < 0, 2 + 2 * x, 2 - 2 * x)
        d = torch.where((x >= -1) & (x < 1), d, torch.zeros_like(d))
        return g * d


class ClipSteSignFn(torch.autograd.Function):
    """Forward sign(w) (sign(0)=+1); backward clip STE: d/dw = 1{|w| <= 1}."""

    @staticmethod
    def forward(ctx, w: Tensor) -> Tensor:
        ctx.save_for_backward(w)
        return binary_sign(w)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        (w,) = ctx.saved_tensors
        return g * (w.abs() <= 1).to(g.dtype)


def approx_sign(x: Tensor) -> Tensor:
    return ApproxSignFn.apply(x)


# --------------------------------------------------------------------------- tensor quants
class ApproxSignBinaryQuant(nn.Module):
    """tensor_quant for binary activations: y = sign(x) in {-1, +1}, scale 1, ApproxSign grad.
    Returns Brevitas' (value, scale, zero_point, bit_width) tuple; bit width 1 makes the
    QONNX export emit BipolarQuant."""

    def __init__(self):
        super().__init__()
        self.bit_width = BitWidthConst(1)
        self.zero_point = StatelessBuffer(torch.tensor(0.0))
        self.scale = StatelessBuffer(torch.tensor(1.0))

    def forward(self, x: Tensor):
        return approx_sign(x), self.scale(), self.zero_point(), self.bit_width()


class ScaledBinaryWeightQuant(nn.Module):
    """tensor_quant for binary weights: W_b = alpha * sign(W), alpha = mean|W| per output
    channel (XNOR-Net / Bi-Real).

    grad_variant 'paper':    alpha is a function of W (gradient flows through alpha) and
                             d sign(W)/dW = 1{|W| <= 1}.
    grad_variant 'official': alpha detached, d W_b/dW = 1{|W| <= 1} (clip STE, no alpha
                             factor), exactly the official Bi-Real PyTorch code.
    """

    def __init__(self, grad_variant: str = "paper"):
        super().__init__()
        if grad_variant not in GRAD_VARIANTS:
            raise BiRealError(f"grad_variant {grad_variant!r} unknown; choose one of {GRAD_VARIANTS}")
        self.grad_variant = grad_variant
        self.bit_width = BitWidthConst(1)
        self.zero_point = StatelessBuffer(torch.tensor(0.0))

    def forward(self, w: Tensor):
        dims = tuple(range(1, w.dim()))
        alpha = w.abs().mean(dim=dims, keepdim=True)
        if self.grad_variant == "official":
            # official code: (alpha*sign(W)).detach() - clip(W).detach() + clip(W)
            alpha = alpha.detach()
            c = torch.clamp(w, -1.0, 1.0)
            y = (alpha * binary_sign(w)).detach() - c.detach() + c
        else:
            y = alpha * ClipSteSignFn.apply(w)
        return y, alpha, self.zero_point(), self.bit_width()


# --------------------------------------------------------------------------- injectors
class BinaryActQuant(SignedBinaryActPerTensorConst):
    """Binary activation quantizer: sign (sign(0)=+1), ApproxSign backward, exports BipolarQuant."""
    tensor_quant = ApproxSignBinaryQuant


class BinaryWeightQuant(SignedBinaryWeightPerTensorConst):
    """Binary weight quantizer alpha*sign(W), alpha = mean|W| per output channel."""
    tensor_quant = ScaledBinaryWeightQuant
    grad_variant = "paper"


class UnitBinaryWeightQuant(SignedBinaryWeightPerTensorConst):
    """Deployed binary weights: values already +-1, scale exactly 1 (exports BipolarQuant)."""
    scaling_const = 1.0


class FixedPointActQuant(Int8ActPerTensorFloat):
    """Signed fixed-point activation: q = clamp(round_half_even(x * 2**frac), -2**(b-1),
    2**(b-1) - 1), value q * 2**-frac. Constant scale; pass bit_width, max_val = 2**(b-1-frac),
    min_val = -max_val (see `fixed_point_identity`)."""
    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP


class InputQuant(Uint8ActPerTensorFloat):
    """Unsigned b-bit image input with scale 2**-b: q = round(x * 2**b), 0 <= q < 2**b."""
    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP


class IntWeightPerChannel(Int8WeightPerChannelFloat):
    """b-bit narrow-range weights, float scale per output channel (max|W_c| / (2**(b-1)-1)).
    The scale is folded into the fixed-point requant at deploy time, so it need not be a power
    of two."""


class IntWeightPerTensorPo2(Int8WeightPerTensorFixedPoint):
    """b-bit narrow-range weights with one power-of-two scale (final FC): the logits stay
    dyadic, so their argmax is exact in hardware."""


class UnitIntWeightQuant(Int8WeightPerTensorFloat):
    """Deployed integer weights: values are already integers; pass
    scaling_const = 2**(b-1) - 1 so the scale (scaling_const / (2**(b-1) - 1)) is exactly 1."""
    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP


# --------------------------------------------------------------------------- number formats
@dataclass(frozen=True)
class FixedPoint:
    """Signed fixed-point format: `bits` total bits, `frac` fractional bits, value q*2**-frac."""
    bits: int = 8
    frac: int = 4

    kind = "fixed"

    def __post_init__(self):
        if not (2 <= self.bits <= 16):
            raise BiRealError(f"fixed-point bits={self.bits} out of range: use 2..16 (the "
                              "requant arithmetic must stay exact in float32)")
        if not (-8 <= self.frac <= self.bits + 8):
            raise BiRealError(f"fixed-point frac={self.frac} out of range for bits={self.bits}")

    @property
    def scale(self) -> float:
        return 2.0 ** -self.frac

    @property
    def qmin(self) -> int:
        return -(2 ** (self.bits - 1))

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    @property
    def int_format(self) -> "FixedPoint":
        """The format where the path is integer: for fixed point, the whole path."""
        return self

    def to_dict(self) -> dict:
        return {"kind": self.kind, "bits": self.bits, "frac": self.frac}


@dataclass(frozen=True)
class Float32:
    """IEEE-754 binary32 shortcut (round to nearest even): every tensor on the real-valued path
    (stem output, BN outputs, residual adds) is a float32. `bits`/`frac` give the fixed-point
    format where the path must return to integers: the input of the 8-bit downsample conv and
    the pooled features before the 8-bit FC (power-of-two scale 2**-frac, saturating)."""
    bits: int = 8
    frac: int = 4

    kind = "float32"

    def __post_init__(self):
        FixedPoint(self.bits, self.frac)          # same range checks

    @property
    def int_format(self) -> FixedPoint:
        return FixedPoint(self.bits, self.frac)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "bits": self.bits, "frac": self.frac}


SHORTCUT_KINDS = ("fixed", "float32")
# command-line names of the shortcut modes (fixed8: today's 8-bit fixed point, the default)
SHORTCUT_MODES = ("fixed8", "float32")


def shortcut_format(kind: str = "fixed", bits: int = 8, frac: int = 4) -> FixedPoint | Float32:
    """The shortcut number format, a parameter of the model (and later of the HW ops).
    'fixed' (CLI name fixed8): `bits`-bit fixed point, scale 2**-frac, on the whole real-valued
    path. 'float32': float32 path; `bits`/`frac` format the two returns to integers."""
    if kind not in SHORTCUT_KINDS:
        raise BiRealError(f"shortcut format {kind!r} is unknown; available: {SHORTCUT_KINDS}")
    if kind == "float32":
        return Float32(bits=bits, frac=frac)
    return FixedPoint(bits=bits, frac=frac)


def shortcut_mode(name: str, bits: int = 8, frac: int = 4) -> FixedPoint | Float32:
    """Shortcut format from its command-line name (one of SHORTCUT_MODES)."""
    if name not in SHORTCUT_MODES:
        raise BiRealError(f"--shortcut {name!r} is not a shortcut mode; choose one of "
                          f"{', '.join(SHORTCUT_MODES)}")
    return shortcut_format("float32" if name == "float32" else "fixed", bits, frac)


def mode_name(fmt) -> str:
    """Command-line / export.json name of a shortcut format: 'float32' or 'fixed<bits>'."""
    return "float32" if fmt.kind == "float32" else f"fixed{fmt.bits}"


def is_float(fmt) -> bool:
    return getattr(fmt, "kind", "fixed") == "float32"


def check_bits(name: str, bits: int, lo: int, hi: int) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not (lo <= bits <= hi):
        raise BiRealError(f"{name}={bits!r} is not a valid bit width: use an integer in {lo}..{hi}")
    return bits


def fixed_point_identity(fmt: FixedPoint) -> QuantIdentity:
    """QuantIdentity that rounds/saturates to `fmt` (exports a QONNX Quant node)."""
    m = 2.0 ** (fmt.bits - 1 - fmt.frac)
    return QuantIdentity(act_quant=FixedPointActQuant, bit_width=fmt.bits, max_val=m, min_val=-m,
                         return_quant_tensor=False)


def input_identity(bits: int = 8) -> QuantIdentity:
    """QuantIdentity for the image input: unsigned `bits`, scale 2**-bits."""
    return QuantIdentity(act_quant=InputQuant, bit_width=bits, max_val=1.0 - 2.0 ** -bits,
                         return_quant_tensor=False)


def binary_identity() -> QuantIdentity:
    return QuantIdentity(act_quant=BinaryActQuant, return_quant_tensor=False)


def po2_exponent(x: float) -> int:
    """Exact log2 of a power of two; raises if x is not one."""
    m, e = math.frexp(x)
    if m != 0.5:
        raise BiRealError(f"scale {x!r} is not a power of two")
    return e - 1
