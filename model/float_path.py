"""The float32 shortcut path of the deployed model: BN constants folded once in numpy float32,
and the deployed affine as separately rounded float32 ops in a fixed order.

Why this order (DESIGN.md, "Float32 shortcut"): PyTorch's CPU kernels and plain IEEE binary32
hardware (round to nearest even, no FMA) agree bit for bit only if every rounding is spelled
out. Measured to break it: reassociation ((c*a) + (b+x)), FMA / addcmul / add(alpha=),
nn.BatchNorm2d's eval kernel, the textbook (x-m)*invstd*w+b, scaling the binary weights inside
the conv, qonnx BatchNormToAffine (divides), adaptive_avg_pool2d / mean on floats.

Constants, per output channel, numpy float32, each op rounded once (numpy never fuses):

    invstd = f32(1 / f32(sqrt(f32(var + f32(eps)))))
    g      = f32(gamma * invstd)
    b      = f32(beta - f32(mean * g))
    a      = f32(g * f32(s_w))          s_w: alpha = mean|W_c| (binary) or the int weight scale

Deployed, with c the conv output (an exact integer accumulator times a power of two 2**-k):

    y = c * a[ch]        (torch.mul, one rounding)
    y = y + b[ch]        (torch.add, one rounding)
    out = y + r          (the block's residual add, model.deploy.DeployBlock)

`FloatAffine` checks at run time (not while exporting) that c * 2**k is an integer below
2**24 and that its output has no NaN, inf or subnormal, naming the layer: a flush-to-zero FP
unit is then exact on the checked inputs.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .errors import BiRealError

FLOAT32_EXACT = 2 ** 24
F32_TINY = float(np.finfo(np.float32).tiny)     # 2**-126, smallest normal


def fold_bn_float32(bn: nn.BatchNorm2d, w_scale) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) float32 per channel (formulas in the module docstring)."""
    f32 = np.float32
    var = bn.running_var.detach().cpu().numpy().astype(f32)
    mean = bn.running_mean.detach().cpu().numpy().astype(f32)
    gamma = bn.weight.detach().cpu().numpy().astype(f32)
    beta = bn.bias.detach().cpu().numpy().astype(f32)
    s = np.asarray(w_scale, dtype=np.float64).reshape(-1).astype(f32)
    s = np.broadcast_to(s, gamma.shape)
    with np.errstate(all="raise"):
        invstd = f32(1) / np.sqrt(var + f32(bn.eps))
        g = gamma * invstd
        b = beta - mean * g
        a = g * s
    for arr in (invstd, g, b, a):
        assert arr.dtype == f32
    return a, b


def is_tracing() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def check_float(y: Tensor, name: str):
    """No NaN, inf or subnormal on the float path (skipped while exporting)."""
    if is_tracing():
        return
    if not bool(torch.isfinite(y).all()):
        raise BiRealError(f"{name}: NaN or inf on the float32 path")
    sub = (y != 0) & (y.abs() < F32_TINY)
    if bool(sub.any()):
        raise BiRealError(f"{name}: {int(sub.sum())} subnormal float32 value(s) on the float "
                          "path; flush-to-zero hardware would differ")


class FloatAffine(nn.Module):
    """y = c * a[ch]; y = y + b[ch] — two float32 ops, exported as Mul and Add with the exact
    float32 constants (no BatchNormalization node). `in_frac` = k: c * 2**k is the integer
    accumulator of the conv before (0 for binary convs)."""

    def __init__(self, a: np.ndarray, b: np.ndarray, in_frac: int, name: str):
        super().__init__()
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        self.register_buffer("a", torch.from_numpy(a.copy()).view(1, -1, 1, 1))
        self.register_buffer("b", torch.from_numpy(b.copy()).view(1, -1, 1, 1))
        self.in_frac, self.name = in_frac, name

    def check_acc(self, c: Tensor):
        if is_tracing():
            return
        acc = c.double() * 2.0 ** self.in_frac
        if not bool((acc == acc.round()).all()):
            raise BiRealError(f"{self.name}: conv output is not an integer multiple of "
                              f"2**-{self.in_frac}; the accumulator must be exact")
        m = float(acc.abs().max()) if acc.numel() else 0.0
        if m >= FLOAT32_EXACT:
            raise BiRealError(f"{self.name}: conv accumulator {m:.0f} >= 2**24 is not exact "
                              "in float32")

    def forward(self, c: Tensor) -> Tensor:
        self.check_acc(c)
        y = torch.mul(c, self.a)
        y = torch.add(y, self.b)
        check_float(y, f"{self.name} (affine)")
        return y
