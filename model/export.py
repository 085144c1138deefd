"""QONNX export of the deployed Bi-Real model, golden tensors, and an export check.

`export_model` writes DIR/model.onnx (Brevitas `export_qonnx`, TorchScript exporter,
`dynamo=False`), DIR/golden_in.npy (N images) and DIR/golden_out.npy (the deployed PyTorch
model's eval outputs for them). `verify_onnx` executes the file with
`qonnx.core.onnx_exec.execute_onnx` (onnxruntime cannot run BipolarQuant) and compares.

Shortcut mode float32: the graph carries the float path as explicit Mul / Add nodes with the
exact float32 constants (model.float_path; no BatchNormalization node), the sign as
BipolarQuant (qonnx executes it as where(x >= 0, +1, -1): -0.0 -> +1, NaN -> -1, as torch),
and the returns to int8 as Quant nodes. DIR/golden_float.npz adds every block's residual-add
output (float32) for the first FLOAT_GOLDEN_IMAGES images, and `verify_onnx` compares those
and the logits with tolerance 0, bit for bit (uint32 views: -0.0 != +0.0).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .deploy import DeployBiReal, DeployBlock
from .errors import BiRealError
from .quant import is_float, mode_name

EXPORT_TOL = 1e-5   # the arithmetic is exact by construction; 1e-5 is the contract
FLOAT_EXPORT_TOL = 0.0   # float32 shortcut: tolerance 0, float tensors equal bit for bit
FLOAT_GOLDEN_IMAGES = 8  # images whose float residual-add outputs go into golden_float.npz


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
    fl = is_float(dep.q.shortcut)
    if fl:
        golden_float = block_outputs(dep, images[:FLOAT_GOLDEN_IMAGES])

    def w(tmp):
        from qonnx.util.cleanup import cleanup_model
        from qonnx.core.modelwrapper import ModelWrapper
        export_qonnx(dep, input_t=images[:1], export_path=tmp, dynamo=False)
        # fold the pad-amount arithmetic the TorchScript exporter emits, name nodes, infer shapes
        cleanup_model(ModelWrapper(tmp)).save(tmp)
    atomic_write(out / "model.onnx", w, ".onnx")
    save_npy(out / "golden_in.npy", images.numpy().astype(np.float32))
    save_npy(out / "golden_out.npy", golden_out.astype(np.float32))
    files = ["model.onnx", "golden_in.npy", "golden_out.npy"]
    if fl:
        atomic_write(out / "golden_float.npz", lambda t: np.savez(open(t, "wb"), **golden_float),
                     ".npz")
        files.append("golden_float.npz")
    elif (out / "golden_float.npz").exists():
        (out / "golden_float.npz").unlink()     # a stale float golden would be checked
    info = {"arch": dep.spec.name, "num_classes": dep.num_classes, "images": int(len(images)),
            "shortcut": mode_name(dep.q.shortcut),
            "quant": dep.q.to_dict(), "affine_bits": dep.affine_bits,
            "input_scale": 2.0 ** -dep.q.in_bits, "logit_scale": dep.head.out_scale,
            "files": files}
    if meta:
        info.update(meta)
    save_json(out / "export.json", info)
    return info


@torch.no_grad()
def block_outputs(dep: DeployBiReal, images: torch.Tensor) -> dict:
    """{'blocks.i': float32 output of block i (its residual add)} for `images`."""
    got, hooks = {}, []
    for i, b in enumerate(dep.blocks):
        assert isinstance(b, DeployBlock)
        hooks.append(b.register_forward_hook(
            lambda m, a, o, k=f"blocks.{i}": got.__setitem__(k, o.numpy().astype(np.float32))))
    try:
        dep(images)
    finally:
        for h in hooks:
            h.remove()
    return got


def residual_adds(model) -> list[str]:
    """Output tensors of the residual adds (Add nodes with two non-constant inputs), in graph
    order = block order."""
    inits = {i.name for i in model.graph.initializer}
    return [n.output[0] for n in model.graph.node
            if n.op_type == "Add" and not any(t in inits for t in n.input)]


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


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))


def verify_float_tensors(onnx_path, golden_in: np.ndarray, golden_float: dict) -> dict:
    """Every residual-add output of the graph vs golden_float.npz, bit for bit (tolerance 0)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    m = ModelWrapper(str(onnx_path)).transform(InferShapes())
    adds, keys = residual_adds(m), sorted(golden_float, key=lambda k: int(k.split(".")[1]))
    if len(adds) != len(keys):
        raise BiRealError(f"{onnx_path}: {len(adds)} residual adds in the graph, but "
                          f"golden_float.npz has {len(keys)} blocks")
    n = len(golden_float[keys[0]]) if keys else 0
    bad = {}
    for i in range(n):
        ctx = execute_onnx(m, {m.graph.input[0].name: golden_in[i:i + 1].astype(np.float32)},
                           return_full_exec_context=True)
        for t, k in zip(adds, keys):
            want = golden_float[k][i:i + 1]
            if not _bits_equal(ctx[t], want):
                bad[k] = bad.get(k, 0) + int((ctx[t].view(np.uint32) !=
                                              want.view(np.uint32)).sum())
    return {"float_images": n, "float_tensors": keys, "float_tolerance": FLOAT_EXPORT_TOL,
            "float_mismatches": bad, "float_bit_exact": not bad}


def verify_onnx(onnx_path, golden_in: np.ndarray, golden_out: np.ndarray, progress=None,
                golden_float: dict | None = None) -> dict:
    """Logits vs golden_out (tolerance EXPORT_TOL; 0 in float32 mode, i.e. when golden_float
    is given) and, in float32 mode, the float tensors bit for bit."""
    got = execute_qonnx(onnx_path, golden_in, progress)
    tol = EXPORT_TOL if golden_float is None else FLOAT_EXPORT_TOL
    diff = float(np.abs(got - golden_out).max()) if got.size else 0.0
    argmax_eq = bool((got.argmax(1) == golden_out.argmax(1)).all())
    r = {"images": int(len(golden_in)), "max_abs_diff": diff, "tolerance": tol,
         "identical_argmax": argmax_eq, "bit_exact": bool(np.array_equal(got, golden_out)),
         "ok": bool(diff <= tol and argmax_eq)}
    if golden_float is not None:
        r.update(verify_float_tensors(onnx_path, golden_in, golden_float))
        r["bit_exact"] = r["bit_exact"] and _bits_equal(got, golden_out)
        r["ok"] = r["ok"] and r["float_bit_exact"] and r["bit_exact"]
    return r
