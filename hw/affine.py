"""Recover a fixed-point affine requant from a threshold step function, proven exact.

A FINN Thresholding row computes  y(x) = lo + #{k : x >= T_k}  for integer x. When the row
came from a fixed-point requant  y = clamp(floor((A x + B) / 2^S), lo, hi)  (hw.thresholds
builds them that way, and streamlining only composes them with integer affine maps, which
keeps that form), two constants per channel replace 2^b - 1 thresholds. `fit_affine` finds
(A, B) for a shared S and then checks every integer x of the input range, so a returned fit is
exact by construction; it returns None when no fit exists (the caller keeps the thresholds).
"""
from __future__ import annotations

import numpy as np


def step_function(thr: np.ndarray, lo: int, xs: np.ndarray) -> np.ndarray:
    """y(x) = lo + #{k : x >= T_k} for each integer x in `xs` (one threshold row)."""
    t = np.ceil(np.asarray(thr, dtype=np.float64)).astype(np.int64)   # x >= T <=> x >= ceil(T)
    return lo + np.searchsorted(np.sort(t), xs, side="right")


def affine_eval(A: int, B: int, S: int, lo: int, hi: int, xs: np.ndarray) -> np.ndarray:
    """clamp(floor((A x + B) / 2^S), lo, hi) in int64 (>> is a floor for negatives)."""
    return np.clip((A * xs.astype(np.int64) + B) >> S, lo, hi)


def _slope_bounds(lower, upper):
    """Interval (a_lo, a_hi) of real slopes a allowed by pairs of constraints
    a x_L + b >= v (lower) and a x_U + b < u (upper): a (x_L - x_U) > v - u."""
    a_lo, a_hi = 0.0, np.inf
    if not lower or not upper:
        return a_lo, a_hi
    xl, vl = np.array(lower, dtype=np.float64).T
    xu, vu = np.array(upper, dtype=np.float64).T
    dx = xl[:, None] - xu[None, :]
    dv = vl[:, None] - vu[None, :]
    pos, neg = dx > 0, dx < 0
    if pos.any():
        a_lo = max(a_lo, float((dv[pos] / dx[pos]).max()))
    if neg.any():
        a_hi = min(a_hi, float((dv[neg] / dx[neg]).min()))
    return a_lo, a_hi


def _fit_row(y: np.ndarray, xs: np.ndarray, lo: int, hi: int, S: int):
    """Integer (A, B) with clamp(floor((A x + B)/2^S), lo, hi) == y on xs, or None."""
    one = 1 << S
    if (y == y[0]).all():                       # constant output: A = 0
        return 0, int(y[0]) * one
    if (np.diff(y) < 0).any():                  # thresholds are monotone; a fit needs A >= 0
        return None
    v = np.arange(lo + 1, hi + 1)
    first = np.searchsorted(y, v, side="left")   # first index with y >= v (y is monotone)
    never = first == len(xs)
    lower = [(int(xs[i]), int(u)) for i, u in zip(first[~never], v[~never])]
    upper = [(int(xs[-1]), int(u)) for u in v[never]]               # never reached in range
    upper += [(int(xs[i - 1]), int(u)) for i, u in zip(first[~never], v[~never]) if i > 0]
    a_lo, a_hi = _slope_bounds(lower, upper)
    if a_lo >= a_hi:
        return None
    A_lo = int(np.floor(a_lo * one))
    A_hi = int(np.ceil(a_hi * one)) if np.isfinite(a_hi) else A_lo + 2 * one + 2
    cands = sorted({max(0, A) for A in np.linspace(A_lo, A_hi, 9).round().astype(np.int64).tolist()}
                   | {A_lo, A_lo + 1, A_hi, A_hi - 1})
    xl = np.array([x for x, _ in lower], dtype=np.int64)
    vl = np.array([v for _, v in lower], dtype=np.int64)
    xu = np.array([x for x, _ in upper], dtype=np.int64)
    vu = np.array([v for _, v in upper], dtype=np.int64)
    for A in cands:
        if A <= 0:
            continue
        B_lo = int((vl * one - A * xl).max()) if len(xl) else -(1 << 62)
        B_hi = int((vu * one - A * xu).min()) - 1 if len(xu) else (1 << 62)
        if B_lo > B_hi:
            continue
        B = B_lo if len(xl) else B_hi
        if (affine_eval(A, B, S, lo, hi, xs) == y).all():
            return int(A), int(B)
    return None


def fit_affine(thr: np.ndarray, lo: int, xmin: int, xmax: int, max_shift: int = 24):
    """Fit every row of `thr` (C x steps) on x in [xmin, xmax] with one shared shift S.

    Returns {"A": [C], "B": [C], "S": S, "lo": lo, "hi": lo + steps} — exact on the whole
    range (checked) — or None when no S <= max_shift fits every row.
    """
    thr = np.atleast_2d(np.asarray(thr))
    hi = lo + thr.shape[1]
    xs = np.arange(int(xmin), int(xmax) + 1, dtype=np.int64)
    ys = [step_function(row, lo, xs) for row in thr]
    for S in range(0, max_shift + 1):
        fits = []
        for y in ys:                                # stop at the first row this S cannot fit
            fits.append(_fit_row(y, xs, lo, hi, S))
            if fits[-1] is None:
                break
        if len(fits) == len(ys) and fits[-1] is not None:
            A = [f[0] for f in fits]
            B = [f[1] for f in fits]
            for y, a, b in zip(ys, A, B):           # the proof: every x of the range
                assert (affine_eval(a, b, S, lo, hi, xs) == y).all()
            return {"A": A, "B": B, "S": S, "lo": lo, "hi": hi}
    return None
