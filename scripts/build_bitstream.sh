#!/usr/bin/env bash
# Build bireal-fpga for a board, the whole flow in one command (scripts/setup.sh first):
#   train (or --ckpt) -> QONNX export -> FINN compile + RTL -> Verilator verification ->
#   Yosys estimates -> Vivado step (bitstream where Vivado exists; TCL + a clear skip message
#   otherwise) -> DIR/deploy/ package -> DIR/report.md + report.html
# Usage: bash scripts/build_bitstream.sh [--board pynq-z2|zcu104] [--arch A] [--ckpt F]
#        [--target-fps N] [--out DIR] [--require-bitstream]   (see `bireal build --help`)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
exec .venv/bin/bireal build "$@"
