"""The project's own RTL hardware ops (ONNX op domain `hw.ops`).

qonnx resolves a node's op by importing its domain as a module and looking up `custom_op`.
Each entry is one SystemVerilog core in hw/rtl/ + one Python op + one unit test.
"""

custom_op: dict = {}

from hw.ops.dup_streams import DuplicateStreams_rtl  # noqa: E402
from hw.ops.global_acc_pool import GlobalAccPool_rtl  # noqa: E402
from hw.ops.shortcut_add import ShortcutAdd_rtl  # noqa: E402
from hw.ops.requant import Requant_rtl  # noqa: E402
from hw.ops.xnor_mvau import XnorMVAU_rtl  # noqa: E402
from hw.ops.int_mvau import IntMVAU_rtl  # noqa: E402
from hw.ops.tlast_marker import TLastMarker_rtl  # noqa: E402
from hw.ops.max_pool import MaxPool_rtl, SumPool_rtl  # noqa: E402
from hw.ops.float_shortcut_add import FloatShortcutAdd, FloatShortcutAdd_rtl  # noqa: E402
from hw.ops.float_to_int import FloatToInt, FloatToInt_rtl  # noqa: E402

custom_op["DuplicateStreams_rtl"] = DuplicateStreams_rtl
custom_op["GlobalAccPool_rtl"] = GlobalAccPool_rtl
custom_op["ShortcutAdd_rtl"] = ShortcutAdd_rtl
custom_op["Requant_rtl"] = Requant_rtl
custom_op["XnorMVAU_rtl"] = XnorMVAU_rtl
custom_op["IntMVAU_rtl"] = IntMVAU_rtl
custom_op["TLastMarker_rtl"] = TLastMarker_rtl
custom_op["MaxPool_rtl"] = MaxPool_rtl
custom_op["SumPool_rtl"] = SumPool_rtl
# float32 shortcut path: layer classes (numpy golden); their RTL backends are the *_rtl ops
custom_op["FloatShortcutAdd"] = FloatShortcutAdd
custom_op["FloatToInt"] = FloatToInt
custom_op["FloatShortcutAdd_rtl"] = FloatShortcutAdd_rtl
custom_op["FloatToInt_rtl"] = FloatToInt_rtl
