"""Bi-Real Net in Brevitas: quantizers, blocks, architectures, training, data, QONNX export."""
from .errors import BiRealError
from .nets import ARCHS, ArchSpec, BiRealNet, QuantConfig, bireal, get_arch

__all__ = ["ARCHS", "ArchSpec", "BiRealError", "BiRealNet", "QuantConfig", "bireal", "get_arch"]
