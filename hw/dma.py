"""How the accelerator's AXI streams meet the Zynq shell's AXI DMA (bytes in DDR).

Input: each input word of the first layer (W_in bits, FINN-padded to whole bytes) takes
in_word_bytes = ceil(W_in / 8) bytes in DDR, little-endian, words back to back. The DMA's
MM2S stream is dma_in_bytes = next power of two >= in_word_bytes wide; when the two differ the
shell converts widths (Xilinx axis_dwidth_converter), so a frame's bytes must fill whole DMA
words: in_word_bytes * words_in % dma_in_bytes == 0.

Output: TLastMarker_rtl (hw/ops/tlast_marker.py) zero-extends each output word to
out_word_bytes = next power of two >= ceil(W_out / 8) (at least 1) and marks the last word
of each batch with TLAST, so the S2MM stream needs no converter.

Weight load (URAM weight memories, hw/rtl/wload.sv): one more MM2S stream of 64-bit beats,
wload_V / s_axis_wload, sent once after the bitstream is loaded and before the first frame:
weight_load_blob = every chained unit's beats (op.load_beats) in graph order, as uint64
little-endian in DDR (8 bytes a beat).
"""
from __future__ import annotations

import math

import numpy as np
from qonnx.custom_op.registry import getCustomOp

from model.errors import BiRealError


def pow2_bytes(bits: int) -> int:
    """Smallest power-of-two byte count holding `bits` bits: 8 -> 1, 22 -> 4, 40 -> 8."""
    n = max(1, math.ceil(bits / 8))
    return 1 << (n - 1).bit_length()


def stream_layout(rtl) -> dict:
    """Widths and word counts of the partition's input and output streams (see module doc)."""
    first, last = getCustomOp(rtl.graph.node[0]), getCustomOp(rtl.graph.node[-1])
    w_in, w_out = first.get_instream_width_padded(0), last.get_outstream_width_padded(0)
    words_in = int(math.prod(first.get_folded_input_shape(0)[:-1]))
    words_out = int(math.prod(last.get_folded_output_shape(0)[:-1]))
    lay = {
        "in_width": int(w_in), "in_word_bytes": math.ceil(w_in / 8), "words_in": words_in,
        "dma_in_bytes": pow2_bytes(w_in),
        "out_width": int(w_out), "out_word_bytes": pow2_bytes(w_out), "words_out": words_out,
        "in_elem_bits": first.get_input_datatype(0).bitwidth(),
        "in_elems_per_word": int(first.get_folded_input_shape(0)[-1]),
        "out_elem_bits": last.get_output_datatype(0).bitwidth(),
        "out_signed": bool(last.get_output_datatype(0).signed()),
        "out_elems_per_word": int(last.get_folded_output_shape(0)[-1]),
    }
    frame = lay["in_word_bytes"] * words_in
    if frame % lay["dma_in_bytes"]:
        raise BiRealError(
            f"input stream of {rtl.graph.node[0].name}: a frame is {frame} bytes "
            f"({words_in} words of {lay['in_word_bytes']} bytes), not a multiple of the "
            f"{lay['dma_in_bytes']}-byte DMA word; change the first layer's SIMD")
    return lay


def has_wload(op) -> bool:
    """The unit has a run-time loaded weight memory: it takes part in the weight-load chain
    (a wl_in_V port)."""
    return any(p == "wl_in_V" for p, _ in op.get_verilog_top_module_intf_names()["s_axis"])


def wload_chain(rtl) -> list[str]:
    """Units with a run-time loaded weight memory (has_wload), in graph = chain order."""
    return [n.name for n in rtl.graph.node if has_wload(getCustomOp(n))]


def weight_load_blob(rtl) -> np.ndarray | None:
    """The weight-load stream of the RTL graph: concatenated op.load_beats of wload_chain
    (uint64 beats), None when every weight memory is a ROM."""
    chain = wload_chain(rtl)
    if not chain:
        return None
    return np.concatenate([getCustomOp(rtl.get_node_from_name(n)).load_beats(rtl)
                           for n in chain]).astype(np.uint64)
