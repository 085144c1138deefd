"""Whole-net run-time weight load: bireal-tiny (random weights) compiled for ZCU104 with one
XNOR and one 8-bit weight memory forced into URAM by the folding file (ram_style "ultra"),
simulated in Verilator: the weights arrive through the stitched top's wload_V before the first
frame (with random valid gaps and output backpressure) and every logit equals PyTorch's."""
import json

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper

from conftest import export_random

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uram_tiny(tmp_path_factory):
    """(compile folder, the two forced nodes): compile once at a folded target, then again
    with that folding and ram_style "ultra" on the first XNOR MVAU and the last 8-bit MVAU."""
    from hw.compile import compile_model
    d = tmp_path_factory.mktemp("uram_tiny")
    onnx = export_random("bireal-tiny", d, 3)
    compile_model(onnx, d / "c0", board="zcu104", images=2, target_cycles=9408, quiet=True)
    cfg = json.loads((d / "c0" / "folding_config.json").read_text())
    df = ModelWrapper(str(d / "c0" / "dataflow_model.onnx"))
    mvaus = [n for n in df.graph.node if n.op_type == "MVAU"]

    def xnor(n):
        return any(a.name == "binaryXnorMode" and a.i == 1 for a in n.attribute)
    forced = [next(n.name for n in mvaus if xnor(n)),
              next(n.name for n in reversed(mvaus) if not xnor(n))]
    for name in forced:
        cfg[name]["ram_style"] = "ultra"
    (d / "fold.json").write_text(json.dumps(cfg))
    compile_model(onnx, d / "c", board="zcu104", images=2, folding=str(d / "fold.json"),
                  quiet=True)
    return d / "c", forced


def test_uram_estimates(uram_tiny):
    """estimates.json names the URAM memories and the load size; the keys stay."""
    c, forced = uram_tiny
    est = json.loads((c / "estimates.json").read_text())
    for k in ("fits", "est_fps", "bottleneck_cycles", "board"):
        assert k in est
    wl = est["weight_load"]
    assert len(wl["memories"]) == 2 and est["totals"]["URAM"] >= 2
    assert wl["bits"] == sum(m["bits"] for m in wl["memories"]) == 64 * wl["beats"] > 0
    rtl = ModelWrapper(str(c / "rtl_model.onnx"))
    kinds = {n.op_type for n in rtl.graph.node
             if any(a.name == "runtime_writeable_weights" and a.i == 1 for a in n.attribute)}
    assert kinds == {"XnorMVAU_rtl", "IntMVAU_rtl"}
    assert "URAM weight memories" in (c / "estimates.txt").read_text()


def test_uram_sim_bit_exact(uram_tiny):
    """3 frames with 30 % output backpressure: bit-exact, the load reported apart."""
    from sim.run import simulate
    c, _ = uram_tiny
    res = simulate(c, images=3, backpressure=0.3, quiet=True)
    est = json.loads((c / "estimates.json").read_text())
    assert res["bit_exact"], res
    assert res["weight_load"]["beats"] == est["weight_load"]["beats"]
    assert len(res["weight_load"]["units"]) == 2
    assert res["weight_load"]["cycles"] >= res["weight_load"]["beats"]
    fs = json.loads((c / "fifo_sizing.json").read_text())
    assert fs["sim_cycles"] > 0
    for k in ("images", "mismatches", "cycles_per_frame", "fps", "bit_exact"):
        assert k in res


def test_uram_sim_gaps_and_blob(uram_tiny):
    """Valid gaps on the load and the input streams (in_gap 0.4): still exact; the blob is
    exactly the units' beats (a dropped last beat never finishes the load: stall)."""
    from sim.design import Design, pixel_codes
    from sim.verilate import run
    from hw.compile import load_golden
    c, _ = uram_tiny
    d = Design(c)
    blob = d.load_beats()
    info = json.loads((c / "compile.json").read_text())
    gi, _ = load_golden(info["onnx"], 1)
    frame = d.frame_words(pixel_codes(info["onnx"], gi)[0])
    ok = run(d.exe, [frame], d.words_out(), in_gap=0.4, seed=5, wload=blob)
    assert not ok.stalled and ok.load_beats == len(blob) and ok.load_cycles > len(blob)
    ref = run(d.exe, [frame], d.words_out(), wload=blob)
    assert ok.outputs == ref.outputs
    short = run(d.exe, [frame], d.words_out(), wload=blob[:-1], timeout_cycles=2000)
    assert short.stalled and short.frames_out == 0
    bad = blob.copy()
    bad[len(bad) // 2] = ~bad[len(bad) // 2]
    wrong = run(d.exe, [frame], d.words_out(), wload=bad)
    assert not wrong.stalled and wrong.outputs != ref.outputs


def test_uram_vivado_tcl(uram_tiny, tmp_path):
    """hw/vivado.py (no Vivado here: TCL only): the chain is stitched unit to unit, its head
    is the block's s_axis_wload, its tail always ready; the shell adds an MM2S-only DMA."""
    import shutil
    from hw.vivado import vivado_step
    c, _ = uram_tiny
    d = tmp_path / "p"
    shutil.copytree(c.parent, d, ignore=shutil.ignore_patterns("sim", "vivado"))
    res = vivado_step(d / "c", run=False, log=lambda *a: None)
    chain = res["weight_load"]["units"]
    assert len(chain) == 2 and res["weight_load"]["dma"] == "axi_dma_wload"
    assert ["s_axis_wload", 64] in res["interfaces"]["s_axis"]
    stitch = (d / "c" / "vivado" / "stitch" / "make_project.tcl").read_text()
    assert f"make_bd_intf_pins_external [get_bd_intf_pins {chain[0]}/wl_in_V]" in stitch
    assert (f"connect_bd_intf_net [get_bd_intf_pins {chain[0]}/wl_out_V] "
            f"[get_bd_intf_pins {chain[1]}/wl_in_V]") in stitch
    assert f"[get_bd_pins {chain[1]}/wl_out_V_TREADY]" in stitch
    shell = (d / "c" / "vivado" / "shell" / "ip_config.tcl").read_text()
    assert "set NUM_AXILITE 3" in shell and "set NUM_AXIMM 3" in shell
    assert ("connect_bd_intf_net [get_bd_intf_pins axi_dma_wload/M_AXIS_MM2S] "
            "[get_bd_intf_pins bireal_accel/s_axis_wload]") in shell
    assert "CONFIG.c_include_s2mm {0}" in shell and "smartconnect_0/S02_AXI" in shell


def test_uram_deploy_package_sim_backend(uram_tiny, tmp_path):
    """The deploy package carries weights.bin (= the blob the simulation loads) and the
    driver's sim backend sends it before the frames: logits equal PyTorch's."""
    import importlib.util
    from sim.deploy import write_deploy
    from sim.design import Design
    c, _ = uram_tiny
    dep = write_deploy(c, tmp_path, testset_images=2)
    cfg = json.loads((dep / "config.json").read_text())
    wl = cfg["weight_load"]
    blob = np.fromfile(dep / wl["file"], dtype="<u8")
    assert wl["dma"] == "axi_dma_wload" and wl["beats"] == len(blob)
    assert np.array_equal(blob, Design(c).load_beats())
    spec = importlib.util.spec_from_file_location("bireal_driver", dep / "driver.py")
    drv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drv)
    acc = drv.BirealAccelerator(dep, backend="sim")
    ts = np.load(dep / "testset.npz")
    x = ts["golden_images"][:2].astype(np.float32) / float(ts["golden_divisor"])
    assert np.array_equal(acc.execute(x), ts["golden_logits"][:2])
