"""Recover a fixed-point affine requant from a threshold step function, proven exact.

A FINN Thresholding row computes  y(x) = lo + #{k : x >= T_k}  for integer x. When the row
came from a fixed-point requant  y = clamp(floor((A x + B) / 2^S), lo, hi)  (hw.thresholds
builds them that way, and streamlining only composes them with integer affine maps, which
keeps that form), two constants per channel replace 2^b - 1 thresholds. `fit_affine` finds
(A, B) for a shared S and proves the result equal to the thresholds on every integer x of the
reachable input range [xmin, xmax]; it returns None when no fit exists (the caller keeps the
thresholds). Nothing enumerates the range: fit and proof work on the K = hi - lo jump points.

Two roundings of t / 2^S (t = A x + B an integer), the `rounding` argument:
- "floor": q(t) = floor(t / 2^S) = t >> S;
- "rne" (round half to even, the global-pool quantizer's rounding, hw.thresholds):
      q(t) = rne(t / 2^S) = (t + 2^(S-1) - 1 + t[S]) >> S     (S >= 1; S = 0: q(t) = t)
  with t[S] = bit S of t (two's complement) = parity of floor(t / 2^S). Proof: write
  t = k 2^S + r, 0 <= r < 2^S; then (t + 2^(S-1) - 1 + t[S]) >> S = k + [r + 2^(S-1) - 1 + k%2
  >= 2^S]: r < 2^(S-1) gives k, r > 2^(S-1) gives k + 1 (the nearer integer), and the tie
  r = 2^(S-1) gives k + k%2, the even one of k, k + 1.
Both are non-decreasing in t, and each level v has an integer level threshold L_v with
      q(t) >= v  <=>  t >= L_v:
  floor: L_v = v 2^S;
  rne:   L_v = (2v - 1) 2^(S-1) + [v odd]   (S >= 1; S = 0: L_v = v),
  because rne(t/2^S) >= v <=> t/2^S > v - 1/2, or t/2^S = v - 1/2 and the tie goes up, i.e.
  v is even; for integer t that is t >= (2v - 1) 2^(S-1) + 1 or t = (2v - 1) 2^(S-1) with v
  even. L_v is strictly increasing in v (steps 2^S, resp. 2^S +- 1 >= 1). Everything below
  uses q only through L_v, so the proof and the fit hold for both roundings as written.

The proof (`prove_row`)
-----------------------
Write K for the number of thresholds and hi = lo + K. For integers x in R = [xmin, xmax]:

1. Threshold row. For integer x and real T, x >= T <=> x >= ceil(T). So
   y_T(x) = lo + #{k : t_k <= x} with t_k = ceil(T_k). Clip: c_k = min(max(t_k, xmin), xmax + 1).
   On R this changes nothing (t_k <= xmin is <= every x of R, like xmin; t_k > xmax is > every x
   of R, like xmax + 1), so y_T(x) = lo + N_c(x) with N_c(x) = #{k : c_k <= x}.
2. Affine map, A > 0. clamp(q, lo, hi) = lo + #{v in lo+1..hi : q >= v} for any integer q, and
   q(A x + B) >= v <=> A x + B >= L_v <=> x >= (L_v - B)/A <=> x >= a_v with
   a_v = ceil((L_v - B)/A) (exact integer arithmetic). So y_A(x) = lo + N_a(x), a_v clipped to
   [xmin, xmax + 1] as in 1.
   A = 0: y_A is the constant clamp(q(B), lo, hi) = lo + #{v : q(B) >= v};
   take a_v = xmin for the levels the constant reaches and xmax + 1 for the others.
   A < 0: y_A is non-increasing, y_T non-decreasing: they agree on R iff both are constant and
   equal, i.e. y_A(xmin) = y_A(xmax) = y_T(xmin) and every c_k is xmin or xmax + 1.
3. Two counting functions N_c, N_a of K clipped points each agree on all of R iff the sorted
   point lists are equal: the multiplicity of a value u in (xmin, xmax] is N(u) - N(u - 1), that
   of xmin is N(xmin), that of xmax + 1 is K - N(xmax), so N on R determines the clipped
   multiset, and the multiset determines N. Hence
       y_T == y_A on R   <=>   sorted(c) == sorted(a)   (A >= 0),
   K integer comparisons per channel, independent of the width of R.

The fit (`fit_row`)
-------------------
y_T on R is described by its jump points c_v (level v = lo + 1 + k reached first at x = c_v).
Since y(x) = q(A x + B) is non-decreasing for A >= 0, y_A == y_T on R iff for each
level v:  y(c_v) >= v  if c_v <= xmax  ("lower" (c_v, v): A c_v + B >= L_v), and
y(c_v - 1) < v  if c_v > xmin  ("upper" (c_v - 1, v): A (c_v - 1) + B <= L_v - 1).
For a fixed A an integer B exists iff max over lower (L_v - A x) <= min over upper
(L_u - 1 - A x), i.e. iff every pair (lower (x_L, v), upper (x_U, u)) has
A (x_L - x_U) >= L_v - L_u + 1. That is exact and linear in A: pairs with x_L > x_U bound A
from below, pairs with x_L < x_U from above, so the feasible integers A form one interval,
found without search; the fit takes its smallest A and the B of its interval nearest 0. A fit
at shift S gives one at S + 1 (2A, 2B: the same real t / 2^S, so the same floor and the same
rne), so the smallest shared S is a binary search. Rows constant on R get A = 0, B = y 2^S
(q(y 2^S) = y in both roundings). Every returned fit is then re-checked by `prove_row`.
With rounding "rne" B is the B of t = A x + B; the RTL stores B + 2^(S-1) - 1 instead and adds
the tie bit only (hw/rtl/affine_lane.sv).

`step_function`, `affine_eval` and `prove_exhaustive` evaluate every x of a (small) range: the
test oracle for the above (tests/test_affine.py).
"""
from __future__ import annotations

import numpy as np

# |values| below this keep the int64 pair arithmetic of the fit exact; above it Python ints
_INT64_SAFE = 1 << 62
ROUNDINGS = ("floor", "rne")


def _rounding(rounding: str) -> str:
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding {rounding!r} is not one of {ROUNDINGS}")
    return rounding


def shift_round(t, S: int, rounding: str = "floor"):
    """q(t): floor(t / 2^S) = t >> S, or rne(t / 2^S) = (t + 2^(S-1) - 1 + t[S]) >> S (module
    docstring); Python ints or int64 arrays (exact while t + 2^S fits)."""
    S = int(S)
    if _rounding(rounding) == "floor" or S == 0:
        return t >> S
    return (t + ((1 << (S - 1)) - 1) + ((t >> S) & 1)) >> S


def level_threshold(v, S: int, rounding: str = "floor"):
    """L_v with q(t) >= v <=> t >= L_v: v 2^S (floor), (2v - 1) 2^(S-1) + [v odd] (rne, S >= 1);
    Python ints or integer arrays."""
    S = int(S)
    if _rounding(rounding) == "floor" or S == 0:
        return v * (1 << S)
    return (2 * v - 1) * (1 << (S - 1)) + (v & 1)


# -- jump points and the proof --------------------------------------------------------------
def threshold_jumps(row, xmin: int, xmax: int) -> np.ndarray:
    """sorted ceil(T_k) clipped to [xmin, xmax + 1] (int64): the jump points of one row on R."""
    if not -(1 << 52) < xmin <= xmax + 1 < 1 << 52:
        raise ValueError(f"range {xmin}..{xmax} is empty or not exact in float64")
    t = np.ceil(np.asarray(row, dtype=np.float64).reshape(-1))
    t = np.clip(t, float(xmin), float(xmax) + 1.0)      # clip first: +-BIG / inf never overflow
    return np.sort(t.astype(np.int64))


def affine_jumps(A: int, B: int, S: int, lo: int, hi: int, xmin: int, xmax: int,
                 rounding: str = "floor") -> np.ndarray:
    """a_v = ceil((L_v - B) / A) clipped to [xmin, xmax + 1], v = lo+1..hi (A >= 0; A = 0:
    xmin for the levels q(B) reaches, xmax + 1 for the others). Exact integers."""
    A, B, S, lo, hi, xmin, xmax = (int(v) for v in (A, B, S, lo, hi, xmin, xmax))
    if A < 0:
        raise ValueError("affine_jumps needs A >= 0 (a negative A is non-increasing)")
    if A == 0:
        q = shift_round(B, S, rounding)
        return np.array([xmin if q >= v else xmax + 1 for v in range(lo + 1, hi + 1)], dtype=np.int64)
    out = []
    for v in range(lo + 1, hi + 1):
        a = -((B - level_threshold(v, S, rounding)) // A)    # ceil((L_v - B) / A)
        out.append(min(max(a, xmin), xmax + 1))
    return np.array(out, dtype=np.int64)


def _affine_at(A: int, B: int, S: int, lo: int, hi: int, x: int, rounding: str = "floor") -> int:
    return min(max(shift_round(int(A) * int(x) + int(B), S, rounding), lo), hi)


def prove_row(row, lo: int, A: int, B: int, S: int, xmin: int, xmax: int,
              rounding: str = "floor") -> bool:
    """True iff lo + #{k : x >= row[k]} == clamp(q(A x + B), lo, lo + K) for every integer x in
    [xmin, xmax], q = floor or rne of t / 2^S (module docstring, "The proof"); no enumeration
    of the range."""
    xmin, xmax, lo = int(xmin), int(xmax), int(lo)
    if xmin > xmax:
        return True
    c = threshold_jumps(row, xmin, xmax)
    hi = lo + len(c)
    if int(A) < 0:
        f0 = _affine_at(A, B, S, lo, hi, xmin, rounding)
        const = bool(np.isin(c, [xmin, xmax + 1]).all())
        return (const and f0 == _affine_at(A, B, S, lo, hi, xmax, rounding)
                and f0 == lo + int((c <= xmin).sum()))
    return bool(np.array_equal(c, affine_jumps(A, B, S, lo, hi, xmin, xmax, rounding)))


def _per_row(v, n: int) -> list[int]:
    a = np.broadcast_to(np.asarray(v, dtype=object).reshape(-1), (n,)) if np.ndim(v) else [v] * n
    return [int(x) for x in a]


def prove(thr, fit: dict, xmin, xmax) -> bool:
    """prove_row for every row of `thr` (C x K) with fit["A"][c], fit["B"][c], fit["S"],
    fit["lo"], fit["rounding"] (default "floor"); xmin / xmax: scalars or one per row."""
    thr = np.atleast_2d(np.asarray(thr))
    n = thr.shape[0]
    if fit["hi"] - fit["lo"] != thr.shape[1] or len(fit["A"]) != n or len(fit["B"]) != n:
        return False
    rnd = fit.get("rounding", "floor")
    return all(prove_row(thr[c], fit["lo"], fit["A"][c], fit["B"][c], fit["S"], lo, hi, rnd)
               for c, (lo, hi) in enumerate(zip(_per_row(xmin, n), _per_row(xmax, n))))


# -- the fit ---------------------------------------------------------------------------------
def _constraints(c: np.ndarray, lo: int, xmin: int, xmax: int):
    """(lower, upper) constraint arrays (x, v) of the jump points c (levels lo+1..), keeping the
    binding one per x: lower (A x + B >= L_v) the largest v, upper (A x + B < L_v) the
    smallest v (L_v increases with v)."""
    v = np.arange(lo + 1, lo + 1 + len(c), dtype=np.int64)
    lx, lv = c[c <= xmax], v[c <= xmax]
    ux, uv = c[c > xmin] - 1, v[c > xmin]
    # c is sorted and so is v: for equal x the last lower / first upper entry binds
    keep_l = np.append(lx[1:] != lx[:-1], True) if len(lx) else np.zeros(0, bool)
    keep_u = np.insert(ux[1:] != ux[:-1], 0, True) if len(ux) else np.zeros(0, bool)
    return (lx[keep_l], lv[keep_l]), (ux[keep_u], uv[keep_u])


def fit_row(c: np.ndarray, lo: int, S: int, xmin: int, xmax: int, rounding: str = "floor"):
    """Integer (A >= 0, B) with clamp(q(A x + B), lo, lo + K) having the jump points c
    (threshold_jumps of a row) on [xmin, xmax], or None (module docstring, "The fit")."""
    one = 1 << int(S)
    if np.isin(c, [xmin, xmax + 1]).all():              # constant on the range: A = 0
        return 0, (int(lo) + int((c <= xmin).sum())) * one
    (xl, vl), (xu, vu) = _constraints(c, lo, xmin, xmax)
    big = max((int(np.abs(np.concatenate([vl, vu])).max()) + 1) * one * 2 + 1,   # |L_v - L_u|
              int(np.abs(np.concatenate([xl, xu])).max()) * 2 + 2)
    dt = np.int64 if big < _INT64_SAFE else object
    xl, vl, xu, vu = (a.astype(dt) for a in (xl, vl, xu, vu))
    Ll, Lu = level_threshold(vl, S, rounding), level_threshold(vu, S, rounding)
    dx = xl[:, None] - xu[None, :]
    r = Ll[:, None] - Lu[None, :] + 1                   # need A * dx >= r for every pair
    if (r[dx == 0] > 0).any():
        return None
    pos, neg = dx > 0, dx < 0
    a_lo = max(1, int((-((-r[pos]) // dx[pos])).max())) if pos.any() else 1  # ceil(r / dx)
    a_hi = int(((-r[neg]) // (-dx[neg])).min()) if neg.any() else None       # floor(r / dx)
    if a_hi is not None and a_lo > a_hi:
        return None
    A = a_lo
    # a non-constant row has a jump c in (xmin, xmax]: both lists are non-empty
    b_lo = max(int(L) - A * int(x) for x, L in zip(xl, Ll))
    b_hi = min(int(L) - 1 - A * int(x) for x, L in zip(xu, Lu))
    if b_lo > b_hi:                                     # cannot happen: every pair holds
        return None
    return A, min(max(0, b_lo), b_hi)                   # the B of [b_lo, b_hi] nearest 0


def fit_affine(thr: np.ndarray, lo: int, xmin, xmax, max_shift: int = 40, rounding: str = "floor"):
    """Fit every row of `thr` (C x steps) on x in [xmin, xmax] (scalars, or one per row) with one
    shared shift S, the smallest that fits every row, y = clamp(q(A x + B), lo, hi) with q the
    `rounding` ("floor" or "rne") of t / 2^S.

    Returns {"A": [C], "B": [C], "S": S, "lo": lo, "hi": lo + steps, "rounding": rounding} —
    proven exact on the whole range by `prove` — or None when no S <= max_shift fits every row.
    """
    _rounding(rounding)
    thr = np.atleast_2d(np.asarray(thr))
    n, lo = thr.shape[0], int(lo)
    xmins, xmaxs = _per_row(xmin, n), _per_row(xmax, n)
    jumps = [threshold_jumps(row, a, b) if a <= b else None for row, a, b in zip(thr, xmins, xmaxs)]
    rows = list(zip(jumps, xmins, xmaxs))

    def fits(k, S):
        c, a, b = rows[k]
        return a > b or fit_row(c, lo, S, a, b, rounding) is not None

    # smallest shared S: fit at S => fit at S + 1, so binary search each row, starting at the
    # S found so far (rows that fit there cost one fit each)
    S = 0
    for k in range(n):
        if fits(k, S):
            continue
        if not fits(k, max_shift):
            return None
        lo_s, hi_s = S, max_shift                       # fits(k, lo_s) False, fits(k, hi_s) True
        while hi_s - lo_s > 1:
            mid = (lo_s + hi_s) // 2
            lo_s, hi_s = (lo_s, mid) if fits(k, mid) else (mid, hi_s)
        S = hi_s
    A, B = [], []
    for c, a, b in rows:
        f = (0, lo << S) if a > b else fit_row(c, lo, S, a, b, rounding)
        A.append(int(f[0]))
        B.append(int(f[1]))
    fit = {"A": A, "B": B, "S": S, "lo": lo, "hi": lo + thr.shape[1], "rounding": rounding}
    if not prove(thr, fit, xmins, xmaxs):                # the proof (cannot fail: see docstring)
        raise AssertionError("fit_affine: a fit failed its jump-point proof")
    return fit


# -- exhaustive oracle (tests, small ranges) -------------------------------------------------
def step_function(thr: np.ndarray, lo: int, xs: np.ndarray) -> np.ndarray:
    """y(x) = lo + #{k : x >= T_k} for each integer x in `xs` (one threshold row)."""
    t = np.ceil(np.asarray(thr, dtype=np.float64)).astype(np.int64)   # x >= T <=> x >= ceil(T)
    return lo + np.searchsorted(np.sort(t), xs, side="right")


def affine_eval(A: int, B: int, S: int, lo: int, hi: int, xs: np.ndarray,
                rounding: str = "floor") -> np.ndarray:
    """clamp(q(A x + B), lo, hi) in int64 (>> is a floor for negatives); rne by its definition
    (nearest integer, ties to the even one) with numpy's float rounding, not by the shift
    formula: an independent oracle while |t| < 2^52."""
    t = int(A) * xs.astype(np.int64) + int(B)
    if _rounding(rounding) == "floor" or int(S) == 0:
        return np.clip(t >> int(S), lo, hi)
    if np.abs(t).max(initial=0) >= 1 << 52:
        raise ValueError("affine_eval: |A x + B| >= 2^52 is not exact in float64")
    return np.clip(np.rint(t / float(1 << int(S))).astype(np.int64), lo, hi)


def prove_exhaustive(thr, fit: dict, xmin, xmax) -> bool:
    """`prove` by evaluating both sides on every integer of the range (oracle, small ranges)."""
    thr = np.atleast_2d(np.asarray(thr))
    n = thr.shape[0]
    if fit["hi"] - fit["lo"] != thr.shape[1] or len(fit["A"]) != n or len(fit["B"]) != n:
        return False
    for c, (a, b) in enumerate(zip(_per_row(xmin, n), _per_row(xmax, n))):
        xs = np.arange(a, b + 1, dtype=np.int64)
        y = affine_eval(fit["A"][c], fit["B"][c], fit["S"], fit["lo"], fit["hi"], xs,
                        fit.get("rounding", "floor"))
        if not (step_function(thr[c], fit["lo"], xs) == y).all():
            return False
    return True
