"""Per-layer parameters, MACs and weight memory of a Bi-Real architecture.

MACs of a conv/FC = output elements x (C_in / groups x k_h x k_w). Binary MACs are those of the
3x3 binary convs (XNOR-popcount in hardware); real MACs are the w_bits-bit layers. OPs follow the
paper's convention (Bi-Real Sec. 4.3, from XNOR-Net): OPs = binary MACs / 64 + real MACs.
Weight memory: 1 bit per binary weight, w_bits per integer weight; the folded BN/requant
constants (per channel: affine_bits multiplier + bias) are reported separately.
"""
from __future__ import annotations

import torch
from torch import nn

from brevitas.nn import QuantConv2d, QuantLinear

from .layers import BinaryConv2d
from .nets import bireal


@torch.no_grad()
def arch_info(arch: str, num_classes: int | None = None) -> dict:
    net = bireal(arch, num_classes=num_classes).eval()
    binary_convs = {id(m.conv) for m in net.modules() if isinstance(m, BinaryConv2d)}
    rows, hooks = [], []

    def hook(name):
        def f(mod, inp, out):
            w = mod.weight
            per_out = w[0].numel()
            macs = out.numel() // out.shape[0] * per_out
            binary = id(mod) in binary_convs
            rows.append({
                "layer": name, "kind": "binary conv" if binary else (
                    "fc" if isinstance(mod, QuantLinear) else "int conv"),
                "in_shape": list(inp[0].shape[1:]), "out_shape": list(out.shape[1:]),
                "kernel": list(w.shape[2:]) if w.dim() == 4 else [1, 1],
                "stride": list(getattr(mod, "stride", (1, 1))),
                "params": w.numel() + (mod.bias.numel() if mod.bias is not None else 0),
                "binary_macs": macs if binary else 0, "real_macs": 0 if binary else macs,
                "weight_bits": w.numel() * (1 if binary else net.q.w_bits),
            })
        return f

    for name, m in net.named_modules():
        if isinstance(m, (QuantConv2d, QuantLinear)):
            hooks.append(m.register_forward_hook(hook(name)))
    s = net.spec
    net(torch.zeros(1, s.in_ch, s.in_size, s.in_size))
    for h in hooks:
        h.remove()
    bn_ch = sum(m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    tot = {k: sum(r[k] for r in rows) for k in ("binary_macs", "real_macs", "weight_bits")}
    binary_params = sum(r["params"] for r in rows if r["kind"] == "binary conv")
    return {
        "arch": arch, "input": [s.in_ch, s.in_size, s.in_size], "num_classes": net.num_classes,
        "params": sum(p.numel() for p in net.parameters()),
        "binary_params": binary_params,
        **tot,
        "ops": tot["binary_macs"] / 64 + tot["real_macs"],
        "binary_weight_bits": binary_params,
        "requant_channels": bn_ch,
        "quant": net.q.to_dict(),
        "layers": rows,
    }


def format_info(info: dict) -> str:
    def h(n):
        for unit, d in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(n) >= d:
                return f"{n / d:.2f}{unit}"
        return str(int(n))
    lines = [f"{info['arch']}: input {'x'.join(map(str, info['input']))}, "
             f"{info['num_classes']} classes",
             f"{'layer':32s} {'kind':11s} {'out':>14s} {'params':>9s} {'binary MACs':>12s} "
             f"{'real MACs':>10s} {'weight bits':>12s}"]
    for r in info["layers"]:
        lines.append(f"{r['layer']:32s} {r['kind']:11s} {'x'.join(map(str, r['out_shape'])):>14s} "
                     f"{h(r['params']):>9s} {h(r['binary_macs']):>12s} {h(r['real_macs']):>10s} "
                     f"{h(r['weight_bits']):>12s}")
    lines.append(f"{'total':32s} {'':11s} {'':>14s} {h(info['params']):>9s} "
                 f"{h(info['binary_macs']):>12s} {h(info['real_macs']):>10s} "
                 f"{h(info['weight_bits']):>12s}")
    lines.append(f"params {info['params']:,} (binary {info['binary_params']:,}); "
                 f"OPs = binary/64 + real = {info['ops']:.3e}; weight memory "
                 f"{info['weight_bits'] / 1e6:.3f} Mbit ({info['binary_weight_bits'] / 1e6:.3f} Mbit "
                 f"binary); BN/requant channels {info['requant_channels']:,}")
    return "\n".join(lines)
