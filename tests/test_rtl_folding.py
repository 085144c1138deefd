"""hw.rtl_folding on the tiny net's RTL units: the multipliers of the 8-bit layers move to LUTs
only where the DSPs would not fit, and the folding file carries the choice back."""
import contextlib
import dataclasses
import io

from qonnx.custom_op.registry import getCustomOp

from hw.boards import get_board
from hw.rtl_folding import _Folder, copy_back


def _mapped(hw_model, part):
    from hw.rtl_flow import map_rtl
    with contextlib.redirect_stdout(io.StringIO()):
        return map_rtl(hw_model, part)[0]


def _finish_joint(part, board=None, extra=None):
    """A stand-in finish that maps the weight memories together, as finish_rtl does (for
    `board`'s resources when given; `extra`: usage of nodes the stand-in adds only to the
    estimate, which finish_rtl's mapping would see in the model)."""
    from hw.memory import SetWeightMemory
    avail = board and {r: board.available(r) for r in ("LUT", "BRAM18", "URAM")}
    return lambda m: (m.transform(SetWeightMemory(part, available=avail, extra=extra)), {})


def test_cheaper_multipliers_only_where_dsps_bind(hw_model):
    """DSPs fit: one product per DSP48. Half the DSPs: two products per DSP48 (resType dsp)
    where dsp2_problem allows it (the stem, PE 4, 8-bit operands), LUT multipliers for the
    rest (the downsample conv's 10-bit input makes a 27-bit packed operand: over DSP48E1's
    25)."""
    pynq = get_board("pynq-z2")
    mapped = _mapped(hw_model, pynq.part)
    target = 8_000
    f = _Folder(mapped, pynq)
    pick, s = f.balanced(target, pynq.clock_mhz)
    assert s["fit"]["DSP"]["ok"]
    assert not any(c.get("resType") in ("dsp", "lut") for c in pick.values())
    small = dataclasses.replace(pynq, name="small-dsp", DSP=s["totals"]["DSP"] // 2)
    g = _Folder(mapped, small)
    pick2, s2 = g.balanced(target, small.clock_mhz)
    packed = [n for n, c in pick2.items() if c.get("resType") == "dsp"]
    luts = [n for n, c in pick2.items() if c.get("resType") == "lut"]
    assert packed and luts and s2["fit"]["DSP"]["ok"], s2["fit"]
    ops = {n.name: getCustomOp(n) for n in g.m.graph.node}
    assert all(ops[n].mul_style(small.part) == "dsp2" for n in packed)
    assert all(ops[n].dsp2_problem(small.part) is not None for n in luts)
    assert s2["bottleneck_cycles"] == s["bottleneck_cycles"]
    assert s2["totals"]["LUT"] > s["totals"]["LUT"] and s2["totals"]["DSP"] < s["totals"]["DSP"]
    # LUTs over their cap and dominating the ratio (bireal18 on ZCU104): packing, which adds
    # no LUT, still happens; LUT multipliers do not
    tight = dataclasses.replace(small, name="small-lut-dsp", LUT=s["totals"]["LUT"] // 4)
    pick3, s3 = _Folder(mapped, tight).balanced(target, tight.clock_mhz)
    assert [n for n, c in pick3.items() if c.get("resType") == "dsp"] == packed
    assert not any(c.get("resType") == "lut" for c in pick3.values())
    assert s3["totals"]["DSP"] < s["totals"]["DSP"] and s3["totals"]["LUT"] == s["totals"]["LUT"]
    # the chosen multipliers travel to FINN's graph (folding_config.json)
    folded = g.apply(pick2, mapped)
    back = copy_back(hw_model, folded)
    mv = [getCustomOp(n).get_nodeattr("resType") for n in back.graph.node if n.op_type == "MVAU"]
    assert mv.count("lut") == len(luts) and mv.count("dsp") == len(packed)


def test_finished_design_allowance_decides_fit(hw_model, monkeypatch):
    """fold_rtl puts what the finished design adds to its units (FIFOs, width converters) into
    the search: with a stand-in finish adding X LUT, the folding chosen is the fastest whose
    units + X fit (the same T the units-only search finds on a board X LUT smaller), and the
    allowance is reported."""
    import hw.estimates as E
    from hw.rtl_folding import fold_rtl
    # DSPs that never bind: the LUT-multiplier choice (board-dependent) stays out of it
    pynq = dataclasses.replace(get_board("pynq-z2"), DSP=100_000)
    mapped = _mapped(hw_model, pynq.part)
    f = _Folder(mapped, pynq)
    mid = f.joint_summary(f.balanced(4_000, pynq.clock_mhz)[0], pynq.clock_mhz)
    extra = 8_500                                     # LUT the stand-in finish adds (= 0.85 x 10,000)
    # a board whose LUT cap the units at ~4,000 cycles meet with the extra, faster ones not
    lut = int((mid["totals"]["LUT"] + extra) / E.FIT_CAP) + 1
    board = dataclasses.replace(pynq, name="allow-test", LUT=lut)
    real = E.estimate

    def finished_estimate(model, b, clk=None):             # + one FIFO of `extra` LUT
        est = real(model, b, clk)
        fifo = {"name": "StreamingFIFO_rtl_x", "op_type": "StreamingFIFO_rtl", "LUT": extra,
                "BRAM18": 0, "URAM": 0, "DSP": 0, "cycles": 0}
        return E.summarize(est["layers"] + [fifo], b, est["clock_mhz"])
    monkeypatch.setattr(E, "estimate", finished_estimate)
    builds = []                                       # finished designs built

    def finish(m):
        builds.append(1)
        return _finish_joint(pynq.part, board, {"LUT": extra})(m)
    rtl, _, rep = fold_rtl(mapped, board, 1, finish=finish)
    assert rep["finish_allowance"]["LUT"] == extra and rep["fits"], rep["searched"]
    # one build without the allowance (over), one with it (fits): no bisection on builds
    assert len(builds) == 2, rep["searched"]
    # the reference: units-only search on a board whose cap is `extra` LUT lower
    small = dataclasses.replace(pynq, name="allow-ref", LUT=lut - round(extra / E.FIT_CAP))
    monkeypatch.setattr(E, "estimate", real)
    _, _, ref = fold_rtl(mapped, small, 1, finish=_finish_joint(pynq.part, small))
    assert ref["fits"] and not ref["finish_allowance"]
    assert rep["target_cycles"] == ref["target_cycles"], (rep["searched"], ref["searched"])
    assert rep["target_cycles"] > rep["fastest_cycles"]          # the extra changed the choice


def test_sizing_growth_counts_in_every_judged_design(hw_model):
    """sim.build folds again when the simulation's FIFO sizing put the design over the board,
    with what the sizing added (fold_rtl's growth) counted in every design judged: the
    folding is the fastest that fits with it, the same T the search finds on a board that
    much smaller, decided on one finished design (no re-search, no bisection)."""
    from hw.rtl_folding import fold_rtl
    import hw.estimates as E
    pynq = dataclasses.replace(get_board("pynq-z2"), DSP=100_000)
    mapped = _mapped(hw_model, pynq.part)
    f = _Folder(mapped, pynq)
    mid = f.joint_summary(f.balanced(4_000, pynq.clock_mhz)[0], pynq.clock_mhz)
    extra = 8_500
    lut = int((mid["totals"]["LUT"] + extra) / E.FIT_CAP) + 1
    board = dataclasses.replace(pynq, name="grown", LUT=lut)
    builds = []

    def finish(m):
        builds.append(1)
        return _finish_joint(pynq.part, board, {"LUT": extra})(m)
    _, _, rep = fold_rtl(mapped, board, 1, finish=finish, growth={"LUT": extra})
    assert rep["fits"] and len(builds) == 1, rep["searched"]
    assert rep["sizing_growth"] == {"LUT": extra} and not rep["finish_allowance"]
    small = dataclasses.replace(pynq, name="grown-ref", LUT=lut - round(extra / E.FIT_CAP))
    _, _, ref = fold_rtl(mapped, small, 1, finish=_finish_joint(pynq.part, small))
    assert rep["target_cycles"] == ref["target_cycles"] > rep["fastest_cycles"], \
        (rep["searched"], ref["searched"])


def test_finish_leaves_room_for_the_sizing_growth(hw_model):
    """finish_rtl(extra=): the finished design's weight-memory balance counts what FIFO
    sizing will add as used, so it puts fewer memories in LUTs (re-folded bireal-cifar:
    without it the balance filled the LUTs to the cap and every finished design judged with
    the growth was 0.4 % over)."""
    import copy
    from hw.estimates import estimate
    from hw.rtl_flow import finish_rtl
    pynq = get_board("pynq-z2")
    mapped = _mapped(hw_model, pynq.part)
    f = _Folder(mapped, pynq)
    m = f.apply(f.balanced(2_400, pynq.clock_mhz)[0], copy.deepcopy(mapped))
    with contextlib.redirect_stdout(io.StringIO()):
        plain = estimate(finish_rtl(copy.deepcopy(m), pynq.part)[0], pynq)["totals"]
        grown = estimate(finish_rtl(copy.deepcopy(m), pynq.part, extra={"LUT": 15_000})[0],
                         pynq)["totals"]
    assert grown["LUT"] < plain["LUT"] and grown["BRAM18"] > plain["BRAM18"], (plain, grown)


def _fold_with_finish_over(hw_model, monkeypatch, over, fit_from=None):
    """fold_rtl on a board whose LUTs every unit folding meets, with a stand-in finish that
    adds 10 x the board's LUTs to the designs where over(bottleneck, T0) holds (T0: the
    bottleneck of the 4,000-cycle folding); with fit_from, only as much as leaves the units
    of the fit_from x T0 folding just fitting. Returns (report, T0)."""
    import hw.estimates as E
    from hw.rtl_folding import fold_rtl
    pynq = dataclasses.replace(get_board("pynq-z2"), DSP=100_000)
    mapped = _mapped(hw_model, pynq.part)
    f = _Folder(mapped, pynq)
    _, slow = f.balanced(1 << 62, pynq.clock_mhz)
    _, mid = f.balanced(4_000, pynq.clock_mhz)
    t0 = mid["bottleneck_cycles"]
    _, fast = f.balanced(t0 // 2, pynq.clock_mhz)             # its units fit the board
    assert fast["bottleneck_cycles"] < t0 and t0 * 10 < slow["bottleneck_cycles"]
    cap = max(fast["totals"]["LUT"], mid["totals"]["LUT"], slow["totals"]["LUT"]) + 50
    board = dataclasses.replace(pynq, name="allow-over", LUT=int(cap / E.FIT_CAP) + 1)
    extra = 10 * board.LUT
    if fit_from:
        far = f.joint_summary(f.balanced(fit_from * t0, pynq.clock_mhz)[0], pynq.clock_mhz)
        extra = int(E.FIT_CAP * board.LUT - far["totals"]["LUT"]) - 1
    real = E.estimate

    def finished_estimate(model, b, clk=None):
        est = real(model, b, clk)
        add = extra if over(est["bottleneck_cycles"], t0) else 0
        fifo = {"name": "StreamingFIFO_rtl_x", "op_type": "StreamingFIFO_rtl", "LUT": add,
                "BRAM18": 0, "URAM": 0, "DSP": 0, "cycles": 0}
        return E.summarize(est["layers"] + [fifo], b, est["clock_mhz"])
    monkeypatch.setattr(E, "estimate", finished_estimate)
    _, _, rep = fold_rtl(mapped, board, 1, finish=lambda m: (m, {}))
    assert rep["finish_allowance"]["LUT"] == extra, rep["searched"]
    return rep, t0


def test_allowance_ruling_out_all_foldings_bisects_finished_designs(hw_model, monkeypatch):
    """The allowance is measured on a fast folding, whose FIFOs are deep; when units + that
    allowance fit nowhere, not even at T_max, fold_rtl must not jump to T_max (bireal-cifar
    for 2,500 FPS on PYNQ-Z2 fell from 39,360 to 9,437,184 cycles/frame): the finished
    designs decide by bisection. Stand-in finish: over the board only for designs faster
    than T0, so the best is the fastest folding >= T0 whose units fit."""
    rep, t0 = _fold_with_finish_over(hw_model, monkeypatch, lambda c, t0: c < t0)
    assert rep["fits"], rep["searched"]
    assert t0 <= rep["target_cycles"] <= 1.25 * t0, rep["searched"]


def test_allowance_above_what_the_kept_design_adds_bisects_down(hw_model, monkeypatch):
    """The allowance is measured on a fast folding, whose FIFOs are deep and wide; when the
    search with it keeps a much slower folding whose finished design adds far less, faster
    finished designs are tried by bisection (bireal-cifar re-folded with its sizing growth
    went from 32,768 to 65,536 cycles/frame: the allowance measured at 24,576 was 10.2 k LUT).
    Stand-in finish: over the board below T0, adding nothing above; the allowance alone keeps
    ~8 x T0."""
    rep, t0 = _fold_with_finish_over(hw_model, monkeypatch, lambda c, t0: c < t0, fit_from=8)
    assert rep["fits"], rep["searched"]
    assert t0 <= rep["target_cycles"] <= 1.25 * t0, rep["searched"]
    assert any("above what it adds" in str(x[2]) for x in rep["searched"])


def test_scan_up_when_neither_the_allowance_nor_full_folding_fits(hw_model, monkeypatch):
    """Slower is not always smaller: fully folded, deep and narrow weight memories waste block
    RAM and URAM (bireal18 on ZCU104: 88 % LUT and BRAM18 at PE = SIMD = 1). When the
    allowance rules out every folding and the fully folded finished design does not fit
    either, fold_rtl scans up from the last failing bottleneck on finished designs (it kept
    T_max, 118,013,952 cycles/frame). Stand-in finish: over the board below T0 and above
    8 x T0, so the best is the fastest folding >= T0."""
    rep, t0 = _fold_with_finish_over(hw_model, monkeypatch,
                                     lambda c, t0: c < t0 or c > 8 * t0)
    assert rep["fits"], rep["searched"]
    assert t0 <= rep["target_cycles"] <= 1.25 * t0, rep["searched"]
    assert any("scan up" in str(x[2]) for x in rep["searched"])


def test_fully_folded_fit_judged_with_memories_mapped_together(hw_model):
    """What no folding can fix is judged on the memories mapped together, as they are built:
    fully folded, each weight memory alone is cheapest as a LUT ROM, and on a board with few
    LUTs those overflow the cap although block RAM can take them. fold_rtl must not then
    leave LUT out of the decision (bireal18 on ZCU104: "does not fit even fully folded: LUT
    306,882", so the search ignored LUT)."""
    from hw.rtl_folding import fold_rtl
    pynq = dataclasses.replace(get_board("pynq-z2"), DSP=100_000)
    mapped = _mapped(hw_model, pynq.part)
    f = _Folder(mapped, pynq)
    pick, alone = f.balanced(1 << 62, pynq.clock_mhz)
    board = dataclasses.replace(pynq, name="few-luts", LUT=int(alone["totals"]["LUT"] / 0.85 / 1.1))
    g = _Folder(mapped, board)
    alone = g.summary(pick, board.clock_mhz)
    joint = g.joint_summary(pick, board.clock_mhz)
    assert not alone["fit"]["LUT"]["ok"] and joint["fits"], (alone["fit"], joint["fit"])
    assert joint["totals"]["BRAM18"] > alone["totals"]["BRAM18"]
    _, _, rep = fold_rtl(mapped, board, 1, finish=_finish_joint(board.part, board))
    assert rep["fits"] and "fully folded" not in (rep["warning"] or ""), rep


def test_pads_at_the_window_width(hw_model):
    """fold_rtl's unit choice applies hw.folding's rule too: a padding unit feeding a
    serial-window SWG is folded at least as wide as it (else the SWG's refill at each frame
    start runs at the padding's pace: bireal18 at est. 75,264 simulated 82,177)."""
    from finn.custom_op.fpgadataflow.convolutioninputgenerator import (
        ConvolutionInputGenerator)
    zcu = get_board("zcu104")
    f = _Folder(_mapped(hw_model, zcu.part), zcu)
    ops = {n.name: getCustomOp(n) for n in f.m.graph.node}
    checked = 0
    for target in (20_000, 3_000, 1_500):
        pick = f.choose(target)
        for pad, swg in f.pad_swg.items():
            assert isinstance(ops[swg], ConvolutionInputGenerator)
            if not pick[swg].get("parallel_window"):
                checked += 1
                assert pick[pad].get("SIMD", 1) >= pick[swg].get("SIMD", 1), (target, pad, swg)
    assert checked


def test_weight_memory_shape_weighs_in_folding():
    """An XnorMVAU like bireal-cifar's stage-4 convs (MW 2304, MH 256, 4 x 4 pixels) at
    40,000 cycles/frame on PYNQ-Z2: the fewest lanes (256, e.g. SIMD 256) make a 2,304 x 256
    bit weight memory in 40 BRAM18, the folding takes 288 lanes (1.125 x), a 2,048 x 288 bit
    memory that fills its 32 BRAM18 [analytical]: the smaller share of the board wins."""
    import numpy as np
    from test_rtl_xnor_mvau import make_model

    pynq = get_board("pynq-z2")
    m = make_model("x", 2304, 256, 1, 1, [1, 4, 4], np.random.default_rng(0))
    f = _Folder(m, pynq)
    target = 40_000
    ok = [o for o in f.options["x"] if o[0] <= target]
    fewest, chosen = ok[0][3], f.choose(target)["x"]
    lanes = chosen["PE"] * chosen["SIMD"]
    assert fewest["PE"] * fewest["SIMD"] == 256 and lanes == 288
    assert f.share_cost("x", chosen) < f.share_cost("x", fewest)
    bram = {lanes: f.summary({"x": c}, pynq.clock_mhz)["totals"]["BRAM18"]
            for lanes, c in ((256, fewest), (288, chosen))}
    assert bram == {256: 40, 288: 32}
    assert f.summary({"x": chosen}, pynq.clock_mhz)["bottleneck_cycles"] <= target
