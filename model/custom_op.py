"""QONNX custom op `FixedPointRequant` (ONNX domain "model.custom_op") and its numpy golden.

The requant that follows every BN in the deployed Bi-Real model, in exact integer arithmetic:

    acc   = x * 2**in_frac                      (must be an integer; x is the conv output)
    y_int = clamp(floor((mult_c * acc + bias_c + 2**(shift-1)) / 2**shift), qmin, qmax)
    y     = y_int * 2**-out_frac

i.e. a fixed-point affine (BN folded, per output channel c, `mult_c >= 0`) with round-half-up
and saturation to a signed `out_bits` integer. qonnx resolves the domain by importing this
module and looking up `custom_op`, so `qonnx.core.onnx_exec.execute_onnx` runs it.
"""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from .errors import BiRealError

DOMAIN = "model.custom_op"


def fixed_point_requant(x: np.ndarray, mult: np.ndarray, bias: np.ndarray, shift: int,
                        in_frac: int, out_bits: int, out_frac: int, axis: int = 1,
                        name: str = "FixedPointRequant") -> np.ndarray:
    """Golden model of the requant (formula in the module docstring). Returns float32."""
    acc_f = np.asarray(x, dtype=np.float64) * 2.0 ** in_frac
    acc = np.rint(acc_f)
    if not np.array_equal(acc, acc_f):
        bad = np.abs(acc - acc_f).max()
        raise BiRealError(f"{name}: input is not a multiple of 2**-{in_frac} "
                          f"(off by up to {bad:.3g} LSB); the accumulator must be exact")
    if np.abs(acc).max(initial=0) >= 2 ** 40:
        raise BiRealError(f"{name}: accumulator magnitude {np.abs(acc).max():.0f} out of range")
    shape = [1] * acc.ndim
    shape[axis] = -1
    m = np.asarray(mult, dtype=np.int64).reshape(shape)
    b = np.asarray(bias, dtype=np.int64).reshape(shape)
    t = m * acc.astype(np.int64) + b
    if shift > 0:
        t = (t + (np.int64(1) << (shift - 1))) >> shift   # arithmetic shift = floor division
    y = np.clip(t, -(2 ** (out_bits - 1)), 2 ** (out_bits - 1) - 1)
    return (y.astype(np.float64) * 2.0 ** -out_frac).astype(np.float32)


class FixedPointRequant(CustomOp):
    """inputs: x (float, channels on axis 1), mult (int64 [C]), bias (int64 [C])."""

    def get_nodeattr_types(self):
        return {
            "shift": ("i", True, 0),
            "in_frac": ("i", True, 0),
            "out_bits": ("i", True, 8),
            "out_frac": ("i", True, 0),
            "axis": ("i", False, 1),
        }

    def make_shape_compatible_op(self, model):
        node = self.onnx_node
        return helper.make_node("Relu", [node.input[0]], [node.output[0]])

    def infer_node_datatype(self, model):
        bits, frac = self.get_nodeattr("out_bits"), self.get_nodeattr("out_frac")
        dt = DataType[f"INT{bits}"] if frac == 0 else DataType["FLOAT32"]
        model.set_tensor_datatype(self.onnx_node.output[0], dt)

    def execute_node(self, context, graph):
        node = self.onnx_node
        context[node.output[0]] = fixed_point_requant(
            context[node.input[0]], context[node.input[1]], context[node.input[2]],
            self.get_nodeattr("shift"), self.get_nodeattr("in_frac"),
            self.get_nodeattr("out_bits"), self.get_nodeattr("out_frac"),
            self.get_nodeattr("axis"), name=node.name or "FixedPointRequant")

    def verify_node(self):
        msgs = []
        if len(self.onnx_node.input) != 3:
            msgs.append("FixedPointRequant needs 3 inputs (x, mult, bias)")
        if self.get_nodeattr("shift") < 0:
            msgs.append("shift must be >= 0")
        return msgs or ["FixedPointRequant OK"]


custom_op = {"FixedPointRequant": FixedPointRequant}
