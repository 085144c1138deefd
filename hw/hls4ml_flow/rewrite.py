"""Rewrite of the project's QONNX export into the graph hls4ml 1.3.0 ingests.

Each step is an exact identity on the values the hardware sees:

  avgpool_conv   AveragePool(2x2, s2) -> Conv(1x1, W) with W = Quant(W0, scale 1) becomes one
                 Conv(2x2, s2) with W2[o,i,a,b] = W[o,i] / 4 kept behind a Quant(scale 1/4,
                 8-bit narrow): sum_ab x[2h+a,2w+b] * W/4 = W * mean_ab(x) exactly, because the
                 Quant reproduces W2 bit for bit (|W| <= 127 -> W2 * 4 integer) and x is int8 at
                 2^-4 (every partial sum is a float32 integer multiple of 2^-6 below 2^24).
                 A quantized weight also keeps hls4ml's FuseBatchNormalization from folding
                 the following scale into the weights.
  pad_fold       Pad(-1, spatial 1) -> Conv(pads 0) on BipolarQuant data becomes
                 Conv(pads 1): hls4ml encodes +-1 as one bit and pads with code 0 = -1, the
                 project's padding. (onnxruntime pads with 0.0, so the check graph keeps the
                 Pad; hls4ml's per-layer trace checks the fold.)
  requant        FixedPointRequant (unknown to qonnx's channels-last pass) travels through it
                 as a tagged Mul/Add/Quant(FLOOR) stand-in, then collapses back into one
                 channels-last FixedPointRequant with the original integer A, B, S (axis 3):
                 y = clamp(floor((A_c * acc + B_c + 2^(S-1)) / 2^S)).
  consts         per-channel Mul/Add constants [1,1,1,C] (after the pass) become [C].
  bq_transposes  Transpose(0,3,1,2) -> BipolarQuant -> Transpose(0,2,3,1): BipolarQuant is
                 elementwise with a scalar scale, so the pair is removed.
  gap            Transpose -> GlobalAveragePool -> Flatten becomes one NHWC mean over H, W
                 (ReduceMean(axes 1, 2) in the check graph; a GlobalAveragePool that hls4ml
                 reads with an NHWC handler in the hls4ml graph).
Nodes carry their export name in doc_string ("bireal:NAME") through qonnx's renaming so the
final graph uses the export's node names (needed by the per-layer comparison).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from onnx import numpy_helper as nh
from qonnx.core.modelwrapper import ModelWrapper

from model.errors import BiRealError

TAG = "bireal:"
QDOM = "qonnx.custom_op.general"
FPR_DOMAIN = "model.custom_op"


def attrs(n) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in n.attribute}


def _inits(m: ModelWrapper) -> dict:
    return {i.name: nh.to_array(i) for i in m.graph.initializer}


def _rebuild(m: ModelWrapper, nodes, drop=(), extra=()) -> ModelWrapper:
    used = {x for n in nodes for x in n.input}
    inits = [i for i in m.graph.initializer if i.name not in drop and i.name in used]
    inits += [i for i in extra if i.name in used]
    g = helper.make_graph(nodes, m.graph.name or "bireal_hls4ml", list(m.graph.input),
                          list(m.graph.output), inits, value_info=list(m.graph.value_info))
    return ModelWrapper(helper.make_model(g, opset_imports=list(m.model.opset_import)))


def tag_nodes(m: ModelWrapper) -> ModelWrapper:
    for n in m.graph.node:
        n.doc_string = TAG + n.name
    return m


def restore_names(m: ModelWrapper) -> ModelWrapper:
    """Give every tagged node its export name back (qonnx cleanup renumbers them)."""
    for n in m.graph.node:
        if n.doc_string.startswith(TAG) and "/" not in n.doc_string:
            n.name = n.doc_string[len(TAG):]
    return m


def avgpool_conv(m: ModelWrapper) -> tuple[ModelWrapper, list[str]]:
    """AveragePool 2x2/s2 -> 1x1 Conv  ==>  2x2/s2 Conv with Quant(W/4, scale 1/4)."""
    I, prod = _inits(m), {o: n for n in m.graph.node for o in n.output}
    nodes, extra, drop, done, skip = [], [], set(), [], set()
    for n in m.graph.node:
        ap = prod.get(n.input[0]) if n.op_type == "Conv" else None
        if ap is None or ap.op_type != "AveragePool":
            nodes.append(n)
            continue
        a, pa = attrs(n), attrs(ap)
        wq = prod.get(n.input[1])
        if (list(pa["kernel_shape"]) != [2, 2] or list(pa["strides"]) != [2, 2]
                or any(pa.get("pads", [0] * 4)) or list(a["kernel_shape"]) != [1, 1]
                or a.get("group", 1) != 1 or wq is None or wq.op_type != "Quant"):
            raise BiRealError(f"{n.name}: only AveragePool(2x2, s2) -> 1x1 Conv with Quant "
                              "weights is rewritten for hls4ml")
        s, zp, bits = (float(I[x]) for x in wq.input[1:4])
        qa = attrs(wq)
        if s != 1.0 or zp != 0.0 or not qa.get("signed", 1) or bits > 8:
            raise BiRealError(f"{wq.name}: the shortcut conv's weights must be a signed <= 8-bit "
                              "Quant with scale 1 (integer weights)")
        lo = -(2 ** (int(bits) - 1)) + (1 if qa.get("narrow", 0) else 0)
        W = np.clip(np.round(I[wq.input[0]].astype(np.float64)), lo, 2 ** (int(bits) - 1) - 1)
        W2 = np.repeat(np.repeat(W, 2, axis=2), 2, axis=3) * 0.25
        nm = n.name
        extra += [nh.from_array(W2.astype(np.float32), nm + "_w2"),
                  nh.from_array(np.array(0.25, np.float32), nm + "_w2s"),
                  nh.from_array(np.array(0.0, np.float32), nm + "_w2z"),
                  nh.from_array(np.array(bits, np.float32), nm + "_w2b")]
        q = helper.make_node("Quant", [nm + "_w2", nm + "_w2s", nm + "_w2z", nm + "_w2b"],
                             [nm + "_w2q"], domain=QDOM, name=nm + "_wquant", signed=1,
                             narrow=int(qa.get("narrow", 0)), rounding_mode="ROUND")
        q.doc_string = TAG + nm + "/wquant"
        c = helper.make_node("Conv", [ap.input[0], nm + "_w2q"], list(n.output), name=nm,
                             kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0],
                             dilations=[1, 1], group=1)
        c.doc_string = n.doc_string
        nodes += [q, c]
        skip |= {ap.name, wq.name}
        drop |= set(wq.input)
        done.append(nm)
    nodes = [n for n in nodes if n.name not in skip]
    return _rebuild(m, nodes, drop, extra), done


def pad_fold(m: ModelWrapper) -> tuple[ModelWrapper, list[str]]:
    """Pad(-1, [0,0,1,1,0,0,1,1]) of BipolarQuant data -> Conv(pads 0)  ==>  Conv(pads 1)."""
    I, prod = _inits(m), {o: n for n in m.graph.node for o in n.output}
    nodes, skip, done = [], set(), []
    for n in m.graph.node:
        p = prod.get(n.input[0]) if n.op_type == "Conv" else None
        if p is None or p.op_type != "Pad":
            nodes.append(n)
            continue
        src = prod.get(p.input[0])
        pads = [int(v) for v in I[p.input[1]]]
        val = float(I[p.input[2]]) if len(p.input) > 2 else 0.0
        if (src is None or src.op_type != "BipolarQuant" or val != -1.0
                or pads != [0, 0, 1, 1, 0, 0, 1, 1] or any(attrs(n).get("pads", [0] * 4))
                or len(m.find_consumers(p.output[0])) != 1):
            raise BiRealError(f"{p.name}: only Pad(-1, 1 pixel) of BipolarQuant data feeding a "
                              "Conv is folded for hls4ml")
        a = attrs(n)
        a["pads"] = [1, 1, 1, 1]
        c = helper.make_node("Conv", [p.input[0]] + list(n.input[1:]), list(n.output),
                             name=n.name, **a)
        c.doc_string = n.doc_string
        nodes.append(c)
        skip.add(p.name)
        done.append(n.name)
    return _rebuild(m, [n for n in nodes if n.name not in skip]), done


def requant_stand_in(m: ModelWrapper) -> tuple[ModelWrapper, dict]:
    """FixedPointRequant -> tagged Mul(M)/Add(K)/Quant(FLOOR); returns {name: integer params}.
    M, K only steer qonnx's layout pass: the collapse puts the integers back."""
    I = _inits(m)
    nodes, extra, drop, table = [], [], set(), {}
    for n in m.graph.node:
        if n.op_type != "FixedPointRequant":
            nodes.append(n)
            continue
        a = attrs(n)
        A, B = I[n.input[1]].astype(np.int64), I[n.input[2]].astype(np.int64)
        table[n.name] = {"mult": [int(v) for v in A], "bias": [int(v) for v in B],
                         "shift": int(a["shift"]), "in_frac": int(a["in_frac"]),
                         "out_bits": int(a["out_bits"]), "out_frac": int(a["out_frac"])}
        C, nm = len(A), n.name
        sh, fi, fo = a["shift"], a["in_frac"], a["out_frac"]
        M = (A * 2.0 ** (fi - sh - fo)).reshape(C, 1, 1).astype(np.float32)
        K = ((B + 2.0 ** (sh - 1)) * 2.0 ** (-sh - fo)).reshape(C, 1, 1).astype(np.float32)
        extra += [nh.from_array(M, nm + "_M"), nh.from_array(K, nm + "_K"),
                  nh.from_array(np.array(2.0 ** -fo, np.float32), nm + "_qs"),
                  nh.from_array(np.array(0.0, np.float32), nm + "_qz"),
                  nh.from_array(np.array(float(a["out_bits"]), np.float32), nm + "_qb")]
        parts = [helper.make_node("Mul", [n.input[0], nm + "_M"], [nm + "_m"], name=nm + "_mul"),
                 helper.make_node("Add", [nm + "_m", nm + "_K"], [nm + "_a"], name=nm + "_add"),
                 helper.make_node("Quant", [nm + "_a", nm + "_qs", nm + "_qz", nm + "_qb"],
                                  list(n.output), domain=QDOM, name=nm + "_q", signed=1,
                                  narrow=0, rounding_mode="FLOOR")]
        for p, k in zip(parts, ("mul", "add", "quant")):
            p.doc_string = f"{TAG}{nm}/{k}"
        nodes += parts
        drop |= {n.input[1], n.input[2]}
    return _rebuild(m, nodes, drop, extra), table


def channels_last(m: ModelWrapper) -> ModelWrapper:
    """qonnx cleanup -> ConvertToChannelsLastAndClean -> GemmToMatMul -> cleanup, then [C]
    per-channel constants (hls4ml's merge_const cannot broadcast [1,1,1,C])."""
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model
    m = cleanup_model(m)
    m = m.transform(ConvertToChannelsLastAndClean())
    m = m.transform(GemmToMatMul())
    m = cleanup_model(m)
    for n in m.graph.node:
        if n.op_type in ("Mul", "Add"):
            for i in n.input:
                v = m.get_initializer(i)
                if v is not None and v.ndim == 4 and v.shape[:3] == (1, 1, 1):
                    m.set_initializer(i, v.reshape(-1))
    return m


def _rewire(m: ModelWrapper, old: str, new: str):
    for c in m.graph.node:
        for k, x in enumerate(c.input):
            if x == old:
                c.input[k] = new
    for o in m.graph.output:
        if o.name == old:
            raise BiRealError(f"cannot rewire graph output {old}")


def collapse_requants(m: ModelWrapper, table: dict, attr_form: bool) -> ModelWrapper:
    """Each tagged Mul->Add->Quant stand-in -> one FixedPointRequant (axis 3, channels last).
    attr_form: A, B as int-list attributes (hls4ml's handler); else initializer inputs (qonnx)."""
    g = m.graph
    for n in list(g.node):
        if not n.doc_string.endswith("/mul"):
            continue
        nm = n.doc_string[len(TAG):-len("/mul")]
        ad = m.find_consumers(n.output[0])
        q = m.find_consumers(ad[0].output[0]) if len(ad) == 1 else []
        if (len(ad) != 1 or ad[0].doc_string != f"{TAG}{nm}/add" or len(q) != 1
                or q[0].doc_string != f"{TAG}{nm}/quant"):
            raise BiRealError(f"{nm}: qonnx's channels-last pass split the requant stand-in")
        t = table[nm]
        kw = {k: t[k] for k in ("shift", "in_frac", "out_bits", "out_frac")}
        ins = [n.input[0]]
        if attr_form:
            kw.update(mult=t["mult"], bias=t["bias"])
        else:
            for k in ("mult", "bias"):
                g.initializer.append(nh.from_array(np.array(t[k], np.int64), f"{nm}_{k}"))
                ins.append(f"{nm}_{k}")
        f = helper.make_node("FixedPointRequant", ins, [q[0].output[0]], domain=FPR_DOMAIN,
                             name=nm, axis=3, **kw)
        f.doc_string = TAG + nm
        idx = list(g.node).index(n)
        for x in (n, ad[0], q[0]):
            g.node.remove(x)
        g.node.insert(idx, f)
    used = {x for c in g.node for x in c.input}
    for ini in list(g.initializer):
        if ini.name not in used:
            g.initializer.remove(ini)
    return m


def strip_bq_transposes(m: ModelWrapper) -> int:
    """Remove Transpose(0,3,1,2) -> BipolarQuant -> Transpose(0,2,3,1) pairs; returns count."""
    g, k = m.graph, 0
    for n in list(g.node):
        t1 = m.find_producer(n.input[0]) if n.op_type == "BipolarQuant" else None
        if t1 is None or t1.op_type != "Transpose" or list(attrs(t1)["perm"]) != [0, 3, 1, 2]:
            continue
        c = m.find_consumers(n.output[0])
        if (len(c) != 1 or c[0].op_type != "Transpose" or list(attrs(c[0])["perm"]) != [0, 2, 3, 1]
                or len(m.find_consumers(t1.output[0])) != 1):
            continue
        n.input[0] = t1.input[0]
        m.set_tensor_shape(n.output[0], m.get_tensor_shape(t1.input[0]))
        _rewire(m, c[0].output[0], n.output[0])
        g.node.remove(t1)
        g.node.remove(c[0])
        k += 1
    return k


def gap_nhwc(m: ModelWrapper, hls: bool) -> int:
    """Transpose(0,3,1,2) -> GlobalAveragePool -> Flatten  ==>  one NHWC mean [N, C]:
    ReduceMean(axes 1,2) for qonnx (hls False), or an NHWC-read GlobalAveragePool (hls True)."""
    g, k = m.graph, 0
    for n in list(g.node):
        t1 = m.find_producer(n.input[0]) if n.op_type == "GlobalAveragePool" else None
        if t1 is None or t1.op_type != "Transpose" or list(attrs(t1)["perm"]) != [0, 3, 1, 2]:
            continue
        fl = m.find_consumers(n.output[0])
        if len(fl) != 1 or fl[0].op_type != "Flatten" or len(m.find_consumers(t1.output[0])) != 1:
            raise BiRealError(f"{n.name}: GlobalAveragePool not followed by Flatten")
        s = m.get_tensor_shape(t1.input[0])
        out = fl[0].output[0]
        if hls:
            new = helper.make_node("GlobalAveragePool", [t1.input[0]], [out], name=n.name)
        else:
            ax = n.name + "_axes"
            g.initializer.append(nh.from_array(np.array([1, 2], np.int64), ax))
            g.value_info.append(helper.make_tensor_value_info(ax, TensorProto.INT64, [2]))
            new = helper.make_node("ReduceMean", [t1.input[0], ax], [out], name=n.name,
                                   keepdims=0)
        new.doc_string = n.doc_string
        idx = list(g.node).index(n)
        for x in (t1, n, fl[0]):
            g.node.remove(x)
        g.node.insert(idx, new)
        m.set_tensor_shape(out, [s[0], s[3]])
        k += 1
    return k


def check_graph(hls_m: ModelWrapper, steps: dict) -> ModelWrapper:
    """The qonnx-executable twin of the graph handed to hls4ml, three local, exact changes
    apart: each Pad(-1) folded into a Conv's pads comes back as an NHWC Pad(-1) (onnxruntime
    would pad with 0.0), FixedPointRequant takes A, B as initializer inputs (qonnx's op), the
    NHWC-read GlobalAveragePool becomes ReduceMean(axes 1, 2). Deriving it from the hls4ml
    graph runs qonnx's layout pass once (minutes on bireal-cifar) and checks that very graph."""
    m = ModelWrapper(hls_m.model.__deepcopy__())
    g, folded = m.graph, set(steps.get("pad_fold", []))
    for n in list(g.node):
        if n.op_type == "Conv" and n.name in folded:
            x, o = n.input[0], n.name + "_pad"
            g.initializer.extend([nh.from_array(np.array([0, 1, 1, 0] * 2, np.int64), o + "s"),
                                  nh.from_array(np.array(-1.0, np.float32), o + "v")])
            g.node.insert(list(g.node).index(n), helper.make_node(
                "Pad", [x, o + "s", o + "v"], [o], name=o, mode="constant"))
            nn, hh, ww, cc = m.get_tensor_shape(x)
            m.set_tensor_shape(o, [nn, hh + 2, ww + 2, cc])
            n.input[0] = o
            for a in n.attribute:
                if a.name == "pads":
                    a.ints[:] = [0, 0, 0, 0]
        elif n.op_type == "FixedPointRequant" and len(n.input) == 1:
            a = attrs(n)
            for k in ("mult", "bias"):
                g.initializer.append(nh.from_array(np.array(a[k], np.int64), f"{n.name}_{k}"))
                n.input.append(f"{n.name}_{k}")
            keep = [x for x in n.attribute if x.name not in ("mult", "bias")]
            del n.attribute[:]
            n.attribute.extend(keep)
        elif n.op_type == "GlobalAveragePool" and len(m.get_tensor_shape(n.output[0])) == 2:
            ax = n.name + "_axes"
            g.initializer.append(nh.from_array(np.array([1, 2], np.int64), ax))
            r = helper.make_node("ReduceMean", [n.input[0], ax], list(n.output), name=n.name,
                                 keepdims=0)
            r.doc_string = n.doc_string
            g.node.insert(list(g.node).index(n), r)
            g.node.remove(n)
    shapes = {v.name for v in list(g.value_info) + list(g.input) + list(g.output)}
    for ini in g.initializer:                 # qonnx runs one node at a time from value_info
        if ini.name not in shapes:
            g.value_info.append(helper.make_tensor_value_info(ini.name, ini.data_type,
                                                              list(ini.dims)))
    return m


def prepare(export: ModelWrapper, hls: bool) -> tuple[ModelWrapper, dict, dict]:
    """The whole rewrite. hls=True: the graph handed to hls4ml; hls=False: its qonnx-executable
    check graph (check_graph). Returns (graph, requant table, {step: nodes/count})."""
    m, table, steps = _prepare_hls(export)
    return (m if hls else check_graph(m, steps)), table, steps


def _prepare_hls(export: ModelWrapper) -> tuple[ModelWrapper, dict, dict]:
    m = tag_nodes(ModelWrapper(export.model.__deepcopy__()))
    m, ap = avgpool_conv(m)
    steps = {"avgpool_conv": ap}
    m, steps["pad_fold"] = pad_fold(m)
    m, table = requant_stand_in(m)
    m = channels_last(m)
    m = collapse_requants(m, table, attr_form=True)
    steps["requant"] = sorted(table)
    steps["bq_transposes"] = strip_bq_transposes(m)
    steps["gap"] = gap_nhwc(m, True)
    from qonnx.transformation.general import SortGraph
    m = m.transform(SortGraph())
    ops = sorted(m.model.opset_import, key=lambda o: o.domain != "")   # qonnx runs opset [0]
    del m.model.opset_import[:]
    m.model.opset_import.extend(ops)
    left = [n.name for n in m.graph.node if n.op_type == "Transpose"]
    restore_names(m)
    steps["transposes_left"] = left
    return m, table, steps
