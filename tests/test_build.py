"""`bireal build` end to end (what scripts/build_bitstream.sh runs), from a checkpoint, on few
images and without Yosys to stay quick: verdict, Vivado skip, deploy package, report."""
import json
import os
import re
import subprocess
import sys


def test_build_from_checkpoint(trained_tiny, tmp_path):
    ckpt = trained_tiny[0] / "checkpoint.pt"
    out = tmp_path / "run"
    env = {**os.environ, "PATH": os.defpath}           # no vivado here, whatever the machine
    r = subprocess.run([sys.executable, "-m", "sim.cli", "build", "--ckpt", str(ckpt), "--out",
                        "run", "--images", "6", "--verify-images", "2", "--no-synth"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)  # relative --out
    assert r.returncode == 0, r.stderr[-3000:]
    tail = r.stdout[r.stdout.index("== bireal build =="):]
    assert "bit-exact vs PyTorch on 6/6 images" in tail
    assert "Vivado not found" in tail and "report" in tail
    b = json.loads((out / "build.json").read_text())
    assert b["bit_exact"] and not b["vivado"]["ran"] and b["weights"].startswith("checkpoint")
    assert list(b["seconds"]) == ["model", "hw", "sim", "vivado", "deploy", "synth", "report"]
    assert b["synth"] == {"status": "skipped", "why": "--no-synth"} and not b["synth_ran"]
    # the deploy step's sim backend reused the simulation's Verilator build (same HDL: the
    # Vivado step works on copies), it did not build again
    vb = json.loads((out / "hw" / "sim" / "build" / "build.json").read_text())
    assert vb["cached"] is True, vb
    cfg = json.loads((out / "deploy" / "config.json").read_text())
    assert cfg["bitfile"] is None and cfg["board"] == "pynq-z2"
    meas = json.loads((out / "deploy" / "measure_sim.json").read_text())
    assert [x["batch"] for x in meas["results"]] == [1, 2, 4, 8, 16]
    md = (out / "report.md").read_text()
    for s in ("## Verdict", "**bit-exact**", "## Resources", "## Per-layer folding",
              "[sim]", "[analytical]", "Bitstream step skipped", "not available"):
        assert s in md, s
    assert re.search(r"\| Yosys \| - \| - \| - \| - \| not run \|", md)
    sim = json.loads((out / "hw" / "sim.json").read_text())
    assert f"| cycles / frame | {sim['cycles_per_frame']:,} | [sim]" in md
    html = (out / "report.html").read_text()
    assert html.count("src='data:image/png;base64,") == 2 and "src='http" not in html
    # board numbers enter the report only when they came from the pynq backend
    from sim.report import write_report
    dep = out / "deploy"
    (dep / "validate.json").write_text(json.dumps({"backend": "sim", "accuracy": 0.5}))
    write_report(out)
    assert "accuracy on the board" not in (out / "report.md").read_text()
    board = {"backend": "pynq", "power_source": "user-supplied --watts (test data)",
             "results": [{"batch": 8, "fps": 1000.0, "seconds": 0.008, "watts": 2.0,
                          "fps_per_watt": 500.0}]}
    (dep / "measure.json").write_text(json.dumps(board))
    write_report(out)
    md = (out / "report.md").read_text()
    assert "Board measurements (user-supplied --watts (test data)) [board]" in md
    assert "| 8 | 1,000.0 | 8.000 ms | 2.0 | 500.0 |" in md


def test_default_target_of_the_default_job():
    """bireal-tiny on PYNQ-Z2 folds for 4,704 cycles/frame unless --target-fps or --fastest
    is given (its fastest analytical fit is over the board by Yosys); elsewhere no default."""
    from argparse import Namespace
    from sim.build import default_target_fps
    a = Namespace(arch="bireal-tiny", board="pynq-z2", target_fps=None, fastest=False)
    assert default_target_fps(a) == 100e6 / 4704
    assert default_target_fps(Namespace(**{**vars(a), "fastest": True})) is None
    assert default_target_fps(Namespace(**{**vars(a), "target_fps": 5000.0})) == 5000.0
    assert default_target_fps(Namespace(**{**vars(a), "board": "zcu104"})) is None
    assert default_target_fps(Namespace(**{**vars(a), "arch": "bireal-cifar"})) is None


def _sized_estimate(fits: bool, fifo_lut: int, search: dict | None,
                    compiled: int | None = 500) -> dict:
    """An estimates.json after FIFO sizing: units + one FIFO of fifo_lut LUT (compiled: its
    LUT before the sizing)."""
    from hw.boards import get_board
    from hw.estimates import summarize
    layers = [{"name": "XnorMVAU_rtl_0", "op_type": "XnorMVAU_rtl", "LUT": 40_000,
               "BRAM18": 100, "URAM": 0, "DSP": 10, "cycles": 4_704},
              {"name": "StreamingFIFO_rtl_0", "op_type": "StreamingFIFO_rtl",
               "LUT": fifo_lut, "BRAM18": 8, "URAM": 0, "DSP": 0, "cycles": 0}]
    est = summarize(layers, get_board("pynq-z2"), 100.0)
    assert est["fits"] == fits, est["fit"]
    before = compiled and {**est["totals"], "LUT": 40_000 + compiled}
    return {**est, "rtl": {"folding_search": search} if search else {},
            "compile_totals": before}


def test_sizing_growth_when_the_sized_design_is_over():
    """hw.rtl_folding.sizing_growth: what the sizing added (sized - compiled, >= 0) and, where
    over, at least the growth the folding was given + the excess; None when the design fits,
    the folding was not automatic or did not fit anyway, or the compile's totals are unknown."""
    from hw.rtl_folding import sizing_growth
    search = {"fits": True, "finish_allowance": {"LUT": 1_000}, "sizing_growth": {}}
    over = _sized_estimate(False, 6_000, search)
    assert sizing_growth(over) == {"LUT": 5_500, "BRAM18": 0, "URAM": 0, "DSP": 0}
    assert sizing_growth(_sized_estimate(True, 1_000, search)) is None
    assert sizing_growth(_sized_estimate(False, 6_000, None)) is None       # --folding
    assert sizing_growth(_sized_estimate(False, 6_000, {**search, "fits": False})) is None
    assert sizing_growth(_sized_estimate(False, 6_000, search, compiled=None)) is None
    # folded with this growth already and still over (46,000 LUT, limit 45,220): it grows
    # by the excess, so a second re-fold never repeats the first's search
    again = {**search, "sizing_growth": {"LUT": 5_500}}
    assert sizing_growth(_sized_estimate(False, 6_000, again))["LUT"] == 5_500 + 780


def test_build_folds_again_when_sizing_puts_the_design_over(tmp_path, monkeypatch, capsys):
    """sim.build.size_and_refold: a design that FIFO sizing put over the board is compiled
    again with the sizing's growth and sized again; the loop ends when it fits (or after
    REFOLD_MAX re-folds), each re-fold recorded for build.json and the report."""
    import argparse
    import hw.compile
    import sim.fifo_sizing
    from sim.build import REFOLD_MAX, size_and_refold
    hwd = tmp_path / "hw"
    hwd.mkdir()
    search = {"fits": True, "finish_allowance": {}, "sizing_growth": {}}
    calls = []

    def fake_compile(onnx, out, **kw):          # a new folding, FIFOs at derived depths
        calls.append(kw)
        (out / "fifo_sizing.json").unlink()
        given = {**search, "sizing_growth": kw["sizing_growth"]}
        (out / "estimates.json").write_text(json.dumps(_sized_estimate(True, 500, given)))

    def fake_size(d, fits):
        (d / "fifo_sizing.json").write_text("{}")
        est = json.loads((d / "estimates.json").read_text())
        search = est["rtl"]["folding_search"]
        ok = fits(search)
        (d / "estimates.json").write_text(json.dumps(
            _sized_estimate(ok, 1_000 if ok else 6_000 + 100 * len(calls), search)))
    monkeypatch.setattr(hw.compile, "compile_model", fake_compile)
    a = argparse.Namespace(board="pynq-z2", target_fps=None, verify_images=2, images=6)
    # fits once folded with the growth
    (hwd / "estimates.json").write_text(json.dumps(_sized_estimate(True, 500, search)))
    monkeypatch.setattr(sim.fifo_sizing, "size_fifos",
                        lambda d: fake_size(d, lambda s: bool(s["sizing_growth"])))
    recs = size_and_refold(a, tmp_path, hwd)
    assert len(calls) == 1 and calls[0]["sizing_growth"]["LUT"] == 5_500, calls
    assert recs[0]["growth"]["LUT"] == 5_500 and "LUT" in recs[0]["over"]
    assert "folding and compiling again" in capsys.readouterr().err
    # never fits: stops after REFOLD_MAX re-folds, each with a larger growth
    calls.clear()
    (hwd / "fifo_sizing.json").unlink()
    (hwd / "estimates.json").write_text(json.dumps(_sized_estimate(True, 500, search)))
    monkeypatch.setattr(sim.fifo_sizing, "size_fifos", lambda d: fake_size(d, lambda s: False))
    recs = size_and_refold(a, tmp_path, hwd)
    assert len(calls) == len(recs) == REFOLD_MAX
    assert [c["sizing_growth"]["LUT"] for c in calls] == [5_500, 5_500 + 880]
