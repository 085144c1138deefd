"""The project's own RTL hardware ops (ONNX op domain `hw.ops`).

qonnx resolves a node's op by importing its domain as a module and looking up `custom_op`.
Each entry is one SystemVerilog core in hw/rtl/ + one Python op + one unit test.
"""

custom_op: dict = {}
