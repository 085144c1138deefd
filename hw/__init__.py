"""FINN compilation of the exported Bi-Real QONNX model (reads model.onnx, never PyTorch)."""
