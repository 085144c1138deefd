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
