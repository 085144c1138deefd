"""sim.synth: Yosys synth_xilinx resource estimates (xc7 and xcup) of a tiny SV design with a
$readmemh ROM, of one finn-rtllib node (Thresholding_rtl), and a clear error on broken RTL."""
import json

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from sim.synth import SynthError, family_for_part, format_table, parse_cells, synth, synth_node

ADD8 = """
module add8 (
  input  logic       clk,
  input  logic [7:0] a, b,
  input  logic [3:0] addr,
  output logic [7:0] s,
  output logic [7:0] r
);
  logic [7:0] rom [0:15];
  initial $readmemh("add8_rom.mem", rom);
  always_ff @(posedge clk) begin
    s <= a + b;        // 8 FFs
    r <= rom[addr];    // 8 FFs (ROM in LUTs)
  end
endmodule
"""


@pytest.fixture(scope="module")
def add8_src(tmp_path_factory):
    d = tmp_path_factory.mktemp("add8_src")
    (d / "add8.sv").write_text(ADD8)
    (d / "add8_rom.mem").write_text("".join(f"{(i * 37 + 5) & 255:02x}\n" for i in range(16)))
    return d


@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_synth_add8(add8_src, tmp_path, family):
    res = synth("add8", [add8_src / "add8.sv"], tmp_path / "w", family,
                mem_files=[add8_src / "add8_rom.mem"])
    assert res["FF"] == 16                       # exactly the two 8-bit output registers
    assert 8 <= res["LUT"] <= 40                 # adder + 16x8 ROM, mapped to LUTs
    assert res["CARRY"] >= 1                     # the adder uses the carry chain
    assert res["BRAM18"] == res["URAM"] == res["DSP"] == 0
    assert res["family"] == family and res["top"] == "add8" and "no place&route" in res["source"]
    assert res["LUT"] == sum(v for k, v in res["cells"].items() if k.startswith("LUT") or k == "INV")
    saved = json.loads((tmp_path / "w" / "synth.json").read_text())
    assert saved["LUT"] == res["LUT"] and (tmp_path / "w" / "yosys.log").exists()


def test_rom_contents_matter(add8_src, tmp_path):
    """The $readmemh file is read: an all-zero ROM needs no LUTs for `r`."""
    d = tmp_path / "src"
    d.mkdir()
    (d / "add8.sv").write_text(ADD8)
    (d / "add8_rom.mem").write_text("00\n" * 16)
    zero = synth("add8", [d / "add8.sv"], tmp_path / "w0", "xc7", mem_files=[d / "add8_rom.mem"])
    full = synth("add8", [add8_src / "add8.sv"], tmp_path / "w1", "xc7",
                 mem_files=[add8_src / "add8_rom.mem"])
    assert zero["LUT"] < full["LUT"]


def test_parse_and_family():
    cells = {"LUT6": 3, "LUT2": 1, "FDRE": 4, "FDCE": 1, "CARRY8": 2, "RAMB36E2": 1,
             "RAMB18E2": 1, "URAM288": 2, "DSP48E2": 3, "RAM64M": 2, "RAM32X1D": 1, "BUFG": 1}
    r = parse_cells(cells)
    assert r == {"LUT": 4, "FF": 5, "CARRY": 2, "BRAM18": 3, "URAM": 2, "DSP": 3, "LUTRAM": 3}
    assert family_for_part("xc7z020clg400-1") == "xc7"
    assert family_for_part("xczu7ev-ffvc1156-2-e") == "xcup"
    assert family_for_part("pynq-z2") == "xc7" and family_for_part("ZCU104") == "xcup"
    with pytest.raises(ValueError, match="xc5vlx50"):
        family_for_part("xc5vlx50")
    t = format_table([{"unit": "mvau0", "LUT": 10, "FF": 4, "BRAM18": 1, "URAM": 0, "DSP": 0,
                       "est_LUT": 12.5, "est_BRAM18": 1, "est_DSP": 0}])
    assert "post-synthesis estimate (Yosys synth_xilinx, no P&R)" in t
    assert "analytical (FINN models)" in t and "mvau0" in t and "12.5" in t


def test_broken_source(tmp_path):
    src = tmp_path / "broken.sv"
    src.write_text("module broken(input logic a, output logic b);\n  assign b = a +;\nendmodule\n")
    with pytest.raises(SynthError, match=r"broken\.sv:2") as e:
        synth("broken", [src], tmp_path / "w", "xc7")
    assert "yosys.log" in str(e.value)
    with pytest.raises(SynthError, match="not found"):
        synth("x", [tmp_path / "missing.sv"], tmp_path / "w2", "xc7")


def thresholding_model(C=8, pe=2, idt="INT8", odt="UINT2"):
    """One FINN Thresholding node (preferred_impl_style=rtl), specialized to Thresholding_rtl."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    n_steps = DataType[odt].get_num_possible_values() - 1
    node = helper.make_node(
        "Thresholding", ["inp", "thresh"], ["outp"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", NumChannels=C, PE=pe, numSteps=n_steps, inputDataType=idt,
        weightDataType=idt, outputDataType=odt, ActVal=0, numInputVectors=[1],
        preferred_impl_style="rtl", name="Thr0")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, C])],
        [helper.make_tensor_value_info("outp", TensorProto.FLOAT, [1, C])])
    m = ModelWrapper(helper.make_model(graph))
    m.set_tensor_datatype("inp", DataType[idt])
    m.set_tensor_datatype("outp", DataType[odt])
    t = np.sort(np.random.default_rng(0).integers(-100, 100, (C, n_steps)), axis=1)
    m.set_initializer("thresh", t.astype(np.float32))
    m.set_tensor_datatype("thresh", DataType[idt])
    return m.transform(SpecializeLayers("xc7z020clg400-1"))


def test_finn_thresholding_rtl(tmp_path, monkeypatch):
    from finn.util import settings
    try:
        settings.get_settings()
    except Exception:  # FINN outside its CLI: dummy settings (build dir under tmp_path)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(settings, "_SETTINGS", None)  # restored after the test
        settings.initialize_dummy_settings()
    model = thresholding_model()
    node = model.graph.node[0]
    assert node.op_type == "Thresholding_rtl"
    op = getCustomOp(node)
    op.set_nodeattr("code_gen_dir_ipgen", str(tmp_path / "gen"))
    (tmp_path / "gen").mkdir()
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    res = synth_node(op, model, tmp_path / "synth", "xc7")
    assert res["LUT"] > 0 and res["FF"] > 0 and res["node"] == node.name
    assert sorted(p.name for p in (tmp_path / "synth").glob("*.dat")) == sorted(
        p.name for p in (tmp_path / "gen").glob("*.dat"))
