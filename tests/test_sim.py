"""The whole accelerator in Verilator (sim/): bit-exact against PyTorch on the MNIST test
images, throughput against the bottleneck estimate, output backpressure, and the two failure
reports (a stall names the blocked streams; a mismatch names the first differing layer)."""
import json
import shutil

import pytest
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from conftest import CIFAR_ZCU104_CYCLES, export_random
from sim.run import format_sim, relocate, simulate

CONTRACT = {"images", "mismatches", "cycles_per_frame", "est_cycles_per_frame",
            "latency_cycles", "fps", "clock_mhz", "sim_cycles_per_second"}


@pytest.fixture(scope="module")
def tiny_sim(compiled_tiny):
    """100 frames, no backpressure (also sizes the FIFOs by simulation, once)."""
    return simulate(compiled_tiny, images=100, quiet=True)


def test_tiny_100_images_bit_exact_and_at_the_estimated_rate(compiled_tiny, tiny_sim):
    res = tiny_sim
    assert CONTRACT <= set(res)
    assert json.loads((compiled_tiny / "sim.json").read_text())["images"] == 100
    assert res["images"] == 100 and res["mismatches"] == 0 and res["bit_exact"]
    assert res["stall"] is None and res["first_bad_layer"] is None
    # steady state within 5 % of the slowest layer's modelled cycles
    assert abs(res["cycles_per_frame"] / res["est_cycles_per_frame"] - 1) <= 0.05, res
    assert res["fps"] == pytest.approx(res["clock_mhz"] * 1e6 / res["cycles_per_frame"], rel=1e-3)
    assert res["latency_cycles"] >= res["est_cycles_per_frame"]
    assert res["sim_cycles_per_second"] > 0
    assert "bit-exact vs PyTorch on 100/100 images" in format_sim(res)
    sizing = json.loads((compiled_tiny / "fifo_sizing.json").read_text())
    assert all(f["depth"] >= max(f["derived_depth"], f["max_occupancy"]) for f in sizing["fifos"])
    # the design runs at its estimate: the sizing input (one frame per estimate) was not
    # outrun, so it streamed once (a second pass doubled bireal18's sizing time)
    assert sizing["rerun"] is None and res["cycles_per_frame"] <= res["est_cycles_per_frame"]


def test_tiny_output_backpressure(compiled_tiny, tiny_sim):
    """The output is not ready 70 % of cycles: every frame still exact, nothing stalls."""
    res = simulate(compiled_tiny, images=20, backpressure=0.7, seed=3, quiet=True)
    assert res["mismatches"] == 0 and res["stall"] is None and res["backpressure"] == 0.7


def _copy(compiled, tmp_path):
    d = tmp_path / "c"
    shutil.copytree(compiled, d, ignore=shutil.ignore_patterns("sim"))
    return d


def test_too_small_shortcut_fifo_stall_is_reported(compiled_tiny, tiny_sim, tmp_path):
    """Shrink the first residual fork's shortcut FIFO below its derived depth: the design
    deadlocks, and the report names the stream a unit could not take."""
    d = _copy(compiled_tiny, tmp_path)
    rtl = relocate(ModelWrapper(str(d / "rtl_model.onnx")), d)
    info = json.loads((d / "compile.json").read_text())
    fifo = max((n for n in rtl.graph.node if n.op_type == "StreamingFIFO_rtl"),
               key=lambda n: getCustomOp(n).get_nodeattr("depth"))
    op = getCustomOp(fifo)
    op.set_nodeattr("depth", 2)
    op.set_nodeattr("ram_style", "auto")
    op.generate_hdl(rtl, info["part"], 1000.0 / info["clock_mhz"])
    rtl.save(str(d / "rtl_model.onnx"))
    res = simulate(d, images=2, quiet=True)
    assert not res["bit_exact"] and res["stall"] is not None
    assert any("not ready" in s for s in res["stall"]["streams"]), res["stall"]
    assert "STALLED" in format_sim(res)


def test_corrupted_constant_names_the_first_bad_layer(compiled_tiny, tiny_sim, tmp_path):
    """Zero the first ShortcutAdd's constants (A1 = B1 = 0) in its RTL memory file only: the
    outputs differ from PyTorch and the per-stream taps name that unit as the first layer that
    differs. (A single flipped bit can vanish: some channels saturate for every input.)"""
    d = _copy(compiled_tiny, tmp_path)
    rtl = ModelWrapper(str(d / "rtl_model.onnx"))
    sc = next(n for n in rtl.graph.node if n.op_type == "ShortcutAdd_rtl")
    mem = next((d / "rtl" / sc.name).glob("*_params.mem"))
    lines = mem.read_text().split()
    mem.write_text("".join("0" * len(ln) + "\n" for ln in lines))
    res = simulate(d, images=3, quiet=True)
    assert res["mismatches"] > 0 and res["stall"] is None
    assert res["first_bad_layer"]["layer"] == sc.name, res["first_bad_layer"]


def test_cifar_random_weights_bit_exact(compiled_cifar_zcu104):
    """bireal-cifar (3 downsample blocks, 4x4 global pool), random weights, 2 images."""
    res = simulate(compiled_cifar_zcu104, images=2, quiet=True)
    assert res["mismatches"] == 0 and res["bit_exact"], res
    # within 5 % of the bottleneck estimate (issue 11; measured 66,753 / 65,536 = 1.019)
    assert res["est_cycles_per_frame"] == CIFAR_ZCU104_CYCLES
    assert abs(res["cycles_per_frame"] / res["est_cycles_per_frame"] - 1) <= 0.05, res


def test_synth_units_beside_the_analytical_estimates(compiled_tiny, tiny_sim):
    """`bireal synth`'s per-unit path on two units (the whole design takes minutes)."""
    from sim.synth_design import synth_design
    res = synth_design(compiled_tiny, per_unit={"DuplicateStreams_rtl", "ShortcutAdd_rtl"},
                       whole=False, quiet=True)
    units = {r["unit"].split(" (")[1].rstrip(")"): r for r in res["rows"]}
    assert set(units) == {"DuplicateStreams_rtl", "ShortcutAdd_rtl"} and res["family"] == "xc7"
    assert units["ShortcutAdd_rtl"]["LUT"] > 0 and units["ShortcutAdd_rtl"]["est_LUT"] > 0
    txt = (compiled_tiny / "synth.txt").read_text()
    assert "post-synthesis estimate" in txt and "analytical" in txt


def test_fifo_sizing_does_not_grow_with_the_frames(compiled_tiny, tmp_path):
    """FIFO sizing measures slack, not pile-up: when the pipeline is slower than the sizing
    input, frames pile up before the slowest unit and that FIFO's occupancy grows with every
    frame streamed (bireal18: 5,690 words = 132 BRAM18 before the stem). The second pass at
    the measured rate keeps it from growing like that: a pile-up doubles from 6 to 12 frames
    (measured on a random-weights tiny before the change: 656 -> 1,405 and 142 -> 280 words),
    a random walk of the throttled input grows about sqrt(2) x (here 123 -> 179)."""
    from sim.fifo_sizing import size_fifos
    occ = {}
    for frames in (6, 12):
        d = tmp_path / f"f{frames}"
        shutil.copytree(compiled_tiny, d, ignore=shutil.ignore_patterns("sim"))
        rep = size_fifos(d, frames=frames, quiet=True)
        occ[frames] = {f["fifo"]: f["max_occupancy"] for f in rep["fifos"]}
    grew = {n: (occ[6][n], occ[12][n]) for n in occ[6]
            if occ[12][n] > 1.6 * occ[6][n] + 16}
    assert not grew, grew


def test_fifo_sizing_maps_the_memories_again(compiled_tiny, tmp_path):
    """Sized FIFOs change the design's LUT / block RAM balance, so size_fifos maps the FIFOs and
    weight memories together again (hw.memory.SetWeightMemory, URAM kept) and regenerates the
    nodes whose ram_style changed. Started from every weight memory and deep FIFO in LUTs, the
    sized design is the balance's fixed point, and each remapped MVAU's HDL has its new style."""
    from hw.memory import MVAU_OPS, SetWeightMemory
    from hw.rtl_flow import finn_settings
    from sim.fifo_sizing import size_fifos
    d = tmp_path / "b"
    shutil.copytree(compiled_tiny, d, ignore=shutil.ignore_patterns("sim"))
    finn_settings(d)
    rtl = relocate(ModelWrapper(str(d / "rtl_model.onnx")), d)
    mapped = MVAU_OPS + ("StreamingFIFO_rtl",)
    for n in rtl.graph.node:
        if n.op_type in mapped and getCustomOp(n).get_nodeattr("ram_style") != "auto":
            getCustomOp(n).set_nodeattr("ram_style", "distributed")
    rtl.save(str(d / "rtl_model.onnx"))
    rep = size_fifos(d, frames=4, quiet=True)
    part = json.loads((d / "compile.json").read_text())["part"]
    sized = relocate(ModelWrapper(str(d / "rtl_model.onnx")), d)
    styles = {n.name: getCustomOp(n).get_nodeattr("ram_style") for n in sized.graph.node
              if n.op_type in mapped}
    again = sized.transform(SetWeightMemory(part, keep_ultra=True))
    assert styles == {n.name: getCustomOp(n).get_nodeattr("ram_style")
                      for n in again.graph.node if n.op_type in mapped}
    mvaus = {k: v for k, v in rep["memory_remap"].items() if k.startswith(MVAU_OPS)}
    assert mvaus and all(old == "distributed" for old, _ in mvaus.values()), rep["memory_remap"]
    for name, (_, new) in mvaus.items():
        assert f'.RAM_STYLE("{new}")' in (d / "rtl" / name / f"{name}.v").read_text()
