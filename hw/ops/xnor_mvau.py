"""XnorMVAU_rtl: FINN's MVAU (binaryXnorMode=1) on this project's RTL core hw/rtl/xnor_mvau.sv.

    acc[c] = popcount_i XNOR(x[i], W[i, c])      (0..MW),  out[c] = acc[c]  or  acc[c] >= T[c]

Weights (and thresholds) live in on-chip memory inside the core ($readmemh files written by
generate_hdl); there is no weight stream whatever `mem_mode` says. Except: a weight memory
mapped to URAM (ram_style 'ultra', allowed when the node's `weightLoad` = 1) has no bitstream
initialisation and is written at run time through the weight-load chain (wl_in_V -> wl_out_V,
hw/rtl/wload.sv): `load_beats` gives its 64-bit beats; `runtime_writeable_weights` says
so. Shapes, stream widths, folding, `get_exp_cycles` = NF*SF*vectors and the numpy golden model come from FINN's MVAU.
The helpers here (folding checks, word packing, the weight memory through hw.memory) are
shared with int_mvau.py.
"""

from __future__ import annotations


import numpy as np
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU
from hw import memory as M
from hw.ops.base import RTL_DIR, BirealRTLBackend, hex_lines


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


WL_BITS = 64            # weight-load beat width (hw/rtl/wload.sv BW; the stitched wload_V)


def load_beats(words: list[int], width: int) -> np.ndarray:
    """Weight-load beats of a memory (wload.sv): NB = ceil(width/64) beats per word, word a
    -> beats a*NB .. a*NB+NB-1, beat b = word bits [64b, 64b+64) (uint64)."""
    nb = -(-width // WL_BITS)
    mask = (1 << WL_BITS) - 1
    return np.array([(int(w) >> (WL_BITS * b)) & mask for w in words for b in range(nb)],
                    dtype=np.uint64)


def weight_words(w: np.ndarray, pe: int, simd: int, bits: int) -> list[int]:
    """Weight memory words: word nf*SF+sf, element p*SIMD+s = W[sf*SIMD+s, nf*PE+p]."""
    mw, mh = w.shape
    sf, nf = mw // simd, mh // pe
    a = w.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(nf * sf, pe * simd)
    return pack_rows(a, bits)


class MVAUCoreMixin:
    """What XnorMVAU_rtl and IntMVAU_rtl share: no weight stream, the project's RTL backend
    methods (not MVAU's HLS/finn-rtllib ones), weight memory estimates."""

    # MVAU comes first in the MRO (for shapes etc.); route the backend methods explicitly
    execute_node = BirealRTLBackend.execute_node
    code_generation_ipi = BirealRTLBackend.code_generation_ipi
    code_generation_ipgen = BirealRTLBackend.code_generation_ipgen
    CTRL_SV = "mvau_ctrl.sv"                 # bireal_mvau_ctrl, shared by both cores
    rtl_deps = ("rom.sv", "delay.sv", "adder_tree.sv", "wload.sv", "skid_buffer.sv")
    DEFAULT_PART = "xc7z020clg400-1"         # memory mapping when no part is known (PYNQ-Z2)

    def golden_execute(self, context, graph):
        """FINN's numpy model (MVAU.execute_node ignores exec_mode)."""
        MVAU.execute_node(self, context, graph)

    def get_nodeattr_types(self):
        """MVAU's attributes + `weightLoad` (1: the weight memory may be written at run time,
        which allows URAM ('ultra') on UltraScale+; set by hw.memory.SetWeightMemory)."""
        attrs = MVAU.get_nodeattr_types(self)
        attrs["weightLoad"] = ("i", False, 0, {0, 1})
        return attrs

    def runtime_writeable(self, fpgapart=None) -> bool:
        """The weight memory is written at run time (wload chain): it is mapped to URAM
        (no bitstream initialisation outside Versal)."""
        return (self.weight_memory(fpgapart).kind == "ultra"
                and not M.is_versal(self._part(fpgapart)))

    def load_beats(self, model) -> np.ndarray:
        """The 64-bit beats wload.sv expects for this memory (see load_beats()), made from
        the same words as the $readmemh file would be."""
        return load_beats(self.weight_mem_words(model), self.weight_mem_shape()[1])

    def load_bits(self, fpgapart=None) -> int:
        """Weight-load size of this unit in bits: depth * ceil(width/64) * 64 (0 if none)."""
        if not self.runtime_writeable(fpgapart):
            return 0
        depth, width = self.weight_mem_shape()
        return depth * -(-width // WL_BITS) * WL_BITS

    def wload_luts(self, fpgapart=None) -> int:
        """LUTs of the loader (wload.sv): beat and address counters with their compares and
        the pass-through skid buffer's output mux (64 LUTs); the deserialiser is a plain
        shift register (FFs, no LUTs). 0 without run-time loading."""
        if not self.runtime_writeable(fpgapart):
            return 0
        depth, width = self.weight_mem_shape()
        nb = -(-width // WL_BITS)
        return 2 * (max(1, (depth - 1).bit_length()) + max(1, (nb - 1).bit_length())) + WL_BITS + 8

    def get_instream_width(self, ind=0):
        """Only the activation stream; weights and thresholds are inside the core."""
        return MVAU.get_instream_width(self, 0) if ind == 0 else 0

    def get_verilog_top_module_intf_names(self):
        """in0_V and out0_V (no weight stream, no AXI-lite); a run-time writeable memory adds
        the weight-load chain wl_in_V / wl_out_V (64 bits, after the data streams)."""
        rw = self.runtime_writeable()
        return {
            "clk": ["ap_clk"],
            "rst": ["ap_rst_n"],
            "s_axis": [("in0_V", self.get_instream_width_padded(0))]
            + ([("wl_in_V", WL_BITS)] if rw else []),
            "m_axis": [("out0_V", self.get_outstream_width_padded(0))]
            + ([("wl_out_V", WL_BITS)] if rw else []),
            "aximm": [],
            "axilite": [],
            "ap_none": [],
        }

    def render_wrapper(self, model, ports, conns):
        """The core's weight-load ports are tied off when the memory is a ROM."""
        if not self.runtime_writeable():
            conns = conns + [".wl_in_V_TDATA(64'd0)", ".wl_in_V_TVALID(1'b0)",
                             ".wl_in_V_TREADY()", ".wl_out_V_TDATA()", ".wl_out_V_TVALID()",
                             ".wl_out_V_TREADY(1'b1)"]
        return BirealRTLBackend.render_wrapper(self, model, ports, conns)

    def get_rtl_file_list(self, abspath: bool = False):
        """The shared control (mvau_ctrl.sv), the core and the wrapper."""
        ctrl = RTL_DIR / self.CTRL_SV
        return [str(ctrl) if abspath else ctrl.name] + BirealRTLBackend.get_rtl_file_list(
            self, abspath)

    def generate_hdl(self, model, fpgapart, clk):
        """BirealRTLBackend.generate_hdl with the memories mapped for `fpgapart`."""
        self._fpgapart = fpgapart
        style = self.weight_memory(fpgapart).ram_style
        if style == "ultra" and M.family(fpgapart) != "xcup":
            raise ValueError(f"{self.onnx_node.name}: ram_style='ultra' needs URAM: "
                             f"{fpgapart} has none; use 'block' or 'distributed'")
        if style == "ultra" and not self.get_nodeattr("weightLoad"):
            raise ValueError(
                f"{self.onnx_node.name}: ram_style='ultra' needs weights written at run time "
                f"(URAM288 has no configuration-time initialisation on {fpgapart}), and run-"
                f"time weight loading is off for this node; use 'block' or 'distributed'")
        self.set_nodeattr("runtime_writeable_weights", int(self.runtime_writeable(fpgapart)))
        BirealRTLBackend.generate_hdl(self, model, fpgapart, clk)

    def weight_file(self) -> str:
        """WEIGHT_FILE of the core: the $readmemh file, "" when loaded at run time."""
        return "" if self.runtime_writeable() else f"{self.onnx_node.name}_weights.mem"

    def weight_mem_files(self, model) -> dict[str, str]:
        """{weights .mem: text} for a ROM; {} for a run-time writeable memory (its words,
        checked the same way, go out through load_beats)."""
        words = self.weight_mem_words(model)
        if self.runtime_writeable():
            return {}
        return {f"{self.onnx_node.name}_weights.mem": hex_lines(words, self.weight_mem_shape()[1])}

    def _part(self, fpgapart=None) -> str:
        return fpgapart or getattr(self, "_fpgapart", None) or self.DEFAULT_PART

    def weight_mem_shape(self) -> tuple[int, int]:
        """(depth, width) of the weight memory: (NF*SF, PE*SIMD*W_BITS)."""
        sf, nf = check_folding(self)
        wbits = self.get_input_datatype(1).bitwidth()
        return nf * sf, self.get_nodeattr("PE") * self.get_nodeattr("SIMD") * wbits

    def weight_memory(self, fpgapart=None) -> M.MemMap:
        """hw.memory mapping of the weight memory: ram_style as set (by SetWeightMemory or
        the folding file), 'auto' = hw.memory.choose for the part."""
        depth, width = self.weight_mem_shape()
        part = self._part(fpgapart)
        style = self.get_nodeattr("ram_style")
        if style == "auto":
            return M.choose(depth, width, part, rom=not self.get_nodeattr("weightLoad"))
        return M.map_style(depth, width, style, M.family(part))

    def extra_memories(self, fpgapart=None) -> list[M.MemMap]:
        """Other ROMs of the core (thresholds, bias): mapped by hw.memory."""
        return []

    def memories(self, fpgapart=None) -> list[M.MemMap]:
        return [self.weight_memory(fpgapart)] + self.extra_memories(fpgapart)

    def bram_estimation(self, fpgapart):
        """BRAM18 units of the core's memories (hw.memory mapping)."""
        return sum(m.bram18 for m in self.memories(fpgapart))

    def uram_estimation(self, fpgapart):
        """URAM288s of the core's memories (hw.memory mapping)."""
        return sum(m.uram for m in self.memories(fpgapart))

    def memory_luts(self, fpgapart=None) -> int:
        """LUTs of the core's memories: LUT ROMs and block RAM read muxes (hw.memory)."""
        return sum(m.lut for m in self.memories(fpgapart))

    def ctrl_luts(self, x_bits: int, res_bits: int) -> int:
        """LUTs of bireal_mvau_ctrl: replay buffer (SF words of x_bits, LUTRAM, and the
        stream/replay 2:1 mux), output FIFO (DEPTH <= 32 words of res_bits, LUTRAM RAM32M:
        4 LUTs per 6 bits) and the counters."""
        sf, nf = check_folding(self)
        ibuf = (lutram_luts(sf, x_bits) + x_bits) if nf > 1 else 0
        return int(ibuf + lutram_luts(32, res_bits) + CTRL_LUTS)


def lutram_luts(depth: int, width: int) -> int:
    """LUTs of a simple dual-port LUTRAM (one write, one asynchronous read port), as Yosys and
    Vivado map it on 7-series / UltraScale+: RAM32M (32 x 6 bits, 4 LUTs) up to 32 words,
    RAM64M (64 x 3, 4 LUTs) up to 64, then RAM128X1D (2 x 2 LUTs per bit) / RAM256X1D (per bit
    8 LUTs) and a LUT mux for deeper ones. 0 for depth <= 1 (a register)."""
    if depth <= 1 or width <= 0:
        return 0
    if depth <= 32:
        return 4 * -(-width // 6)
    if depth <= 64:
        return 4 * -(-width // 3)
    if depth <= 128:
        return 4 * width
    n = -(-depth // 256)
    return width * (8 * n + M.mux_luts(n))


CTRL_LUTS = 40          # bireal_mvau_ctrl counters, credit compare, FIFO pointers (measured)


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
            "WEIGHT_FILE": self.weight_file(),
            "THRESH_FILE": f"{name}_thresholds.mem" if act else "",
            "RAM_STYLE": self.weight_memory().ram_style,
            "MEM_PORTS": self.weight_memory().ports,
            "WLOAD": int(self.runtime_writeable()),
            "THR_RAM_STYLE": self.threshold_memory().ram_style if act else "distributed",
        }

    def mem_files(self, model) -> dict[str, str]:
        """weights: NF*SF words of PE*SIMD bits; thresholds (noActivation=0): NF words of PE
        lanes of TW = clog2(MW+2) bits holding clip(ceil(T), 0, MW+1) (acc >= T is then exact)."""
        self.check()
        name = self.onnx_node.name
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        pe = self.get_nodeattr("PE")
        files = self.weight_mem_files(model)
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

    def weight_mem_words(self, model) -> list[int]:
        """Weight memory words (NF*SF of PE*SIMD bits, weight_words) from the initializer."""
        name = self.onnx_node.name
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        w = model.get_initializer(self.onnx_node.input[1])
        if w is None or tuple(w.shape) != (mw, mh):
            raise ValueError(f"{name}: weights must be an initializer of shape ({mw}, {mh}), "
                             f"got {None if w is None else tuple(w.shape)}")
        if not np.isin(w, (0, 1)).all():
            raise ValueError(f"{name}: BINARY weights must be 0/1, got values {np.unique(w)[:8]}")
        return weight_words(w, self.get_nodeattr("PE"), self.get_nodeattr("SIMD"), 1)

    # -- estimates ---------------------------------------------------------------------------
    def threshold_memory(self, fpgapart=None) -> M.MemMap:
        """hw.memory mapping of the threshold ROM (NF words of PE*TW bits)."""
        sf, nf = check_folding(self)
        tw = (self.get_nodeattr("MW") + 1).bit_length()
        width = self.get_nodeattr("PE") * tw
        style = self.get_nodeattr("ram_style_thresholds")
        part = self._part(fpgapart)
        if style == "auto":
            return M.choose(nf, width, part)
        return M.map_style(nf, width, style, M.family(part))

    def extra_memories(self, fpgapart=None) -> list[M.MemMap]:
        return [self.threshold_memory(fpgapart)] if self.get_nodeattr("noActivation") == 0 else []

    def datapath_luts(self) -> int:
        """LUTs of the XNOR-popcount datapath, per PE lane:
          leaves   2 per 3-lane group (bireal_xnor_popcount3, kept as its own module)
          tree     level l >= 1 adds pairs of (l+1)-bit sums: l+2 LUTs per adder (carry chain
                   plus the carry-out bit)
          acc      ACC_W LUTs (adder with the first-step clear), none when SF = 1
          output   thresholds: a TW-bit comparator, TW LUTs"""
        pe, simd, mw = (self.get_nodeattr(k) for k in ("PE", "SIMD", "MW"))
        sf, _ = check_folding(self)
        n = -(-simd // 3)
        leaves = 2 * n
        tree, lvl = 0, 1
        while n > 1:
            tree += (n // 2) * (lvl + 2)
            n, lvl = -(-n // 2), lvl + 1
        acc = mw.bit_length() if sf > 1 else 0
        thr = (mw + 1).bit_length() if self.get_nodeattr("noActivation") == 0 else 0
        return pe * (leaves + tree + acc + thr)

    def lut_estimation(self, fpgapart):
        """datapath_luts + ctrl_luts (replay buffer, output FIFO, counters) + memory_luts
        (LUT ROMs of weights / thresholds, block RAM read muxes; hw.memory) + wload_luts."""
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        return int(self.datapath_luts() + self.ctrl_luts(simd, pe * self.out_bits())
                   + self.memory_luts(fpgapart) + self.wload_luts(fpgapart))

    def dsp_estimation(self, fpgapart):
        """No multipliers: 0."""
        return 0
