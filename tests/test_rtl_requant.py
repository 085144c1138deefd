"""Requant_rtl (hw/rtl/requant.sv) against its numpy golden model in Verilator:
    y = clamp((A[c]*x + B[c]) >> S, LO, HI)                  (rounding "floor")
    y = clamp(rne((A[c]*x + B[c]) / 2^S), LO, HI)            (rounding "rne", half to even)
Directed boundary vectors per channel (tests/rtl/affine_vectors.py: exact ties at multiples of
2^S and one below/above, the clamps at LO-1/LO/HI/HI+1, the extremes of the input range) plus
random pixels; PE=1 and PE>1, block / LUT constants, random valid/ready stalls, II=1. For "rne"
the directed ties are A x + B = k 2^S + 2^(S-1) with k even and odd (t[S] = 0 / 1) and one
below / above each, and the golden model is checked against numpy's rint first; one case feeds
every input value of INT8 (all ties of a small S)."""
import re
import shutil

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from rtl.affine_vectors import boundary_inputs, vectors_by_channel
from rtl.runner import pack_words, run_unit

from hw.ops.requant import Requant_rtl, mult_dsps


def make_model(name, ch, pe, vecs, xdt, odt, a, b, s, lo, hi, ram_style="auto", rounding="floor"):
    shape = list(vecs) + [ch]
    node = helper.make_node(
        "Requant_rtl", ["x"], ["y"], name=name, domain="hw.ops", backend="fpgadataflow",
        NumChannels=ch, PE=pe, numInputVectors=list(vecs), inputDataType=xdt, outputDataType=odt,
        A=[int(v) for v in a], B=[int(v) for v in b], S=s, LO=lo, HI=hi, ram_style=ram_style,
        rounding=rounding)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("x", DataType[xdt])
    model.set_tensor_datatype("y", DataType[odt])
    return model


def constants(rng, ch, s, lo, hi, xlo, xhi):
    """Odd A with (xhi - xlo) A / 2^S ~ 3 (HI - LO) (both clamps reached), B such that at a random
    x of the middle third A x + B = mid 2^S + r, r = 0 (an exact tie), -1 or +1 (one below /
    above it) by channel; channel 0 constant (A = 0), channel 1 a negative A."""
    span = 3 * (hi - lo) * (1 << s) / (xhi - xlo)
    a = (rng.uniform(0.5, 1.5, ch) * span).astype(np.int64) | 1
    xt = rng.integers(xlo + (xhi - xlo) // 3, xhi - (xhi - xlo) // 3, ch)
    b = ((lo + hi) // 2 << s) + np.array([(0, -1, 1)[(c - 2) % 3] for c in range(ch)]) - a * xt
    a[0], b[0] = 0, (lo + 1) << s
    a[1] = -a[1]
    return a, b


def constants_rne(rng, ch, s, lo, hi, xlo, xhi):
    """As `constants`, but at the random x of channel c >= 2: A x + B = k 2^S + 2^(S-1) + r with
    k = mid (even) or mid + 1 (odd) and r = 0 (a tie), -1, +1 by channel; channel 0 constant at a
    tie (B = (LO + 2) 2^S - 2^(S-1): rne gives the even one of LO + 1, LO + 2)."""
    a, b = constants(rng, ch, s, lo, hi, xlo, xhi)
    mid = (lo + hi) // 2 & ~1
    xt = rng.integers(xlo + (xhi - xlo) // 3, xhi - (xhi - xlo) // 3, ch)
    combos = [(p, r) for r in (0, -1, 1) for p in (0, 1)]
    for c in range(2, ch):
        p, r = combos[(c - 2) % len(combos)]
        b[c] = ((mid + p) << s) + (1 << (s - 1)) + r - a[c] * xt[c]
    b[0] = ((lo + 2) << s) - (1 << (s - 1))
    return a, b


def rne_oracle(a, b, s, x):
    """rint((A x + B) / 2^S) in float64 (ties to even; exact while |A x + B| < 2^52)."""
    t = a * x.astype(np.int64) + b
    assert np.abs(t).max() < 1 << 52
    return np.rint(t / 2.0 ** s).astype(np.int64)


def run_case(tmp_path, ch, pe, xdt, odt, s, lo, hi, stall, seed, ram_style="auto", rand_pix=24,
             rounding="floor", consts=None, x=None):
    """consts: (A, B) (default: `constants` / `constants_rne`); x: the pixels (default: directed
    boundary vectors + rand_pix random pixels)."""
    rng = np.random.default_rng(seed)
    xd = DataType[xdt]
    xlo, xhi = int(xd.min()), int(xd.max())
    rne = rounding == "rne"
    if consts is None:
        consts = (constants_rne if rne else constants)(rng, ch, s, lo, hi, xlo, xhi)
    a, b = (np.asarray(v, dtype=np.int64) for v in consts)
    if x is None:
        directed = [boundary_inputs(a[c], b[c], s, lo, hi, xlo, xhi, rounding) for c in range(ch)]
        x = np.concatenate([vectors_by_channel(directed, rng, xlo, xhi),
                            rng.integers(xlo, xhi + 1, size=(rand_pix, ch))])
    x = np.concatenate([x, rng.integers(xlo, xhi + 1, size=(-len(x) % 4, ch))])  # whole rows
    vecs = (1, len(x))
    model = make_model("rq0", ch, pe, vecs, xdt, odt, a, b, s, lo, hi, ram_style, rounding)
    model = model.transform(InferShapes()).transform(InferDataTypes())
    node = model.graph.node[0]
    op = getCustomOp(node)
    assert isinstance(op, Requant_rtl)
    op.verify_node()
    assert model.get_tensor_shape("y") == list(vecs) + [ch]
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    ctx = {"x": x.reshape(op.get_normal_input_shape()).astype(np.float32)}
    op.execute_node(ctx, model.graph)                        # golden
    y = ctx["y"]
    # the directed vectors do hit every boundary (on the channels with A > 0)
    t = a * x.astype(np.int64) + b
    q = rne_oracle(a, b, s, x) if rne else t >> s
    pos = a > 0
    for v in (lo - 1, lo, hi, hi + 1):
        assert (q[:, pos] == v).any(), f"q = {v} not exercised"
    if rne:                       # t = k 2^S + 2^(S-1) + r, k even / odd, inside the clamps
        for p in (0, 1):
            for r in (0, -1, 1):
                hit = ((t - (1 << (s - 1)) - r) % (2 << s) == p << s) & (q > lo) & (q < hi)
                assert hit[:, pos].any(), f"no tie {r:+d} with t[S] = {p} inside (LO, HI)"
    else:
        for r in (0, -1, 1):      # A x + B = k 2^S + r inside the clamps: a tie, one below/above
            hit = ((t - r) % (1 << s) == 0) & (q > lo) & (q < hi)
            assert hit[:, pos].any(), f"no A x + B = k 2^S {r:+d} inside (LO, HI)"
    assert (x == xlo).any() and (x == xhi).any()
    assert np.array_equal(y.reshape(x.shape), np.clip(q, lo, hi))
    if rne:                       # the op's memory holds B + 2^(S-1) - 1 (affine_lane.sv)
        assert op.core_params(model)["RNE"] == 1
        assert op._mem_consts()[1].tolist() == (b + (1 << (s - 1)) - 1).tolist()
    ins = pack_words(x.reshape(-1, pe), xd.bitwidth())
    outs = pack_words(y.reshape(-1, pe), DataType[odt].bitwidth())
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    build = tmp_path / "sim"
    build.mkdir()
    for f in op.get_mem_file_list():
        shutil.copy(f, build)
    run_unit(top=node.name, sources=op.get_rtl_file_list(abspath=True), params={},
             inputs={"in0_V": ins}, outputs={"out0_V": outs}, build_dir=build, stall=stall, seed=seed)
    return op, build, len(ins)


def test_golden_formula():
    """The golden model by hand: floor shift of negatives, both clamps, a constant channel."""
    model = make_model("g0", 3, 1, [1, 2], "INT8", "INT4", [3, -5, 0], [1, 7, 9], 2, -3, 2)
    op = getCustomOp(model.graph.node[0])
    x = np.array([[[10, 10, 5], [-7, 1, -100]]])
    # (31>>2=7->2, -43>>2=-11->-3, 9>>2=2), (-20>>2=-5->-3, 2>>2=0, 2)
    assert op.golden(x).tolist() == [[[2, -3, 2], [-3, 0, 2]]]
    assert op.get_exp_cycles() == 6
    assert op.widths() == {"A_BITS": 4, "B_BITS": 5, "P_BITS": 11, "Y_BITS": 3}


def test_errors_name_node():
    model = make_model("bad1", 6, 4, [1, 2], "INT8", "INT8", [1] * 6, [0] * 6, 8, -128, 127)
    with pytest.raises(ValueError, match="bad1.*PE=4.*NumChannels=6"):
        getCustomOp(model.graph.node[0]).verify_node()
    model = make_model("bad2", 4, 2, [1, 2], "INT8", "INT8", [1] * 3, [0] * 4, 8, -128, 127)
    with pytest.raises(ValueError, match="bad2.*A/B need 4"):
        getCustomOp(model.graph.node[0]).verify_node()
    model = make_model("bad3", 4, 2, [1, 2], "INT8", "UINT4", [1] * 4, [0] * 4, 8, 0, 16)
    with pytest.raises(ValueError, match="bad3.*0..16 is not within UINT4"):
        getCustomOp(model.graph.node[0]).verify_node()


def test_estimates():
    """DSPs per lane from the multiplier width, constants in LUTs up to 64 folds, BRAM above."""
    model = make_model("e0", 256, 2, [1, 4], "INT24", "INT8", [40000] * 256, [1 << 30] * 256, 28, -128, 127)
    op = getCustomOp(model.graph.node[0])
    assert op.widths()["A_BITS"] == 17 and mult_dsps(17, 25) == 1
    assert op.dsp_estimation() == 2 and op.bram_estimation() > 0 and op.param_mem_luts() == 0
    op.set_nodeattr("PE", 4)                           # 64 folds: LUTRAM
    assert op.bram_estimation() == 0 and op.param_mem_luts() == 4 * (17 + 32)
    assert mult_dsps(30, 30) == 4 and mult_dsps(2, 30) == 0


def test_requant_pe1_int24_stalls(tmp_path):
    run_case(tmp_path, ch=6, pe=1, xdt="INT24", odt="INT8", s=28, lo=-128, hi=127, stall=0.3,
             seed=3, ram_style="block")


def test_requant_pe4_unsigned_stalls(tmp_path):
    """PE=4, unsigned input, LO..HI narrower than the output type (UINT4 out, 0..12)."""
    run_case(tmp_path, ch=8, pe=4, xdt="UINT20", odt="UINT4", s=22, lo=0, hi=12, stall=0.3,
             seed=5, ram_style="distributed")


def test_requant_pe2_no_stalls_ii1(tmp_path):
    op, build, words = run_case(tmp_path, ch=6, pe=2, xdt="INT16", odt="INT8", s=17, lo=-128,
                                hi=127, stall=0.0, seed=7)
    cycles = int(re.search(r"case passed in (\d+) cycles", (build / "test.log").read_text())[1])
    assert words == op.get_exp_cycles()
    # + latency 6 (input register, 4-stage affine lane, output register) + the 20 cycles
    # tb_axis watches for extra words after the last
    assert words <= cycles <= words + 20 + 8, f"{cycles} cycles for {words} words: not II=1"


def test_golden_rne():
    """rne golden by hand: ties to even (both parities, negatives), S = 0 is the identity, the
    memory and widths carry B + 2^(S-1) - 1."""
    model = make_model("g1", 4, 1, [1, 2], "INT8", "INT8", [1, 1, 3, 0], [0, 4, -2, 20], 3, -10, 10,
                       rounding="rne")
    op = getCustomOp(model.graph.node[0])
    x = np.array([[[4, 8, 2, 0], [-4, -12, -14, 0]]])
    # t = (4, 12, 4, 20) / 8 = (0.5, 1.5, 0.5, 2.5) -> (0, 2, 0, 2);
    # t = (-4, -8, -44, 20) / 8 = (-0.5, -1, -5.5, 2.5) -> (0, -1, -6, 2)
    assert op.golden(x).tolist() == [[[0, 2, 0, 2], [0, -1, -6, 2]]]
    assert op._mem_consts()[1].tolist() == [3, 7, 1, 23]
    assert op.core_params(model)["RNE"] == 1
    op.set_nodeattr("S", 0)
    assert op.golden(x).tolist() == np.clip(np.array([1, 1, 3, 0]) * x + [0, 4, -2, 20], -10, 10).tolist()
    assert op._mem_consts()[1].tolist() == [0, 4, -2, 20] and op.core_params(model)["RNE"] == 0


def test_requant_rne_pe1_int24_stalls(tmp_path):
    """Round half to even, 24-bit input, S = 28: directed ties of both parities +-1 (8 channels:
    constant, negative A and the six (t[S], r) combinations)."""
    run_case(tmp_path, ch=8, pe=1, xdt="INT24", odt="INT8", s=28, lo=-128, hi=127, stall=0.3,
             seed=13, ram_style="block", rounding="rne")


def test_requant_rne_pe4_int8_every_input(tmp_path):
    """Round half to even at S = 3 on every INT8 input of each channel (so every tie t = 8k + 4
    of the range, both parities, negative t included), PE = 4, LUT constants, stalls."""
    rng = np.random.default_rng(17)
    a = np.array([0, -3, 1, 3, 5, 7, 3, 5])
    b = np.array([-92, 9, 4, -3, 12, 1, 0, -7])
    x = np.stack([rng.permutation(np.arange(-128, 128)) for _ in range(8)], axis=1)
    run_case(tmp_path, ch=8, pe=4, xdt="INT8", odt="INT6", s=3, lo=-32, hi=31, stall=0.3,
             seed=17, ram_style="distributed", rounding="rne", consts=(a, b), x=x)
