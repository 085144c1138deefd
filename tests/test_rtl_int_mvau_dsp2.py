"""IntMVAU_rtl with two products per DSP48 (resType "dsp" -> MUL_STYLE "dsp2", mul2.sv):

    P = x * (W[s,2q+1] * 2^K + W[s,2q]) + 2^(K-1),  K = IN_BITS + W_BITS
    x*W[s,2q] = signed {~P[K-1], P[K-2:0]},  x*W[s,2q+1] = P[2K-1:K]

bit-exact against FINN's MVAU numpy model under random stalls, with directed extremes (x =
0 / 255 or -128 / 127, W = -128 / 127 mixes, negative low products: the borrow correction
2^(K-1) matters), the choice and estimates of the op, and Yosys' DSP count per family."""
import numpy as np
import pytest
from qonnx.custom_op.registry import getCustomOp

from test_rtl_int_mvau import cycles_of, make_model, run_case

ZCU104 = "xczu7ev-ffvc1156-2-e"
EXTREMES = {"UINT8": (0, 255), "INT8": (-128, 127)}


def directed(mw, mh, vecs, idt, seed):
    """(W, x): weight pairs (lo = even channel, hi = odd channel) cycling through every
    combination of -128, 127, -1, 0, 1 (so lo < 0 with x > 0: a negative low product), then
    input vectors all-min, all-max, alternating min/max, all ones, then random."""
    rng = np.random.default_rng(seed)
    vals = np.array([-128, 127, -1, 0, 1])
    pairs = np.array([(a, b) for a in vals for b in vals])          # (lo, hi)
    w = np.empty((mw, mh), dtype=np.int64)
    for i in range(mw):
        for q in range(mh // 2):
            w[i, 2 * q:2 * q + 2] = pairs[(i * (mh // 2) + q) % len(pairs)]
    lo, hi = EXTREMES[idt]
    n = int(np.prod(vecs))
    x = rng.integers(lo, hi + 1, (n, mw))
    fixed = [np.full(mw, lo), np.full(mw, hi), np.resize([lo, hi], mw), np.ones(mw, int)]
    x[:min(n, 4)] = fixed[:min(n, 4)]
    return w, x.reshape(list(vecs) + [mw])


def low_products_negative(w, x) -> int:
    """How many (vector, lane, pair) products x*W[lo] are < 0 with x != 0."""
    xs = x.reshape(-1, x.shape[-1])
    return int(((xs[:, :, None] * w[None, :, 0::2]) < 0).sum())


@pytest.mark.parametrize("idt", ["UINT8", "INT8"])
def test_dsp2_directed_extremes_stalls(tmp_path, idt):
    """PE=4 < MH=8 (two pairs per fold, NF=2), SIMD=4 < MW=12 (SF=3), random stalls."""
    w, x = directed(12, 8, [1, 3, 3], idt, seed=21)
    assert low_products_negative(w, x) > 50
    op, build, _ = run_case(tmp_path, mw=12, mh=8, pe=4, simd=4, vecs=[1, 3, 3], stall=0.3,
                            seed=21, idt=idt, res_type="dsp", w=w, x=x)
    assert op.mul_style() == "dsp2"
    assert 'MUL_STYLE("dsp2")' in (tmp_path / "gen" / f"{op.onnx_node.name}.v").read_text()


def test_dsp2_stem_like_uint8_ii1_zcu104(tmp_path):
    """UINT8 patch, PE=MH=6 (three pairs), SIMD=MW=9 (one step per vector), block RAM
    weights, bias, no stalls: II=1 and the same latency as one product per DSP48."""
    w, x = directed(9, 6, [1, 4, 4], "UINT8", seed=22)
    op, build, exp = run_case(tmp_path, mw=9, mh=6, pe=6, simd=9, vecs=[1, 4, 4], stall=0.0,
                              seed=22, idt="UINT8", res_type="dsp", w=w, x=x,
                              ram_style="block", bias=np.array([-700, 5, 0, 900, -1, 33]),
                              part=ZCU104)
    assert op.mul_style() == "dsp2"
    assert exp <= cycles_of(build) <= exp + 20 + 12, f"{cycles_of(build)} cycles for {exp} steps"


def test_dsp2_random_int8_simd1_stalls(tmp_path):
    """Random INT8 data, SIMD=1 (no adder tree: the unpacked product feeds the accumulator)."""
    op, _, _ = run_case(tmp_path, mw=6, mh=4, pe=2, simd=1, vecs=[5], stall=0.3, seed=23,
                        res_type="dsp")
    assert op.mul_style() == "dsp2"


def test_dsp2_choice_and_estimates():
    """resType dsp packs two products per DSP48 where PE is even and the operands fit the
    family; the estimate is ceil(PE/2)*SIMD DSPs and no extra LUT."""
    rng = np.random.default_rng(0)
    m = make_model("stem", 147, 64, 8, 147, [1], rng, idt="UINT8")
    op = getCustomOp(m.graph.node[0])
    auto = op.dsp_estimation(ZCU104), op.lut_estimation(ZCU104)
    op.set_nodeattr("resType", "dsp")
    assert op.dsp2_problem(ZCU104) is None and op.mul_style(ZCU104) == "dsp2"
    assert auto[0] == 8 * 147 and op.dsp_estimation(ZCU104) == 4 * 147 == 588
    assert op.lut_estimation(ZCU104) == auto[1]
    assert op.dsp2_problem("xc7z020clg400-1") is None      # 2*8+8+1 = 25 bits: DSP48E1 too
    op.set_nodeattr("PE", 1)
    assert op.dsp2_problem(ZCU104) == "PE=1 is odd" and op.mul_style(ZCU104) == "dsp"
    assert op.dsp_estimation(ZCU104) == 147
    m = make_model("wide", 8, 4, 2, 2, [1], rng, idt="INT8", wdt="INT9")
    op = getCustomOp(m.graph.node[0])
    op.set_nodeattr("resType", "dsp")
    assert op.dsp2_problem(ZCU104) is None                  # 2*9+8+1 = 27 <= 27
    assert "27 bits x 9 bits exceeds the 25x18 multiplier" in op.dsp2_problem("xc7z020clg400-1")
    assert op.mul_style("xc7z020clg400-1") == "dsp" and op.dsp_estimation("xc7z020clg400-1") == 4


@pytest.mark.parametrize("family,part", [("xcup", ZCU104), ("xc7", "xc7z020clg400-1")])
def test_dsp2_yosys_dsp_count(tmp_path, family, part):
    """Yosys synth_xilinx of a PE=4, SIMD=4 UINT8 x INT8 MVAU: one product per DSP48 maps to
    PE*SIMD = 16 DSP48s, two per DSP48 to PE/2*SIMD = 8, with no more LUTs (measured:
    xcup 359 -> 357 LUT, xc7 392 -> 380; Yosys packs pre-adder, registers and the 2^(K-1)
    constant into DSP48E1, not into DSP48E2, whose registers and pre-adder it leaves in FFs and
    carry chains, Vivado would not)."""
    from sim.synth import synth_node
    got = {}
    for rt in ("auto", "dsp"):
        m = make_model("ysy", 8, 4, 4, 4, [1], np.random.default_rng(0), idt="UINT8")
        op = getCustomOp(m.graph.node[0])
        op.set_nodeattr("resType", rt)
        op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / rt / "gen"))
        op.generate_hdl(m, part, 5.0)
        got[op.mul_style(part)] = synth_node(op, m, tmp_path / rt / "syn", family)
        assert got[op.mul_style(part)]["DSP"] == op.dsp_estimation(part)
    assert got["dsp"]["DSP"] == 16 and got["dsp2"]["DSP"] == 8
    assert got["dsp2"]["LUT"] <= got["dsp"]["LUT"]
