"""The deploy package: DIR/deploy/ to run the accelerator on a PYNQ board (or in Verilator).

    write_deploy(build_dir, out_dir, bitfile=None, hwh=None) -> out_dir/deploy/
      config.json   what scripts/deploy/driver.py needs, no repo code (see build_config)
      testset.npz   images (uint8 pixels, float = uint8 / pixel_divisor) + labels +
                    label_source, golden_images + golden_logits (PyTorch float32)
      driver.py, validate.py, measure.py (copied from scripts/deploy/), bitfile + .hwh if given
      weights.bin   only with URAM weight memories: the weight-load stream (hw.dma
                    weight_load_blob, uint64 little-endian beats) the driver sends once through
                    the axi_dma_wload DMA (s_axis_wload) before the first frame
build_dir is a `bireal compile` folder (rtl_model.onnx, model_hw.onnx, compile.json); the
exported model.onnx, export.json and golden tensors sit next to compile.json["onnx"].
The folder is written to a temp dir and renamed over any existing deploy/.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from model.errors import BiRealError

from .run import input_quant

FORMAT = 1
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "deploy"
SCRIPT_FILES = ("driver.py", "validate.py", "measure.py")
IP = {"dma": "axi_dma_0", "frames_gpio": "axi_gpio_frames"}
WLOAD_DMA, WLOAD_FILE = "axi_dma_wload", "weights.bin"
GOLDEN_MAX = 100


def host_tail_spec(parent: ModelWrapper, path: Path) -> dict:
    """The host-side nodes of model_hw.onnx, checked to be exactly Mul(scalar), Flatten/Reshape."""
    nodes = list(parent.graph.node)
    sdp = [i for i, n in enumerate(nodes) if n.op_type == "StreamingDataflowPartition"]
    if len(sdp) != 1:
        raise BiRealError(f"{path}: expected one StreamingDataflowPartition, found {len(sdp)}")
    k, g_in, g_out = sdp[0], parent.graph.input[0].name, parent.graph.output[0].name
    if k != 0 or nodes[0].input[0] != g_in:
        raise BiRealError(f"{path}: host node {nodes[0].name} ({nodes[0].op_type}) before the "
                          "dataflow partition; the driver only feeds the partition directly")
    tail = nodes[k + 1:]
    for n, ok in zip(tail, (("Mul",), ("Flatten", "Reshape"))):
        if n.op_type not in ok:
            raise BiRealError(f"{path}: host node {n.name} ({n.op_type}) where {'/'.join(ok)} "
                              "is expected; the driver's host tail is Mul(scalar) then Flatten")
    if len(tail) != 2:
        extra = f"; extra node {tail[2].name} ({tail[2].op_type})" if len(tail) > 2 else ""
        raise BiRealError(f"{path}: host tail {[n.op_type for n in tail]} is not Mul(scalar) "
                          f"then Flatten/Reshape{extra}")
    mul, flat = tail
    consts = [parent.get_initializer(i) for i in mul.input]
    scale = [c for c in consts if c is not None]
    if (sorted(i for i in mul.input if parent.get_initializer(i) is None) != [nodes[k].output[0]]
            or len(scale) != 1 or np.asarray(scale[0]).size != 1):
        raise BiRealError(f"{path}: host node {mul.name} (Mul) must multiply the partition output "
                          "by one scalar constant")
    if flat.input[0] != mul.output[0] or flat.output[0] != g_out:
        raise BiRealError(f"{path}: host node {flat.name} ({flat.op_type}) must map {mul.name}'s "
                          "output to the graph output")
    out_shape = parent.get_tensor_shape(g_out)
    if len(out_shape) != 2 or math.prod(parent.get_tensor_shape(mul.output[0])) != out_shape[1]:
        raise BiRealError(f"{path}: host node {flat.name} output shape {out_shape} is not "
                          "(1, classes) of the partition output")
    return {"ops": [f"{mul.name}: Mul by scalar", f"{flat.name}: {flat.op_type}"],
            "scale": float(np.float32(np.asarray(scale[0]).reshape(()))),
            "scale_dtype": "float32", "num_classes": int(out_shape[1])}


def build_config(build_dir: Path, bitfile: str | None, hwh: str | None) -> dict:
    """config.json of a compile folder (see the driver for how each part is used)."""
    from hw.dma import stream_layout
    d = Path(build_dir).resolve()
    for f in ("rtl_model.onnx", "model_hw.onnx", "compile.json"):
        if not (d / f).is_file():
            raise BiRealError(f"{d / f} not found: run `bireal compile --out {d}` first")
    info = json.loads((d / "compile.json").read_text())
    onnx = Path(info["onnx"])
    exp = onnx.parent / "export.json"
    export = json.loads(exp.read_text()) if exp.is_file() else {}
    iq = input_quant(onnx)
    rtl = ModelWrapper(str(d / "rtl_model.onnx"))
    first, last = getCustomOp(rtl.graph.node[0]), getCustomOp(rtl.graph.node[-1])
    lay = stream_layout(rtl)
    lay["in_signed"] = bool(first.get_input_datatype(0).signed())
    c, h, w = iq["image_shape_chw"]
    nhwc = [int(x) for x in first.get_normal_input_shape(0)]
    if nhwc != [1, h, w, c] or lay["in_elem_bits"] != iq["bits"]:
        raise BiRealError(f"{d / 'rtl_model.onnx'}: first layer {rtl.graph.node[0].name} takes "
                          f"{nhwc} of {lay['in_elem_bits']} bits, the input Quant of {onnx} "
                          f"gives [1, {h}, {w}, {c}] of {iq['bits']} bits")
    tail = host_tail_spec(ModelWrapper(str(d / "model_hw.onnx")), d / "model_hw.onnx")
    from hw.dma import wload_chain
    chain = wload_chain(rtl)
    wl = ({"file": WLOAD_FILE, "units": chain, "beat_bytes": 8, "dma": WLOAD_DMA}
          if chain else None)
    return {
        "format": FORMAT, "arch": export.get("arch"), "board": info.get("board"),
        "part": info.get("part"), "clock_mhz": float(info["clock_mhz"]),
        "bitfile": bitfile, "hwh": hwh,
        "input_quant": iq, "input_shape_nhwc": nhwc,
        "folded_input_shape": [int(x) for x in first.get_folded_input_shape(0)],
        "output_shape": [int(x) for x in last.get_normal_output_shape(0)],
        "stream": lay, "host_tail": tail, "num_classes": tail["num_classes"], "ip": dict(IP),
        "weight_load": wl,
        "sim": {"build_dir": str(d), "est_cycles_per_frame": info.get("bottleneck_cycles"),
                "fifos_sized": (d / "fifo_sizing.json").is_file()},
        "testset": {"file": "testset.npz"},
        "sources": {
            "input_quant": f"input Quant node {iq['node']} of {onnx}",
            "stream": f"hw.dma.stream_layout of {d / 'rtl_model.onnx'} (bytes in DDR as the "
                      "Zynq AXI DMA sees them)",
            "folded_input_shape": "first RTL layer's folded input (NHWC codes reshaped to it)",
            "host_tail": f"nodes after the StreamingDataflowPartition in {d / 'model_hw.onnx'}",
            "clock_mhz": f"{d / 'compile.json'}", "arch": str(exp) if export else None,
            "ip": "Vivado shell (hw/vivado.py): AXI DMA simple mode + frames-per-TLAST GPIO",
            "sim": "used only by the driver's sim backend (Verilator, this repo)",
            "weight_load": "URAM weight memories (hw/rtl/wload.sv): hw.dma.weight_load_blob "
                           "of the RTL graph, sent once before inference"},
    }


def _as_pixels(x: np.ndarray):
    """(array, divisor): uint8 pixels if x == uint8 / 256 exactly (model/data.py), else float32."""
    u = np.rint(np.asarray(x, dtype=np.float64) * 256)
    if np.all((u >= 0) & (u <= 255)) and np.array_equal(u / 256, x):
        return u.astype(np.uint8), 256.0
    return np.asarray(x, dtype=np.float32), 1.0


def make_testset(cfg: dict, onnx: Path, limit: int | None, data_root: str | None) -> dict:
    """Arrays of testset.npz: the arch's test split if it is available offline, else the golden
    images labelled with PyTorch's top-1 (then validate measures agreement, not accuracy)."""
    from hw.compile import load_golden
    gi, go = load_golden(onnx, None)
    gi, go = gi[:GOLDEN_MAX], go[:GOLDEN_MAX]
    g_px, g_div = _as_pixels(gi)
    ds_name = None
    if cfg["arch"]:
        from model.nets import ARCHS
        spec = ARCHS.get(cfg["arch"])
        ds_name = spec.dataset if spec else None
    images = labels = None
    if ds_name:
        from model.data import load_dataset
        try:
            ds = load_dataset(ds_name, "test", data_root)
            n = len(ds) if limit is None else min(limit, len(ds))
            if hasattr(ds, "images"):
                images, labels = np.asarray(ds.images[:n]), np.asarray(ds.labels[:n])
            else:
                items = [ds[i] for i in range(n)]
                images = np.stack([x.numpy() for x, _ in items])
                labels = np.array([y for _, y in items])
            part = f"all {n}" if n == len(ds) else f"first {n} of {len(ds)}"
            src, metric = f"{ds_name} test split ({part} images), true labels", "accuracy"
        except BiRealError as e:
            why = f"{ds_name} test data not available offline ({e})"
    else:
        why = f"no dataset known for arch {cfg['arch']!r}"
    if images is None:
        n = len(gi) if limit is None else min(limit, len(gi))
        images, labels = gi[:n], np.argmax(go[:n].reshape(len(go[:n]), -1), axis=1)
        src, metric = (f"golden images of the export ({n}), labels = PyTorch top-1: {why}; "
                       "validate reports agreement with PyTorch, not accuracy"), "agreement"
    if images.dtype != np.uint8:
        images, div = _as_pixels(images)
    else:
        div = 256.0
    if tuple(images.shape[1:]) != tuple(cfg["input_quant"]["image_shape_chw"]):
        raise BiRealError(f"test images have shape {images.shape[1:]}, the model takes "
                          f"{cfg['input_quant']['image_shape_chw']}")
    return {"images": images, "labels": labels.astype(np.int64), "label_source": np.str_(src),
            "metric": np.str_(metric), "pixel_divisor": np.float64(div),
            "golden_images": g_px, "golden_divisor": np.float64(g_div),
            "golden_logits": go.astype(np.float32).reshape(len(go), -1)}


def write_deploy(build_dir, out_dir, bitfile=None, hwh=None, testset_images: int | None = None,
                 data_root: str | None = None) -> Path:
    """Write out_dir/deploy/ (module doc); testset_images limits the test set (None = all)."""
    bit = Path(bitfile) if bitfile else None
    if hwh and not bit:
        raise BiRealError("write_deploy: hwh given without a bitfile")
    hw_p = Path(hwh) if hwh else (bit.with_suffix(".hwh") if bit else None)
    for f in (bit, hw_p):
        if f is not None and not f.is_file():
            raise BiRealError(f"{f} not found (PYNQ's Overlay needs the .bit and its .hwh)")
    missing = [f for f in SCRIPT_FILES if not (SCRIPTS / f).is_file()]
    if missing:
        raise BiRealError(f"{SCRIPTS}: missing {missing} (the repo's scripts/deploy/)")
    cfg = build_config(Path(build_dir), bit.name if bit else None,
                       bit.with_suffix(".hwh").name if bit else None)
    ts = make_testset(cfg, Path(json.loads((Path(build_dir) / "compile.json").read_text())["onnx"]),
                      testset_images, data_root)
    cfg["testset"].update(n=len(ts["labels"]), label_source=str(ts["label_source"]),
                          metric=str(ts["metric"]), golden=len(ts["golden_logits"]))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final, tmp, old = out / "deploy", out / f".deploy.tmp-{os.getpid()}", out / f".deploy.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        if cfg["weight_load"]:
            from hw.dma import weight_load_blob
            from hw.rtl_flow import relocate
            d = Path(build_dir)
            blob = weight_load_blob(relocate(ModelWrapper(str(d / "rtl_model.onnx")), d))
            blob.astype("<u8").tofile(tmp / WLOAD_FILE)
            cfg["weight_load"]["beats"] = int(len(blob))
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        np.savez_compressed(tmp / "testset.npz", **ts)
        for f in SCRIPT_FILES:
            shutil.copy2(SCRIPTS / f, tmp / f)
        if bit:
            shutil.copy2(bit, tmp / bit.name)
            shutil.copy2(hw_p, tmp / bit.with_suffix(".hwh").name)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not final.exists():
            old.rename(final)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final
