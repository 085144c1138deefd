"""Folding of the design that will be built: PE/SIMD chosen on the RTL units, not on FINN's graph.

FINN's graph still holds what the RTL mapping removes (255-threshold requants fused into
ShortcutAdd, FC bias adds, HLS cost models of units the project implements itself), so a
folding decided on its estimate can be far off what is built. Here the graph is first mapped
to RTL units (hw.rtl_flow.map_rtl), then folded, and the fit is decided on the estimates of
those units (hw.estimates: the project ops' own models + finn-rtllib's; their weight memories
mapped together by hw.memory.SetWeightMemory for the board, as the finished design maps
them, not each on its own: `_Folder.joint_summary`), then checked again on
the finished design with its FIFOs and width converters (hw.rtl_flow.finish_rtl).

For a target of T cycles per frame every unit gets its cheapest legal folding with
cycles <= T (fewest lanes PE*SIMD, then least PE; hw.folding's rules; an MVAU with a weight
memory: the smallest share of the board among foldings with up to 1.25 x those lanes, so its
memory can take a shape that fills the block RAMs); the pipeline then runs
at B = max cycles <= T, and the folding is redone at B so no unit is faster than it needs to be
(FINN's two-pass relaxation). The search over T:

    T_min = bottleneck of the most parallel folding,   T_max = bottleneck at PE = SIMD = 1
    smallest T in [T_min, T_max] (bisection to 1/64) whose design fits every resource r:
    used_r <= FIT_CAP * available_r   (resources over the cap even at T_max are reported and
    left out of the decision: no folding can fix them)

A depthwise sliding window feeding a max pool streams the pool's channel folds: its SIMD is
tied to the pool's PE (both chosen together).

Multipliers of the 8-bit layers (IntMVAU_rtl): one DSP48 per product by default; only when the
DSPs are over the cap at a folding, layers move, one at a time, first to two products per DSP48
(resType "dsp", where IntMVAU_rtl.dsp2_problem allows it: PE even, operands within the
family's multiplier; half the DSPs, no extra LUT), then to LUT multipliers (resType "lut"),
each time the layer whose move leaves the lowest max(used_LUT / limit_LUT, used_DSP /
limit_DSP) (then the fewest DSPs), until the DSPs fit or no move lowers that pair (a design
whose DSPs fit keeps one product per DSP48).
"""
from __future__ import annotations

import copy
import math

from qonnx.custom_op.registry import getCustomOp

from finn.custom_op.fpgadataflow.convolutioninputgenerator import ConvolutionInputGenerator
from finn.util.fpgadataflow import is_fpgadataflow_node
from hw.boards import FIT_CAP, get_board
from hw.estimates import FIT_RESOURCES, fit_of, layer_estimate, over_cap, summarize
from hw.memory import RESOURCES as MEMORY_RESOURCES, SetWeightMemory
from hw.folding import _configs, _joint_problem, _lanes, legal_values, pads_at_windows
from model.errors import BiRealError

# units whose weight memory's shape follows their folding (depth MW/SIMD * MH/PE, width
# PE*SIMD*bits); _Folder.choose weighs their board share, within this many times the fewest
# lanes that reach the target
MEMORY_UNITS = ("XnorMVAU_rtl", "IntMVAU_rtl")
MEMORY_LANE_SLACK = 1.25
SCAN_STEP = 1.25          # fold_rtl's scan up on finished designs when nothing else fits

DECIDED_BY = ("estimate of the RTL design (project units + finn-rtllib after shortcut fusion "
              "and requant mapping), checked again with its FIFOs and width converters")


def _nodes(model):
    return [(n, getCustomOp(n)) for n in model.graph.node if is_fpgadataflow_node(n)]


def _tied_swg(model, node):
    """The depthwise SWG feeding `node` (its SIMD must equal node's PE), or None."""
    p = model.find_producer(node.input[0])
    if p is not None and p.op_type.startswith("ConvolutionInputGenerator"):
        if getCustomOp(p).get_nodeattr("depthwise"):
            return p
    return None


class _Folder:
    """Per-unit folding choices and estimate rows, cached by (unit, config)."""

    def __init__(self, mapped, board):
        self.m, self.b = copy.deepcopy(mapped), get_board(board)
        self.units = _nodes(self.m)
        self.tied = {}                          # depthwise SWG name -> consumer node
        for n, _ in self.units:
            s = _tied_swg(self.m, n)
            if s is not None:
                self.tied[s.name] = n
        self.options = {n.name: self._options(n, i) for n, i in self.units
                        if n.name not in self.tied}
        # padding -> the sliding-window generator it feeds (hw.folding._pad_at_window_width)
        self.pad_swg = {p.name: c.name for p, _, c, _ in pads_at_windows(self.m)
                        if c.name in self.options}
        self.rows: dict = {}
        self.byname = {n.name: n for n, _ in self.units}
        self.mem_units = {n.name for n, _ in self.units if n.op_type in MEMORY_UNITS}
        self.costs: dict = {}                   # (unit, cfg) -> its estimate row
        self.allow: dict = {}                   # resource -> finished design's allowance
        self.grow: dict = {}                    # resource -> what FIFO sizing will add

    def reserved(self) -> dict:
        """Resource -> what the units cannot use: the finished design's allowance + the
        sizing growth."""
        return {r: self.allow.get(r, 0) + self.grow.get(r, 0) for r in FIT_RESOURCES}

    def _options(self, node, inst):
        """[(cycles, lanes, PE, cfg)] of every legal folding, sorted cheapest first."""
        swg = _tied_swg(self.m, node)
        sinst = getCustomOp(swg) if swg is not None and swg.name in self.tied else None
        out = []
        cfgs = list(_configs(inst)) or [{}]
        for cfg in cfgs:
            for a, v in cfg.items():
                inst.set_nodeattr(a, int(v))
            if _joint_problem(inst):
                continue
            c = int(inst.get_exp_cycles())
            if sinst is not None:
                pe = cfg.get("PE", 1)
                if pe not in legal_values(sinst).get("SIMD", [pe]):
                    continue
                sinst.set_nodeattr("SIMD", pe)
                c = max(c, int(sinst.get_exp_cycles()))
            out.append((c, _lanes(inst, cfg), cfg.get("PE", 1), cfg))
        if not out:
            raise BiRealError(f"layer {node.name} ({node.op_type}): no legal folding")
        return sorted(out, key=lambda o: (o[1], o[2]))

    def choose(self, target: int) -> dict:
        """{unit: cfg}: cheapest folding with cycles <= target, else the fastest. Cheapest:
        fewest lanes, then least PE; for units with a weight memory (MEMORY_UNITS), among
        the foldings with at most MEMORY_LANE_SLACK x the fewest lanes, the one whose own
        estimate takes the smallest share of the board (share_cost), so a folding whose
        memory fills its block RAMs can win over one with fewer lanes (bireal-cifar stage 4:
        SIMD 288 -> 2,048 x 288 bits in 32 BRAM18; SIMD 256 -> 2,304 x 256 in 40)."""
        pick = {}
        for name, opts in self.options.items():
            ok = [o for o in opts if o[0] <= target]
            if ok and name in self.mem_units:
                near = [o for o in ok if o[1] <= MEMORY_LANE_SLACK * ok[0][1]]
                pick[name] = min(near, key=lambda o: (self.share_cost(name, o[3]), o[1],
                                                      o[2]))[3]
                continue
            pick[name] = (ok[0] if ok else min(opts, key=lambda o: (o[0], o[1])))[3]
        # a padding feeding a serial-window SWG is at least as wide as it: the SWG refills
        # its buffer at each frame start at the padding's pace while its consumer idles
        # (hw.folding._pad_at_window_width; the SWG's SIMD divides the padding's channels)
        for pad, swg in self.pad_swg.items():
            w = pick[swg]
            if pad in pick and not w.get("parallel_window") \
                    and pick[pad].get("SIMD", 1) < w.get("SIMD", 1):
                pick[pad] = {**pick[pad], "SIMD": w["SIMD"]}
        return pick

    def share_cost(self, name: str, cfg: dict) -> float:
        """Sum over FIT_RESOURCES of the unit's estimate at `cfg` / what the units may take of
        the board (FIT_CAP x available - reserved(): the finished design's allowance and the
        sizing growth), so a search with an allowance weighs resources as one on a board that
        much smaller."""
        key = (name, tuple(sorted(cfg.items())))
        if key not in self.costs:
            node = self.byname[name]
            inst = getCustomOp(node)
            old = {a: inst.get_nodeattr(a) for a in cfg}
            for a, v in cfg.items():
                inst.set_nodeattr(a, v if isinstance(v, str) else int(v))
            self.costs[key] = layer_estimate(node, inst, inst, self.b.part)
            for a, v in old.items():
                inst.set_nodeattr(a, v)
        row = self.costs[key]
        res = self.reserved()
        room = {r: FIT_CAP * getattr(self.b, r) - res[r] for r in FIT_RESOURCES}
        return sum(row[r] / room[r] if room[r] > 0 else (math.inf if row[r] else 0.0)
                   for r in FIT_RESOURCES if getattr(self.b, r))

    def apply(self, pick: dict, model=None):
        """Set the chosen folding on `model` (default: the working copy), tied SWGs too."""
        m = self.m if model is None else model
        byname = {n.name: n for n in m.graph.node}
        for name, cfg in pick.items():
            inst = getCustomOp(byname[name])
            if "resType" in inst.get_nodeattr_types():
                inst.set_nodeattr("resType", cfg.get("resType", "auto"))
            for a, v in cfg.items():
                inst.set_nodeattr(a, v if isinstance(v, str) else int(v))
        for sname, cons in self.tied.items():
            pe = pick.get(cons.name, {}).get("PE", 1)
            getCustomOp(byname[sname]).set_nodeattr("SIMD", int(pe))
        return m

    def summary(self, pick: dict, clock_mhz: float) -> dict:
        """hw.estimates.summarize of the units at folding `pick` (rows cached)."""
        self.apply(pick)
        rows = []
        for n, i in self.units:
            key = (n.name, tuple(sorted(pick.get(n.name, {}).items())),
                   tuple(sorted(pick.get(self.tied[n.name].name, {}).items()))
                   if n.name in self.tied else ())
            if key not in self.rows:
                self.rows[key] = layer_estimate(n, i, i, self.b.part)
            rows.append(dict(self.rows[key]))
        return summarize(rows, self.b, clock_mhz)

    def joint_summary(self, pick: dict, clock_mhz: float) -> dict:
        """summary() with the weight memories of all units mapped together
        (hw.memory.SetWeightMemory, as finish_rtl maps them) instead of each alone: a
        fully folded net whose memories, each cheapest alone, are LUT ROMs that together
        overflow the LUTs, is mapped to block RAM / URAM where those are free. The finished
        design's allowance (self.allow: its FIFOs and width converters) and the sizing growth
        count as used, as finish_rtl's mapping and the sizing's remap see those nodes."""
        avail = {r: self.b.available(r) for r in MEMORY_RESOURCES}
        m = self.apply(pick, copy.deepcopy(self.m)).transform(
            SetWeightMemory(self.b.part, available=avail, extra=self.reserved()))
        rows = [layer_estimate(n, getCustomOp(n), getCustomOp(n), self.b.part)
                for n, _ in _nodes(m)]
        return summarize(rows, self.b, clock_mhz)

    def balanced(self, target: int, clock_mhz: float):
        """(pick, summary) at `target`, refolded at the bottleneck it reaches, multipliers
        chosen by with_cheaper_mults."""
        pick = self.choose(target)
        s = self.summary(pick, clock_mhz)
        if s["bottleneck_cycles"] < target:
            pick = self.choose(s["bottleneck_cycles"])
            s = self.summary(pick, clock_mhz)
        return self.with_cheaper_mults(pick, s, clock_mhz)

    def with_cheaper_mults(self, pick: dict, s: dict, clock_mhz: float):
        """Move IntMVAU_rtl layers to two products per DSP48 (resType "dsp"), then to LUT
        multipliers (resType "lut"), while the DSPs are over the cap (module docstring);
        returns (pick, summary)."""
        def pressure(summ):
            """(max used/limit of LUT and DSP, DSPs used): a move must lower the first or
            keep it and lower the DSPs (packing adds no LUT: it applies even where the LUTs
            are over their cap and dominate the ratio)."""
            f = summ["fit"]
            return (max(f[r]["used"] / f[r]["limit"] if f[r]["limit"] else math.inf
                        for r in ("LUT", "DSP")), f["DSP"]["used"])
        mults = {n.name: i for n, i in self.units if n.op_type == "IntMVAU_rtl"}
        for style in ("dsp", "lut"):
            while not s["fit"]["DSP"]["ok"]:
                self.apply(pick)                # the legality of "dsp" at pick's PE
                cands = [name for name, i in mults.items()
                         if pick.get(name, {}).get("resType") not in (style, "lut")
                         and (style == "lut" or i.dsp2_problem(self.b.part) is None)]
                best = None
                for name in cands:
                    trial = {**pick, name: {**pick.get(name, {}), "resType": style}}
                    ts = self.summary(trial, clock_mhz)
                    if best is None or pressure(ts) < pressure(best[1]):
                        best = (trial, ts)
                if best is None or pressure(best[1]) >= pressure(s):
                    break
                pick, s = best
        self.apply(pick)
        return pick, s


def with_allowance(summ: dict, allow: dict, board) -> dict:
    """`summ` with `allow` (resource -> amount, e.g. the FIFOs and width converters the
    finished design adds to its units) added to its totals and the fit decided again."""
    if not any(allow.values()):
        return summ
    totals = {k: v + allow.get(k, 0) for k, v in summ["totals"].items()}
    fit = fit_of(totals, board)
    return {**summ, "totals": totals, "fit": fit, "fits": all(v["ok"] for v in fit.values())}


ADDED_BY_FINISH = ("StreamingFIFO", "StreamingDataWidthConverter")


def finish_added(est: dict) -> dict:
    """Resources of the nodes the finished design adds to the units (FIFOs, width
    converters: ADDED_BY_FINISH), from its estimate's per-layer rows."""
    rows = [r for r in est["layers"] if r["op_type"].startswith(ADDED_BY_FINISH)]
    return {k: int(sum(r[k] for r in rows)) for k in FIT_RESOURCES}


def sizing_growth(est: dict) -> dict | None:
    """What FIFO sizing added to a design (resource -> amount) to fold again with
    (fold_rtl growth), when `est` (estimates.json after the sizing, with the compile's totals
    in "compile_totals") is over the board although its automatic folding fit before the
    sizing: per resource max(0, sized - compiled), and where it is over at least the growth
    its folding was given plus the excess (a re-folded design still over asks for more).
    None when it fits, when the folding was not automatic or did not fit anyway, or when
    the compile's totals are unknown."""
    rtl = est.get("rtl")
    search = rtl.get("folding_search") if isinstance(rtl, dict) else None
    before = est.get("compile_totals")
    if est.get("fits") or not search or not search.get("fits") or not before:
        return None
    given = search.get("sizing_growth") or {}
    new = {r: max(0, int(est["totals"][r]) - int(before.get(r, 0))) for r in FIT_RESOURCES}
    for r, f in est["fit"].items():
        if r in new and not f["ok"]:
            new[r] = max(new[r], int(given.get(r, 0)) + math.ceil(f["used"] - f["limit"]))
    return new


def _fits(summ: dict, ignore: set) -> bool:
    return all(f["ok"] for k, f in summ["fit"].items() if k not in ignore)


def _finished(f, pick, finish, b, clk):
    """(rtl_model, finish report, estimate) of the finished design at folding `pick`."""
    from hw.estimates import estimate
    rtl, frep = finish(f.apply(pick, copy.deepcopy(f.m)))
    return rtl, frep, estimate(rtl, b, clk)


def fold_rtl(mapped, board, target_cycles: int, finish, clock_mhz: float | None = None,
             max_relax: int = 6, max_allow: int = 3, growth: dict | None = None):
    """Fold the RTL-unit graph `mapped` (hw.rtl_flow.map_rtl) for `board` at the smallest
    cycles/frame >= target_cycles that fits (see module docstring); `finish(model) ->
    (rtl_model, report)` builds the design (hw.rtl_flow.finish_rtl), whose estimate decides:
    when the finished design does not fit (its FIFOs, width converters and jointly mapped
    memories are not in the units' estimate), the search is redone with what the finished
    design added over its units as an allowance per resource (up to max_allow times, each
    time with the finished design built at the new folding); if it still does not fit (slower
    foldings can need *more* LUTs: deeper weight ROMs), or if the allowance rules out every
    folding below T_max (it was measured at a faster folding, with deeper FIFOs), a geometric
    bisection between the last failing bottleneck and T_max on the finished design's
    estimate (max_relax steps) picks the fastest that fits. `growth` (resource -> amount):
    what the simulation's FIFO sizing added to a previous build of this net (sizing_growth;
    sim.build folds again with it when the sized design is over the board), added to every
    design judged here, units and finished alike (their FIFOs have the derived depths).

    Returns (rtl_model, folded mapped model, report) with report {board, requested_cycles,
    target_cycles, achieved_cycles, bottleneck_layer, est_fps, fits, warning, decided_by,
    searched: [[cycles, fits, over-cap text]], units_estimate (totals of the units alone),
    finish (finish's report)}; the caller estimates rtl_model for the numbers it publishes.
    """
    b = get_board(board)
    clk = float(clock_mhz or b.clock_mhz)
    requested = int(target_cycles)
    if requested < 1:
        raise BiRealError(f"target_cycles must be >= 1, got {target_cycles!r}")
    f = _Folder(mapped, b)
    slow_pick, _ = f.balanced(1 << 62, clk)          # PE = SIMD = 1
    # what no folding can fix, judged with the memories mapped together as they will be
    slow = f.joint_summary(slow_pick, clk)
    ignore = {k for k, v in slow["fit"].items() if not v["ok"]}
    _, fast = f.balanced(1, clk)
    lo = max(requested, fast["bottleneck_cycles"])
    tmax = max(lo, slow["bottleneck_cycles"])
    searched = []
    allow: dict = f.allow         # resource -> what the finished design adds (measured)
    grow = f.grow                 # resource -> what FIFO sizing added to a previous build
    grow.update({r: int(v) for r, v in (growth or {}).items() if r in FIT_RESOURCES and v})

    def test(t):
        pick, _ = f.balanced(t, clk)
        s = f.joint_summary(pick, clk)       # memories mapped together, as they are built
        sa = with_allowance(s, f.reserved(), b)
        ok = _fits(sa, ignore)
        searched.append([t, ok, over_cap(sa)])
        return pick, s, ok

    def search(lo, hi):
        """Smallest T in [lo, hi] (bisection to 1/64) whose units fit."""
        got = test(lo)
        if got[2]:
            return got[:2]
        best = test(hi)
        if best[2]:
            bad = lo
            while hi - bad > max(1, hi // 64):
                mid = (bad + hi) // 2
                g = test(mid)
                if g[2]:
                    hi, best = mid, g
                else:
                    bad = mid
        return best[:2]

    def finished(pick):
        """_finished, its estimate judged with the sizing growth added."""
        rtl, frep, est = _finished(f, pick, finish, b, clk)
        return rtl, frep, with_allowance(est, grow, b)

    def stale(est) -> bool:
        """The allowance exceeds what this finished design adds by > 1 % of a resource's
        cap (it was measured at a faster folding): it may have ruled out foldings that fit."""
        add = finish_added(est)
        return any(allow.get(r, 0) - add[r] > 0.01 * FIT_CAP * b.available(r)
                   for r in FIT_RESOURCES if b.available(r))

    pick, s = search(lo, tmax)
    rtl, frep, est = finished(pick)
    failed = None                 # bottleneck of the last finished design that did not fit
    for _ in range(max_allow):
        # the FIFOs and width converters of the finished design go into the decision: the
        # search is redone with what they cost (largest seen, so T only grows) on the units.
        # Only these added nodes: the finished design's joint weight-memory mapping trades
        # LUT for BRAM (hw.memory) and depends on the folding, so it is no allowance
        if _fits(est, ignore) or s["bottleneck_cycles"] >= tmax:
            break
        add = finish_added(est)
        new = {r: max(allow.get(r, 0), add[r]) for r in FIT_RESOURCES}
        if new == allow:
            break
        searched.append([s["bottleneck_cycles"], False, "finished design: " + over_cap(est)
                         + "; search again with allowance " + str(new)])
        failed = s["bottleneck_cycles"]
        allow.update(new)
        pick, s = search(lo, tmax)
        rtl, frep, est = finished(pick)
    bad = good = done = None
    if not _fits(est, ignore) and s["bottleneck_cycles"] < tmax:
        # the finished design (FIFOs, width converters, memories mapped together) decides:
        # a geometric bisection between the failing bottleneck and T_max on its estimate
        searched.append([s["bottleneck_cycles"], False, "finished design: " + over_cap(est)])
        bad = s["bottleneck_cycles"]
        top = test(tmax)[:2]
        got = finished(top[0])
        if _fits(got[2], ignore):
            good, done = tmax, (top, got)
    elif failed is not None and _fits(est, ignore) and (s["bottleneck_cycles"] >= tmax
                                                        or stale(est)):
        # the allowance (measured at a faster folding, whose FIFOs are deeper and wider) ruled
        # out every folding below T_max, or is well above what the kept design adds, but
        # finished designs fit: the same bisection between the last finished design that
        # failed and the kept one (bireal-cifar for 2,500 FPS on PYNQ-Z2 otherwise fell from
        # 39,360 straight to 9,437,184 cycles/frame; re-folded with its sizing growth, from
        # 32,768 to 65,536, where the allowance measured at 24,576 was 10.2 k LUT)
        searched.append([s["bottleneck_cycles"], True, "finished design fits; allowance "
                         + ("rules out all below" if s["bottleneck_cycles"] >= tmax else
                            "above what it adds") + ": bisection on finished designs from "
                         + str(failed)])
        bad, good, done = failed, s["bottleneck_cycles"], ((pick, s), (rtl, frep, est))
    elif failed is not None and s["bottleneck_cycles"] >= tmax:
        # the allowance ruled out every folding and the fully folded design does not fit
        # either: deep, narrow weight memories waste block RAM and URAM (bireal18 on ZCU104:
        # 88 % LUT and BRAM18 fully folded, the allowance measured at 52,902 cycles ruled out
        # the rest, and fold_rtl kept 118,013,952 cycles/frame). Scan up from the last
        # failing bottleneck on finished designs, then bisect below the first that fits.
        t = failed
        for _ in range(max_relax):
            t = int(t * SCAN_STEP) + 1
            if t >= tmax:
                break
            cand = f.balanced(t, clk)
            fin = finished(cand[0])
            ok = _fits(fin[2], ignore)
            searched.append([cand[1]["bottleneck_cycles"], ok,
                             "finished design (scan up): " + over_cap(fin[2])])
            if ok:
                bad, good, done = failed, cand[1]["bottleneck_cycles"], (cand, fin)
                break
            t = max(t, cand[1]["bottleneck_cycles"])
    if bad is not None:
        for _ in range(max_relax if good else 0):
            if good / bad < 1.1:
                break
            mid = int(math.sqrt(bad * good))
            cand = test(mid)[:2]
            fin = finished(cand[0])
            ok = _fits(fin[2], ignore)
            searched.append([cand[1]["bottleneck_cycles"], ok,
                             "finished design: " + over_cap(fin[2])])
            if ok:
                good, done = cand[1]["bottleneck_cycles"], (cand, fin)
            else:
                bad = mid
        if done is not None:
            (pick, s), (rtl, frep, est) = done
    folded = f.apply(pick, copy.deepcopy(f.m))
    warn = []
    if ignore:
        warn.append(f"the design does not fit {b.name} even fully folded (PE = SIMD = 1): "
                    f"{over_cap(slow)}; limit {FIT_CAP} x available; folding chosen to fit the "
                    "other resources")
    if s["bottleneck_cycles"] > requested and requested > 1:
        warn.append(f"target {requested} cycles/frame does not fit {b.name} or is out of reach; "
                    f"folded to {s['bottleneck_cycles']} cycles/frame")
    return rtl, folded, {
        "board": b.name, "requested_cycles": requested, "target_cycles": s["bottleneck_cycles"],
        "achieved_cycles": est["bottleneck_cycles"], "bottleneck_layer": est["bottleneck_layer"],
        "est_fps": est["est_fps"], "fits": est["fits"], "warning": "; ".join(warn) or None,
        "decided_by": DECIDED_BY, "searched": searched,
        "fastest_cycles": fast["bottleneck_cycles"],
        "units_estimate": {k: s["totals"][k] for k in FIT_RESOURCES},
        "finish_allowance": dict(allow), "sizing_growth": grow,
        "finish": frep}


def copy_back(finn_model, folded_mapped):
    """A copy of the FINN HW graph with the folding of the RTL units: each unit's PE / SIMD /
    parallel_window goes to the FINN node producing the same output tensor and to the one
    consuming the same input (the head of a fused chain), where the value is legal there.
    The result, saved as folding_config.json, rebuilds the same units through --folding
    (a fused unit takes the largest PE of what it replaces); an IntMVAU's resType (LUT
    multipliers, two or one product per DSP48) goes to its MVAU."""
    out = copy.deepcopy(finn_model)
    prod = {n.output[0]: n for n in out.graph.node if is_fpgadataflow_node(n)}
    cons = {}
    for n in out.graph.node:
        if is_fpgadataflow_node(n):
            cons.setdefault(n.input[0], n)
    for r in folded_mapped.graph.node:
        if not is_fpgadataflow_node(r):
            continue
        ri = getCustomOp(r)
        for tgt in {id(x): x for x in (prod.get(r.output[0]), cons.get(r.input[0]))
                    if x is not None}.values():
            ti = getCustomOp(tgt)
            legal = legal_values(ti)
            for a in ("PE", "SIMD", "parallel_window", "resType"):
                if a in ri.get_nodeattr_types() and a in ti.get_nodeattr_types():
                    v = ri.get_nodeattr(a)
                    if a == "resType":
                        ti.set_nodeattr(a, v)
                        continue
                    if a in legal and v not in legal[a]:
                        continue
                    if a == "parallel_window" and not isinstance(ti, ConvolutionInputGenerator):
                        continue
                    ti.set_nodeattr(a, int(v))
    return out


def lanes_total(model) -> int:
    """Sum of PE*SIMD over the units (a quick measure of parallelism, for reports)."""
    return sum(math.prod(getCustomOp(n).get_nodeattr(a) for a in ("PE", "SIMD")
                         if a in getCustomOp(n).get_nodeattr_types())
               for n in model.graph.node if is_fpgadataflow_node(n))
