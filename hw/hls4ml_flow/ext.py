"""hls4ml 1.3.0 extensions and workarounds used by the bireal route (registered once, in-process).

  FPRequant       the project's FixedPointRequant as an hls4ml Extension-API layer (Vitis
                  backend, io_stream): integer A (mult_t), B (bias_t), S; the C++ is
                  hw/hls4ml_ext/nnet_fp_requant_stream.h. Widths (signed bits, b(v) = bit length
                  of |v| + 1):  mult_t = b(max A), bias_t = b(max |B|), acc_t = the input type's
                  width (its raw bits are acc = x * 2^in_frac), wide_t =
                  max(acc + mult, b(max |B|), S + 1) + 1 (holds A*acc + B + 2^(S-1) without wrap).
  GAP NHWC        hls4ml's GlobalAveragePool handler takes (C, H, W) from an NCHW ONNX shape but
                  emits channels-last code: with io_stream the packet size / n_filt is 0, an
                  integer division by zero at compile time (g++ emits ud2: "Illegal instruction"
                  in predict); with io_parallel the wrong axis is averaged. The replacement
                  handler reads the NHWC shape the rewrite produces.
  ScaleDownAdd    crashes ("Unexpected new precision type: NamedType") on a residual Add of two
                  float ApplyAlphas; SkipOptimizers does not reach it, so `no_scale_down_add`
                  disables its match() for the duration of a conversion.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

HEADER = Path(__file__).resolve().parent.parent / "hls4ml_ext" / "nnet_fp_requant_stream.h"
_DONE = []


def sbits(v) -> int:
    """Signed bits holding every integer in v: bit_length(max |v|) + 1."""
    return int(np.max(np.abs(np.asarray(v, dtype=np.int64)), initial=0)).bit_length() + 1


def wide_bits(acc_bits: int, mult, bias, shift: int) -> int:
    """Bits of A*acc + B + 2^(S-1) (module docstring)."""
    return max(acc_bits + sbits(mult), sbits(bias), shift + 1) + 1


_CFG = """struct config{index} : nnet::fp_requant_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_chan = {n_chan};
    static const unsigned shift = {shift};
    static const unsigned in_frac = {in_frac};
    static const int out_bits = {out_bits};
    typedef ap_int<{acc_bits}> acc_t;
    typedef ap_int<{wide}> wide_t;
    typedef {mult_t.name} mult_t;
    typedef {bias_t.name} bias_t;
}};\n"""
_CALL = "nnet::fp_requant<{input_t}, {output_t}, {config}>({input}, {output}, {mult}, {bias});"


def register():
    """Register the FPRequant layer, its templates and header, and the NHWC GAP handler."""
    if _DONE:
        return
    import hls4ml
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.attributes import Attribute
    from hls4ml.model.layers import Layer, register_layer
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    class FPRequant(Layer):
        _expected_attributes = [Attribute(a) for a in ("n_in", "n_chan", "shift", "in_frac",
                                                       "out_bits", "out_frac")]

        def initialize(self):
            ob, of = self.attributes["out_bits"], self.attributes["out_frac"]
            self.add_output_variable(self.get_input_variable().shape,
                                     precision=FixedPrecisionType(ob, ob - of, True))
            for w, var in (("mult", "rqm{index}"), ("bias", "rqb{index}")):
                d = np.asarray(self.attributes[w + "_data"], dtype=np.int64)
                self.add_weights_variable(name=w, var_name=var, data=d,
                                          precision=IntegerPrecisionType(sbits(d), True))

    class FPRConfig(LayerConfigTemplate):
        def __init__(self):
            super().__init__(FPRequant)
            self.template = _CFG

        def format(self, node):
            p = self._default_config_params(node)
            p["n_in"] = node.get_input_variable().size_cpp()
            p["acc_bits"] = node.get_input_variable().type.precision.width
            p["wide"] = wide_bits(p["acc_bits"], node.attributes["mult_data"],
                                  node.attributes["bias_data"], node.attributes["shift"])
            return self.template.format(**p)

    class FPRFunc(FunctionCallTemplate):
        def __init__(self):
            super().__init__(FPRequant, include_header=["nnet_utils/nnet_fp_requant_stream.h"])
            self.template = _CALL

        def format(self, node):
            p = self._default_function_params(node)
            p["mult"], p["bias"] = node.get_weights("mult").name, node.get_weights("bias").name
            return self.template.format(**p)

    def fpr_handler(node, input_names, input_shapes, graph):
        from .rewrite import attrs
        a = attrs(node)
        if int(a.get("axis", 1)) != len(input_shapes[0]) - 1:
            raise ValueError(f"{node.name}: FixedPointRequant must be channels last (axis -1)")
        return {"class_name": "FPRequant", "name": node.name, "inputs": input_names[:1],
                "outputs": list(node.output), "n_in": int(np.prod(input_shapes[0][1:])),
                "n_chan": len(a["mult"]), "shift": int(a["shift"]),
                "in_frac": int(a["in_frac"]), "out_bits": int(a["out_bits"]),
                "out_frac": int(a["out_frac"]), "mult_data": np.array(a["mult"], np.int64),
                "bias_data": np.array(a["bias"], np.int64)}

    def gap_nhwc_handler(node, input_names, input_shapes, graph):
        s = input_shapes[0]                                    # [N, H, W, C]
        return {"name": node.name, "inputs": input_names, "outputs": list(node.output),
                "class_name": "GlobalAveragePooling2D", "data_format": "channels_last",
                "n_out": 1, "pad_left": 0, "pad_right": 0, "stride": 0,
                "n_filt": s[3], "in_height": s[1], "in_width": s[2]}

    register_layer("FPRequant", FPRequant)
    hls4ml.converters.register_onnx_layer_handler("FixedPointRequant", fpr_handler)
    import sys
    sys.modules["hls4ml.converters.onnx_to_hls"].layer_handlers["GlobalAveragePool"] = \
        gap_nhwc_handler
    be = hls4ml.backends.get_backend("Vitis")
    be.register_template(FPRConfig)
    be.register_template(FPRFunc)
    be.register_source(str(HEADER))
    _DONE.append(True)


@contextlib.contextmanager
def no_scale_down_add():
    """Disable hls4ml's ScaleDownAdd optimizer pass while converting (module docstring)."""
    from hls4ml.model.optimizer.passes.move_scales import ScaleDownAdd
    old = ScaleDownAdd.match
    ScaleDownAdd.match = lambda self, node: False
    try:
        yield
    finally:
        ScaleDownAdd.match = old
