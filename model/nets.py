"""Bi-Real Net architectures: bireal18, bireal34 (ImageNet), bireal-cifar, bireal-tiny.

Structure (paper / official code): stem conv + BN (+ maxpool on ImageNet) -> stages of Bi-Real
blocks (one binary 3x3 conv per block, each with its own shortcut; first block of a stage may
downsample: AvgPool2x2 -> 1x1 conv -> BN) -> global average pool -> FC.
Stem and FC are real-valued in the paper; here they are `w_bits`-bit integer layers so the
whole network maps onto integer hardware.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import Tensor, nn

from .errors import BiRealError
from .layers import BinaryConv2d, BiRealBlock, ConvBNQ, Head
from .quant import (GRAD_VARIANTS, FixedPoint, Float32, check_bits, input_identity,
                    shortcut_format, shortcut_mode)


@dataclass(frozen=True)
class ArchSpec:
    name: str
    in_ch: int
    in_size: int
    stem_kernel: int
    stem_stride: int
    stem_pool: bool           # 3x3 stride-2 maxpool after the stem (ImageNet)
    widths: tuple
    depths: tuple             # binary convs (= Bi-Real blocks) per stage
    classes: int
    dataset: str

    @property
    def stem_ch(self) -> int:
        return self.widths[0]


ARCHS = {
    "bireal18": ArchSpec("bireal18", 3, 224, 7, 2, True, (64, 128, 256, 512), (4, 4, 4, 4),
                         1000, "imagenet"),
    "bireal34": ArchSpec("bireal34", 3, 224, 7, 2, True, (64, 128, 256, 512), (6, 8, 12, 6),
                         1000, "imagenet"),
    # Bi-Real-18 structure at half width: ~2.8 Mbit of binary weights (fits PYNQ-Z2 BRAM).
    "bireal-cifar": ArchSpec("bireal-cifar", 3, 32, 3, 1, False, (32, 64, 128, 256),
                             (4, 4, 4, 4), 10, "cifar10"),
    # 28x28x1 digits: stride-2 stem, stages of 2 and 3 blocks (~249 kbit binary weights).
    # Widths/depths chosen by measurement: 32/64 x [2,2] plateaued at ~96 % on MNIST-5k.
    "bireal-tiny": ArchSpec("bireal-tiny", 1, 28, 3, 2, False, (48, 96), (2, 3), 10, "mnist5k"),
}


@dataclass(frozen=True)
class QuantConfig:
    """Number formats of the model. `shortcut` is the format of every tensor on the real-valued
    path (stem output, post-BN requants, residual adds, pooled features): `FixedPoint` (mode
    fixed8, the default) or `Float32` (mode float32: float path, fixed point only where it
    returns to integers; see model.layers)."""
    shortcut: FixedPoint | Float32 = field(default_factory=FixedPoint)
    w_bits: int = 8          # stem, downsample 1x1 and FC weights
    in_bits: int = 8         # image input, unsigned, scale 2**-in_bits
    grad_variant: str = "paper"

    def __post_init__(self):
        check_bits("w_bits", self.w_bits, 2, 8)
        check_bits("in_bits", self.in_bits, 1, 8)
        if not isinstance(self.shortcut, (FixedPoint, Float32)):
            raise BiRealError(f"shortcut {self.shortcut!r} is not a shortcut format")
        if self.grad_variant not in GRAD_VARIANTS:
            raise BiRealError(f"grad_variant {self.grad_variant!r} unknown; choose one of "
                              f"{GRAD_VARIANTS}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shortcut"] = self.shortcut.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "QuantConfig":
        sc = d.get("shortcut", {})
        return cls(shortcut=shortcut_format(sc.get("kind", "fixed"), sc.get("bits", 8),
                                            sc.get("frac", 4)),
                   w_bits=d.get("w_bits", 8), in_bits=d.get("in_bits", 8),
                   grad_variant=d.get("grad_variant", "paper"))


def check_input(spec: ArchSpec, x: Tensor):
    c, n = spec.in_ch, spec.in_size
    if x.dim() != 4 or tuple(x.shape[1:]) != (c, n, n):
        raise BiRealError(f"{spec.name} expects input of shape (N, {c}, {n}, {n}) "
                          f"(channels={c}), got {tuple(x.shape)}")


def get_arch(arch: str) -> ArchSpec:
    if arch not in ARCHS:
        raise BiRealError(f"unknown arch {arch!r}; choose one of {sorted(ARCHS)}")
    return ARCHS[arch]


class BiRealNet(nn.Module):
    def __init__(self, spec: ArchSpec, num_classes: int, q: QuantConfig):
        super().__init__()
        if not (isinstance(num_classes, int) and num_classes >= 2):
            raise BiRealError(f"num_classes={num_classes!r} must be an integer >= 2")
        self.spec, self.num_classes, self.q = spec, num_classes, q
        fmt = q.shortcut
        self.input_quant = input_identity(q.in_bits)
        k, s = spec.stem_kernel, spec.stem_stride
        self.stem = ConvBNQ(spec.in_ch, spec.stem_ch, k, s, k // 2, fmt, q.w_bits)
        self.stem_pool = nn.MaxPool2d(3, 2, 1) if spec.stem_pool else nn.Identity()
        blocks, cin = [], spec.stem_ch
        for i, (w, d) in enumerate(zip(spec.widths, spec.depths)):
            for j in range(d):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BiRealBlock(cin, w, stride, fmt, q.w_bits, q.grad_variant))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = Head(cin, num_classes, fmt, q.w_bits)
        self._check_gap()

    def feature_size(self) -> int:
        """Spatial size at the global pool for the arch's input size."""
        n = self.spec.in_size
        n = (n + 2 * (self.spec.stem_kernel // 2) - self.spec.stem_kernel) // self.spec.stem_stride + 1
        if self.spec.stem_pool:
            n = (n + 2 - 3) // 2 + 1
        for _ in self.spec.widths[1:]:
            n = (n + 2 - 3) // 2 + 1
        return n

    def _check_gap(self):
        # round(S / HW) in float32 is exact unless HW is even and not a power of two (then a
        # float error can flip an exact .5 tie); see DESIGN.md.
        hw = self.feature_size() ** 2
        if hw % 2 == 0 and hw & (hw - 1):
            raise BiRealError(f"global pool over {hw} pixels: an even, non-power-of-two window "
                              "cannot be requantized exactly; change the input size")

    def check_input(self, x: Tensor):
        check_input(self.spec, x)

    def set_binary(self, flag: bool):
        """Stage 2 (True): sign activations, alpha*sign(W). Stage 1 (False): clip, real W."""
        for m in self.modules():
            if isinstance(m, BinaryConv2d):
                m.binary = flag

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        x = self.stem_pool(self.stem(self.input_quant(x)))
        return self.head(self.blocks(x))


def bireal(arch: str = "bireal-tiny", num_classes: int | None = None,
           q: QuantConfig | None = None, **qkw) -> BiRealNet:
    """Build a Bi-Real net. `qkw` are QuantConfig fields (shortcut_bits/shortcut_frac accepted;
    shortcut='fixed8' (default) or 'float32' picks the mode)."""
    spec = get_arch(arch)
    if q is None:
        sb, sf = qkw.pop("shortcut_bits", 8), qkw.pop("shortcut_frac", 4)
        mode = qkw.pop("shortcut", "fixed8")
        check_bits("shortcut_bits", sb, 2, 16)
        q = QuantConfig(shortcut=shortcut_mode(mode, sb, sf), **qkw)
    return BiRealNet(spec, spec.classes if num_classes is None else num_classes, q)
