"""Step-by-step verification: execute the model after every build step and compare with PyTorch.

Reference: `golden_out.npy` (the deployed PyTorch model's logits) for the output, and for the
layers the tensors of the exported QONNX graph (step "export", itself checked equal to PyTorch
bit for bit on the same images): every requant output (stem, blocks.i.conv, blocks.i.downsample),
every block output (blocks.i.add) and the pooled features (head.pool).

Tolerance: 0. Fixed-point exports: every tensor in every step is an integer times a power of two
and every float32 op on it is exact (accumulators < 2**24, checked at deploy time), so "equal"
means bit-equal. Float32-shortcut exports (hw.float_graph) also anchor the float tensors (each
affine output and residual sum, kind "float32"): those are compared bit for bit, as uint32
views of the float32 values (-0.0 != +0.0; a NaN would differ too), tolerance 0.
A layer tensor is found in a later step by value: the step tensor equal to the reference times
a power of two (the scale streamlining moved away), in NCHW or NHWC order. Layers that no
tensor matches are "not observable" in that step (e.g. fused into thresholds), or "differs" when
the tensor with the same name/role exists and holds other values — unless those values are the
reference plus one integer constant on every element of every image (a step moved the tensor's
offset downstream, e.g. the stem's MultiThreshold -> MaxPool -> Add(qmin)): that layer is exact,
reported with `offset_to_reference`.
"""
from __future__ import annotations

import time

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from model.errors import BiRealError

from .par_exec import GraphExecutor

TOLERANCE = 0.0


def _float_affines(model: ModelWrapper) -> list:
    """(conv, add) of each Conv -> Mul(per-channel) -> Add(per-channel) float affine."""
    out = []
    for conv in model.graph.node:
        if conv.op_type != "Conv":
            continue
        mul = model.find_consumer(conv.output[0])
        if mul is None or mul.op_type != "Mul" or model.get_initializer(mul.input[1]) is None \
                or model.get_initializer(mul.input[1]).size == 1:
            continue
        add = model.find_consumer(mul.output[0])
        if add is not None and add.op_type == "Add" and model.get_initializer(add.input[1]) is not None:
            out.append((conv, add))
    return out


def layer_anchors(model: ModelWrapper) -> list[tuple[str, str]]:
    """(label, tensor) for the layer outputs of an exported Bi-Real graph, in graph order.
    Float32-shortcut exports: labels of float tensors end in FLOAT_TAG (bit-for-bit check)."""
    adds = [n for n in model.graph.node if n.op_type == "Add"
            and all(model.get_initializer(i) is None for i in n.input)]
    add_idx = {n.name: i for i, n in enumerate(adds)}
    out = []
    affines = _float_affines(model)
    if affines:
        return _float_anchors(model, affines, add_idx)
    for n in model.graph.node:
        if n.op_type == "FixedPointRequant":
            conv = model.find_producer(n.input[0])
            cons = model.find_consumers(n.output[0])
            add = next((c for c in cons if c.name in add_idx), None)
            w = model.find_producer(conv.input[1]) if conv is not None else None
            src = model.find_producer(conv.input[0]) if conv is not None else None
            if src is not None and src.op_type == "Quant" and \
                    src.input[0] == model.graph.input[0].name:
                label = "stem"
            elif add is None:
                label = f"requant.{n.name}"
            elif w is not None and w.op_type == "BipolarQuant":
                label = f"blocks.{add_idx[add.name]}.conv"
            else:
                label = f"blocks.{add_idx[add.name]}.downsample"
            out.append((label, n.output[0]))
        elif n.op_type == "Quant":
            src = model.find_producer(n.input[0])
            if src is not None and src.name in add_idx:
                out.append((f"blocks.{add_idx[src.name]}.add", n.output[0]))
            elif src is not None and src.op_type in ("Flatten", "GlobalAveragePool"):
                out.append(("head.pool", n.output[0]))
    return out


FLOAT_TAG = " [float32]"


def _float_anchors(model, affines, add_idx) -> list[tuple[str, str]]:
    """Float export: stem / blocks.i.conv / blocks.i.downsample affine outputs and the block
    sums blocks.i.add (float32), the int8 requants blocks.i.quant and head.pool (integer)."""
    out = []
    for conv, add in affines:
        w = model.find_producer(conv.input[1])
        cons = model.find_consumers(add.output[0])
        j = next((add_idx[c.name] for c in cons if c.name in add_idx), None)
        if model.find_producer(conv.input[0]) is not None and \
                model.find_producer(conv.input[0]).op_type == "Quant" and \
                model.find_producer(conv.input[0]).input[0] == model.graph.input[0].name:
            label = "stem"
        elif j is None:
            label = f"affine.{add.name}"
        elif w is not None and w.op_type == "BipolarQuant":
            label = f"blocks.{j}.conv"
        else:
            label = f"blocks.{j}.downsample"
        out.append((label + FLOAT_TAG, add.output[0]))
    for n in model.graph.node:
        if n.name in add_idx:
            out.append((f"blocks.{add_idx[n.name]}.add{FLOAT_TAG}", n.output[0]))
        elif n.op_type == "Quant":
            src = model.find_producer(n.input[0])
            if src is not None and src.name in add_idx:
                out.append((f"blocks.{add_idx[src.name]}.quant", n.output[0]))
            elif src is not None and src.op_type in ("Flatten", "GlobalAveragePool"):
                out.append(("head.pool", n.output[0]))
    return out


def _equal(t: np.ndarray, ref: np.ndarray, ratio: float, bits: bool) -> bool:
    """t == ref * ratio; with `bits` (float32 anchors): ratio 1 and equal float32 bit patterns."""
    if bits:
        return ratio == 1.0 and np.array_equal(np.asarray(t, np.float32).view(np.uint32),
                              np.asarray(ref, np.float32).view(np.uint32))
    return np.array_equal(t, ref * ratio)


def full_context(model: ModelWrapper, x: np.ndarray) -> dict:
    """All tensors of one execution, including those inside dataflow partitions."""
    from qonnx.custom_op.registry import getCustomOp
    ctx = execute_onnx(model, {model.graph.input[0].name: x}, return_full_exec_context=True)
    for n in model.graph.node:
        if n.op_type == "StreamingDataflowPartition":
            child = ModelWrapper(getCustomOp(n).get_nodeattr("model"))
            cctx = execute_onnx(child, {child.graph.input[0].name: ctx[n.input[0]]},
                                return_full_exec_context=True)
            ctx.update({f"{n.name}/{k}": v for k, v in cctx.items()})
    return ctx


def _to_nchw(t: np.ndarray, ref_shape) -> list[tuple[str, np.ndarray]]:
    cands = []
    if t.size != int(np.prod(ref_shape)):
        return cands
    if t.shape == tuple(ref_shape):
        cands.append(("same", t))
    if t.ndim == 4 and len(ref_shape) == 4 and t.shape == (ref_shape[0], ref_shape[2],
                                                           ref_shape[3], ref_shape[1]):
        cands.append(("nhwc", t.transpose(0, 3, 1, 2)))
    if not cands:
        cands.append(("flat", t.reshape(ref_shape)))
    return cands


def _po2_ratio(t: np.ndarray, r: np.ndarray):
    nz = np.flatnonzero(r)
    if len(nz) == 0:
        return 1.0 if not np.any(t) else None
    k = nz[0]
    ratio = float(t.flat[k]) / float(r.flat[k])
    if ratio <= 0 or 2.0 ** round(np.log2(ratio)) != ratio:
        return None
    return ratio


def match_tensors(ctx: dict, ref: np.ndarray, prefer: str, bits: bool = False) -> list[tuple]:
    """All (tensor name, layout, ratio, 0.0) of step tensors equal to ref * 2^k (bit for bit
    when `bits` and k = 0)."""
    names = ([prefer] if prefer in ctx else []) + [k for k in ctx if k != prefer]
    hits = []
    for name in names:
        t = ctx[name]
        if not isinstance(t, np.ndarray):
            continue
        for lay, tt in _to_nchw(t, ref.shape):
            ratio = _po2_ratio(tt, ref)
            if ratio is not None and _equal(tt, ref, ratio, bits):
                hits.append((name, lay, ratio, 0.0))
    return hits


def _view(t: np.ndarray, lay: str, shape):
    return t.transpose(0, 3, 1, 2) if lay == "nhwc" else t.reshape(shape)


def const_offset(t: np.ndarray, ref: np.ndarray, ratio: float):
    """The integer c with t == ref * ratio + c on every element, or None. A step may move a
    tensor's constant offset downstream (hw.transforms.MaxPoolOnUnsigned: MultiThreshold ->
    MaxPool -> Add(qmin)); the tensor is then the reference plus c, exactly."""
    d = np.asarray(t, np.float64) - np.asarray(ref, np.float64) * ratio
    c = float(d.flat[0]) if d.size else 0.0
    if c == 0.0 or c != round(c) or not np.all(d == c):
        return None
    return c


def _hit_equal(ctx: dict, h: tuple, ref: np.ndarray, bits: bool) -> bool:
    """Tensor h = (name, layout, ratio, offset) of this step equals ref * ratio + offset."""
    t = _view(ctx[h[0]], h[1], ref.shape)
    return _equal(t - h[3] if h[3] else t, ref, h[2], bits)


class StepVerifier:
    """Callback for `hw.flow.run_steps`: verifies each step, builds the report."""

    def __init__(self, golden_in: np.ndarray, golden_out: np.ndarray, progress=None,
                 workers: int | None = None):
        """workers: processes executing the images (hw.par_exec; None = its default)."""
        if len(golden_in) != len(golden_out) or len(golden_in) == 0:
            raise BiRealError(f"golden_in has {len(golden_in)} images, golden_out "
                              f"{len(golden_out)}: need the same non-zero number")
        self.gi, self.go = golden_in.astype(np.float32), golden_out
        self.progress = progress or (lambda it, **k: it)
        self.executor = GraphExecutor(workers)
        self.steps: list[dict] = []
        self.anchors: list[tuple[str, str]] = []
        self.refs: dict[str, list[np.ndarray]] = {}
        self.in_quant = None
        self.prev: dict[str, tuple] = {}
        self._t = time.time()

    # input in whatever form the step's graph takes: float, or UINT8 pixels; NCHW or NHWC
    def _input(self, model: ModelWrapper, i: int) -> np.ndarray:
        iname = model.graph.input[0].name
        x = self.gi[i:i + 1]
        if model.get_tensor_datatype(iname).name.startswith("UINT"):
            from qonnx.custom_op.general.quant import quant
            s, bits = self.in_quant
            x = (quant(x, np.float32(s), np.float32(0), np.float32(bits), 0, 0, "ROUND")
                 / s).astype(np.float32)
        shape = tuple(model.get_tensor_shape(iname))
        if shape != x.shape and x.ndim == 4 and shape == (1, x.shape[2], x.shape[3], x.shape[1]):
            x = x.transpose(0, 2, 3, 1)
        if shape != x.shape:
            raise BiRealError(f"graph input {iname} has shape {shape}; images are {x.shape[1:]}")
        return np.ascontiguousarray(x)

    def __call__(self, name: str, model: ModelWrapper):
        t_step = time.time() - self._t
        first = not self.steps
        if first:
            self.anchors = layer_anchors(model)
            q = model.find_consumer(model.graph.input[0].name)
            if q is None or q.op_type != "Quant":
                raise BiRealError("the exported graph must start with the input Quant")
            self.in_quant = (float(model.get_initializer(q.input[1])),
                             float(model.get_initializer(q.input[3])))
        oname = model.graph.output[0].name
        t0 = time.time()
        found: dict[str, tuple] = {}
        mism = {lab: 0 for lab, _ in self.anchors}
        out_bad, max_diff = 0, 0.0
        error = None
        results = self.executor.contexts(model, [self._input(model, i)
                                                 for i in range(len(self.gi))])
        for i, (kind, ctx) in self.progress(enumerate(results), total=len(self.gi),
                                            desc=f"verify {name}", leave=False):
            if kind == "bireal":
                raise BiRealError(ctx)
            if kind == "error":             # a broken graph is a verification failure
                error, out_bad = ctx, len(self.gi)
                break
            out = ctx[oname].reshape(self.go[i:i + 1].shape)
            d = float(np.abs(out.astype(np.float64) - self.go[i:i + 1]).max())
            max_diff = max(max_diff, d)
            out_bad += int(d > TOLERANCE)
            for lab, tname in self.anchors:
                if first:
                    # float32 -> float64 is exact; _equal casts back for the bit compare
                    self.refs.setdefault(lab, []).append(ctx[tname].astype(np.float64))
                    found[lab] = [(tname, "same", 1.0, 0.0)]
                    continue
                ref = self.refs[lab][i]
                if i == 0:
                    # every tensor matching on image 0; later images keep the ones that still
                    # match (a pre-clamp sum can equal the clamped output on one image)
                    found[lab] = match_tensors(ctx, ref, tname, lab.endswith(FLOAT_TAG))
                    prev = self.prev.get(lab)
                    if not found[lab] and prev is not None and prev[0] in ctx \
                            and ctx[prev[0]].size == ref.size:
                        # same tensor as last step, other values: the reference plus a
                        # constant integer offset (moved downstream), or a difference
                        c = None if lab.endswith(FLOAT_TAG) else const_offset(
                            _view(ctx[prev[0]], prev[1], ref.shape), ref, prev[2])
                        found[lab] = [prev[:3] + (c if c is not None else prev[3],)]
                hits = found.get(lab)
                if hits:
                    ok = [h for h in hits if _hit_equal(ctx, h, ref, lab.endswith(FLOAT_TAG))]
                    if ok:
                        found[lab] = ok
                    else:
                        mism[lab] += 1
        self.prev = {k: v[0] for k, v in found.items() if v}
        layers = []
        for lab, _ in self.anchors:
            hit = found.get(lab)
            hit = hit[0] if hit else None
            status = ("not observable" if hit is None else
                      "differs" if mism[lab] else "exact")
            layers.append({"layer": lab, "status": status, "tensor": hit[0] if hit else None,
                           "scale_to_reference": hit[2] if hit else None,
                           "offset_to_reference": hit[3] if hit else None,
                           "mismatching_images": mism[lab] if hit else None})
        # exact = equal logits AND no observed layer tensor differing (a float32 layer can
        # differ by an ulp without changing the logits on these images)
        exact = out_bad == 0 and not any(x["status"] == "differs" for x in layers)
        ops: dict[str, int] = {}
        for n in model.graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
        if error:
            layers = [dict(x, status="not observable") for x in layers]
        self.steps.append({
            "step": name, "bit_exact": exact, "error": error, "images": len(self.gi),
            "mismatching_images": out_bad, "max_abs_diff": max_diff,
            "first_differing_layer": next((x["layer"] for x in layers
                                           if x["status"] == "differs"), None),
            "layers": layers, "nodes": len(model.graph.node), "op_types": ops,
            "transform_seconds": round(t_step, 2), "verify_seconds": round(time.time() - t0, 2)})
        self._t = time.time()
        return exact

    def report(self) -> dict:
        bad = next((s for s in self.steps if not s["bit_exact"]), None)
        first = None
        if bad is not None:
            last_ok = [x["layer"] for x in bad["layers"] if x["status"] == "exact"]
            first = {"step": bad["step"], "error": bad["error"],
                     "layer": bad["first_differing_layer"]
                     or "(no layer tensor observable; difference is downstream of "
                        f"{last_ok[-1] if last_ok else 'the input'})"}
        return {"bit_exact": bad is None and bool(self.steps), "images": len(self.gi),
                "tolerance": TOLERANCE,
                "tolerance_reason": "integer tensors are integers times powers of two and "
                                    "every float32 op on them is exact (accumulators < 2**24); "
                                    "float32-shortcut tensors (layers tagged [float32]) are "
                                    "compared bit for bit (uint32 views)",
                "reference": "golden_out.npy (deployed PyTorch model) for the output; the "
                             "exported QONNX graph's tensors (step 'export', equal to PyTorch) "
                             "for the layers",
                "first_difference": first, "steps": self.steps}


def format_report(rep: dict) -> str:
    lines = [f"{'step':28s} {'output':>9s} {'layers exact/observed':>22s}  first differing layer",
             "-" * 86]
    for s in rep["steps"]:
        obs = [x for x in s["layers"] if x["status"] != "not observable"]
        ok = sum(x["status"] == "exact" for x in obs)
        verdict = ("exact" if s["bit_exact"] else "ERROR" if s.get("error")
                   else "layers" if not s["mismatching_images"]
                   else f"{s['mismatching_images']} bad")
        lines.append(f"{s['step']:28s} {verdict:>9s} {f'{ok}/{len(obs)}':>22s}  "
                     f"{s['first_differing_layer'] or '-'}")
    v = ("BIT-EXACT at every step" if rep["bit_exact"] else
         f"DIFFERENCE first at step {rep['first_difference']['step']}, layer "
         f"{rep['first_difference']['layer']}")
    if rep["first_difference"] and rep["first_difference"].get("error"):
        v += f"\n  execution failed: {rep['first_difference']['error'][:300]}"
    lines.append(f"{v} ({rep['images']} images, tolerance {rep['tolerance']})")
    return "\n".join(lines)
