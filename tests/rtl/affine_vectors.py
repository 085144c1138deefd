"""Directed boundary inputs of y = clamp(floor((A x + B) / 2^S), LO, HI) for RTL unit tests.

boundary_inputs(A, B, S, LO, HI, xlo, xhi) -> sorted integers x in [xlo, xhi]:
- for each level v in {LO-1, LO, LO+1, mid, HI-1, HI, HI+1}: the first x with
  floor((A x + B)/2^S) >= v (a_v = ceil((v 2^S - B)/A)) and a_v - 1, a_v + 1 (one below/above);
- next to those, the x with A x + B = k 2^S exactly (a tie), k 2^S - 1 and k 2^S + 1
  (A odd: x = (r - B) A^-1 mod 2^S + j 2^S, r = 0, -1, 1), each +-1;
- the extremes xlo, xhi and 0.
rounding="rne" (y = clamp(rne((A x + B) / 2^S), LO, HI)): the jumps a_v = ceil((L_v - B)/A) with
L_v = (2v - 1) 2^(S-1) + [v odd], and next to them the x with A x + B = k 2^S + 2^(S-1) exactly
(a tie) with k even and with k odd (t[S] = 0 / 1), and those ties - 1 and + 1 (A odd: residues
2^(S-1) + p 2^S + r mod 2^(S+1), p = 0, 1, r = 0, -1, 1), each +-1.
"""
from __future__ import annotations


def boundary_inputs(A: int, B: int, S: int, lo: int, hi: int, xlo: int, xhi: int,
                    rounding: str = "floor") -> list[int]:
    A, B, S = int(A), int(B), int(S)
    xs = {xlo, xhi, 0}
    rne = rounding == "rne" and S > 0
    if A > 0:
        one = 1 << S
        # residues r of A x + B mod `mod` to hit near each jump
        mod, res = ((2 * one, [one // 2 + p * one + r for p in (0, 1) for r in (0, -1, 1)])
                    if rne else (one, [0, -1, 1]))
        for v in (lo - 1, lo, lo + 1, (lo + hi) // 2, hi - 1, hi, hi + 1):
            L = (2 * v - 1) * (one // 2) + (v & 1) if rne else v * one
            a = -((B - L) // A)                         # ceil((L_v - B) / A)
            xs |= {a - 1, a, a + 1}
            if A % 2 and S > 0:           # A x + B = r mod `mod`, nearest a
                for r in res:
                    x0 = ((r - B) * pow(A, -1, mod)) % mod
                    t = a - ((a - x0) % mod)
                    for x in (t, t + mod):
                        xs |= {x - 1, x, x + 1}
            elif S == 0:
                xs |= {a}
    return sorted(x for x in xs if xlo <= x <= xhi)


def vectors_by_channel(per_channel: list[list[int]], rng, xlo: int, xhi: int):
    """Pixels (rows) x channels array holding each channel's directed values (padded with
    random values of [xlo, xhi] to the longest list)."""
    import numpy as np
    n = max(len(v) for v in per_channel)
    out = rng.integers(xlo, xhi + 1, size=(n, len(per_channel)))
    for c, v in enumerate(per_channel):
        out[:len(v), c] = v
    return out
