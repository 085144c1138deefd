"""FINN stream packing: tensors <-> AXI-stream words.

A folded tensor (..., fold, n) becomes one word per fold row, element i at bits
[i*bits, (i+1)*bits), two's complement for signed types (finn.util.data_packing's order).
"""
from __future__ import annotations

import numpy as np


def pack_words(values: np.ndarray, bits: int) -> list[int]:
    """Pack the last axis of an integer array into words (element i at bits [i*bits, ...))."""
    v = np.asarray(values)
    if v.size and not np.array_equal(v, np.round(v)):
        raise ValueError("pack_words: values are not integers")
    flat = v.astype(np.int64).reshape(-1, v.shape[-1])
    mask = (1 << bits) - 1
    shifts = [i * bits for i in range(flat.shape[1])]
    return [sum((int(x) & mask) << s for x, s in zip(row.tolist(), shifts)) for row in flat]


def unpack_words(words: list[int], n: int, bits: int, signed: bool) -> np.ndarray:
    """Inverse of pack_words for `n` elements per word -> int64 array (len(words), n)."""
    mask = (1 << bits) - 1
    out = np.zeros((len(words), n), dtype=np.int64)
    for r, w in enumerate(words):
        for i in range(n):
            x = (w >> (i * bits)) & mask
            if signed and x >> (bits - 1):
                x -= 1 << bits
            out[r, i] = x
    return out
