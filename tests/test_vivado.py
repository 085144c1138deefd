"""The Vivado step (hw/vivado.py) on machines without Vivado: the generated TCL is checked
line by line (part, board, board files, every RTL source, clock, the shell's DMA/GPIO wiring),
the skip is explicit, and the run path is exercised with a fake `vivado` that only writes the
files a real one would (labelled fake: it proves the script's plumbing, not the hardware)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw.vivado import SHELL_BOARD, vivado_step
from model.errors import BiRealError

PARTS = {"pynq-z2": "xc7z020clg400-1", "zcu104": "xczu7ev-ffvc1156-2-e"}


def _copy(src: Path, dst: Path) -> Path:
    """A private copy of a compile folder (and its export next to it) for destructive steps."""
    shutil.copytree(src.parent, dst, ignore=shutil.ignore_patterns("sim", "synth", "vivado"))
    return dst / src.name


def check_tcl(d: Path, board: str):
    """Assert the generated stitch + shell TCL of compile folder d for `board`."""
    info = json.loads((d / "compile.json").read_text())
    res = json.loads((d / "vivado" / "vivado.json").read_text())
    stitch = (d / "vivado" / "stitch" / "make_project.tcl").read_text()
    shell = (d / "vivado" / "shell" / "ip_config.tcl").read_text()
    part = PARTS[board]
    assert res["part"] == part
    assert re.search(rf"^create_project \S+ \S+ -part {part}$", stitch, re.M)
    hz = round(float(info["clock_mhz"]) * 1e6)
    assert f"set_property CONFIG.FREQ_HZ {hz} [get_bd_ports /ap_clk]" in stitch
    # every node of the RTL graph (+ the TLastMarker) is instantiated, every source is listed
    from hw.rtl_flow import finn_settings
    finn_settings(d.resolve())
    rtl = ModelWrapper(str(d / "vivado" / "stitched_model.onnx"))
    names = [n.name for n in rtl.graph.node]
    assert names[:-1] == [n.name for n in ModelWrapper(str(d / "rtl_model.onnx")).graph.node]
    assert rtl.graph.node[-1].op_type == "TLastMarker_rtl"
    added = set(re.findall(r"^add_files -norecurse (\S+)$", stitch, re.M))
    for n in rtl.graph.node:
        assert f"create_bd_cell -type module -reference {n.name} {n.name}" in stitch
        op = getCustomOp(n)
        files = list(op.get_rtl_file_list(abspath=True))
        if hasattr(op, "get_mem_file_list"):
            files += op.get_mem_file_list()
        for f in files:
            assert str(f) in added, f"{n.name}: {f} not in the stitch TCL"
    from finn.util.settings import get_settings
    rtllib = str(get_settings().finn_rtllib)
    srcs = {f.replace("$::env(FINN_RTLLIB)", rtllib) for f in added
            if not f.endswith("/bireal_accel_wrapper.v")}      # the wrapper is Vivado's output
    assert all(Path(f).is_file() for f in srcs), [f for f in srcs if not Path(f).is_file()]
    for sv in ("xnor_mvau.sv", "shortcut_add.sv", "tlast_marker.sv"):
        assert any(f.endswith("/hw/rtl/" + sv) for f in added), sv
    internal = sum(1 for n in rtl.graph.node for i in n.input
                   if rtl.find_producer(i) is not None)       # stream edges, not parameters
    # + the weight-load chain's unit-to-unit links (URAM weights, hw.vivado)
    chain = (res.get("weight_load") or {}).get("units") or []
    assert stitch.count("connect_bd_intf_net") == internal + max(len(chain) - 1, 0)
    assert "ipx::package_project" in stitch and "-module bireal_accel" in stitch
    # shell: FINN's template filled for this board
    name, board_part, family = SHELL_BOARD[board]
    assert f"set FPGA_PART {part}\n" in shell and f"set BOARD {name}\n" in shell
    assert f"set FREQ_MHZ {float(info['clock_mhz'])}" in shell
    assert f"set_property board_part {board_part} [current_project]" in shell
    assert f'lappend paths_prop "{res["board_files"]}"' in shell
    assert f"create_bd_cell -type ip -vlnv {res['vlnv']} bireal_accel" in shell
    lay = res["stream_layout"]
    assert f"CONFIG.c_s_axis_s2mm_tdata_width {{{8 * lay['out_word_bytes']}}}" in shell
    assert f"CONFIG.c_m_axis_mm2s_tdata_width {{{8 * lay['dma_in_bytes']}}}" in shell
    assert "CONFIG.c_addr_width {64}" in shell if family == "zynq_us+" else "{32}" in shell
    for conn in ("axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins bireal_accel/s_axis_0]",
                 "bireal_accel/m_axis_0] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]",
                 "[get_bd_pins axi_gpio_frames/gpio_io_o] [get_bd_pins bireal_accel/frames]"):
        assert conn in shell, conn
    n_axi = 3 if chain else 2           # + axi_dma_wload (lite + MM2S) with URAM weights
    assert f"set NUM_AXILITE {n_axi}\nset NUM_AXIMM {n_axi}\n" in shell
    if chain:
        assert ("connect_bd_intf_net [get_bd_intf_pins axi_dma_wload/M_AXIS_MM2S] "
                "[get_bd_intf_pins bireal_accel/s_axis_wload]") in shell


def test_tcl_pynq_z2_without_vivado(compiled_tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", os.defpath)
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    d = _copy(compiled_tiny, tmp_path / "b")
    before = {p: p.read_bytes() for p in (d / "rtl").rglob("*") if p.is_file()}
    res = vivado_step(d, "pynq-z2", deploy_dir=tmp_path / "deploy")
    assert res["bitfile"] is None and "Vivado not found" in res["skipped"]
    assert "SKIPPED bitstream" in capsys.readouterr().out
    check_tcl(d, "pynq-z2")
    # the simulated HDL stays as it was (the sim's cached Verilator build stays valid); the
    # Vivado copies get FINN's absolute $readmemh paths
    assert [p for p, b in before.items() if p.read_bytes() != b] == []
    rel = [p for p, b in before.items() if b'"./' in b and p.suffix == ".v"]
    assert rel, "expected HDL with relative memory paths (Thresholding_rtl)"
    for p in rel:
        copy = d / "vivado" / "stitch" / "hdl" / p.parent.name / p.name
        assert b'"./' not in copy.read_bytes() and str(copy.parent).encode() in copy.read_bytes()
    assert not (tmp_path / "deploy").exists()


def test_tcl_zcu104(compiled_cifar_zcu104, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.defpath)
    d = _copy(compiled_cifar_zcu104, tmp_path / "b")
    vivado_step(d, "zcu104")
    check_tcl(d, "zcu104")


def test_unknown_board_and_bitstream_without_vivado(compiled_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.defpath)
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    d = _copy(compiled_tiny, tmp_path / "b")
    with pytest.raises(BiRealError, match="no Zynq shell for board 'kv260'"):
        vivado_step(d, "kv260")
    with pytest.raises(BiRealError, match="Vivado was not found"):
        vivado_step(d, "pynq-z2", run=True)


FAKE_VIVADO = """#!/usr/bin/env bash
# fake vivado for the test: records the call, writes what the real batch runs would
echo "$PWD $*" >> "{log}"
if [[ "$*" == *ip_config.tcl* ]]; then
  mkdir -p finn_zynq_link.runs/impl_1 finn_zynq_link.gen/sources_1/bd/top/hw_handoff
  echo FAKE > finn_zynq_link.runs/impl_1/top_wrapper.bit
  echo FAKE > finn_zynq_link.gen/sources_1/bd/top/hw_handoff/top.hwh
fi
"""


def test_run_path_with_a_fake_vivado(compiled_tiny, tmp_path, monkeypatch):
    """build_vivado.sh: stitch project, then shell project, then .bit/.hwh into deploy/."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "vivado"
    exe.write_text(FAKE_VIVADO.format(log=tmp_path / "calls.txt"))
    exe.chmod(0o755)
    (tmp_path / "boards" / "pynq-z2").mkdir(parents=True)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.defpath}")
    monkeypatch.setenv("BIREAL_BOARD_FILES", str(tmp_path / "boards"))
    d = _copy(compiled_tiny, tmp_path / "b")
    res = vivado_step(d, "pynq-z2", deploy_dir=tmp_path / "deploy")
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert [c.split()[0] for c in calls] == [str((d / "vivado" / s).resolve())
                                            for s in ("stitch", "shell")]
    assert "-mode batch -source make_project.tcl" in calls[0]
    assert (tmp_path / "deploy" / "bireal.bit").read_text() == "FAKE\n"
    assert res["bitfile"] == str(tmp_path / "deploy" / "bireal.bit") and res["hwh"]


def test_build_cli_errors(tmp_path):
    """Unknown board and a missing checkpoint fail at once with a message naming the value."""
    bireal = [sys.executable, "-m", "sim.cli", "build"]
    r = subprocess.run(bireal + ["--board", "zedboard", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "invalid choice: 'zedboard'" in r.stderr
    r = subprocess.run(bireal + ["--ckpt", str(tmp_path / "nope.pt"), "--out",
                                 str(tmp_path / "y")], capture_output=True, text=True)
    assert r.returncode == 2 and f"checkpoint not found: {tmp_path / 'nope.pt'}" in r.stderr
    assert not (tmp_path / "y").exists()
    env = {**os.environ, "PATH": os.defpath}
    env.pop("XILINX_VIVADO", None)
    r = subprocess.run(bireal + ["--require-bitstream", "--out", str(tmp_path / "z")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--require-bitstream: Vivado not found" in r.stderr
    assert not (tmp_path / "z").exists()
