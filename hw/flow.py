"""The Bi-Real build-step list: exported QONNX -> one FINN dataflow partition of HW layers.

In the manner of FINN's builder (`finn.builder.build_dataflow_steps`), each step is a function
`step(model, cfg) -> model` built from FINN/qonnx transformations (used as a library, no Vivado)
and the Bi-Real bridges in `hw.transforms`. `hw.verify` executes the model after every step.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.general import GiveUniqueNodeNames, RemoveUnusedTensors
from qonnx.transformation.infer_data_layouts import InferDataLayouts
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from model.errors import BiRealError

from . import float_graph as FG
from . import thresholds as TH
from . import transforms as T

# op types the exporter of this project emits (anything else is not a Bi-Real graph)
EXPORT_OPS = {"Quant", "BipolarQuant", "Conv", "FixedPointRequant", "Pad", "Add", "AveragePool",
              "GlobalAveragePool", "Flatten", "MatMul", "Mul", "MaxPool"}
# what may stay outside the dataflow partition: the output reshape and the logit scale
HOST_OPS = {"Flatten", "Mul"}


@dataclass
class FlowConfig:
    # MoveLinearPastFork must run before MoveLinearPastEltwiseAdd (DESIGN.md); False reproduces
    # the wrong order on purpose (tests show the verifier catches it)
    fork_before_add: bool = True
    streamline_rounds: int = 3
    build_dir: str | None = None     # where CreateDataflowPartition writes the partition model


def _tidy(model: ModelWrapper) -> ModelWrapper:
    return (model.transform(InferShapes()).transform(InferDataTypes())
            .transform(InferDataLayouts()).transform(GiveUniqueNodeNames())
            .transform(RemoveUnusedTensors()))


def _loop(model: ModelWrapper, transforms, rounds: int = 8) -> ModelWrapper:
    for _ in range(rounds):
        changed = False
        for t in transforms:
            model, c = _apply(model, t)
            changed |= c
        if not changed:
            break
    return model


def _apply(model, t):
    before = model.model.SerializeToString()
    model = model.transform(t)
    return model, model.model.SerializeToString() != before


def step_check_graph(model, cfg):
    """Refuse graphs that are not this project's Bi-Real export, naming the node."""
    model = model.transform(InferShapes()).transform(InferDataTypes())
    for n in model.graph.node:
        if n.op_type not in EXPORT_OPS:
            raise BiRealError(f"node {n.name} ({n.op_type}): not part of a Bi-Real graph; "
                              f"supported ops are {', '.join(sorted(EXPORT_OPS))}")
    for n in model.graph.node:
        if n.op_type != "Conv":
            continue
        w = model.find_producer(n.input[1])
        src = model.find_producer(n.input[0])
        sign_in = src is not None and (src.op_type == "BipolarQuant" or (
            src.op_type == "Pad" and (model.find_producer(src.input[0]) or n).op_type == "BipolarQuant"))
        if sign_in and (w is None or w.op_type != "BipolarQuant"):
            raise BiRealError(f"node {n.name} (Conv): its input is a sign (binary activation) but "
                              "its weights are not binary (BipolarQuant); a Bi-Real block needs "
                              "a binary conv there")
        if src is not None and src.op_type == "Pad" and not sign_in:
            raise BiRealError(f"node {src.name} (Pad): pads a non-binary tensor; only the -1 pad "
                              "of a sign before a binary conv is supported")
    return _tidy(model)


def step_integer_input(model, cfg):
    return _tidy(model.transform(T.IntegerInput()))


def step_requant_to_thresholds(model, cfg):
    """FixedPointRequant and the global-pool quantizer -> exact integer MultiThresholds."""
    model = model.transform(TH.FixedPointRequantToMultiThreshold())
    return _tidy(model.transform(TH.GlobalPoolQuantToMultiThreshold()))


def step_float_path(model, cfg):
    """shortcut float32: the float ops -> FloatShortcutAdd / FloatToInt before any FINN
    transformation can reassociate them (hw.float_graph); no-op on a fixed-point export."""
    return _tidy(model.transform(FG.FloatPathToHW()))


def step_qonnx_to_finn(model, cfg):
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    return _tidy(model.transform(ConvertQONNXtoFINN()))


def step_avgpool_to_conv(model, cfg):
    return _tidy(model.transform(T.AvgPoolConv1x1ToConv2x2()))


def step_streamline(model, cfg):
    """Scales past forks and residual adds, absorbed into thresholds (order matters)."""
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.reorder import MoveLinearPastEltwiseAdd, MoveLinearPastFork
    order = ([MoveLinearPastFork(), MoveLinearPastEltwiseAdd()] if cfg.fork_before_add
             else [MoveLinearPastEltwiseAdd(), MoveLinearPastFork()])
    for _ in range(cfg.streamline_rounds):
        model = model.transform(Streamline())
        for t in order:
            model = model.transform(t)
    return _tidy(model.transform(Streamline()))


def step_lower_convs(model, cfg):
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
    return _tidy(model.transform(T.LowerSignPadConvs()).transform(LowerConvsToMatMul()))


def step_xnor(model, cfg):
    """Bipolar MatMuls -> XnorPopcountMatMul; -1 pads -> bit 0; thresholds rounded to integers."""
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    model = model.transform(ConvertBipolarMatMulToXnorPopcount()).transform(T.XnorPadValue())
    return _tidy(model.transform(Streamline()).transform(RoundAndClipThresholds()))


def step_channels_last(model, cfg):
    from finn.transformation.streamline.absorb import (AbsorbConsecutiveTransposes,
                                                       AbsorbTransposeIntoMultiThreshold)
    from finn.transformation.streamline.reorder import (MakeMaxPoolNHWC, MoveTransposePastFork,
                                                        MoveTransposePastJoinAdd,
                                                        MoveTransposePastScalarMul)
    model = model.transform(T.SeedChannelsLastInput())
    loop = [AbsorbTransposeIntoMultiThreshold(), MoveTransposePastFork(),
            MoveTransposePastJoinAdd(), MoveTransposePastScalarMul(),
            MakeMaxPoolNHWC(), AbsorbConsecutiveTransposes(), InferDataLayouts()]
    if FG.has_float_path(model):
        # the integer c = 2p - K (Mul, Add) between an XNOR conv and its FloatShortcutAdd
        # sits between two Transposes: move the scalar ops past them so the pair cancels
        from finn.transformation.streamline.reorder import MoveScalarLinearPastInvariants
        loop.append(MoveScalarLinearPastInvariants())
    model = _loop(model, loop)
    return _tidy(model)


def step_global_pool(model, cfg):
    """GlobalAveragePool -> GlobalAccPool + Mul(1/N) absorbed into the next thresholds."""
    from finn.transformation.fpgadataflow.convert_to_hw.global_acc_pool import InferGlobalAccPoolLayer
    from finn.transformation.streamline.absorb import (AbsorbConsecutiveTransposes,
                                                       AbsorbMulIntoMultiThreshold,
                                                       AbsorbTransposeIntoFlatten)
    from finn.transformation.streamline.reorder import MoveScalarLinearPastInvariants
    model = _tidy(model.transform(InferGlobalAccPoolLayer()))
    model = _loop(model, [MoveScalarLinearPastInvariants(), AbsorbMulIntoMultiThreshold(),
                          AbsorbConsecutiveTransposes(), AbsorbTransposeIntoFlatten(),
                          InferDataLayouts()])
    model = _tidy(model).transform(T.MoveFlattenToOutput())
    return _tidy(model.transform(T.MoveScaleAfterBias()))


def _integer_node(model, node):
    ins = [model.get_tensor_datatype(i) for i in node.input] + [
        model.get_tensor_datatype(node.output[0])]
    return all(dt.is_integer() for dt in ins)


def step_convert_to_hw(model, cfg):
    """HW layers as FINN's step_convert_to_hw with standalone thresholds (no InferRequantLayer)."""
    from finn.transformation.fpgadataflow.convert_to_hw import (
        binary_matrix_vector_activation as bmv, conv_inp_gen, duplicate_streams,
        elementwise_binary_operation as elt, pool, quantized_matrix_vector_activation as qmv,
        thresholding)
    model = _tidy(model.transform(T.MaxPoolOnUnsigned()))
    if FG.has_float_path(model):
        model = _tidy(model.transform(FG.FloatSignToFloatToInt())
                      .transform(FG.AbsorbScalarMulIntoFloatAdd())
                      .transform(FG.TypeXnorCorrection()))
    for t in [thresholding.InferThresholdingLayer(), bmv.InferBinaryMatrixVectorActivation(),
              qmv.InferQuantizedMatrixVectorActivation(), pool.InferPool(),
              conv_inp_gen.InferConvInpGen(),
              elt.InferElementwiseBinaryOperation(_integer_node),
              duplicate_streams.InferDuplicateStreamsLayer()]:
        model = _tidy(model.transform(t))
    return model


def step_sum_pool(model, cfg):
    """Downsample 2x2 conv with tap-shared weights -> 2x2 sum pool + 1x1 MVAU (hw.sum_pool)."""
    from .sum_pool import SumPoolDownsample
    return _tidy(model.transform(SumPoolDownsample()))


def step_minimize_bitwidths(model, cfg):
    from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
    return _tidy(model.transform(MinimizeWeightBitWidth()).transform(MinimizeAccumulatorWidth()))


def is_hw(node) -> bool:
    return node.domain.startswith("finn.custom_op.fpgadataflow") or node.domain.startswith("hw.")


def step_create_dataflow_partition(model, cfg):
    """One StreamingDataflowPartition holding every compute node; only HOST_OPS stay outside."""
    from finn.transformation.fpgadataflow.create_dataflow_partition import CreateDataflowPartition
    for n in model.graph.node:
        if not is_hw(n) and n.op_type not in HOST_OPS:
            raise BiRealError(f"node {n.name} ({n.op_type}) was not converted to a HW layer; "
                              "the dataflow partition would not hold all compute")
        if not is_hw(n) and n.op_type == "Mul" and any(
                c.op_type != "Flatten" for c in model.find_consumers(n.output[0]) or []):
            raise BiRealError(f"node {n.name} (Mul) sits between HW layers")
    outdir = Path(cfg.build_dir or ".") / "dataflow_partition"
    outdir.mkdir(parents=True, exist_ok=True)
    parent = model.transform(CreateDataflowPartition(partition_model_dir=str(outdir)))
    partition_node(parent)                     # exactly one, or a clear error
    return parent


STEPS = [step_check_graph, step_integer_input, step_requant_to_thresholds, step_float_path,
         step_qonnx_to_finn,
         step_avgpool_to_conv, step_streamline, step_lower_convs, step_xnor, step_channels_last,
         step_global_pool, step_convert_to_hw, step_sum_pool, step_minimize_bitwidths,
         step_create_dataflow_partition]


def step_name(fn) -> str:
    return fn.__name__.removeprefix("step_")


def partition_node(parent: ModelWrapper):
    """The single StreamingDataflowPartition node of `parent` (error if there is not one)."""
    parts = [n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition"]
    if len(parts) != 1:
        raise BiRealError(f"expected one dataflow partition, got {len(parts)}")
    return parts[0]


def partition_model(parent: ModelWrapper) -> ModelWrapper:
    """The child model (all HW layers) of the single StreamingDataflowPartition."""
    from qonnx.custom_op.registry import getCustomOp
    return ModelWrapper(getCustomOp(partition_node(parent)).get_nodeattr("model"))


def run_steps(onnx_path, cfg: FlowConfig | None = None, callback=None) -> ModelWrapper:
    """Apply STEPS in order; `callback(name, model)` after each; stops when it returns False."""
    cfg = cfg or FlowConfig()
    if not Path(onnx_path).is_file():
        raise BiRealError(f"ONNX file not found: {onnx_path}")
    model = ModelWrapper(str(onnx_path))
    if callback and callback("export", model) is False:
        return model
    for fn in STEPS:
        model = fn(model, cfg)
        if callback and callback(step_name(fn), model) is False:
            break                      # a failed verification: later steps would mean nothing
    return model
