"""Bad input to every `bireal` command: one `bireal: error:` line (exit 2, no traceback), checked
before any work, and --out all or nothing. In-process (main(argv)), tiny inputs, no Verilator."""
import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import export_random
from sim.cli import main


def bireal(capsys, *argv):
    """Run `bireal ARGV`; return (exit code, stderr lines)."""
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    return code, err


def error_line(capsys, *argv) -> str:
    code, err = bireal(capsys, *argv)
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("bireal: error:"), err   # one line, no traceback
    return err[0]


def no_output(out):
    """out was never created, and no temporary sibling stayed behind."""
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def relu_onnx(path):
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="Relu_0")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 28, 28])])
    onnx.save(helper.make_model(g), str(path))


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """bireal-tiny, random weights, golden tensors for 2 images (a few seconds)."""
    d = tmp_path_factory.mktemp("export")
    export_random("bireal-tiny", d, 2)
    return d


@pytest.fixture
def fake_build(export, tmp_path):
    """A folder with every file a compile folder has (compile.json naming the export);
    its ONNX files parse but are no accelerator: only for failures before the real work."""
    d = tmp_path / "build"
    (d / "rtl").mkdir(parents=True)
    for f in ("rtl_model.onnx", "model_hw.onnx"):
        relu_onnx(d / f)
    (d / "compile.json").write_text(json.dumps({"onnx": str(export / "model.onnx"), "part":
                                                "xc7z020clg400-1", "board": "pynq-z2",
                                                "clock_mhz": 100.0}))
    (d / "estimates.json").write_text("{}")
    return d


def copy_export(src, dst):
    shutil.copytree(src, dst)
    return dst / "model.onnx"


# --- missing file / folder ------------------------------------------------------------------
def test_missing_onnx(capsys, tmp_path):
    line = error_line(capsys, "compile", "--onnx", tmp_path / "nope.onnx", "--out", tmp_path / "o")
    assert "model.onnx not found" in line and "nope.onnx" in line
    no_output(tmp_path / "o")


def test_missing_golden_next_to_onnx(capsys, export, tmp_path):
    shutil.copy(export / "model.onnx", tmp_path / "model.onnx")
    line = error_line(capsys, "verify", "--onnx", tmp_path / "model.onnx", "--out", tmp_path / "o")
    assert "golden_in.npy not found" in line and "bireal export" in line
    no_output(tmp_path / "o")


@pytest.mark.parametrize("cmd", ["sim", "synth", "timing"])
def test_missing_build_folder(capsys, tmp_path, cmd):
    line = error_line(capsys, cmd, "--build", tmp_path / "nope")
    assert "is not a folder" in line and "bireal compile --out" in line


# --- truncated file -------------------------------------------------------------------------
def test_truncated_onnx(capsys, export, tmp_path):
    onnx_path = copy_export(export, tmp_path / "e")
    b = onnx_path.read_bytes()
    onnx_path.write_bytes(b[:len(b) // 2])
    for cmd in (["compile", "--onnx", onnx_path, "--out", tmp_path / "o"],
                ["verify-export", "--dir", tmp_path / "e"]):
        line = error_line(capsys, *cmd)
        assert "is not a readable ONNX model (truncated" in line and "model.onnx" in line
    no_output(tmp_path / "o")


def test_truncated_checkpoint(capsys, tmp_path):
    (tmp_path / "c.pt").write_bytes(b"PK\x03\x04trunc")
    for cmd in ("export", "build"):
        line = error_line(capsys, cmd, "--ckpt", tmp_path / "c.pt", "--out", tmp_path / "o",
                          *(["--arch", "bireal-tiny"] if cmd == "export" else []))
        assert "is corrupt or not a bireal checkpoint" in line
        no_output(tmp_path / "o")


def test_truncated_model_in_build_folder(capsys, fake_build):
    (fake_build / "rtl_model.onnx").write_bytes(b"\x08\x07\x12")
    line = error_line(capsys, "synth", "--build", fake_build)
    assert "rtl_model.onnx" in line and "not a readable ONNX model" in line


# --- wrong kind of file ---------------------------------------------------------------------
def test_json_where_onnx_expected(capsys, export, tmp_path):
    onnx_path = copy_export(export, tmp_path / "e")
    onnx_path.write_text('{"model": 1}')
    line = error_line(capsys, "compile", "--onnx", onnx_path, "--out", tmp_path / "o")
    assert "not a readable ONNX model" in line
    no_output(tmp_path / "o")


def test_foreign_onnx(capsys, export, tmp_path):
    onnx_path = copy_export(export, tmp_path / "e")
    relu_onnx(onnx_path)
    line = error_line(capsys, "compile", "--onnx", onnx_path, "--out", tmp_path / "o")
    assert "not a `bireal export`" in line and "input Quant" in line
    no_output(tmp_path / "o")


def test_folding_file_not_json(capsys, export, tmp_path):
    (tmp_path / "f.json").write_text("PE = 4\n")
    line = error_line(capsys, "compile", "--onnx", export / "model.onnx", "--folding",
                      tmp_path / "f.json", "--out", tmp_path / "o")
    assert "folding file" in line and "not valid JSON" in line
    no_output(tmp_path / "o")


# --- folder that is not what the command expects ---------------------------------------------
@pytest.mark.parametrize("cmd", ["sim", "synth", "timing"])
def test_export_folder_is_not_a_build(capsys, export, cmd):
    line = error_line(capsys, cmd, "--build", export)
    assert "is an export folder, not a `bireal compile` build" in line
    assert f"bireal compile --onnx {export / 'model.onnx'} --out DIR" in line


def test_empty_folder_is_not_an_export(capsys, tmp_path):
    line = error_line(capsys, "verify-export", "--dir", tmp_path)
    assert "model.onnx not found" in line


def test_out_is_a_file(capsys, export, tmp_path):
    (tmp_path / "f").write_text("x")
    line = error_line(capsys, "export", "--arch", "bireal-tiny", "--random-init", "--images", 1,
                      "--out", tmp_path / "f")
    assert "--out" in line and "is a file" in line


# --- numbers out of range -------------------------------------------------------------------
@pytest.mark.parametrize("argv,flag", [
    (["export", "--arch", "bireal-tiny", "--random-init", "--images", 0], "--images"),
    (["export", "--arch", "bireal-tiny", "--random-init", "--affine-bits", 4], "--affine-bits"),
    (["train", "--epochs1", -1], "--epochs1"),
    (["train", "--batch-size", 0], "--batch-size"),
    (["train", "--lr", -1], "--lr"),
    (["run", "--images", 0], "--images"),
    (["build", "--images", 0], "--images"),
    (["build", "--verify-images", 0], "--verify-images"),
    (["build", "--target-fps", -1], "--target-fps"),
])
def test_numbers_out_of_range(capsys, tmp_path, argv, flag):
    line = error_line(capsys, *argv, "--out", tmp_path / "o")
    assert flag in line
    no_output(tmp_path / "o")


@pytest.mark.parametrize("argv,flag", [
    (["--images", 0], "--images"), (["--target-fps", -5], "--target-fps"),
    (["--target-cycles", 0], "--target-cycles"), (["--clock-mhz", 0], "--clock-mhz")])
def test_compile_numbers_out_of_range(capsys, export, tmp_path, argv, flag):
    line = error_line(capsys, "compile", "--onnx", export / "model.onnx", *argv, "--out",
                      tmp_path / "o")
    assert flag in line
    no_output(tmp_path / "o")


def test_verify_export_negative_images(capsys, export):
    assert "--images must be >= 1, got -1" in error_line(capsys, "verify-export", "--dir", export,
                                                         "--images", -1)


@pytest.mark.parametrize("argv,flag", [(["sim", "--images", 0], "--images"),
                                       (["sim", "--backpressure", 1.5], "--backpressure"),
                                       (["timing", "--jobs", 0], "--jobs"),
                                       (["timing", "--freq", -1], "--freq")])
def test_build_folder_numbers_out_of_range(capsys, fake_build, argv, flag):
    """Refused before FIFO sizing / Verilator / place & route start (nothing is built)."""
    line = error_line(capsys, *argv, "--build", fake_build)
    assert flag in line
    assert not (fake_build / "sim").exists() and not (fake_build / "timing").exists()


# --- unreachable targets: the message says what is reachable --------------------------------
def test_target_fps_out_of_reach(capsys, export, tmp_path):
    line = error_line(capsys, "compile", "--onnx", export / "model.onnx", "--target-fps", 1e9,
                      "--out", tmp_path / "o")
    # 28x28 pixels, one per cycle at 100 MHz: 1e8 / 784 = 127551 FPS [analytical]
    assert "out of reach" in line and "reachable: --target-fps <= 127551 at 100 MHz" in line
    line = error_line(capsys, "build", "--target-fps", 1e9, "--out", tmp_path / "o")
    assert "reachable: --target-fps <= 127551 at 100 MHz" in line
    no_output(tmp_path / "o")


def test_target_cycles_out_of_reach(capsys, export, tmp_path):
    line = error_line(capsys, "compile", "--onnx", export / "model.onnx", "--target-cycles", 10,
                      "--out", tmp_path / "o")
    assert "--target-cycles >= 784" in line


def test_more_images_than_the_export_has(capsys, export, fake_build, tmp_path):
    line = error_line(capsys, "compile", "--onnx", export / "model.onnx", "--images", 50,
                      "--out", tmp_path / "o")
    assert "--images 50" in line and "golden tensors for 2 images (choose 1..2" in line
    assert "choose 1..2" in error_line(capsys, "sim", "--build", fake_build, "--images", 50)


def test_unknown_board_lists_boards(capsys, export, tmp_path):
    code, err = bireal(capsys, "compile", "--onnx", export / "model.onnx", "--board", "kv260",
                       "--out", tmp_path / "o")
    assert code == 2 and "choose from 'pynq-z2', 'zcu104'" in err[-1]


def test_unknown_timing_kind_lists_kinds(capsys, fake_build):
    line = error_line(capsys, "timing", "--build", fake_build, "--kinds", "NopeMVAU")
    assert "no node of kind NopeMVAU" in line and "its kinds are Relu" in line


# --- a failed command leaves nothing, or the previous complete result -------------------------
def test_failed_export_keeps_previous_result(capsys, export, tmp_path, monkeypatch):
    """A failure after files were written (injected) leaves the previous export as it was."""
    import model.cli as mc
    out = tmp_path / "o"
    shutil.copytree(export, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def half(dep, x, d, meta=None):
        (d / "model.onnx").write_bytes(b"half")
        raise mc.BiRealError("injected failure after a partial write")
    monkeypatch.setattr("model.export.export_model", half)
    assert "injected" in error_line(capsys, "export", "--arch", "bireal-tiny", "--random-init",
                                    "--images", 1, "--out", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["o"]
    monkeypatch.undo()
    no_out = tmp_path / "fresh"
    monkeypatch.setattr("model.export.export_model", half)
    error_line(capsys, "export", "--arch", "bireal-tiny", "--random-init", "--out", no_out)
    no_output(no_out)


def test_export_commit_replaces_own_files_keeps_others(capsys, export, tmp_path):
    """Export into a training folder: checkpoint kept, a stale float golden file removed."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"ckpt")
    (out / "golden_float.npz").write_bytes(b"stale")
    (out / "model.onnx").write_bytes(b"old")
    code, _ = bireal(capsys, "export", "--arch", "bireal-tiny", "--random-init", "--images", 1,
                     "--out", out)
    assert code == 0
    assert (out / "checkpoint.pt").read_bytes() == b"ckpt"
    assert not (out / "golden_float.npz").exists()
    assert onnx.load(str(out / "model.onnx")).graph.node
    assert np.load(out / "golden_in.npy").shape[0] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_failed_compile_keeps_previous_result(capsys, export, tmp_path, monkeypatch):
    out = tmp_path / "o"
    out.mkdir()
    (out / "compile.json").write_text('{"previous": true}')

    def half(onnx_path, d, images, **k):
        (d / "verify.json").write_text("{half")
        raise KeyboardInterrupt
    monkeypatch.setattr("hw.compile.verify_flow", half)
    code, err = bireal(capsys, "compile", "--onnx", export / "model.onnx", "--out", out)
    assert code == 130 and len(err) == 1 and "interrupted" in err[0]
    assert [p.name for p in out.iterdir()] == ["compile.json"]
    assert (out / "compile.json").read_text() == '{"previous": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_failed_build_restores_previous_folder(capsys, tmp_path, monkeypatch):
    """`bireal build` works in DIR itself (swapped): a failure puts the previous DIR back."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "build.json").write_text("previous")

    def half(a, d):
        (d / "model.onnx").write_text("half")
        raise RuntimeError("an unexpected bug keeps its traceback")
    monkeypatch.setattr("sim.build.model_stage", half)
    with pytest.raises(RuntimeError, match="unexpected bug"):
        main(["build", "--no-synth", "--out", str(out)])
    assert [p.name for p in out.iterdir()] == ["build.json"]
    assert (out / "build.json").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_tool_error_is_one_error_line_plus_its_log(capsys, fake_build, monkeypatch):
    from sim.synth import SynthError

    def fail(d, **k):
        raise SynthError("yosys failed (1): ERROR: no valid mapping\nlog: /x/yosys.log")
    monkeypatch.setattr("sim.synth_design.synth_design", fail)
    code, err = bireal(capsys, "synth", "--build", fake_build)
    assert code == 2 and err[0] == "bireal: error: yosys failed (1): ERROR: no valid mapping"
    assert err[1:] == ["    log: /x/yosys.log"]


@pytest.mark.parametrize("script,argv,msg", [
    ("validate", ["--batch", "0"], "--batch must be >= 1, got 0"),
    ("validate", ["--golden", "-1"], "--golden must be >= 0, got -1"),
    ("measure", ["--repeats", "0"], "--repeats must be >= 1, got 0"),
    ("measure", ["--power-seconds", "-1"], "--power-seconds must be > 0, got -1.0")])
def test_deploy_scripts_check_numbers_first(capsys, tmp_path, script, argv, msg):
    """The board-side scripts refuse a bad number before they look for the package."""
    import importlib.util
    from pathlib import Path
    f = Path(__file__).resolve().parents[1] / "scripts" / "deploy" / f"{script}.py"
    spec = importlib.util.spec_from_file_location(f"deploy_{script}", f)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(SystemExit) as e:
        mod.main(argv + ["--dir", str(tmp_path / "nope")])
    assert e.value.code == 2 and msg in capsys.readouterr().err


def test_failed_default_job_restores_previous_folder(capsys, tmp_path, monkeypatch):
    """`bireal run` (swap_out): training fails after writing a checkpoint -> previous DIR back."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "report.json").write_text("previous")

    def half(cfg, *a, **k):
        (tmp_path / "o" / "checkpoint.pt").write_text("half")
        raise __import__("model.errors").errors.BiRealError("injected training failure")
    monkeypatch.setattr("model.train.train", half)
    assert "injected" in error_line(capsys, "run", "--epochs1", 1, "--epochs2", 0, "--out", out)
    assert [p.name for p in out.iterdir()] == ["report.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["o"]
