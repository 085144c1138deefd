"""hw.memory: weight memories mapped to primitives (hand-computed Vivado mappings), the cost
rule, the design-level assignment, and SetWeightMemory on MVAU nodes."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

import hw.ops  # noqa: F401 - registers the hw.ops domain
from hw import memory as M

Z2, ZU = "xc7z020clg400-1", "xczu7ev-ffvc1156-2-e"


def test_family():
    assert M.family(Z2) == "xc7" and M.family(ZU) == "xcup"
    assert M.family("xcvu9p-flga2104-2-i") == "xcup" and not M.is_versal("xcvu9p")
    assert M.is_versal("xcvc1902-vsva2197-2MP-e-S")
    with pytest.raises(ValueError, match="no memory model for FPGA part 'ep4ce22'"):
        M.family("ep4ce22")


@pytest.mark.parametrize("depth,width,units,prim,rows,cols", [
    (512, 36, 1, "RAMB18 512x36", 1, 1),      # one SDP RAMB18
    (1024, 18, 1, "RAMB18 1Kx18", 1, 1),
    (2048, 9, 1, "RAMB18 2Kx9", 1, 1),
    (16384, 1, 1, "RAMB18 16Kx1", 1, 1),
    (48, 432, 12, "RAMB36 512x72", 1, 6),     # 432/72 = 6 RAMB36 = 12 units
    (192, 216, 6, "RAMB36 512x72", 1, 3),
    (960, 8, 1, "RAMB18 2Kx9", 1, 1),          # 8 bits fit the x9 aspect
    (4096, 9, 2, "RAMB36 4Kx9", 1, 1),         # one RAMB36, not two RAMB18 + a mux
    (32768, 1, 2, "RAMB36 32Kx1", 1, 1),
    (1024, 36, 2, "RAMB36 1Kx36", 1, 1),
    (576, 64, 4, "RAMB36 1Kx36", 1, 2),        # 4 units, no rows (512x36 would be 2 deep)
    (3000, 5, 2, "RAMB36 4Kx9", 1, 1),         # = 2 x RAMB18 4Kx4, = 2Kx9 2 deep (a mux)
])
def test_bram_aspects(depth, width, units, prim, rows, cols):
    m = M.bram_map(depth, width)
    assert (m.bram18, m.primitive, m.rows, m.cols, m.kind) == (units, prim, rows, cols, "block")
    assert m.lut == width * M.mux_luts(m.rows) and m.ram_style == "block"
    assert m.bits_per_cycle >= width


def test_bram_deep_needs_a_read_mux():
    m = M.bram_map(40000, 1)                   # 32Kx1 x2 deep (or 16Kx1 x3): 4 units vs 3
    assert (m.bram18, m.rows, m.primitive) == (3, 3, "RAMB18 16Kx1")
    assert m.lut == 1                          # one 3:1 mux LUT for the bit


@pytest.mark.parametrize("depth,per_bit", [(1, 0), (2, 1), (48, 1), (64, 1), (96, 2), (128, 2),
                                           (192, 4), (256, 4), (512, 9), (960, 17)])
def test_lut_rom(depth, per_bit):
    assert M.lut_rom_luts_per_bit(depth) == per_bit
    m = M.lut_map(depth, 100)
    assert m.kind == ("logic" if depth <= 64 else "distributed") and m.ram_style == "distributed"
    assert m.bits_per_cycle == 100
    assert m.lut == min(100, 2 ** depth) * per_bit


def test_lut_rom_shallow_columns_share():
    assert M.lut_rom_luts(2, 64) == 4 and M.lut_rom_luts(4, 1000) == 16   # <= 2^D columns


def test_uram():
    m = M.uram_map(10000, 100)
    assert (m.uram, m.rows, m.cols, m.bits_per_cycle, m.lut) == (6, 3, 2, 144, 0)
    assert m.ram_style == "ultra"
    # a ROM never maps to URAM (no initialisation); a writable memory may, on UltraScale+
    assert [o.kind for o in M.options(8192, 72 * 8, "xcup")] == ["distributed", "block"]
    assert [o.kind for o in M.options(8192, 72 * 8, "xcup", rom=False)][-1] == "ultra"
    assert all(o.kind != "ultra" for o in M.options(8192, 576, "xc7", rom=False))
    assert M.choose(65536, 576, ZU, rom=False).kind == "ultra"   # 128 URAM (of 96) vs 2,048 BRAM18


@pytest.mark.parametrize("depth,width,uram,ports,rows,cols", [
    (1536, 1536, 11, 2, 1, 11),     # bireal18 stage 4: 2^11 + 1536 <= 4096 words, 768-bit halves
    (2048, 1536, 11, 2, 1, 11),     # 2^11 + 2048 = 4096: still one row
    (2049, 1536, 22, 1, 1, 22),     # 2^12 + 2049 > 4096: two rows, no gain -> one port
    (4000, 512, 8, 1, 1, 8),        # deep: capacity binds, two ports would not save
    (100, 72, 1, 1, 1, 1),          # one URAM either way: keep one port
    (100, 145, 2, 2, 1, 2),         # 3 columns of 72 -> halves of 73 bits: 2 columns
    (1, 1, 1, 1, 1, 1),
])
def test_uram_two_ports(depth, width, uram, ports, rows, cols):
    """Both URAM ports read a half-word each where that needs fewer URAMs (bandwidth-bound)."""
    m = M.uram_map(depth, width)
    assert (m.uram, m.ports, m.rows, m.cols) == (uram, ports, rows, cols)
    assert m.bits_per_cycle >= width and m.bits_per_cycle == m.ports * m.cols * 72
    if ports == 2:      # both halves fit below 2^AW + depth words of the rows used
        aw = max(1, (depth - 1).bit_length())
        assert (1 << aw) + depth <= 4096 * rows and 2 * 72 * cols >= width


def test_choose_each_kind():
    """The cost rule: least share of the board (price = 1 / available)."""
    assert M.choose(16, 64, Z2).kind == "logic"            # 64 LUTs vs 2 BRAM18
    assert M.choose(128, 8, Z2).kind == "distributed"      # 16 LUTs vs 1 BRAM18
    assert M.choose(1024, 36, Z2).kind == "block"          # 2 BRAM18 vs 36*17 LUTs
    p = M.prices_for(Z2)
    assert p["LUT"] == 1 / 53_200 and p["BRAM18"] == 1 / 280 and p["URAM"] == float("inf")
    assert M.min_primitives(432) == {"BRAM18": 12, "URAM": 3, "LUT": 432}


def test_assign_memories_relieves_the_scarce_resource():
    shapes = [(192, 432)] * 4
    cheapest = [M.choose(d, w, Z2) for d, w in shapes]
    assert [m.kind for m in cheapest] == ["distributed"] * 4     # 1,728 LUTs < 12 BRAM18
    free = M.assign_memories(shapes, Z2)     # min-max: 4 x 1,728 LUT (13 %) -> some to BRAM
    lut = sum(m.lut for m in free) / 53_200
    bram = sum(m.bram18 for m in free) / 280
    assert 0 < [m.kind for m in free].count("block") < 4 and max(lut, bram) < 4 * 1728 / 53_200
    full = M.assign_memories(shapes, Z2, base={"LUT": 50_000, "BRAM18": 0, "URAM": 0})
    assert [m.kind for m in full].count("block") >= 2     # LUTs scarce: move ROMs to BRAM
    kept = M.assign_memories(shapes, Z2, base={"LUT": 50_000}, fixed=["distributed"] * 4)
    assert [m.kind for m in kept] == ["distributed"] * 4  # the user's choice is kept


def _mvau(name, mw, mh, pe, simd, style="auto"):
    node = helper.make_node(
        "XnorMVAU_rtl", ["inp", f"w_{name}"], [f"out_{name}"], name=name, domain="hw.ops",
        backend="fpgadataflow", MW=mw, MH=mh, PE=pe, SIMD=simd, binaryXnorMode=1,
        noActivation=1, numInputVectors=[1], inputDataType="BINARY", weightDataType="BINARY",
        outputDataType="UINT16", mem_mode="internal_decoupled", ram_style=style)
    return node


def test_set_weight_memory_transformation():
    nodes = [_mvau("a", 576, 64, 16, 64), _mvau("b", 576, 64, 16, 64, "distributed"),
             _mvau("c", 432, 96, 6, 36)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT,
                                                                     [1, 576])],
                          [helper.make_tensor_value_info(f"out_{n.name}", TensorProto.FLOAT,
                                                         [1, 64]) for n in nodes])
    model = ModelWrapper(helper.make_model(g))
    for n in nodes:
        mw, mh = getCustomOp(n).get_nodeattr("MW"), getCustomOp(n).get_nodeattr("MH")
        model.set_initializer(n.input[1], np.zeros((mw, mh), np.float32))
        model.set_tensor_datatype(n.input[1], DataType["BINARY"])
    t = M.SetWeightMemory(Z2)
    model = model.transform(t)
    styles = {n.name: getCustomOp(n).get_nodeattr("ram_style") for n in model.graph.node}
    assert styles["b"] == "distributed" and t.chosen["b"]["fixed"]          # folding file's
    assert styles["a"] in ("distributed", "block") and not t.chosen["a"]["fixed"]
    assert t.chosen["c"]["depth"] == 192 and t.chosen["c"]["width"] == 216
    op = getCustomOp(model.graph.node[0])
    assert op.weight_memory().ram_style == styles["a"]
    assert op.bram_estimation(Z2) == t.chosen["a"]["BRAM18"]
    again = M.SetWeightMemory(Z2)
    model.transform(again)                       # idempotent: its own choices are free again
    assert again.chosen == t.chosen


def _deep_model(styles):
    """Stage-4-like XNOR MVAUs (MW 4608, MH 512, PE 4, SIMD 288: 2048 words x 1152 bits)."""
    nodes = [_mvau(f"d{i}", 4608, 512, 4, 288, s) for i, s in enumerate(styles)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT,
                                                                     [1, 4608])],
                          [helper.make_tensor_value_info(f"out_{n.name}", TensorProto.FLOAT,
                                                         [1, 512]) for n in nodes])
    model = ModelWrapper(helper.make_model(g))
    rng = np.random.default_rng(0)
    for n in nodes:
        model.set_initializer(n.input[1], rng.integers(0, 2, (4608, 512)).astype(np.float32))
        model.set_tensor_datatype(n.input[1], DataType["BINARY"])
    return model


def test_uram_only_with_runtime_load_on_xcup():
    """A deep wide memory (2048 x 1152): URAM (8: the halves of each word on the two ports) on UltraScale+ only when it may be written
    at run time; never on 7-series, never as a ROM."""
    assert M.choose(2048, 1152, ZU, rom=False).kind == "ultra"
    assert M.choose(2048, 1152, ZU, rom=True).kind != "ultra"
    assert M.choose(2048, 1152, Z2, rom=False).kind != "ultra"
    got = M.assign_memories([(2048, 1152)] * 6, ZU, rom=False)
    assert sum(m.kind == "ultra" for m in got) >= 1 and all(m.uram in (0, 8) for m in got)
    assert all(m.kind != "ultra" for m in M.assign_memories([(2048, 1152)] * 6, ZU))
    assert all(m.kind != "ultra" for m in M.assign_memories([(2048, 1152)] * 6, Z2, rom=False))


def test_set_weight_memory_uram_and_load_bits():
    """SetWeightMemory on ZCU104: the deep memories go to URAM where it lowers the scarcest
    resource, those become runtime-writeable (load port, load beats); with
    `--weight-load off` (model metadata) or on PYNQ-Z2 none does."""
    model = _deep_model(["auto"] * 4)
    t = M.SetWeightMemory(ZU)
    model = model.transform(t)
    ultra = [n for n, c in t.chosen.items() if c["kind"] == "ultra"]
    assert ultra and all(t.chosen[n]["runtime_load"] and t.chosen[n]["URAM"] == 8 and t.chosen[n]["ports"] == 2 for n in ultra)
    for n in model.graph.node:
        op = getCustomOp(n)
        rw = n.name in ultra
        assert op.get_nodeattr("runtime_writeable_weights") == int(rw)
        assert op.get_nodeattr("weightLoad") == 1 and op.runtime_writeable(ZU) == rw
        assert op.load_bits(ZU) == (2048 * 18 * 64 if rw else 0)
        assert [p for p, _ in op.get_verilog_top_module_intf_names()["s_axis"]] == (
            ["in0_V", "wl_in_V"] if rw else ["in0_V"])
    op = getCustomOp(model.get_node_from_name(ultra[0]))
    beats = op.load_beats(model)
    assert beats.dtype == np.uint64 and len(beats) == 2048 * 18
    words = op.weight_mem_words(model)
    assert int(beats[18]) == words[1] & (2**64 - 1) and int(beats[35]) == words[1] >> 17 * 64
    off = _deep_model(["auto"] * 4)
    off.set_metadata_prop(M.LOAD_META, "off")
    t2 = M.SetWeightMemory(ZU)
    off = off.transform(t2)
    assert all(c["kind"] != "ultra" for c in t2.chosen.values())
    assert all(getCustomOp(n).get_nodeattr("weightLoad") == 0 for n in off.graph.node)
    t3 = M.SetWeightMemory(Z2)
    _deep_model(["auto"] * 2).transform(t3)
    assert all(c["kind"] != "ultra" for c in t3.chosen.values())
    from model.errors import BiRealError
    forced = _deep_model(["ultra", "auto"])
    forced.set_metadata_prop(M.LOAD_META, "off")
    with pytest.raises(BiRealError, match="ram_style 'ultra' for d0: URAM needs run-time weight"):
        forced.transform(M.SetWeightMemory(ZU))
    with pytest.raises(BiRealError, match="ram_style 'ultra' for d0"):
        _deep_model(["ultra"]).transform(M.SetWeightMemory(Z2))


def _fifo(name, depth, bits):
    return helper.make_node(
        "StreamingFIFO_rtl", ["inp"], [f"out_{name}"], name=name,
        domain="finn.custom_op.fpgadataflow.rtl", backend="fpgadataflow", depth=depth,
        folded_shape=[1, 64, bits], normal_shape=[1, 64 * bits], dataType="BINARY",
        ram_style="auto")


def test_fifos_join_the_memory_balance():
    """SetWeightMemory maps deep FIFOs too (LUT RAM or block RAM, FINN's fifo.sv costs):
    with the LUTs nearly used up, a 200 x 40-bit FIFO (297 LUT as LUT RAM) goes to block RAM
    (2 BRAM18 + 57 LUT); with the block RAM used up it stays in LUT RAM; a 20-deep FIFO is a
    shift register whatever is asked and is left alone."""
    nodes = [_fifo("deep", 200, 40), _fifo("shallow", 20, 40)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT,
                                                                     [1, 2560])],
                          [helper.make_tensor_value_info(f"out_{n.name}", TensorProto.FLOAT,
                                                         [1, 2560]) for n in nodes])
    model = ModelWrapper(helper.make_model(g))
    deep = M.fifo_options(getCustomOp(nodes[0]), Z2)
    assert [(o.kind, o.lut, o.bram18) for o in deep] == [("distributed", 297, 0),
                                                         ("block", 57, 2)]
    assert M.fifo_options(getCustomOp(nodes[1]), Z2) == []
    srl = getCustomOp(nodes[1]).get_fifo_cost(Z2).lut        # 20 x 40 bits in SRLs: base
    for extra, kind in (({"LUT": 45_000}, "block"), ({"BRAM18": 270}, "distributed"),
                        ({}, "distributed")):      # nothing binds: the cheaper share
        t = M.SetWeightMemory(Z2, extra=extra)
        m = model.transform(t)
        assert t.fifos == {"deep": kind}, extra
        styles = {n.name: getCustomOp(n).get_nodeattr("ram_style") for n in m.graph.node}
        assert styles == {"deep": kind, "shallow": "auto"}
        assert t.usage["LUT"] == extra.get("LUT", 0) + srl + (57 if kind == "block" else 297)


def test_weight_memory_balance_sees_the_design_as_estimated(compiled_tiny):
    """The balance's view of the design (SetWeightMemory.usage) is hw.estimates' totals, up to
    per-node rounding: it counts the LUT models hw.estimates adds to FINN's (width converters,
    paddings), so it balances the resources the fit is judged on."""
    from hw.boards import get_board
    from hw.estimates import estimate
    from hw.rtl_flow import finn_settings, relocate
    d = compiled_tiny
    finn_settings(d)
    rtl = relocate(ModelWrapper(str(d / "rtl_model.onnx")), d)
    board = get_board("pynq-z2")
    t = M.SetWeightMemory(board.part)
    est = estimate(rtl.transform(t), board, board.clock_mhz)
    n = len(rtl.graph.node)
    for r in ("LUT", "BRAM18"):
        assert abs(t.usage[r] - est["totals"][r]) <= n, (r, t.usage, est["totals"])
