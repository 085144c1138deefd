"""sim.fifo_sizing re-estimates estimates.json after sizing: the notes of the compile
(folding, target, rtl and the shortcut format that sim.json reports) are kept."""
import json

from test_timing import _dup_build

from sim import fifo_sizing


def test_reestimate_keeps_shortcut(tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper
    d = _dup_build(tmp_path / "hw")
    (d / "estimates.json").write_text(json.dumps({"shortcut": "float32", "folding": "auto",
                                                  "rtl": True}))
    rtl = ModelWrapper(str(d / "rtl_model.onnx"))
    fifo_sizing._update_estimates(d, rtl, {"board": "pynq-z2", "clock_mhz": 100.0})
    est = json.loads((d / "estimates.json").read_text())
    assert est["shortcut"] == "float32" and est["folding"] == "auto" and est["rtl"] is True
    assert est["fifo_depths"].startswith("sized by simulation") and "totals" in est
