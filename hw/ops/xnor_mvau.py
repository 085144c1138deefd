"""XnorMVAU_rtl: FINN's MVAU (binaryXnorMode=1) on this project's RTL core hw/rtl/xnor_mvau.sv.

    acc[c] = popcount_i XNOR(x[i], W[i, c])      (0..MW),  out[c] = acc[c]  or  acc[c] >= T[c]

Weights (and thresholds) live in on-chip memory inside the core ($readmemh files written by
generate_hdl); there is no weight stream whatever `mem_mode` says. Shapes, stream widths,
folding, `get_exp_cycles` = NF*SF*vectors and the numpy golden model come from FINN's MVAU.
The helpers here (folding checks, word packing, BRAM rule) are shared with int_mvau.py.
"""

from __future__ import annotations

import math

import numpy as np
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU
from hw.ops.base import BirealRTLBackend, hex_lines


# -- shared helpers (also used by int_mvau.py) ---------------------------------------------
def check_folding(op) -> tuple[int, int]:
    """(SF, NF) = (MW/SIMD, MH/PE); raises ValueError naming the node when they don't divide."""
    name = op.onnx_node.name
    mw, mh = op.get_nodeattr("MW"), op.get_nodeattr("MH")
    pe, simd = op.get_nodeattr("PE"), op.get_nodeattr("SIMD")
    if mw < 1 or mh < 1:
        raise ValueError(f"{name}: MW={mw}, MH={mh} must be >= 1")
    if pe < 1 or mh % pe:
        raise ValueError(f"{name}: PE={pe} must divide MH={mh}")
    if simd < 1 or mw % simd:
        raise ValueError(f"{name}: SIMD={simd} must divide MW={mw}")
    return mw // simd, mh // pe


def pack_rows(a: np.ndarray, bits: int) -> list[int]:
    """One int per row of a 2-D int array: element k at bits [k*bits, (k+1)*bits), two's
    complement (FINN packing)."""
    a = np.asarray(a).astype(np.int64) & ((1 << bits) - 1)
    bit = (a[..., None] >> np.arange(bits)) & 1
    by = np.packbits(bit.reshape(a.shape[0], -1).astype(np.uint8), axis=1, bitorder="little")
    return [int.from_bytes(r.tobytes(), "little") for r in by]


def weight_words(w: np.ndarray, pe: int, simd: int, bits: int) -> list[int]:
    """Weight memory words: word nf*SF+sf, element p*SIMD+s = W[sf*SIMD+s, nf*PE+p]."""
    mw, mh = w.shape
    sf, nf = mw // simd, mh // pe
    a = w.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(nf * sf, pe * simd)
    return pack_rows(a, bits)


def bram18(depth: int, width: int) -> int:
    """RAMB18 count of a depth x width memory, FINN MVAU.bram_estimation's packing rule
    (SDP RAMB18: 16K x1, 8K x2, 4K x4, 2K x9, 1K x18, 512 x36)."""
    if width == 1:
        return math.ceil(depth / 16384)
    if width == 2:
        return math.ceil(depth / 8192)
    if width <= 4:
        return math.ceil(depth / 4096) * math.ceil(width / 4)
    if width <= 9:
        return math.ceil(depth / 2048) * math.ceil(width / 9)
    if width <= 18 or depth > 512:
        return math.ceil(depth / 1024) * math.ceil(width / 18)
    return math.ceil(depth / 512) * math.ceil(width / 36)


def memory_kind(style: str, depth: int) -> str:
    """Where a weight memory goes: 'block', 'distributed' or 'ultra'. ram_style 'auto' is
    taken as LUTRAM for depth <= 32 (one RAM32M deep) and block RAM above."""
    if style == "auto":
        return "distributed" if depth <= 32 else "block"
    return style


class MVAUCoreMixin:
    """What XnorMVAU_rtl and IntMVAU_rtl share: no weight stream, the project's RTL backend
    methods (not MVAU's HLS/finn-rtllib ones), weight memory estimates."""

    # MVAU comes first in the MRO (for shapes etc.); route the backend methods explicitly
    execute_node = BirealRTLBackend.execute_node
    generate_hdl = BirealRTLBackend.generate_hdl
    get_rtl_file_list = BirealRTLBackend.get_rtl_file_list
    code_generation_ipi = BirealRTLBackend.code_generation_ipi
    code_generation_ipgen = BirealRTLBackend.code_generation_ipgen

    def golden_execute(self, context, graph):
        """FINN's numpy model (MVAU.execute_node ignores exec_mode)."""
        MVAU.execute_node(self, context, graph)

    def get_instream_width(self, ind=0):
        """Only the activation stream; weights and thresholds are inside the core."""
        return MVAU.get_instream_width(self, 0) if ind == 0 else 0

    def get_verilog_top_module_intf_names(self):
        """in0_V and out0_V only (no weight stream, no AXI-lite)."""
        return {
            "clk": ["ap_clk"],
            "rst": ["ap_rst_n"],
            "s_axis": [("in0_V", self.get_instream_width_padded(0))],
            "m_axis": [("out0_V", self.get_outstream_width_padded(0))],
            "aximm": [],
            "axilite": [],
            "ap_none": [],
        }

    def weight_mem_shape(self) -> tuple[int, int]:
        """(depth, width) of the weight memory: (NF*SF, PE*SIMD*W_BITS)."""
        sf, nf = check_folding(self)
        wbits = self.get_input_datatype(1).bitwidth()
        return nf * sf, self.get_nodeattr("PE") * self.get_nodeattr("SIMD") * wbits

    def bram_estimation(self, fpgapart):
        """RAMB18s of the weight memory (bram18 rule) when it is block RAM, else 0."""
        depth, width = self.weight_mem_shape()
        if memory_kind(self.get_nodeattr("ram_style"), depth) != "block":
            return 0
        return bram18(depth, width)

    def uram_estimation(self, fpgapart):
        """URAMs (4K x 72) of the weight memory for ram_style='ultra', else 0."""
        depth, width = self.weight_mem_shape()
        if self.get_nodeattr("ram_style") != "ultra":
            return 0
        return math.ceil(width / 72) * math.ceil(depth / 4096)

    def distributed_mem_luts(self) -> int:
        """LUTRAM for a distributed weight memory: width * ceil(depth/64) LUTs (RAM64X1)."""
        depth, width = self.weight_mem_shape()
        if memory_kind(self.get_nodeattr("ram_style"), depth) != "distributed":
            return 0
        return width * math.ceil(depth / 64)


class XnorMVAU_rtl(MVAUCoreMixin, MVAU, BirealRTLBackend):
    """Binary (XNOR-popcount) MVAU; see module docstring."""

    core_sv = "xnor_mvau.sv"
    core_module = "bireal_xnor_mvau"

    def __init__(self, onnx_node, **kwargs):
        super().__init__(onnx_node, **kwargs)

    def check(self) -> None:
        """Raise ValueError naming the node and the offending value if the core can't run it."""
        name = self.onnx_node.name
        check_folding(self)
        if self.get_nodeattr("binaryXnorMode") != 1:
            raise ValueError(f"{name}: XnorMVAU_rtl needs binaryXnorMode=1")
        for what, dt in (("input", self.get_input_datatype(0)), ("weight", self.get_input_datatype(1))):
            if dt != DataType["BINARY"]:
                raise ValueError(f"{name}: XnorMVAU_rtl needs BINARY {what}s, got {dt.name}")
        odt = self.get_output_datatype()
        mw = self.get_nodeattr("MW")
        if self.get_nodeattr("noActivation") == 1:
            if not odt.is_integer() or odt == DataType["BIPOLAR"] or odt.min() > 0 or odt.max() < mw:
                raise ValueError(
                    f"{name}: outputDataType {odt.name} cannot hold the popcount 0..MW={mw}"
                )
        else:
            if odt == DataType["BINARY"]:
                if self.get_nodeattr("ActVal") != 0:
                    raise ValueError(f"{name}: ActVal={self.get_nodeattr('ActVal')} must be 0")
            elif odt != DataType["BIPOLAR"]:
                raise ValueError(
                    f"{name}: threshold output must be BINARY or BIPOLAR, got {odt.name}"
                )
            if len(self.onnx_node.input) < 3:
                raise ValueError(f"{name}: noActivation=0 needs a thresholds input")

    def verify_node(self):
        """FINN's messages after check() (which raises on anything the core cannot do)."""
        self.check()
        return MVAU.verify_node(self)

    def out_bits(self) -> int:
        return 1 if self.get_nodeattr("noActivation") == 0 else self.get_output_datatype().bitwidth()

    def core_params(self, model) -> dict:
        self.check()
        name = self.onnx_node.name
        act = self.get_nodeattr("noActivation") == 0
        return {
            "MW": self.get_nodeattr("MW"),
            "MH": self.get_nodeattr("MH"),
            "PE": self.get_nodeattr("PE"),
            "SIMD": self.get_nodeattr("SIMD"),
            "NO_ACT": 0 if act else 1,
            "OB": self.out_bits(),
            "IN_W": self.get_instream_width_padded(0),
            "OUT_W": self.get_outstream_width_padded(0),
            "WEIGHT_FILE": f"{name}_weights.mem",
            "THRESH_FILE": f"{name}_thresholds.mem" if act else "",
            "RAM_STYLE": self.get_nodeattr("ram_style"),
            "THR_RAM_STYLE": self.get_nodeattr("ram_style_thresholds"),
        }

    def mem_files(self, model) -> dict[str, str]:
        """weights: NF*SF words of PE*SIMD bits; thresholds (noActivation=0): NF words of PE
        lanes of TW = clog2(MW+2) bits holding clip(ceil(T), 0, MW+1) (acc >= T is then exact)."""
        self.check()
        name = self.onnx_node.name
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        w = model.get_initializer(self.onnx_node.input[1])
        if w is None or tuple(w.shape) != (mw, mh):
            raise ValueError(f"{name}: weights must be an initializer of shape ({mw}, {mh}), "
                             f"got {None if w is None else tuple(w.shape)}")
        if not np.isin(w, (0, 1)).all():
            raise ValueError(f"{name}: BINARY weights must be 0/1, got values {np.unique(w)[:8]}")
        files = {f"{name}_weights.mem": hex_lines(weight_words(w, pe, simd, 1), pe * simd)}
        if self.get_nodeattr("noActivation") == 0:
            t = model.get_initializer(self.onnx_node.input[2])
            if t is None or t.ndim != 2 or t.shape[1] != 1 or t.shape[0] not in (1, mh):
                raise ValueError(f"{name}: thresholds must be an initializer of shape ({mh}, 1), "
                                 f"got {None if t is None else tuple(t.shape)}")
            if not np.isfinite(t).all():
                raise ValueError(f"{name}: thresholds must be finite")
            tw = (mw + 1).bit_length()
            ti = np.clip(np.ceil(t[:, 0]), 0, mw + 1).astype(np.int64)
            ti = np.broadcast_to(ti, (mh,)).reshape(mh // pe, pe)
            files[f"{name}_thresholds.mem"] = hex_lines(pack_rows(ti, tw), pe * tw)
        return files

    # -- estimates ---------------------------------------------------------------------------
    # XNOR + popcount tree; Yosys synth_xilinx of PE=16, SIMD=64, MW=576: 1832 LUTs in total
    LUT_PER_LANE = 1.45

    def lut_estimation(self, fpgapart):
        """LUTs ~ 1.45*PE*SIMD (XNOR+popcount tree) + PE*ACC_W (accumulators)
        + PE*OB (output FIFO, LUTRAM) + SIMD (input replay buffer/mux) + LUTRAM weights."""
        pe, simd, mw = (self.get_nodeattr(k) for k in ("PE", "SIMD", "MW"))
        acc_w = mw.bit_length()
        tw = (mw + 1).bit_length() if self.get_nodeattr("noActivation") == 0 else 0
        lanes = math.ceil(self.LUT_PER_LANE * pe * simd)
        return int(lanes + pe * (acc_w + tw) + pe * self.out_bits() + simd
                   + self.distributed_mem_luts())

    def dsp_estimation(self, fpgapart):
        """No multipliers: 0."""
        return 0
