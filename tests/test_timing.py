"""sim.timing: per-unit out-of-context timing check (nextpnr-ecp5 Fmax + critical path, Yosys
ltp depth). One small DuplicateStreams build runs through the real tools (about a minute) and
hits the cache on a second run; the report/ltp parsers run on stored samples; a folder that
is not a build gives one error line."""
import copy
import json

import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from sim import timing

# a nextpnr-ecp5 --report of a DuplicateStreams unit in the timing wrapper (trimmed: one
# critical path of the two; the utilization keys nextpnr writes)
REPORT = {
    "fmax": {"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 394.32, "constraint": 100}},
    "critical_paths": [
        {"from": "<async>", "to": "posedge $glbnet$clk$TRELLIS_IO_IN",
         "path": [{"type": "routing", "delay": 0.77, "net": "rst_n",
                   "from": {"cell": "rst_n$tr_io", "port": "O", "loc": [0, 5]},
                   "to": {"cell": "rsync_TRELLIS_FF_Q", "port": "DI", "loc": [2, 5]}}]},
        {"from": "posedge $glbnet$clk$TRELLIS_IO_IN", "to": "posedge $glbnet$clk$TRELLIS_IO_IN",
         "path": [
             {"type": "clk-to-q", "delay": 0.525,
              "from": {"cell": "dut.out0_V_TVALID_TRELLIS_FF_Q", "port": "Q", "loc": [3, 4]},
              "to": {"cell": "dut.out0_V_TVALID_TRELLIS_FF_Q", "port": "Q", "loc": [3, 4]}},
             {"type": "routing", "delay": 1.0, "net": "dut.out0_V_TVALID",
              "sources": ["DuplicateStreams_rtl_3.v:9.15"],
              "from": {"cell": "dut.out0_V_TVALID_TRELLIS_FF_Q", "port": "Q", "loc": [3, 4]},
              "to": {"cell": "dut.out0_V_TVALID_LUT4_D", "port": "D", "loc": [3, 5]}},
             {"type": "logic", "delay": 0.401,
              "from": {"cell": "dut.out0_V_TVALID_LUT4_D", "port": "D", "loc": [3, 5]},
              "to": {"cell": "dut.out0_V_TVALID_LUT4_D", "port": "Z", "loc": [3, 5]}},
             {"type": "routing", "delay": 0.61, "net": "dut.out0_V_TVALID_LUT4_D_Z",
              "sources": ["/share/lattice/cells_map.v:1.1", "dup_streams.sv:23.8"],
              "from": {"cell": "dut.out0_V_TVALID_LUT4_D", "port": "Z", "loc": [3, 5]},
              "to": {"cell": "dut.core.data_TRELLIS_FF_Q_4", "port": "CE", "loc": [4, 5]}},
             {"type": "setup", "delay": 0.0,
              "from": {"cell": "dut.core.data_TRELLIS_FF_Q_4", "port": "CE", "loc": [4, 5]},
              "to": {"cell": "dut.core.data_TRELLIS_FF_Q_4", "port": "CE", "loc": [4, 5]}},
         ]},
    ],
    "utilization": {"TRELLIS_COMB": {"used": 17, "available": 83640},
                    "TRELLIS_FF": {"used": 74, "available": 83640},
                    "DP16KD": {"used": 0, "available": 208}},
}

LTP = """4. Executing LTP pass (find longest path).

Longest topological path in bireal_timing_wrap (length=3):
    0: \\dut.core.rd_addr [2]
    1: $abc$1$aiger$o1 (via LUT_11)
    2: $abc$1$aiger$o2 (via CARRY_3)
    3: \\dut.core.sum [4] (via LUT_12)
"""


def test_parse_report_sample():
    r = timing.parse_report(REPORT, freq=100)
    assert r["fmax_mhz"] == 394.32 and r["pass"] and r["freq_mhz"] == 100.0
    c = r["critical_path"]       # the clock's own path, not the <async> reset input
    assert c["from_signal"] == "out0_V_TVALID" and c["to_signal"] == "core.data"
    assert c["to_port"] == "CE" and c["logic_cells"] == 1 and c["from_kind"] == "FF"
    assert timing.port_kind("DOA12") == "block RAM" and timing.port_kind("P11") == "multiplier"
    assert c["delay_ns"] == pytest.approx(2.536) and c["routing_ns"] == pytest.approx(1.61)
    assert c["nets"] == ["dut.out0_V_TVALID", "dut.out0_V_TVALID_LUT4_D_Z"]
    assert c["sources"] == ["DuplicateStreams_rtl_3.v:9.15", "dup_streams.sv:23.8"]  # no techlib
    assert r["utilization"] == {"TRELLIS_COMB": 17, "TRELLIS_FF": 74}
    assert not timing.parse_report(REPORT, freq=400)["pass"]
    t = timing.path_text(c)
    assert t.startswith("out0_V_TVALID -> core.data.CE (2.54 ns") and "dup_streams.sv:23.8" in t
    with pytest.raises(timing.SynthError, match="no fmax"):
        timing.parse_report({"fmax": {}})


def test_parse_ltp_sample():
    r = timing.parse_ltp(LTP)
    assert r["depth"] == 3 and r["cells"] == {"LUT": 2, "CARRY": 1}
    assert r["from"] == "\\dut.core.rd_addr [2]" and r["to"] == "\\dut.core.sum [4]"
    with pytest.raises(timing.SynthError, match="Longest topological path"):
        timing.parse_ltp("nothing here")


def test_wrapper_ports():
    intf = {"clk": ["ap_clk"], "rst": ["ap_rst_n"], "s_axis": [("in0_V", 16), ("in1_V", 8)],
            "m_axis": [("out0_V", 24)]}
    v = timing.wrapper_text("add0", intf)
    assert "module bireal_timing_wrap (input wire clk, input wire rst_n, output wire q);" in v
    for p in ("in0_V", "in1_V", "out0_V"):
        assert all(f".{p}_{s}(" in v for s in ("TDATA", "TVALID", "TREADY"))
    # 16+1 + 8+1 input bits + 1 output TREADY from the stimulus register
    assert "reg [26:0] stim" in v and "wire out0_V_r = stim[26];" in v
    # 24 + 1 output bits + 2 input TREADYs = 27, padded to 28, then 7 -> 8, 2 -> 4, 1
    assert "reg [27:0] x0" in v and "x3[0]" in v and "x4" not in v


def _dup_build(d, ch=8, pe=2):
    """A one-node build folder as `bireal compile` lays it out: rtl_model.onnx, rtl/<node>/,
    compile.json."""
    outs = ["y0", "y1"]
    n = helper.make_node("DuplicateStreams", ["x"], outs, name="DuplicateStreams_rtl_0",
                         domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
                         NumChannels=ch, PE=pe, NumOutputStreams=2, inputDataType="INT8",
                         numInputVectors=[1, 4, 4])
    n = copy.deepcopy(n)
    n.domain, n.op_type = "hw.ops", "DuplicateStreams_rtl"
    shape = [1, 4, 4, ch]
    g = helper.make_graph([n], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, shape) for o in outs])
    m = ModelWrapper(helper.make_model(g))
    m.set_tensor_datatype("x", DataType["INT8"])
    op = getCustomOp(m.graph.node[0])
    (d / "rtl" / n.name).mkdir(parents=True)
    op.set_nodeattr("code_gen_dir_ipgen", str(d / "rtl" / n.name))
    op.generate_hdl(m, "xc7z020clg400-1", 10.0)
    m.save(str(d / "rtl_model.onnx"))
    (d / "compile.json").write_text(json.dumps({"board": "pynq-z2", "part": "xc7z020clg400-1",
                                                "clock_mhz": 100.0}))
    return d


def test_check_small_unit_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIREAL_CACHE", str(tmp_path / "cache"))
    d = _dup_build(tmp_path / "hw")
    res = timing.check(d, quiet=True)
    (u,) = res["units"]
    assert "error" not in u, u.get("error_detail")
    assert u["kind"] == "DuplicateStreams_rtl" and u["node"] == "DuplicateStreams_rtl_0"
    assert u["params"]["PE"] == 2 and u["params"]["out_bits"] == [16, 16]
    assert u["fmax_mhz_ecp5"] > 0 and u["pass"] == (u["fmax_mhz_ecp5"] >= 100)
    assert u["critical_path"]["from_cell"] and u["critical_path"]["to_cell"]
    assert u["critical_path"]["delay_ns"] > 0
    assert u["ltp_depth"] >= 1 and not u["cached"]
    assert res["family"] == "xc7" and res["freq_mhz"] == 100.0
    saved = json.loads((d / "timing.json").read_text())
    assert saved["units"][0]["fmax_mhz_ecp5"] == u["fmax_mhz_ecp5"]
    txt = (d / "timing.txt").read_text()
    assert "DuplicateStreams_rtl_0" in txt and "MHz" in txt and "verdict:" in txt
    assert list((tmp_path / "cache" / "timing").glob("*.json"))
    again = timing.check(d, quiet=True)
    (u2,) = again["units"]
    assert u2["cached"] and u2["fmax_mhz_ecp5"] == u["fmax_mhz_ecp5"]
    assert again["seconds"] < 5
    with pytest.raises(timing.TimingError, match="no node of kind Foo_rtl"):
        timing.check(d, kinds=["Foo_rtl"], quiet=True)


def test_cache_key(tmp_path):
    """The key covers the HDL and memory contents, the wrapper, the clock and the family."""
    a, m = tmp_path / "a.sv", tmp_path / "a_w.mem"
    a.write_text("module a; endmodule\n")
    m.write_text("00\n")
    k = timing._key("a", [a], [m], "wrap", 100.0, "xc7")
    assert k == timing._key("a", [a], [m], "wrap", 100.0, "xc7")
    assert k != timing._key("a", [a], [m], "wrap", 125.0, "xc7")
    assert k != timing._key("a", [a], [m], "wrap", 100.0, "xcup")
    assert k != timing._key("a", [a], [m], "wrap2", 100.0, "xc7")
    m.write_text("01\n")
    assert k != timing._key("a", [a], [m], "wrap", 100.0, "xc7")


def test_not_a_build(tmp_path, capsys):
    from sim.cli import main
    (tmp_path / "x.txt").write_text("not a build")
    with pytest.raises(SystemExit) as e:
        main(["timing", "--build", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a `bireal compile` build: no rtl_model.onnx" in err[0]
    with pytest.raises(SystemExit):
        main(["timing", "--build", str(tmp_path / "missing")])
    assert "is not a folder" in capsys.readouterr().err
