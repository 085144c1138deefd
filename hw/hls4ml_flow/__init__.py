"""The hls4ml route (`bireal hls4ml`): the project's QONNX export rewritten for hls4ml 1.3.0
(rewrite), its FixedPointRequant extension layer and workarounds (ext), per-layer precisions
from the model's integer ranges (precision), and the bit-exact emulation check (flow)."""
