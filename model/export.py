"""QONNX export of the deployed Bi-Real model, golden tensors, and an export check.

`export_model` writes DIR/model.onnx (Brevitas `export_qonnx`, TorchScript exporter,
`dynamo=False`), DIR/golden_in.npy (N images) and DIR/golden_out.npy (the deployed PyTorch
model's eval outputs for them). `verify_onnx` executes the file with
`qonnx.core.onnx_exec.execute_onnx` (onnxruntime cannot run BipolarQuant) and compares.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .deploy import DeployBiReal
from .errors import BiRealError

EXPORT_TOL = 1e-5   # the arithmetic is exact by construction; 1e-5 is the contract


def atomic_write(path: Path, write_fn, suffix: str = ""):
    """Write via a temp file in the same folder, then rename (no half-written files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write_fn(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)          # mkstemp creates 0600; use the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_npy(path: Path, arr: np.ndarray):
    atomic_write(path, lambda t: np.save(open(t, "wb"), arr), ".npy")


def save_json(path: Path, obj):
    def w(t):
        with open(t, "w") as f:
            json.dump(obj, f, indent=2)
    atomic_write(path, w, ".json")


@torch.no_grad()
def export_model(dep: DeployBiReal, images: torch.Tensor, out_dir: str | Path,
                 meta: dict | None = None) -> dict:
    from brevitas.export import export_qonnx
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dep.eval()
    golden_out = dep(images).numpy()

    def w(tmp):
        from qonnx.util.cleanup import cleanup_model
        from qonnx.core.modelwrapper import ModelWrapper
        export_qonnx(dep, input_t=images[:1], export_path=tmp, dynamo=False)
        # fold the pad-amount arithmetic the TorchScript exporter emits, name nodes, infer shapes
        cleanup_model(ModelWrapper(tmp)).save(tmp)
    atomic_write(out / "model.onnx", w, ".onnx")
    save_npy(out / "golden_in.npy", images.numpy().astype(np.float32))
    save_npy(out / "golden_out.npy", golden_out.astype(np.float32))
    info = {"arch": dep.spec.name, "num_classes": dep.num_classes, "images": int(len(images)),
            "quant": dep.q.to_dict(), "affine_bits": dep.affine_bits,
            "input_scale": 2.0 ** -dep.q.in_bits, "logit_scale": dep.head.out_scale,
            "files": ["model.onnx", "golden_in.npy", "golden_out.npy"]}
    if meta:
        info.update(meta)
    save_json(out / "export.json", info)
    return info


def execute_qonnx(onnx_path: str | Path, images: np.ndarray, progress=None) -> np.ndarray:
    """Run a QONNX file image by image (the graph has batch 1) with qonnx's executor."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    if not Path(onnx_path).is_file():
        raise BiRealError(f"ONNX file not found: {onnx_path}")
    m = ModelWrapper(str(onnx_path)).transform(InferShapes())
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    want = tuple(m.get_tensor_shape(iname))[1:]
    if tuple(images.shape[1:]) != want:
        raise BiRealError(f"{onnx_path}: expects images of shape (N, {', '.join(map(str, want))})"
                          f", got {tuple(images.shape)}")
    outs = []
    it = range(len(images)) if progress is None else progress(range(len(images)))
    for i in it:
        outs.append(execute_onnx(m, {iname: images[i:i + 1].astype(np.float32)})[oname])
    return np.concatenate(outs, 0)


def verify_onnx(onnx_path, golden_in: np.ndarray, golden_out: np.ndarray, progress=None) -> dict:
    got = execute_qonnx(onnx_path, golden_in, progress)
    diff = float(np.abs(got - golden_out).max()) if got.size else 0.0
    argmax_eq = bool((got.argmax(1) == golden_out.argmax(1)).all())
    return {"images": int(len(golden_in)), "max_abs_diff": diff, "tolerance": EXPORT_TOL,
            "identical_argmax": argmax_eq, "bit_exact": bool(np.array_equal(got, golden_out)),
            "ok": bool(diff <= EXPORT_TOL and argmax_eq)}
