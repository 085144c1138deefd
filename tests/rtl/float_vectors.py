"""Directed float32 vectors for the float shortcut unit tests (tests/test_rtl_float_*.py).

FloatShortcutAdd: per-channel constants (A, B) chosen so that the three rounded ops hit
their edge cases, and per-channel pools of (c, x) that do: ties in the multiply and in
both adds (either direction of ties to even), exact +0/-0 results, cancellation, |c| at
the type's extremes, very large and very small magnitudes. Every candidate is kept only if
each intermediate is finite and normal or zero (what the golden model accepts).
Tie and exactness tests are exact: float64 holds every product of a 24-bit integer and a
float32, and TwoSum tells whether a float64 sum of two float32 is exact.
"""
from __future__ import annotations

import numpy as np

F32 = np.float32
TINY = np.finfo(np.float32).tiny


def f32(v):
    return np.asarray(v, dtype=np.float32)


def ok(y) -> np.ndarray:
    """finite and (normal or zero), elementwise."""
    y = f32(y)
    return np.isfinite(y) & ((y == 0) | (np.abs(y) >= TINY))


def is_tie(exact64: np.ndarray, r32: np.ndarray) -> np.ndarray:
    """exact64 lies exactly halfway between r32 (its float32 rounding) and a neighbour."""
    r = f32(r32)
    with np.errstate(over="ignore", invalid="ignore"):
        nb = np.nextafter(r, f32(np.where(exact64 > r, np.inf, -np.inf)))
        mid = (r.astype(np.float64) + nb.astype(np.float64)) / 2
    return (exact64 != r) & (exact64 == mid)


def sum_exact64(a32, b32) -> tuple[np.ndarray, np.ndarray]:
    """(float64 sum, True where it is exact) of float32 operands (TwoSum error == 0)."""
    a, b = f32(a32).astype(np.float64), f32(b32).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = a + b
        bb = s - a
        err = (a - (s - bb)) + (b - bb)
    return s, err == 0


def rounded_up(exact64, r32) -> np.ndarray:
    return np.abs(f32(r32).astype(np.float64)) > np.abs(exact64)


def ulp(y32) -> np.ndarray:
    y = np.abs(f32(y32))
    return f32(np.nextafter(y, f32(np.inf)) - y)


def fsa_constants(ch: int, rng, cmax: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(A, B) float32 per channel, and c0 of the cancellation channel (B = -RN(c0*A))."""
    a = f32(rng.uniform(0.01, 2.0, ch) * rng.choice([-1, 1], ch))
    b = f32(rng.normal(0, 4, ch))
    c0 = int(0.45 * cmax)
    special = [
        (1.3, 0.25),                      # B = ulp(c*A)/2 where |c*A| in [2^22, 2^23): add tie
        (-1.7, -0.125),                   # the same a binade lower
        (F32(-1 - 2.0 ** -23), -0.0),     # odd significand (mul ties); B = -0.0: -0 results
        (0.75, None),                     # cancellation: B = -RN(c0 * A)
        (F32(2.0 ** 60), 1e20),           # large magnitudes
        (F32(-2.0 ** -90), 2.0 ** -100),  # small magnitudes (still normal)
    ]
    for k, (av, bv) in enumerate(special[:ch]):
        a[k] = F32(av)
        b[k] = -(F32(c0) * a[k]) if bv is None else F32(bv)
    return a, b, c0


def _c_pool(rng, cmin: int, cmax: int, c0: int, n: int) -> np.ndarray:
    c = [np.arange(-300, 301), [cmin, cmax, cmin + 1, cmax - 1, 0, 1, -1],
         rng.integers(cmin, cmax + 1, n), c0 + np.arange(-6, 7), -c0 + np.arange(-3, 4),
         rng.integers(int(0.6 * cmax), cmax + 1, n), -rng.integers(int(0.3 * cmax), cmax + 1, n)]
    c = np.concatenate([np.asarray(v, dtype=np.int64) for v in c])
    return c[(c >= cmin) & (c <= cmax)]


def fsa_directed(a: np.ndarray, b: np.ndarray, c0: int, cmin: int, cmax: int, rng,
                 residual: bool, per_prop: int = 6) -> tuple[list, list, dict]:
    """Per channel lists of c (int) and x (float32), and the counts of each property hit."""
    cs, xs, hits = [], [], {}
    for k in range(a.size):
        c = _c_pool(rng, cmin, cmax, c0, 400)
        p64 = c.astype(np.float64) * np.float64(a[k])              # exact
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            p = f32(c.astype(np.float32) * a[k])
            y64, yex = sum_exact64(p, b[k])
            yb = f32(p + b[k])
        good = ok(p) & ok(yb)
        props = {
            "mul_tie_up": is_tie(p64, p) & rounded_up(p64, p),
            "mul_tie_down": is_tie(p64, p) & ~rounded_up(p64, p),
            "add1_tie_up": yex & is_tie(y64, yb) & rounded_up(y64, yb),
            "add1_tie_down": yex & is_tie(y64, yb) & ~rounded_up(y64, yb),
            "add1_cancel": (yb != 0) & (np.abs(yb) < np.abs(p) * 2.0 ** -12),
            "neg_zero": (yb == 0) & np.signbit(yb),
            "c_extreme": (c == cmin) | (c == cmax),
            "any": np.ones(c.size, bool),
        }
        pick = []
        for name, m in props.items():
            idx = np.flatnonzero(m & good)
            hits[name] = hits.get(name, 0) + idx.size
            pick += list(rng.permutation(idx)[:per_prop])
        pick = np.array(sorted(set(pick)), dtype=np.int64)
        cc, yy = c[pick], yb[pick]
        if not residual:
            cs.append(cc)
            xs.append(np.zeros(0, np.float32))
            continue
        # x per c: ties (x = +-ulp/2, 3 ulp/2), exact zero (x = -y), cancellation (x = -y
        # + ulp), signed zeros, a dominating and a negligible x, random
        u = ulp(yy)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            cand = [u / 2, -u / 2, 3 * u / 2, -3 * u / 2, -yy, -yy + u, -yy - 2 * u,
                    np.full(yy.shape, 0.0), np.full(yy.shape, -0.0),
                    np.full(yy.shape, 1e30), np.full(yy.shape, -3e-30), rng.normal(0, 3, yy.shape)]
        cx = np.repeat(cc, len(cand))
        xx = f32(np.stack(cand, axis=1).reshape(-1))
        yr = np.repeat(yy, len(cand))
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            o64, oex = sum_exact64(yr, xx)
            o = f32(yr + xx)
        g = ok(xx) & ok(o)
        for name, m in {"add2_tie_up": oex & is_tie(o64, o) & rounded_up(o64, o),
                        "add2_tie_down": oex & is_tie(o64, o) & ~rounded_up(o64, o),
                        "pos_zero_out": (o == 0) & ~np.signbit(o),
                        "neg_zero_out": (o == 0) & np.signbit(o),
                        "add2_cancel": (o != 0) & (np.abs(o) < np.abs(xx) * 2.0 ** -12)}.items():
            hits[name] = hits.get(name, 0) + int((m & g).sum())
        cs.append(cx[g])
        xs.append(xx[g])
    return cs, xs, hits


def by_channel(cols: list[np.ndarray], fill) -> np.ndarray:
    """Per-channel 1-D arrays -> (rows, ch) with rows = the longest; shorter columns are
    padded with fill(k, n) (n new values for channel k)."""
    n = max(len(v) for v in cols)
    return np.stack([np.concatenate([v, fill(k, n - len(v))]) for k, v in enumerate(cols)], 1)
