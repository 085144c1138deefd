"""The deploy package (sim/deploy.py + scripts/deploy/): written from the tiny compile folder,
its driver / validate.py / measure.py run on the sim backend (the cached Verilator build)."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.errors import BiRealError


def _driver(path: Path):
    spec = importlib.util.spec_from_file_location("bireal_deploy_driver", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def deploy(compiled_tiny, tmp_path_factory):
    """compiled_tiny's deploy folder (FIFOs sized first, as `bireal sim` does)."""
    from sim.deploy import write_deploy
    from sim.fifo_sizing import size_fifos
    if not (compiled_tiny / "fifo_sizing.json").is_file():
        size_fifos(compiled_tiny, quiet=True)
    return write_deploy(compiled_tiny, tmp_path_factory.mktemp("deploy"))


@pytest.fixture(scope="module")
def drv(deploy):
    return _driver(deploy / "driver.py")


def _script(deploy: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, name, *args], check=False, cwd=deploy,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{name} {args} exit {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    return r


def test_package_contents(deploy, compiled_tiny):
    cfg = json.loads((deploy / "config.json").read_text())
    assert sorted(p.name for p in deploy.iterdir()) == sorted(
        ["config.json", "testset.npz", "driver.py", "validate.py", "measure.py"])
    assert cfg["arch"] == "bireal-tiny" and cfg["board"] == "pynq-z2" and cfg["bitfile"] is None
    assert cfg["host_tail"]["scale"] == 2.0 ** -14 and cfg["num_classes"] == 10
    assert cfg["stream"]["out_word_bytes"] == 4 and cfg["ip"]["dma"] == "axi_dma_0"
    assert cfg["sim"]["build_dir"] == str(compiled_tiny.resolve())
    ts = np.load(deploy / "testset.npz")
    assert ts["images"].dtype == np.uint8 and ts["images"].shape == (1000, 1, 28, 28)
    assert "true labels" in str(ts["label_source"]) and str(ts["metric"]) == "accuracy"
    gi = np.load(compiled_tiny.parent / "golden_in.npy")
    assert np.array_equal(ts["golden_images"] / 256.0, gi)        # uint8 storage is exact


def test_quantize_equals_pixel_codes(deploy, drv, compiled_tiny):
    from sim.run import pixel_codes
    acc = drv.BirealAccelerator(deploy, backend=None)
    onnx = compiled_tiny.parent / "model.onnx"
    gi = np.load(compiled_tiny.parent / "golden_in.npy")[:20]
    x = np.random.default_rng(0).uniform(-0.2, 1.2, size=(8, 1, 28, 28)).astype(np.float32)
    for imgs in (gi, x):
        assert np.array_equal(acc.quantize(imgs), pixel_codes(onnx, imgs))


def test_pack_matches_the_simulators_stream_words(deploy, drv, compiled_tiny):
    """pack() bytes == the words sim.run.Design feeds the RTL (bit-exact in test_sim)."""
    from sim.packing import pack_words
    from sim.run import pixel_codes
    acc = drv.BirealAccelerator(deploy, backend=None)
    gi = np.load(compiled_tiny.parent / "golden_in.npy")[:3]
    codes = pixel_codes(compiled_tiny.parent / "model.onnx", gi)
    s, fshape = acc.s, acc.cfg["folded_input_shape"]
    want = b"".join(w.to_bytes(s["in_word_bytes"], "little") for c in codes
                    for w in pack_words(c.reshape(fshape), s["in_elem_bits"]))
    assert acc.pack(codes).tobytes() == want


def _synthetic(deploy: Path, tmp_path: Path, **stream) -> Path:
    """A copy of the package's config with other stream widths (host-side tests)."""
    cfg = json.loads((deploy / "config.json").read_text())
    cfg["stream"].update(stream)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return tmp_path


def test_pack_unpack_round_trip_signed_and_zero_extended(deploy, drv, tmp_path):
    """Input: 2 x 8-bit codes per 2-byte word; output: 2 signed 12-bit values in a 24-bit
    word zero-extended to 4 bytes, little-endian. Checked against sim.packing's words."""
    from sim.packing import pack_words
    d = _synthetic(deploy, tmp_path, in_width=16, in_word_bytes=2, words_in=392,
                   in_elems_per_word=2, out_width=24, out_word_bytes=4, words_out=5,
                   out_elem_bits=12, out_signed=True, out_elems_per_word=2)
    cfg = json.loads((d / "config.json").read_text())
    cfg["folded_input_shape"] = [1, 28, 14, 1, 2]
    (d / "config.json").write_text(json.dumps(cfg))
    acc = drv.BirealAccelerator(d, backend=None)
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, size=(3, 28, 28, 1))
    ib = acc.pack(codes)
    words = pack_words(codes.reshape(3 * 392, 2), 8)
    assert ib.tobytes() == b"".join(w.to_bytes(2, "little") for w in words)
    vals = rng.integers(-2048, 2048, size=(3, 10))
    vals[0, :4] = [-1, -2048, 2047, 0]
    out_words = pack_words(vals.reshape(-1, 2), 12)
    ob = np.frombuffer(b"".join(w.to_bytes(4, "little") for w in out_words), dtype=np.uint8)
    assert not ob.reshape(-1, 4)[:, 3].any()                       # the zero extension
    assert np.array_equal(acc.unpack(ob, 3).reshape(3, 10), vals)
    assert acc.logits(acc.unpack(ob, 3)).dtype == np.float32


def test_clear_errors(deploy, drv, tmp_path):
    acc = drv.BirealAccelerator(deploy, backend=None)
    with pytest.raises(drv.DeployError, match=r"shape \(N, 1, 28, 28\).*got \(2, 28, 28\)"):
        acc.quantize(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(drv.DeployError, match="codes outside"):
        acc.pack(np.full((1, 28, 28, 1), 256))
    with pytest.raises(drv.DeployError, match="output buffer has 7 bytes"):
        acc.unpack(np.zeros(7, np.uint8), 1)
    with pytest.raises(drv.DeployError, match="config.json not found"):
        drv.BirealAccelerator(tmp_path / "nowhere", backend=None)
    with pytest.raises(drv.DeployError, match="bitfile is null"):
        drv.BirealAccelerator(deploy, backend="pynq")
    cfg = json.loads((deploy / "config.json").read_text())
    cfg["bitfile"], cfg["hwh"] = "bireal.bit", "bireal.hwh"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(drv.DeployError, match="bireal.bit not found"):
        drv.BirealAccelerator(tmp_path, backend="pynq")
    (tmp_path / "bireal.bit").write_bytes(b"")
    if importlib.util.find_spec("pynq") is not None:
        pytest.skip("pynq is installed here")
    with pytest.raises(drv.DeployError, match="needs the pynq package"):
        drv.BirealAccelerator(tmp_path, backend="pynq")


def test_host_tail_is_checked(compiled_tiny):
    from qonnx.core.modelwrapper import ModelWrapper

    from sim.deploy import host_tail_spec
    p = compiled_tiny / "model_hw.onnx"
    m = ModelWrapper(str(p))
    assert host_tail_spec(m, p)["ops"] == ["Mul_0: Mul by scalar", "Flatten_0: Flatten"]
    m.graph.node[-1].op_type = "Softmax"
    with pytest.raises(BiRealError, match=r"host node Flatten_0 \(Softmax\)"):
        host_tail_spec(m, p)


def test_validate_sim_bit_exact_and_accuracy(deploy, compiled_tiny):
    from model.data import load_dataset
    r = _script(deploy, "validate.py", "--backend", "sim", "--limit", "20", "--golden", "10",
                "--batch", "8")
    res = json.loads((deploy / "validate.json").read_text())
    assert res["bit_exact_vs_pytorch"] is True and res["golden_checked"] == 10, r.stdout
    ds = load_dataset("mnist5k", "test")
    gi, go = (np.load(compiled_tiny.parent / f) for f in ("golden_in.npy", "golden_out.npy"))
    assert np.array_equal(ds.images[:20] / 256.0, gi[:20])          # golden = first test digits
    expected = int((go[:20].argmax(1) == ds.labels[:20]).sum())     # PyTorch's top-1 on them
    assert (res["n"], res["correct"]) == (20, expected)
    assert res["accuracy"] == expected / 20 and res["source"].startswith("cycle-accurate")
    assert "bit-exact on 10/10" in r.stdout


def test_execute_in_process_sim(deploy, drv, compiled_tiny):
    """The driver's full path (quantize, pack, Verilator, unpack, host scale) in batches of 2."""
    gi, go = (np.load(compiled_tiny.parent / f) for f in ("golden_in.npy", "golden_out.npy"))
    acc = drv.BirealAccelerator(deploy, backend="sim", batch_size=2)
    logits = acc.execute(gi[:3])
    assert logits.dtype == np.float32 and np.array_equal(logits, go[:3].reshape(3, -1))
    assert np.array_equal(acc.topk(logits, 1)[:, 0], go[:3].reshape(3, -1).argmax(1))
    assert acc.last_run["frames"] == 1 and acc.last_run["cycles"] > 0


def test_measure_sim_fps_arithmetic(deploy):
    _script(deploy, "measure.py", "--backend", "sim", "--batches", "1,2,4", "--repeats", "1")
    res = json.loads((deploy / "measure.json").read_text())
    clock = res["clock_mhz"] * 1e6
    assert [b["batch"] for b in res["results"]] == [1, 2, 4]
    for b in res["results"]:
        sec = b["cycles"] / clock                                      # seconds = cycles / clock
        assert b["seconds"] == pytest.approx(sec, rel=1e-12)
        assert b["fps"] == pytest.approx(b["batch"] / sec, rel=1e-12)  # FPS = frames / seconds
        assert b["watts"] is None and b["fps_per_watt"] is None
    c1, c4 = res["results"][0]["cycles"], res["results"][2]["cycles"]
    assert c1 < c4 < 4 * c1                                           # frames overlap in the pipe
    assert res["latency"]["cycles"] == c1
    assert res["power_source"] == res["power"]["source"] == "not available (simulation)"
    assert "simulation" in res["timing_source"] and (deploy / "measure.png").stat().st_size > 1000
    r = _script(deploy, "measure.py", "--backend", "sim", "--batches", "1", "--watts", "2.5",
                "--out", "m2.json")
    res2 = json.loads((deploy / "m2.json").read_text())
    assert res2["power"]["source"].startswith("user-supplied")
    assert res2["results"][0]["fps_per_watt"] == pytest.approx(res2["results"][0]["fps"] / 2.5)
    assert "FPS/W" in r.stdout


def test_write_deploy_replaces_and_checks_bitfile(compiled_tiny, tmp_path):
    from sim.deploy import write_deploy
    out = write_deploy(compiled_tiny, tmp_path / "b", testset_images=5)
    (out / "stale.txt").write_text("x")
    bit = tmp_path / "bireal.bit"
    bit.write_bytes(b"\0" * 16)
    with pytest.raises(BiRealError, match=r"bireal.hwh not found"):
        write_deploy(compiled_tiny, tmp_path / "b", bitfile=bit)
    assert (out / "stale.txt").exists()                              # failed write kept the old
    (tmp_path / "bireal.hwh").write_text("<hwh/>")
    assert write_deploy(compiled_tiny, tmp_path / "b", bitfile=bit, testset_images=5) == out
    cfg = json.loads((out / "config.json").read_text())
    assert not (out / "stale.txt").exists() and (out / "bireal.hwh").is_file()
    assert (cfg["bitfile"], cfg["hwh"], cfg["testset"]["n"]) == ("bireal.bit", "bireal.hwh", 5)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["deploy"]   # no temp dirs left
