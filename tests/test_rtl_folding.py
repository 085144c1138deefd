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


def test_lut_multipliers_only_where_dsps_bind(hw_model):
    pynq = get_board("pynq-z2")
    mapped = _mapped(hw_model, pynq.part)
    target = 8_000
    f = _Folder(mapped, pynq)
    pick, s = f.balanced(target, pynq.clock_mhz)
    assert s["fit"]["DSP"]["ok"]
    assert not any(c.get("resType") == "lut" for c in pick.values())   # DSPs fit: all DSP48
    small = dataclasses.replace(pynq, name="small-dsp", DSP=s["totals"]["DSP"] // 2)
    g = _Folder(mapped, small)
    pick2, s2 = g.balanced(target, small.clock_mhz)
    luts = [n for n, c in pick2.items() if c.get("resType") == "lut"]
    assert luts and s2["fit"]["DSP"]["ok"], s2["fit"]
    assert s2["bottleneck_cycles"] == s["bottleneck_cycles"]
    assert s2["totals"]["LUT"] > s["totals"]["LUT"] and s2["totals"]["DSP"] < s["totals"]["DSP"]
    # the chosen multipliers travel to FINN's graph (folding_config.json)
    folded = g.apply(pick2, mapped)
    back = copy_back(hw_model, folded)
    mv = [n for n in back.graph.node if n.op_type == "MVAU"
          and getCustomOp(n).get_nodeattr("resType") == "lut"]
    assert len(mv) == len(luts)
