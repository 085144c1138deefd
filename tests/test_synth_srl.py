"""The Yosys copy of finn-rtllib's shift FIFO (sim.synth SLANG_FIXUPS["fifo.sv"]: one SRLC32E per
bit, as Vivado infers) is the same FIFO: words in = words out, in order, under random
valid/ready stalls, at the depths where the fixup applies (DEPTH <= 33) and one where it
does not; and Yosys maps it to SRLC32E."""
from pathlib import Path

import numpy as np
import pytest

from rtl.runner import run_unit
from sim.stitch import _fixup as verilator_fixup
from sim.synth import SRLC32E_STUB, stage_sources, synth

FIFO_SV = (Path(__import__("finn").__file__).resolve().parent / "finn-rtllib" / "fifo" / "hdl"
           / "fifo.sv")
MODEL = Path(__file__).resolve().parent / "rtl" / "srlc32e_model.sv"
TOP = """module fifo_top #(parameter int DEPTH = 8, parameter int W = 12) (
  input ap_clk, input ap_rst_n,
  input [W-1:0] in0_V_TDATA, input in0_V_TVALID, output in0_V_TREADY,
  output [W-1:0] out0_V_TDATA, output out0_V_TVALID, input out0_V_TREADY);
  fifo #(.DEPTH(DEPTH), .DATA_WIDTH(W), .RAM_STYLE("auto")) f (
    .clk(ap_clk), .rst(!ap_rst_n), .idat(in0_V_TDATA), .ivld(in0_V_TVALID),
    .irdy(in0_V_TREADY), .odat(out0_V_TDATA), .ovld(out0_V_TVALID), .ordy(out0_V_TREADY),
    .count(), .maxcount());
endmodule
"""


def yosys_copy(tmp: Path) -> Path:
    """fifo.sv as sim.synth stages it for Yosys, minus the blackbox stub (the model replaces
    it in simulation), with sim.stitch's Verilator fixup (as every simulated fifo.sv)."""
    names, fixups = stage_sources([FIFO_SV], tmp)
    assert fixups == ["fifo.sv"], fixups
    text = (tmp / "fifo.sv").read_text()
    assert "SRLC32E srl (" in text and text.endswith(SRLC32E_STUB)
    (tmp / "fifo.sv").write_text(verilator_fixup("fifo.sv", text[: -len(SRLC32E_STUB)]))
    return tmp / "fifo.sv"


@pytest.mark.parametrize("depth,width,stall", [(24, 40, 0.5), (5, 7, 0.3), (33, 3, 0.4),
                                               (48, 8, 0.3)])
def test_srl_copy_is_the_same_fifo(tmp_path, depth, width, stall):
    src = yosys_copy(tmp_path / "src")
    (tmp_path / "src" / "fifo_top.sv").write_text(TOP)
    rng = np.random.default_rng(depth)
    words = [int(w) for w in rng.integers(0, 2 ** width, 3 * depth + 17, dtype=np.uint64)]
    run_unit(top="fifo_top", sources=[MODEL, src, tmp_path / "src" / "fifo_top.sv"],
             params={"DEPTH": depth, "W": width}, inputs={"in0_V": words},
             outputs={"out0_V": words}, build_dir=tmp_path / "sim", stall=stall, seed=depth)


def test_yosys_maps_the_copy_to_srlc32e(tmp_path):
    top = tmp_path / "fifo_w.sv"
    top.write_text(TOP.replace("parameter int DEPTH = 8, parameter int W = 12",
                               "parameter int DEPTH = 24, parameter int W = 40"))
    r = synth("fifo_top", [top, FIFO_SV], tmp_path / "y", "xc7")
    assert r["cells"].get("SRLC32E") == 40, r["cells"]
    assert r["FF"] < 2 * 40 + 40, r          # output register + pointers, not 23 x 40 FFs
