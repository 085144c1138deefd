"""Target boards: FPGA part, resource counts, default clock, and the fit limit.

A design *fits* a board when every estimated resource r satisfies

    used_r <= FIT_CAP * available_r,     FIT_CAP = 0.85

The 15 % headroom stands for what FINN's analytical estimates leave out: stream FIFOs,
data-width converters, the AXI/DMA shell and the Zynq interconnect, and the logic of ops whose
FINN model counts only memory (see `hw.estimates`). It is a planning limit, not a guarantee:
only place-and-route (Vivado) decides.
"""
from __future__ import annotations

from dataclasses import dataclass

from model.errors import BiRealError

FIT_CAP = 0.85                                # fraction of each resource usable by the design
RESOURCES = ("LUT", "FF", "BRAM18", "URAM", "DSP")


@dataclass(frozen=True)
class Board:
    """One board: its part, resource counts (BRAM in 18 kbit halves) and default clock."""
    name: str
    part: str
    LUT: int
    FF: int
    BRAM18: int
    URAM: int
    DSP: int
    clock_mhz: float

    def available(self, resource: str) -> int:
        """Count of `resource` (one of RESOURCES) on the part."""
        return getattr(self, resource)

    def limit(self, resource: str) -> float:
        """Fit limit FIT_CAP * available."""
        return FIT_CAP * self.available(resource)


BOARDS: dict[str, Board] = {
    "pynq-z2": Board("pynq-z2", "xc7z020clg400-1", LUT=53_200, FF=106_400, BRAM18=280,
                     URAM=0, DSP=220, clock_mhz=100.0),
    "zcu104": Board("zcu104", "xczu7ev-ffvc1156-2-e", LUT=230_400, FF=460_800, BRAM18=624,
                    URAM=96, DSP=1_728, clock_mhz=200.0),
}


def get_board(board: str | Board) -> Board:
    """The Board named `board` (case-insensitive, e.g. "PYNQ-Z2"); a Board passes through."""
    if isinstance(board, Board):
        return board
    key = str(board).strip().lower()
    if key not in BOARDS:
        raise BiRealError(f"unknown board {board!r}; known boards: {', '.join(sorted(BOARDS))}")
    return BOARDS[key]
