#!/usr/bin/env bash
# Build bireal-fpga for a board, the whole flow in one command (scripts/setup.sh first):
#   train (or --ckpt) -> QONNX export -> FINN compile + RTL -> Verilator verification ->
#   Yosys estimates -> Vivado step (bitstream where Vivado exists; TCL + a clear skip message
#   otherwise) -> DIR/deploy/ package -> DIR/report.md + report.html
# Usage: bash scripts/build_bitstream.sh [--board pynq-z2|zcu104] [--arch A] [--ckpt F]
#        [--target-fps N] [--out DIR] [--require-bitstream] [--also-hls4ml]
#        (see `bireal build --help`; --also-hls4ml: the three-way PyTorch / hls4ml C sim /
#        RTL sim verdict in the report)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
exec .venv/bin/bireal build "$@"
