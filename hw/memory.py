"""Weight memories -> FPGA memory primitives, the way Vivado maps them, and the choice of kind.

A weight memory here is `depth` words of `width` bits, read one word per cycle (synchronous
read, then the primitive's output register), contents fixed by the bitstream ($readmemh): a
ROM. The project's MVAUs (hw/rtl/xnor_mvau.sv, int_mvau.sv) have one such memory each,
depth = NF*SF, width = PE*SIMD*W_BITS.

Kinds (`MemMap.kind`) and what they cost, per family ("xc7": 7-series / Zynq-7000, PYNQ-Z2;
"xcup": UltraScale+, ZCU104):

  logic        depth <= 64: a LUT ROM, one LUT6 (64 x 1 bit) per output bit. Very shallow
               ROMs cost less: a bit column of a depth-D ROM is one of 2^D functions of the
               address, so the ROM needs at most min(width, 2^D) LUTs (D = 1: constants, 0).
  distributed  depth > 64: LUT ROM with wide-mux levels, per bit
                 D <= 256:  2^ceil(log2 D) / 64 LUT6 (+ MUXF7 for 128, MUXF7 + MUXF8 for 256;
                            the F7/F8 muxes are free slice resources)
                 D >  256:  4 * ceil(D/256) LUT6 (256-word ROM256X1 blocks) + a LUT6 4:1 mux
                            tree over the blocks (mux_luts)
               (Vivado's distributed ROM is LUT logic; the LUTRAM primitives need a write port,
               which a ROM does not have, so "distributed" for a ROM is this, not RAM64M.
               Yosys builds the same: it will not put a ROM into LUTRAM, and its `logic`
               mapping of a D-deep ROM gives exactly these LUT6/MUXF7/MUXF8 counts.)
  block        RAMB18 / RAMB36. Aspect ratios (read width x depth; SDP for the 36/72-bit ones):
                 RAMB18: 16Kx1, 8Kx2, 4Kx4, 2Kx9, 1Kx18, 512x36          (1 BRAM18 unit)
                 RAMB36: 32Kx1, 16Kx2, 8Kx4, 4Kx9, 2Kx18, 1Kx36, 512x72  (2 BRAM18 units)
               For each aspect (d, w): cols = ceil(width/w) side by side, rows = ceil(depth/d)
               deep; units = rows * cols (* 2 for RAMB36). Vivado's choice is the fewest units,
               then the fewest rows (no read mux), then RAMB36 over two RAMB18; rows > 1 need a
               rows:1 LUT mux per output bit (width * mux_luts(rows) LUTs).
  ultra        URAM288 (UltraScale+ only): 4K x 72, fixed aspect. cols = ceil(width/72),
               rows = ceil(depth/4096) cascaded through the built-in cascade mux (no LUTs);
               count = rows * cols; or, when it needs fewer, each word split in two halves read
               on the URAM's two ports in the same cycle (uram_map: 2 x 72 bits per URAM). URAM288 has no configuration-time initialisation (Yosys'
               memory library says `init zero`; FINN asserts runtime_writeable_weights=1 for
               URAM on UltraScale+), so a ROM (rom=True) never maps to URAM; with run-time
               weight loading allowed (rom=False: the MVAU then gets a write port and a
               weight-load stream, hw/rtl/wload.sv) it is one more option of the cost rule.
               The loader's LUTs are counted by the op (MVAUCoreMixin.wload_luts), not here.

Bandwidth (`MemMap.bits_per_cycle`, the read port width of the primitives used): a LUT ROM
delivers its width (one bit per LUT output per cycle), a BRAM18 at most 36 bits (RAMB36 72),
a URAM288 72 per port (144 with both ports reading, uram_map). A memory of width W therefore needs >= ceil(W/36) BRAM18 or ceil(W/72) URAM
whatever its depth (`min_primitives`): wide-and-shallow weight memories waste block RAM.

Cost rule (`choose`): among the kinds the family allows, the one of least
    cost = sum_r count_r * price_r,   price_r = 1 / available_r on the board
i.e. the smallest share of the board's resources (LUT, BRAM18, URAM); ties go to fewer LUTs.
This makes the scarce resource expensive: on PYNQ-Z2 one BRAM18 (of 280) costs as much as 190
LUTs (of 53,200). `assign_memories` applies the rule to a whole design: starting from each
memory's cheapest kind, it moves memories off the resource of highest utilisation
used_r / available_r (base usage of the rest of the design included) while that lowers the
maximum utilisation, i.e. it minimises the utilisation of the scarcest resource.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from qonnx.transformation.base import Transformation

FAMILIES = ("xc7", "xcup")
KINDS = ("logic", "distributed", "block", "ultra")
# Vivado ram_style / rom_style written into the RTL for each kind (a LUT ROM is "distributed")
RAM_STYLE = {"logic": "distributed", "distributed": "distributed", "block": "block",
             "ultra": "ultra"}
LUT_ROM_DEPTH = 64                     # words per LUT6 (64 x 1 bit)
RAMB18 = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
RAMB36 = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
URAM288 = (4096, 72)
BRAM18_BITS, URAM_BITS = 36, 72        # widest read port per primitive (bits/cycle)
RESOURCES = ("LUT", "BRAM18", "URAM")
# resources of the parts the project targets (hw.boards), for prices without a board
PART_RESOURCES = {"xc7": {"LUT": 53_200, "BRAM18": 280, "URAM": 0},        # xc7z020
                  "xcup": {"LUT": 230_400, "BRAM18": 624, "URAM": 96}}     # xczu7ev


@dataclass(frozen=True)
class MemMap:
    """One weight memory mapped to primitives.

    kind: one of KINDS; ram_style: the Vivado attribute the RTL gets; bram18 (BRAM18 units,
    a RAMB36 = 2), uram, lut: primitive counts (lut includes the read muxes); bits_per_cycle:
    read bandwidth of the primitives used; primitive: e.g. "RAMB18 512x36"; rows x cols: the
    arrangement (rows deep, cols side by side); ports: read ports used per word (2: URAM
    with each word's halves read on both ports, see uram_map)."""
    kind: str
    depth: int
    width: int
    bram18: int = 0
    uram: int = 0
    lut: int = 0
    bits_per_cycle: int = 0
    primitive: str = ""
    rows: int = 1
    cols: int = 1
    ports: int = 1
    notes: tuple = field(default=(), compare=False)

    @property
    def ram_style(self) -> str:
        return RAM_STYLE[self.kind]

    def usage(self) -> dict[str, int]:
        """{LUT, BRAM18, URAM} counts."""
        return {"LUT": self.lut, "BRAM18": self.bram18, "URAM": self.uram}

    def as_dict(self) -> dict:
        return {"kind": self.kind, "ram_style": self.ram_style, "depth": self.depth,
                "width": self.width, "BRAM18": self.bram18, "URAM": self.uram, "LUT": self.lut,
                "bits_per_cycle": self.bits_per_cycle, "primitive": self.primitive,
                "rows": self.rows, "cols": self.cols, "ports": self.ports}


def family(part: str) -> str:
    """'xc7' (7-series: xc7*) or 'xcup' (UltraScale+: xczu*, xcau*, xcvu*p, xcku*p)."""
    p = str(part).strip().lower()
    if p.startswith("xc7"):
        return "xc7"
    if p.startswith(("xczu", "xcau", "xck26")) or re.match(r"^xc(vu|ku)\d+p", p):
        return "xcup"
    if p in FAMILIES:
        return p
    raise ValueError(f"no memory model for FPGA part {part!r}: known are xc7* (7-series) and "
                     f"xczu*/xcau*/xcvu*p/xcku*p (UltraScale+)")


def is_versal(part: str) -> bool:
    """Versal parts (xcvc*, xcve*, xcvm*, xcvp*, xcvh*, xcvn*): URAM with initialisation."""
    return str(part).strip().lower().startswith(("xcvc", "xcve", "xcvm", "xcvp", "xcvh", "xcvn"))


def mux_luts(n: int) -> int:
    """LUT6s of an n:1 mux tree of 4:1 LUT6 muxes (4 data + 2 select inputs), per bit:
    0 for n <= 1, else ceil(n/4) + mux_luts(ceil(n/4))."""
    if n <= 1:
        return 0
    m = -(-n // 4)
    return m + mux_luts(m)


def _pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def lut_rom_luts_per_bit(depth: int) -> int:
    """LUT6s per output bit of a depth-word LUT ROM (see the module docstring):
    1 up to 64 words; pow2(D)/64 up to 256 (F7/F8 muxes free); 4*ceil(D/256) + mux_luts above."""
    if depth <= 1:
        return 0
    if depth <= LUT_ROM_DEPTH:
        return 1
    if depth <= 256:
        return _pow2(depth) // LUT_ROM_DEPTH
    n = -(-depth // 256)
    return 4 * n + mux_luts(n)


def lut_rom_luts(depth: int, width: int) -> int:
    """LUTs of a depth x width LUT ROM: min(width, 2^depth distinct columns) * per-bit LUTs.
    (Distinct columns: bits whose column over the depth words is the same share their LUTs;
    with depth <= 6 there are at most 2^depth of them.)"""
    if depth <= 1 or width <= 0:
        return 0
    cols = width if depth >= 20 else min(width, 1 << depth)
    return cols * lut_rom_luts_per_bit(depth)


def lut_map(depth: int, width: int) -> MemMap:
    """The LUT ROM mapping: kind 'logic' (<= 64 words) or 'distributed' (deeper)."""
    kind = "logic" if depth <= LUT_ROM_DEPTH else "distributed"
    per = lut_rom_luts_per_bit(depth)
    prim = ("LUT6 ROM64X1" if depth <= LUT_ROM_DEPTH else
            f"{per} LUT6/bit (ROM{min(_pow2(depth), 256)}X1" + (" + LUT mux)" if depth > 256 else ")"))
    return MemMap(kind, depth, width, lut=lut_rom_luts(depth, width), bits_per_cycle=width,
                  primitive=prim)


def bram_options(depth: int, width: int) -> list[MemMap]:
    """Every RAMB18/RAMB36 arrangement of a depth x width memory, best first (fewest BRAM18
    units, then fewest rows, then fewest LUTs, then RAMB36)."""
    opts = []
    for prims, units, name in ((RAMB18, 1, "RAMB18"), (RAMB36, 2, "RAMB36")):
        for d, w in prims:
            rows, cols = -(-depth // d), -(-width // w)
            luts = width * mux_luts(rows)
            k = f"{d // 1024}Kx{w}" if d >= 1024 else f"{d}x{w}"
            opts.append((rows * cols * units, rows, luts, units,
                         MemMap("block", depth, width, bram18=rows * cols * units, lut=luts,
                                bits_per_cycle=cols * w, primitive=f"{name} {k}", rows=rows,
                                cols=cols)))
    opts.sort(key=lambda o: (o[0], o[1], o[2], -o[3]))
    return [o[-1] for o in opts]


def bram_map(depth: int, width: int) -> MemMap:
    """Vivado's block RAM mapping of a depth x width memory (bram_options' first)."""
    return bram_options(depth, width)[0]


def bram18_count(depth: int, width: int) -> int:
    """BRAM18 units of the block RAM mapping."""
    return bram_map(depth, width).bram18


def _aw(depth: int) -> int:
    """Address bits of a depth-word memory in the RTL: AW = clog2(depth), at least 1."""
    return max(1, (int(depth) - 1).bit_length())


def uram_map(depth: int, width: int) -> MemMap:
    """URAM288 mapping, the one with fewer URAMs of:
      1 port:  ceil(width/72) columns of ceil(depth/4096) cascaded URAMs, read on one port;
      2 ports: word a's low half (ceil(width/2) bits) at address a, its high half at
               2^AW + a (AW = clog2(depth)): ceil(ceil(width/2)/72) columns of
               ceil((2^AW + depth)/4096) rows, both halves read in one cycle on the URAM's
               two ports (true dual port, NO_CHANGE; UG901 "UltraRAM"). A wide, shallow
               weight memory (depth <= 2048) then needs half the URAMs: bandwidth binds it,
               not capacity (hw/rtl/rom.sv PORTS = 2; `ports`).
    Ties keep one port."""
    d, w = URAM288
    rows, cols = -(-depth // d), -(-width // w)
    one = MemMap("ultra", depth, width, uram=rows * cols, bits_per_cycle=cols * w,
                 primitive="URAM288 4Kx72" + (f" cascade {rows}" if rows > 1 else ""),
                 rows=rows, cols=cols)
    rows2, cols2 = -(-((1 << _aw(depth)) + depth) // d), -(-(-(-width // 2)) // w)
    if width < 2 or rows2 * cols2 >= one.uram:
        return one
    return MemMap("ultra", depth, width, uram=rows2 * cols2, bits_per_cycle=2 * cols2 * w,
                  primitive="URAM288 4Kx72 x2 ports" + (f" cascade {rows2}" if rows2 > 1 else ""),
                  rows=rows2, cols=cols2, ports=2)


def options(depth: int, width: int, fam: str, rom: bool = True) -> list[MemMap]:
    """The mappings a family allows for a memory: LUT ROM, block RAM, URAM (UltraScale+ and
    not a ROM, see the module docstring)."""
    if fam not in FAMILIES:
        fam = family(fam)
    if depth < 1 or width < 1:
        raise ValueError(f"memory shape {depth} x {width}: depth and width must be >= 1")
    out = [lut_map(depth, width), bram_map(depth, width)]
    if fam == "xcup" and not rom:
        out.append(uram_map(depth, width))
    return out


def map_style(depth: int, width: int, style: str, fam: str = "xc7") -> MemMap:
    """The mapping for a fixed ram_style ('distributed', 'block', 'ultra'; 'auto' = choose)."""
    if style == "auto":
        return choose(depth, width, fam)
    if style == "distributed":
        return lut_map(depth, width)
    if style == "block":
        return bram_map(depth, width)
    if style == "ultra":
        return uram_map(depth, width)
    raise ValueError(f"unknown ram_style {style!r}: use auto, distributed, block or ultra")


def prices_for(part_or_family: str, available: dict | None = None) -> dict[str, float]:
    """price_r = 1 / available_r (0 available: not allowed, infinite price)."""
    if available is None:
        fam = part_or_family if part_or_family in FAMILIES else family(part_or_family)
        available = board_resources(part_or_family) or PART_RESOURCES[fam]
    return {r: (1.0 / available[r]) if available.get(r) else math.inf for r in RESOURCES}


def board_resources(part: str) -> dict[str, int] | None:
    """{LUT, BRAM18, URAM} of the hw.boards board with this part, else None."""
    from hw.boards import BOARDS
    for b in BOARDS.values():
        if b.part == part:
            return {r: b.available(r) for r in RESOURCES}
    return None


def cost(m: MemMap, prices: dict[str, float]) -> float:
    """sum_r count_r * price_r (0 * inf = 0)."""
    return sum(n * prices[r] for r, n in m.usage().items() if n)


def choose(depth: int, width: int, part: str = "xc7", prices: dict | None = None,
           rom: bool = True) -> MemMap:
    """The option of least cost (module docstring); ties: fewer LUTs, then fewer BRAM18."""
    fam = part if part in FAMILIES else family(part)
    prices = prices or prices_for(part)
    opts = options(depth, width, fam, rom)
    return min(opts, key=lambda m: (cost(m, prices), m.lut, m.bram18))


def min_primitives(width: int) -> dict[str, int]:
    """Bandwidth floor of a width-bit read per cycle: {BRAM18: ceil(W/36), URAM:
    ceil(ceil(W/2)/72) (both ports reading), LUT: W} (a deeper memory needs more, never
    fewer)."""
    return {"BRAM18": -(-width // BRAM18_BITS), "URAM": -(-(-(-width // 2)) // URAM_BITS),
            "LUT": width}


def assign_memories(shapes: list[tuple[int, int]], part: str, base: dict | None = None,
                    available: dict | None = None, fixed: list[str | None] | None = None,
                    rom: bool = True) -> list[MemMap]:
    """Map several memories of one design together (module docstring's cost rule, `balance`);
    `fixed`: per memory a ram_style that must be kept (None = free)."""
    fam = part if part in FAMILIES else family(part)
    fixed = fixed or [None] * len(shapes)
    opts = [[map_style(d, w, fx, fam)] if fx and fx != "auto" else options(d, w, fam, rom)
            for (d, w), fx in zip(shapes, fixed)]
    return balance(opts, part, base, available)


def balance(opts: list[list[MemMap]], part: str, base: dict | None = None,
            available: dict | None = None) -> list[MemMap]:
    """One option per memory (`opts`: each memory's allowed mappings): start from each
    memory's cheapest, then, while the most utilised resource r* (used / available, `base` =
    usage of the rest of the design) can be relieved, move the one memory whose move to
    another option lowers max_r utilisation the most (ties: lower sum of utilisations)."""
    fam = part if part in FAMILIES else family(part)
    avail = available or board_resources(part) or PART_RESOURCES[fam]
    prices = prices_for(part, avail)
    pick = [min(range(len(o)), key=lambda k: (cost(o[k], prices), o[k].lut, o[k].bram18))
            for o in opts]
    used = {r: float((base or {}).get(r, 0)) for r in RESOURCES}
    for o, k in zip(opts, pick):
        for r, n in o[k].usage().items():
            used[r] += n

    def util(u):
        return {r: (u[r] / avail[r]) if avail.get(r) else (math.inf if u[r] else 0.0)
                for r in RESOURCES}

    for _ in range(4 * sum(len(o) for o in opts) + 1):
        u = util(used)
        worst = max(u.values())
        top = max(u, key=u.get)
        best = None
        for i, o in enumerate(opts):
            now = o[pick[i]].usage()
            for k in range(len(o)):
                new = o[k].usage()
                if k == pick[i] or new[top] >= now[top]:
                    continue
                tu = util({r: used[r] - now[r] + new[r] for r in RESOURCES})
                key = (max(tu.values()), sum(tu.values()))
                if best is None or key < best[0]:
                    best = (key, i, k)
        if best is None or best[0][0] >= worst - 1e-12:
            break
        _, i, k = best
        for r in RESOURCES:
            used[r] += opts[i][k].usage()[r] - opts[i][pick[i]].usage()[r]
        pick[i] = k
    return [o[k] for o, k in zip(opts, pick)]


FIFO_SRL_DEPTH = 33      # finn-rtllib fifo.sv: a shift register up to this depth, any ram_style


def fifo_options(op, part: str) -> list[MemMap]:
    """The mappings of a StreamingFIFO_rtl deeper than FIFO_SRL_DEPTH: LUT RAM
    ('distributed') and block RAM, each costed by FINN's fitted model of fifo.sv
    (op.get_fifo_cost); [] for shallower FIFOs (shift registers whatever is asked)."""
    depth = op.get_nodeattr("depth")
    if depth <= FIFO_SRL_DEPTH:
        return []
    width, old, out = op.get_instream_width_padded(), op.get_nodeattr("ram_style"), []
    for kind in ("distributed", "block"):
        op.set_nodeattr("ram_style", kind)
        c = op.get_fifo_cost(part)
        out.append(MemMap(kind, depth, width, bram18=c.bram, uram=c.uram, lut=c.lut,
                          bits_per_cycle=width, primitive=f"fifo.sv {kind}"))
    op.set_nodeattr("ram_style", old)
    return out


MVAU_OPS = ("XnorMVAU_rtl", "IntMVAU_rtl")
STYLE_META = "bireal_weight_memory"     # model metadata: the nodes whose ram_style this set


LOAD_META = "bireal_weight_load"       # model metadata: "off" forbids run-time weight loading


def weight_load_allowed(model, part: str) -> bool:
    """Run-time weight loading (hence URAM for weights) is allowed: the part has URAM
    (UltraScale+) and the model's LOAD_META is not "off" (`bireal compile --weight-load off`)."""
    return family(part) == "xcup" and (model.get_metadata_prop(LOAD_META) or "auto") != "off"


class AllowWeightLoad(Transformation):
    """Set `weightLoad` of every XnorMVAU_rtl / IntMVAU_rtl to weight_load_allowed(model,
    part), so each unit's 'auto' memory (folding search, estimates) may be URAM."""

    def __init__(self, part: str):
        super().__init__()
        self.part = part

    def apply(self, model):
        from qonnx.custom_op.registry import getCustomOp
        ok = int(weight_load_allowed(model, self.part))
        for n in model.graph.node:
            if n.op_type in MVAU_OPS:
                getCustomOp(n).set_nodeattr("weightLoad", ok)
        return model, False


class SetWeightMemory(Transformation):
    """FINN-style transformation: set `ram_style` of every XnorMVAU_rtl / IntMVAU_rtl weight
    memory, and of every StreamingFIFO_rtl deeper than FIFO_SRL_DEPTH (LUT RAM or block RAM,
    fifo_options), together by `balance` for `part` (its board's resources, or `available`;
    base usage = the analytical estimate of every other node and of the MVAU datapaths, plus
    `extra`: nodes not in the model yet). A weight memory whose ram_style is not 'auto' was
    fixed by the user's folding file and is kept (it still counts in the usage).
    URAM ('ultra') is an option only where run-time weight loading is allowed
    (weight_load_allowed); a memory that gets it has `runtime_writeable_weights` = 1 (its
    MVAU loads it through the weight-load chain). keep_ultra (a remap of a built design, e.g.
    after FIFO sizing, whose weight-load chain is fixed): memories in URAM stay there and no
    other goes to URAM. `chosen` records the mapping of every MVAU: {node: MemMap.as_dict() +
    fixed + runtime_load + load_bits}; `fifos` the kind of every FIFO mapped; `usage` the
    design's resources the rule saw (hw.estimates' totals, up to per-node rounding)."""

    def __init__(self, part: str, available: dict | None = None, extra: dict | None = None,
                 keep_ultra: bool = False):
        super().__init__()
        self.part = part
        self.available = available     # {LUT, BRAM18, URAM}; None: the part's board
        self.extra = extra or {}       # usage not in the model (nodes still to be added)
        self.keep_ultra = keep_ultra
        self.chosen: dict[str, dict] = {}
        self.fifos: dict[str, str] = {}
        self.usage: dict[str, int] = {}     # the design's {LUT, BRAM18, URAM} as mapped

    def apply(self, model):
        from qonnx.custom_op.registry import getCustomOp
        from finn.util.fpgadataflow import is_fpgadataflow_node
        from hw.estimates import LUT_MODELS
        from model.errors import BiRealError
        model = model.transform(AllowWeightLoad(self.part))
        allowed = weight_load_allowed(model, self.part)
        mine = set((model.get_metadata_prop(STYLE_META) or "").split(",")) - {""}
        nodes, fifos, base = [], [], {r: float(self.extra.get(r, 0)) for r in RESOURCES}
        for n in model.graph.node:
            if not is_fpgadataflow_node(n) and n.domain != "hw.ops":
                continue
            op = getCustomOp(n)
            if n.op_type in MVAU_OPS:
                keep = self.keep_ultra and op.get_nodeattr("ram_style") == "ultra"
                if n.name in mine and not keep:    # set by an earlier run: free again
                    op.set_nodeattr("ram_style", "auto")
                nodes.append((n, op))
                base["LUT"] += (op.lut_estimation(self.part) - op.memory_luts(self.part)
                                - op.wload_luts(self.part))     # ~100 LUTs: not in the rule
                continue
            if n.op_type == "StreamingFIFO_rtl":
                o = fifo_options(op, self.part)
                if o:
                    fifos.append((n, op, o))
                    continue
            try:
                res = op.node_res_estimation(self.part)
            except Exception:  # noqa: BLE001 - an op without a model adds nothing
                continue
            lut = LUT_MODELS.get(n.op_type)           # as hw.estimates counts it
            base["LUT"] += float(lut(op) if lut else res.get("LUT", 0))
            base["BRAM18"] += float(res.get("BRAM_18K", 0))
            base["URAM"] += float(res.get("URAM", 0))
        fixed = [op.get_nodeattr("ram_style") for _, op in nodes]
        bad = [n.name for (n, _), f in zip(nodes, fixed) if f == "ultra" and not allowed]
        if bad:
            raise BiRealError(
                f"ram_style 'ultra' for {', '.join(bad[:3])}: URAM needs run-time weight "
                f"loading, which is off or impossible on {self.part} (UltraScale+ only; "
                "`--weight-load auto`)")
        fam = family(self.part)
        rom = not allowed or self.keep_ultra
        opts = [[map_style(*op.weight_mem_shape(), f, fam)] if f != "auto"
                else options(*op.weight_mem_shape(), fam, rom) for (_, op), f in zip(nodes, fixed)]
        maps = balance(opts + [o for _, _, o in fifos], self.part, base, self.available)
        self.usage = {r: int(math.ceil(base[r] + sum(m.usage()[r] for m in maps)))
                      for r in RESOURCES}
        for (n, op), m, f in zip(nodes, maps, fixed):
            if f == "auto":
                op.set_nodeattr("ram_style", m.ram_style)
                mine.add(n.name)
            op.set_nodeattr("runtime_writeable_weights", int(m.kind == "ultra"))
            self.chosen[n.name] = {**m.as_dict(), "fixed": f != "auto",
                                   "runtime_load": m.kind == "ultra",
                                   "load_bits": op.load_bits(self.part) if m.kind == "ultra" else 0}
        for (n, op, _), m in zip(fifos, maps[len(nodes):]):
            op.set_nodeattr("ram_style", m.ram_style)
            self.fifos[n.name] = m.kind
        model.set_metadata_prop(STYLE_META, ",".join(sorted(mine)))
        return model, False
