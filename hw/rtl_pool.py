"""FINN's Pool (MaxPool) and the constant add behind it -> one MaxPool_rtl (hw.ops.max_pool);
FINN's Pool (AccPool, the downsample's sum pool from hw.sum_pool) -> SumPool_rtl."""
from __future__ import annotations

import numpy as np
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

DOMAIN = "hw.ops"
RTL_OF = {"MaxPool": "MaxPool_rtl", "AccPool": "SumPool_rtl"}    # Pool Function -> hw.ops op


class ToMaxPoolRTL(Transformation):
    """Pool(MaxPool) [-> ElementwiseAdd(per-tensor integer constant c)]  ==>  MaxPool_rtl with

        out[c'] = max over the K*K window of in[c'] + OFFSET,   OFFSET = c  (0 without an add)

    exact because max(x) + c = max(x + c) for a constant c. The add is absorbed when it is the
    Pool's only consumer, its constant is one integer, and the add's output datatype holds
    [in.min + c, in.max + c] (MaxPool_rtl.verify_node); the unit keeps the Pool's PE and the
    add's output datatype and tensor. Otherwise the Pool alone becomes MaxPool_rtl (OFFSET 0)
    and the add stays for FINN's ElementwiseAdd_rtl. Function=AccPool (a sum, exact for the
    same reason: sum(x) + c is what the unit computes) becomes SumPool_rtl the same way.
    `absorbed` lists (pool, add, offset) for each absorbed add."""

    def __init__(self):
        super().__init__()
        self.absorbed: list[dict] = []

    @staticmethod
    def _offset(model, pool):
        """(add node, integer offset) when the Pool's only consumer is a per-tensor integer
        constant ElementwiseAdd, else (None, 0)."""
        cons = model.find_consumers(pool.output[0]) or []
        if len(cons) != 1 or cons[0].op_type != "ElementwiseAdd":
            return None, 0
        add = cons[0]
        a = getCustomOp(add)
        if a.get_nodeattr("lhs_style") != "input" or a.get_nodeattr("rhs_style") != "const" \
                or add.input[0] != pool.output[0]:
            return None, 0
        c = model.get_initializer(add.input[1])
        c = None if c is None else np.asarray(c).reshape(-1)
        if c is None or c.size != 1 or c[0] != np.round(c[0]):
            return None, 0
        return add, int(c[0])

    def apply(self, model):
        for pool in model.graph.node:
            if pool.op_type != "Pool" or getCustomOp(pool).get_nodeattr("Function") not in RTL_OF:
                continue
            add, off = self._offset(model, pool)
            pool.op_type, pool.domain = RTL_OF[getCustomOp(pool).get_nodeattr("Function")], DOMAIN
            op = getCustomOp(pool)
            odt0 = op.get_nodeattr("OutputDataType")
            if add is not None:
                odt = model.get_tensor_datatype(add.output[0])
                op.set_nodeattr("OFFSET", off)
                op.set_nodeattr("OutputDataType", odt.name)
                try:
                    op.verify_node()
                except ValueError:          # the add's type does not hold the range: keep it
                    op.set_nodeattr("OFFSET", 0)
                    op.set_nodeattr("OutputDataType", odt0)
                    return model, True
                pool.output[0] = add.output[0]
                model.graph.node.remove(add)
                self.absorbed.append({"pool": pool.name, "add": add.name, "offset": off,
                                      "out_dtype": odt.name})
            op.verify_node()
            return model, True
        return model, False
