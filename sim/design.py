"""The compiled accelerator of a `bireal compile` folder as a Verilated design: stitched and
built (cached, sim/verilate.py), with the input codes, stream packing and the host-side tail.
Shared by the simulation (sim/run.py) and the FIFO sizing (sim/fifo_sizing.py), which import
this module and not each other's.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from model.errors import BiRealError

from hw.rtl_flow import relocate

from .packing import pack_words, unpack_words
from .stitch import stitch
from .verilate import build, build_info


def input_quant(export_onnx: Path) -> dict:
    """Scale, bits, signedness, rounding and clip range of the exported input Quant node."""
    from qonnx.custom_op.general.quant import max_int, min_int
    m = ModelWrapper(str(export_onnx))
    q = m.find_consumer(m.graph.input[0].name)
    if q is None or q.op_type != "Quant":
        raise BiRealError(f"{export_onnx}: the exported graph must start with the input Quant")
    scale, zp, bits = (m.get_initializer(i) for i in q.input[1:4])
    for name, v in (("scale", scale), ("zero point", zp), ("bit width", bits)):
        if v is None or np.asarray(v).size != 1:
            raise BiRealError(f"{export_onnx}: input Quant {q.name} needs a scalar {name}")
    op = getCustomOp(q)
    signed, narrow, bits = bool(op.get_nodeattr("signed")), bool(op.get_nodeattr("narrow")), int(bits)
    shape = m.get_tensor_shape(m.graph.input[0].name)
    return {"scale": float(np.float32(scale)), "zero_point": float(np.float32(zp)), "bits": bits,
            "signed": signed, "narrow": narrow, "rounding": op.get_nodeattr("rounding_mode"),
            "min": int(min_int(signed, narrow, bits)), "max": int(max_int(signed, narrow, bits)),
            "image_shape_chw": [int(x) for x in shape[1:]], "node": q.name}


def pixel_codes(export_onnx: Path, images: np.ndarray) -> np.ndarray:
    """Integer input codes (N, H, W, C) of float images, quantized as the exported input Quant."""
    from qonnx.custom_op.general.quant import quant
    q = input_quant(export_onnx)
    s = np.float32(q["scale"])
    x = quant(images.astype(np.float32), s, np.float32(q["zero_point"]), np.float32(q["bits"]),
              int(q["signed"]), int(q["narrow"]), q["rounding"]) / s
    return np.rint(x).astype(np.int64).transpose(0, 2, 3, 1)


def host_tail(parent: ModelWrapper, part_out: np.ndarray) -> np.ndarray:
    """Run the host-side nodes after the dataflow partition (power-of-two Mul, Flatten)."""
    from qonnx.core.onnx_exec import execute_node
    ctx = {k: v for k, v in ((i.name, parent.get_initializer(i.name)) for i in parent.graph.initializer)}
    sdp = next(n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition")
    ctx[sdp.output[0]] = part_out.astype(np.float32)
    started = False
    for n in parent.graph.node:
        if started:
            for o in n.output:
                ctx.setdefault(o, np.zeros(parent.get_tensor_shape(o), dtype=np.float32))
            execute_node(n, ctx, parent.graph, parent.model.opset_import[0].version)
        started |= n is sdp or n.name == sdp.name
    return ctx[parent.graph.output[0].name]


# C++ optimisation of the Verilated model (Verilator's OPT_FAST; its default is -Os). For
# bireal-tiny (5.5 MB of C++) on 2 shared cores: -Os builds in 135 s and runs 100 frames in
# 6.2 s, -O1 in 86 s + 9.3 s, -O0 in ~70 s + 88.6 s. A job simulates 100 frames once, so
# -O1; FIFO sizing (6 frames) uses -O0.
OPT_FAST = "-O1"


class Design:
    """The stitched, Verilated accelerator of a compile folder, with stream (un)packing."""

    def __init__(self, build_dir: Path, defines=None, sub="build", quiet=True,
                 opt_fast=OPT_FAST, rtl: ModelWrapper | None = None):
        """rtl: simulate this variant of DIR's RTL graph instead of DIR/rtl_model.onnx (FIFO
        sizing passes one with deep FIFOs, its HDL generated elsewhere); opt_fast: see
        OPT_FAST."""
        self.dir = Path(build_dir)
        for f in ("rtl_model.onnx", "model_hw.onnx", "compile.json"):
            if not (self.dir / f).is_file():
                raise BiRealError(f"{self.dir / f} not found: run `bireal compile --out "
                                  f"{self.dir}` first")
        self.rtl = rtl or relocate(ModelWrapper(str(self.dir / "rtl_model.onnx")), self.dir)
        self.parent = ModelWrapper(str(self.dir / "model_hw.onnx"))
        self.info = json.loads((self.dir / "compile.json").read_text())
        first, last = self.rtl.graph.node[0], self.rtl.graph.node[-1]
        self.iop, self.oop = getCustomOp(first), getCustomOp(last)
        t0 = time.time()
        self.st = stitch(self.rtl, self.dir / "sim" / sub)
        self.exe = build(self.st.workdir, self.st.top, self.st.sources, self.st.in_width,
                         self.st.out_width, n_dbg=self.st.n_dbg, defines=defines, jobs=2,
                         opt_fast=opt_fast, wload=bool(self.st.wload))
        self.build_seconds = time.time() - t0
        self.build_record = build_info(self.st.workdir)

    def load_beats(self) -> np.ndarray | None:
        """The weight-load blob for wload_V (uint64 beats): each chained unit's beats
        (op.load_beats, made from the RTL graph's weight initializers) in chain order; None
        when no memory is loaded at run time."""
        from hw.dma import weight_load_blob
        blob = weight_load_blob(self.rtl)
        if (blob is None) != (not self.st.wload):
            raise BiRealError("the stitched top and the RTL graph disagree about the weight load")
        return blob

    def frame_words(self, codes: np.ndarray) -> list[int]:
        """One image's integer codes (H, W, C) -> input words of the first layer."""
        fshape = self.iop.get_folded_input_shape(0)
        return pack_words(codes.reshape(fshape), self.iop.get_input_datatype(0).bitwidth())

    def words_out(self) -> int:
        return int(np.prod(self.oop.get_folded_output_shape(0)[:-1]))

    def decode(self, words: list[int]) -> np.ndarray:
        """Output words of one frame -> the partition's output tensor (normal shape)."""
        dt = self.oop.get_output_datatype(0)
        n = int(self.oop.get_folded_output_shape(0)[-1])
        vals = unpack_words(words, n, dt.bitwidth(), dt.signed())
        return vals.reshape(self.oop.get_normal_output_shape(0)).astype(np.float32)


def steady_cycles(stamps: np.ndarray) -> float:
    """Mean spacing of consecutive frames' last output words (frame 1 excluded: fill)."""
    last = stamps[:, 3]
    if len(last) < 2:
        return float(last[0] - stamps[0, 0] + 1)
    k = 1 if len(last) >= 3 else 0
    return float(last[-1] - last[k]) / (len(last) - 1 - k)


def bottleneck(rtl: ModelWrapper) -> tuple[int, str]:
    """(cycles, layer) of the slowest layer by its analytical model (hw.estimates.exp_cycles:
    get_exp_cycles, width converters from their rate)."""
    from hw.estimates import exp_cycles
    best = (0, "")
    for n in rtl.graph.node:
        c = exp_cycles(getCustomOp(n))
        best = max(best, (c, n.name))
    return best
