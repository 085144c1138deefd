"""Vivado step: stitched IP of the RTL graph + FINN's Zynq shell -> bitstream and .hwh.

Writes DIR/vivado/ from a compile folder DIR (rtl_model.onnx + rtl/<layer>/ HDL):
  stitch/make_project.tcl  FINN's CreateStitchedIP on the RTL graph plus a TLastMarker_rtl
                           (every node's code_generation_ipi; block `bireal_accel`, clock
                           period from compile.json, part of the board)
  shell/ip_config.tcl      FINN's Zynq shell template (templates.custom_zynq_shell_template:
                           PS, clock wizard at the board clock, AXI interconnect/smartconnect)
                           with this design's blocks: `bireal_accel`, Xilinx AXI DMA
                           `axi_dma_0` (MM2S -> s_axis_0, m_axis_0 -> S2MM, AXI-lite control)
                           and AXI GPIO `axi_gpio_frames` (frames per DMA transfer); with
                           URAM weight memories also `axi_dma_wload` (MM2S only, 64 bits ->
                           s_axis_wload: the weight-load chain, sent once before inference)
  build_vivado.sh          runs both with Vivado, then copies the bitstream and .hwh
  vivado.json              what was generated, whether Vivado ran, and why not
The TCL is generated on every machine; Vivado runs only when it is on PATH or XILINX_VIVADO
is set. FINN's CreateStitchedIP is used as a library: its Vivado launch is replaced by
"write the script only", and this project's `hw.ops` nodes count as RTL nodes.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from model.errors import BiRealError

from .boards import get_board
from .dma import stream_layout, wload_chain
from .rtl_flow import finn_settings, relocate

# board name as FINN's shell template spells it, board part, Zynq family
SHELL_BOARD = {"pynq-z2": ("Pynq-Z2", "tul.com.tw:pynq-z2:part0:1.0", "zynq_7000"),
               "zcu104": ("ZCU104", "xilinx.com:zcu104:part0:1.1", "zynq_us+")}
ACCEL = "bireal_accel"
BIT_NAME, HWH_NAME = "bireal.bit", "bireal.hwh"


def find_vivado() -> str | None:
    """Path of the vivado executable: PATH first, then $XILINX_VIVADO/bin/vivado."""
    exe = shutil.which("vivado")
    if exe:
        return exe
    root = os.environ.get("XILINX_VIVADO")
    if root and (Path(root) / "bin" / "vivado").is_file():
        return str(Path(root) / "bin" / "vivado")
    return None


def board_files_dir() -> str:
    """Where Vivado looks for board files (PYNQ-Z2's are not part of Vivado): $BIREAL_BOARD_FILES,
    else FINN's deps folder (finn's `board_files`, filled by FINN's dependency manager)."""
    env = os.environ.get("BIREAL_BOARD_FILES")
    if env:
        return env
    from finn.util.settings import get_settings
    try:
        return str(Path(get_settings().finn_deps) / "board_files")
    except Exception:  # noqa: BLE001 - dummy settings without deps
        return str(Path.home() / ".finn" / "deps" / "board_files")


def _is_rtl(node) -> bool:
    from finn.util.fpgadataflow import is_rtl_node
    return is_rtl_node(node) or (node.domain == "hw.ops" and node.op_type.endswith("_rtl"))


def _stitcher(csi):
    """FINN's CreateStitchedIP plus the weight-load chain: the first chained unit's wl_in_V
    becomes the block's `s_axis_wload` port, unit k's wl_out_V feeds unit k+1's wl_in_V, and
    the last one's wl_out_V is always ready (an xlconstant: beats beyond the chain drop)."""

    class Stitch(csi.CreateStitchedIP):
        def __init__(self, *a, chain=(), **k):
            super().__init__(*a, **k)
            self.chain = list(chain)

        def connect_axi(self, node, model):
            super().connect_axi(node, model)
            if node.name not in self.chain:
                return
            i = self.chain.index(node.name)
            if i == 0:
                self.connect_cmds += [
                    f"make_bd_intf_pins_external [get_bd_intf_pins {node.name}/wl_in_V]",
                    "set_property name s_axis_wload [get_bd_intf_ports wl_in_V_0]"]
                self.intf_names["s_axis"].append(("s_axis_wload", 64))
            else:
                self.connect_cmds.append(
                    f"connect_bd_intf_net [get_bd_intf_pins {self.chain[i - 1]}/wl_out_V] "
                    f"[get_bd_intf_pins {node.name}/wl_in_V]")
            if i == len(self.chain) - 1:
                self.connect_cmds += [
                    "create_bd_cell -type ip -vlnv [get_property VLNV [get_ipdefs "
                    '"xilinx.com:ip:xlconstant:*"]] wload_sink',
                    f"connect_bd_net [get_bd_pins wload_sink/dout] "
                    f"[get_bd_pins {node.name}/wl_out_V_TREADY]"]
    return Stitch


def stitch_tcl(rtl: ModelWrapper, out: Path, part: str, clk_ns: float) -> ModelWrapper:
    """Run FINN's CreateStitchedIP without Vivado: out/make_project.tcl + IP metadata.
    CreateStitchedIP rewrites the HDL it is given (ReplaceVerilogRelPaths: "./x.dat" ->
    absolute paths, for Vivado), so it gets copies in out/hdl/<node>/: the compile folder's
    HDL stays what `bireal sim` verified (and its cached Verilator build stays valid)."""
    from finn.transformation.fpgadataflow import create_stitched_ip as csi
    out.mkdir(parents=True, exist_ok=True)
    for n in rtl.graph.node:
        op = getCustomOp(n)
        src = Path(op.get_nodeattr("code_gen_dir_ipgen"))
        dst = (out / "hdl" / n.name).resolve()
        shutil.copytree(src, dst, dirs_exist_ok=True)
        for attr in ("code_gen_dir_ipgen", "ip_path", "ipgen_path"):  # the last one is
            op.set_nodeattr(attr, str(dst))               # what ReplaceVerilogRelPaths reads
    with ExitStack() as st:
        st.enter_context(mock.patch.object(csi, "is_rtl_node", _is_rtl))
        st.enter_context(mock.patch.object(csi, "make_build_dir", lambda prefix="", **k: str(out)))
        st.enter_context(mock.patch.object(csi, "resolve_xilinx_tool", lambda t: "vivado"))
        st.enter_context(mock.patch.object(csi, "launch_process_helper", lambda *a, **k: None))
        # sources must exist now; the block design's wrapper is Vivado's output (later)
        st.enter_context(mock.patch.object(csi, "wait_for_file", lambda p, timeout=0: (
            Path(p).exists() or Path(p).name == f"{ACCEL}_wrapper.v")))
        rtl = rtl.transform(_stitcher(csi)(part, clk_ns, ip_name=ACCEL, chain=wload_chain(rtl)))
    (out / "make_project.sh").unlink(missing_ok=True)   # build_vivado.sh runs it instead
    (out / "all_verilog_srcs.txt").unlink(missing_ok=True)  # Vivado's output, not ours
    return rtl


def shell_config(vlnv: str, ip_dir: Path, lay: dict, family: str, wload: bool = False
                 ) -> list[str]:
    """TCL for the design's blocks inside FINN's Zynq shell template (its `%s` slot); wload:
    a second DMA (MM2S only, 64-bit) feeds the accelerator's s_axis_wload."""
    addr = 64 if family == "zynq_us+" else 32
    tcl = [
        f"set_property ip_repo_paths [concat [get_property ip_repo_paths [current_project]] "
        f"[list {ip_dir}]] [current_project]",
        "update_ip_catalog -rebuild -scan_changes",
        f"create_bd_cell -type ip -vlnv {vlnv} {ACCEL}",
        'create_bd_cell -type ip -vlnv [get_property VLNV [get_ipdefs "xilinx.com:ip:axi_dma:*"]]'
        " axi_dma_0",
        "set_property -dict [list CONFIG.c_include_sg {0} CONFIG.c_sg_length_width {26} "
        f"CONFIG.c_addr_width {{{addr}}} "
        f"CONFIG.c_m_axis_mm2s_tdata_width {{{8 * lay['dma_in_bytes']}}} "
        f"CONFIG.c_s_axis_s2mm_tdata_width {{{8 * lay['out_word_bytes']}}} "
        "CONFIG.c_mm2s_burst_size {16} CONFIG.c_s2mm_burst_size {16}] [get_bd_cells axi_dma_0]",
        "create_bd_cell -type ip -vlnv [get_property VLNV [get_ipdefs "
        '"xilinx.com:ip:axi_gpio:*"]] axi_gpio_frames',
        "set_property -dict [list CONFIG.C_ALL_OUTPUTS {1} CONFIG.C_GPIO_WIDTH {32} "
        "CONFIG.C_DOUT_DEFAULT {0x00000001}] [get_bd_cells axi_gpio_frames]",
    ]
    if lay["dma_in_bytes"] != lay["in_word_bytes"]:
        tcl += [
            "create_bd_cell -type ip -vlnv [get_property VLNV [get_ipdefs "
            '"xilinx.com:ip:axis_dwidth_converter:*"]] in_dwc',
            f"set_property -dict [list CONFIG.S_TDATA_NUM_BYTES {{{lay['dma_in_bytes']}}} "
            f"CONFIG.M_TDATA_NUM_BYTES {{{lay['in_word_bytes']}}}] [get_bd_cells in_dwc]",
            "connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] "
            "[get_bd_intf_pins in_dwc/S_AXIS]",
            f"connect_bd_intf_net [get_bd_intf_pins in_dwc/M_AXIS] "
            f"[get_bd_intf_pins {ACCEL}/s_axis_0]",
        ]
        clk_pins, rst_pins = ["in_dwc/aclk"], ["in_dwc/aresetn"]
    else:
        tcl.append(f"connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] "
                   f"[get_bd_intf_pins {ACCEL}/s_axis_0]")
        clk_pins, rst_pins = [], []
    clk_pins += [f"{ACCEL}/ap_clk", "axi_dma_0/s_axi_lite_aclk", "axi_dma_0/m_axi_mm2s_aclk",
                 "axi_dma_0/m_axi_s2mm_aclk", "axi_gpio_frames/s_axi_aclk"]
    rst_pins += [f"{ACCEL}/ap_rst_n", "axi_dma_0/axi_resetn", "axi_gpio_frames/s_axi_aresetn"]
    if wload:
        tcl += [
            'create_bd_cell -type ip -vlnv [get_property VLNV [get_ipdefs '
            '"xilinx.com:ip:axi_dma:*"]] axi_dma_wload',
            "set_property -dict [list CONFIG.c_include_sg {0} CONFIG.c_sg_length_width {26} "
            f"CONFIG.c_addr_width {{{addr}}} CONFIG.c_include_s2mm {{0}} "
            "CONFIG.c_m_axis_mm2s_tdata_width {64} CONFIG.c_mm2s_burst_size {16}] "
            "[get_bd_cells axi_dma_wload]",
            "connect_bd_intf_net [get_bd_intf_pins axi_dma_wload/M_AXIS_MM2S] "
            f"[get_bd_intf_pins {ACCEL}/s_axis_wload]",
            "connect_bd_intf_net [get_bd_intf_pins axi_dma_wload/M_AXI_MM2S] "
            "[get_bd_intf_pins smartconnect_0/S02_AXI]",
            "connect_bd_intf_net -boundary_type upper [get_bd_intf_pins "
            "axi_interconnect_0/M02_AXI] [get_bd_intf_pins axi_dma_wload/S_AXI_LITE]",
            "assign_axi_addr_proc axi_dma_wload/S_AXI_LITE",
        ]
        clk_pins += ["axi_dma_wload/s_axi_lite_aclk", "axi_dma_wload/m_axi_mm2s_aclk"]
        rst_pins += ["axi_dma_wload/axi_resetn"]
    tcl += [
        f"connect_bd_intf_net [get_bd_intf_pins {ACCEL}/m_axis_0] "
        "[get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]",
        "connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXI_MM2S] "
        "[get_bd_intf_pins smartconnect_0/S00_AXI]",
        "connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXI_S2MM] "
        "[get_bd_intf_pins smartconnect_0/S01_AXI]",
        "connect_bd_intf_net -boundary_type upper [get_bd_intf_pins axi_interconnect_0/M00_AXI] "
        "[get_bd_intf_pins axi_dma_0/S_AXI_LITE]",
        "connect_bd_intf_net -boundary_type upper [get_bd_intf_pins axi_interconnect_0/M01_AXI] "
        "[get_bd_intf_pins axi_gpio_frames/S_AXI]",
        "assign_axi_addr_proc axi_dma_0/S_AXI_LITE",
        "assign_axi_addr_proc axi_gpio_frames/S_AXI",
        f"connect_bd_net [get_bd_pins axi_gpio_frames/gpio_io_o] [get_bd_pins {ACCEL}/frames]",
        "connect_bd_net [get_bd_pins clk_wiz_0/clk_out1] "
        + " ".join(f"[get_bd_pins {p}]" for p in clk_pins),
        "connect_bd_net [get_bd_pins proc_sys_reset_0/peripheral_aresetn] "
        + " ".join(f"[get_bd_pins {p}]" for p in rst_pins),
    ]
    return tcl


def shell_tcl(board: str, clock_mhz: float, config: list[str], wload: bool = False) -> str:
    """FINN's custom_zynq_shell_template filled for `board` (2 AXI-lite slaves, 2 AXI masters;
    3 and 3 with the weight-load DMA)."""
    from finn.transformation.fpgadataflow import templates
    name, _, _ = SHELL_BOARD[board]
    n = 3 if wload else 2
    text = templates.custom_zynq_shell_template % (
        clock_mhz, n, n, name, get_board(board).part, "\n".join(config), 0, 0, 0)
    return (text.replace("$BOARDFILES$", board_files_dir()).replace("$PR_CONFIG$", "")
            .replace("$NUM_JOBS$", str(os.cpu_count() or 2)))


def build_script(stitch: Path, shell: Path, deploy: Path) -> str:
    """bash script: stitched IP, then the shell project -> bitstream; copy .bit/.hwh to deploy."""
    return f"""#!/usr/bin/env bash
# generated by bireal-fpga (hw/vivado.py): Vivado batch build of the stitched IP + Zynq shell
set -euo pipefail
VIVADO="${{VIVADO:-vivado}}"
export FINN_RTLLIB="${{FINN_RTLLIB:-{_rtllib()}}}"
(cd "{stitch}" && "$VIVADO" -mode batch -source make_project.tcl -log vivado_stitch.log -nojournal)
(cd "{shell}" && "$VIVADO" -mode batch -source ip_config.tcl -log vivado_shell.log -nojournal)
bit="{shell}/finn_zynq_link.runs/impl_1/top_wrapper.bit"
hwh="$(find "{shell}" -name top.hwh | head -n 1)"
[ -f "$bit" ] || {{ echo "build_vivado.sh: no bitstream at $bit; see {shell}/vivado_shell.log" >&2; exit 1; }}
[ -n "$hwh" ] || {{ echo "build_vivado.sh: no top.hwh under {shell}" >&2; exit 1; }}
mkdir -p "{deploy}"
cp "$bit" "{deploy}/{BIT_NAME}"
cp "$hwh" "{deploy}/{HWH_NAME}"
echo "build_vivado.sh: wrote {deploy}/{BIT_NAME} and {deploy}/{HWH_NAME}"
"""


def _rtllib() -> str:
    from finn.util.settings import get_settings
    return str(get_settings().finn_rtllib)


def vivado_step(build_dir, board: str | None = None, deploy_dir=None, run: bool | None = None,
                log=print) -> dict:
    """Generate DIR/vivado/ and, if Vivado is available (or run=True), build the bitstream."""
    from .ops.tlast_marker import InsertTLastMarker
    d = Path(build_dir)
    info = json.loads((d / "compile.json").read_text())
    board = (board or info["board"]).lower()
    if board not in SHELL_BOARD:
        raise BiRealError(f"no Zynq shell for board {board!r}; known: {', '.join(SHELL_BOARD)}")
    part, clock = get_board(board).part, float(info["clock_mhz"])
    out = d / "vivado"
    if out.exists():
        shutil.rmtree(out)
    (out / "shell").mkdir(parents=True)
    finn_settings(d.resolve())
    rtl = relocate(ModelWrapper(str(d / "rtl_model.onnx")), d)
    lay = stream_layout(rtl)
    rtl = rtl.transform(InsertTLastMarker())
    marker = rtl.graph.node[-1]
    mdir = d / "rtl" / marker.name
    mdir.mkdir(parents=True, exist_ok=True)
    getCustomOp(marker).set_nodeattr("code_gen_dir_ipgen", str(mdir.resolve()))
    getCustomOp(marker).generate_hdl(rtl, part, 1e3 / clock)
    rtl = stitch_tcl(rtl, out / "stitch", part, 1e3 / clock)
    vlnv = rtl.get_metadata_prop("vivado_stitch_vlnv")
    ifn = json.loads(rtl.get_metadata_prop("vivado_stitch_ifnames"))
    family = SHELL_BOARD[board][2]
    wload = any(name == "s_axis_wload" for name, _ in ifn.get("s_axis", []))
    cfg = shell_config(vlnv, (out / "stitch" / "ip").resolve(), lay, family, wload)
    (out / "shell" / "ip_config.tcl").write_text(shell_tcl(board, clock, cfg, wload))
    deploy = Path(deploy_dir) if deploy_dir else d.parent / "deploy"
    sh = out / "build_vivado.sh"
    sh.write_text(build_script((out / "stitch").resolve(), (out / "shell").resolve(),
                               deploy.resolve()))
    sh.chmod(0o755)
    rtl.save(str(out / "stitched_model.onnx"))
    vivado = find_vivado()
    res = {"board": board, "part": part, "board_part": SHELL_BOARD[board][1],
           "clock_mhz": clock, "stitch_tcl": str(out / "stitch" / "make_project.tcl"),
           "shell_tcl": str(out / "shell" / "ip_config.tcl"), "script": str(sh),
           "vlnv": vlnv, "interfaces": ifn, "stream_layout": lay, "vivado": vivado,
           "weight_load": {"units": wload_chain(rtl), "dma": "axi_dma_wload" if wload else None},
           "board_files": board_files_dir(), "bitfile": None, "hwh": None}
    do_run = bool(vivado) if run is None else run
    if not do_run:
        res["skipped"] = ("Vivado not found (not on PATH, XILINX_VIVADO not set): the Vivado "
                          "project TCL was generated, no bitstream was built; run "
                          f"{sh} on a machine with Vivado")
        log(f"[vivado] SKIPPED bitstream: {res['skipped']}")
    else:
        if not vivado:
            raise BiRealError("bitstream requested but Vivado was not found: put vivado on "
                              "PATH or set XILINX_VIVADO")
        if board == "pynq-z2" and not (Path(res["board_files"]) / "pynq-z2").is_dir():
            raise BiRealError(f"PYNQ-Z2 board files not found in {res['board_files']}: get "
                              "them from TUL / Xilinx/XilinxBoardStore and set BIREAL_BOARD_FILES")
        log(f"[vivado] building the bitstream with {vivado} (takes 30-90 min)")
        env = {**os.environ, "VIVADO": vivado}
        r = subprocess.run(["bash", str(sh)], env=env)
        if r.returncode:
            raise BiRealError(f"Vivado build failed (exit {r.returncode}); logs in "
                              f"{out / 'stitch'} and {out / 'shell'}")
        res["bitfile"], res["hwh"] = str(deploy / BIT_NAME), str(deploy / HWH_NAME)
    (out / "vivado.json").write_text(json.dumps(res, indent=1))
    return res

