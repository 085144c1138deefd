"""Operands, golden results and directed cases for the fp32 unit tests (tests/test_rtl_fp32.py).

golden(unit, a, b): numpy float32 a + b, a * b (both correctly rounded, RNE, subnormals kept)
and float32(int) via float64 (exact) -> float32 (one RNE rounding); mismatches() compares bit
for bit, a NaN only as "is NaN" but the units' NaN must be the canonical 0x7fc00000.
gen_add / gen_mul / gen_int / gen_ge0: weighted mixes of uniform bit patterns and targeted
ranges (cancellation, subnormals, overflow, ties, integers). ADD_CASES, MUL_CASES, INT_CASES:
(operands, expected) derived by hand."""
from __future__ import annotations

import numpy as np

INT_BITS = {"i32": 32, "i25": 25, "i12": 12, "i32_nocut": 32}
QNAN = 0x7FC00000

# ------------------------------------------------------------------------------------------
# golden models and comparison

def f32(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def bits(x):
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def golden(unit: str, a, b=None):
    with np.errstate(all="ignore"):
        if unit.startswith("add"):
            return bits(f32(a) + f32(b))
        if unit.startswith("mul"):
            return bits(f32(a) * f32(b))
        if unit in INT_BITS:
            n = INT_BITS[unit]
            v = np.asarray(a, dtype=np.uint32).astype(np.int64) & ((1 << n) - 1)
            v = np.where(v >= 1 << (n - 1), v - (1 << n), v)
            # int -> float64 is exact (|v| <= 2^31), float64 -> float32 rounds once (RNE)
            ref = bits(v.astype(np.float64).astype(np.float32))
            assert np.array_equal(ref, bits(v.astype(np.float32)))
            return ref
        if unit == "ge0":
            return (f32(a) >= 0).astype(np.uint32)
    raise KeyError(unit)


def mismatches(unit, a, b, got, want=None):
    """Indices where `got` differs from numpy (NaN must be the canonical quiet NaN)."""
    want = golden(unit, a, b) if want is None else np.asarray(want, dtype=np.uint32)
    if unit == "ge0":
        return np.flatnonzero(got != want)
    wnan = np.isnan(f32(want))
    bad = np.where(wnan, got != QNAN, got != want)
    return np.flatnonzero(bad)


def report(unit, a, b, got, bad, n=8):
    want = golden(unit, a, b)
    lines = [f"{unit}: {bad.size} of {got.size} differ; first:"]
    for i in bad[:n]:
        lines.append(f"  a={int(a[i]):#010x} b={int(b[i]):#010x} got={int(got[i]):#010x} "
                     f"want={int(want[i]):#010x}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# random operands


def _pack(sign, exp, frac):
    return ((np.asarray(sign, np.uint32) & 1) << 31) | ((np.asarray(exp, np.uint32) & 0xFF) << 23) \
        | (np.asarray(frac, np.uint32) & 0x7FFFFF)


def _rand_exp(rng, n, lo, hi):
    return _pack(rng.integers(0, 2, n), rng.integers(lo, hi + 1, n), rng.integers(0, 1 << 23, n))


def _sparse_frac(rng, n):
    """Fractions with few set bits at the top (exact ties and exact results are common)."""
    k = rng.integers(1, 14, n)
    top = rng.integers(0, 1 << 13, n) >> (13 - k)
    return (top << (23 - k)).astype(np.uint32)


SPECIALS = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                     0x7F800001, 0x7FBFFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x80800000,
                     0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x3F800000, 0xBF800000],
                    dtype=np.uint32)


def _mix(rng, n, parts):
    """Concatenate generator outputs by weight, shuffled; returns (a, b)."""
    w = np.array([p[0] for p in parts], dtype=float)
    counts = np.floor(w / w.sum() * n).astype(int)
    counts[0] += n - counts.sum()
    a, b = zip(*(gen(rng, c) for (_, gen), c in zip(parts, counts)))
    a, b = np.concatenate(a).astype(np.uint32), np.concatenate(b).astype(np.uint32)
    p = rng.permutation(n)
    return a[p], b[p]


def _uniform(rng, n):
    return (rng.integers(0, 1 << 32, n, dtype=np.uint64),
            rng.integers(0, 1 << 32, n, dtype=np.uint64))


def _specials(rng, n):
    a = SPECIALS[rng.integers(0, SPECIALS.size, n)]
    b = np.where(rng.random(n) < 0.5, SPECIALS[rng.integers(0, SPECIALS.size, n)],
                 rng.integers(0, 1 << 32, n, dtype=np.uint64))
    swap = rng.random(n) < 0.5
    return np.where(swap, b, a), np.where(swap, a, b)


def gen_add(rng, n):
    def near(rng, n):  # nearby exponents, shared high fraction bits: cancellation
        a = _rand_exp(rng, n, 0, 254)
        ea = (a >> 23) & 0xFF
        eb = np.clip(ea.astype(np.int64) + rng.integers(-2, 3, n), 0, 254)
        keep = rng.integers(0, 24, n)
        fb = (a & 0x7FFFFF) ^ (rng.integers(0, 1 << 23, n) & ((1 << keep) - 1))
        fb = np.where(rng.random(n) < 0.3, rng.integers(0, 1 << 23, n), fb)
        return a, _pack(rng.integers(0, 2, n), eb, fb)

    def negate(rng, n):  # b = -a +- a few ulps: exact zeros, tiny differences
        a = rng.integers(0, 1 << 31, n)
        b = (a.astype(np.int64) + rng.integers(-3, 4, n)).clip(0, 0x7F7FFFFF)
        return a | (rng.integers(0, 2, n) << 31), b | (((a >> 31) ^ 1) << 31)

    def subnormal(rng, n):
        return _rand_exp(rng, n, 0, 2), _rand_exp(rng, n, 0, 1)

    def expdiff(rng, n):  # every alignment distance, sparse fractions (ties)
        ea = rng.integers(1, 255, n)
        eb = np.clip(ea - rng.integers(0, 32, n), 0, 254)
        fa = np.where(rng.random(n) < 0.5, _sparse_frac(rng, n), rng.integers(0, 1 << 23, n))
        fb = np.where(rng.random(n) < 0.5, _sparse_frac(rng, n), rng.integers(0, 1 << 23, n))
        return _pack(rng.integers(0, 2, n), ea, fa), _pack(rng.integers(0, 2, n), eb, fb)

    def ints(rng, n):  # the shortcut path: f32(integer) + constant
        c = rng.integers(-(1 << 25), 1 << 25, n).astype(np.float32)
        return bits(c), _rand_exp(rng, n, 100, 160)

    def overflow(rng, n):
        a = _rand_exp(rng, n, 250, 254)
        return a, _pack(a >> 31, rng.integers(240, 255, n), rng.integers(0, 1 << 23, n))

    return _mix(rng, n, [(20, _uniform), (20, near), (10, negate), (15, subnormal),
                         (15, expdiff), (10, ints), (5, overflow), (5, _specials)])


def gen_mul(rng, n):
    def pair_with_sum(rng, n, lo, hi):  # exponent fields summing to 127 + [lo, hi]
        ea = rng.integers(1, 255, n)
        eb = np.clip(127 + rng.integers(lo, hi + 1, n) - ea, 0, 254)
        return (_pack(rng.integers(0, 2, n), ea, rng.integers(0, 1 << 23, n)),
                _pack(rng.integers(0, 2, n), eb, rng.integers(0, 1 << 23, n)))

    def underflow(rng, n):  # results around the subnormal range and its boundary
        return pair_with_sum(rng, n, -30, 3)

    def overflow(rng, n):
        return pair_with_sum(rng, n, 124, 131)

    def sub_in(rng, n):  # a subnormal operand times a normal one
        a = _rand_exp(rng, n, 0, 0)
        b = _rand_exp(rng, n, 90, 254)
        swap = rng.random(n) < 0.5
        return np.where(swap, b, a), np.where(swap, a, b)

    def both_sub(rng, n):
        return _rand_exp(rng, n, 0, 0), _rand_exp(rng, n, 0, 3)

    def ties(rng, n):  # short significands: exact products, many halfway cases
        lo = rng.random(n) < 0.3
        ea = np.where(lo, rng.integers(1, 30, n), rng.integers(100, 150, n))
        eb = np.where(lo, rng.integers(60, 100, n), rng.integers(100, 150, n))
        return (_pack(rng.integers(0, 2, n), ea, _sparse_frac(rng, n)),
                _pack(rng.integers(0, 2, n), eb, _sparse_frac(rng, n)))

    def ints(rng, n):  # the shortcut path: f32(integer) * constant
        c = rng.integers(-(1 << 20), 1 << 20, n).astype(np.float32)
        return bits(c), _rand_exp(rng, n, 90, 140)

    return _mix(rng, n, [(20, _uniform), (20, underflow), (10, sub_in), (5, both_sub),
                         (10, overflow), (15, ties), (15, ints), (5, _specials)])


def gen_mul_short(rng, n, k=10):
    """fp32_mul A_BITS=k: a = f32(c), c an integer with |c| <= 2^k (what the unit promises
    to handle: +-0 or a normal float with k significant bits), b anything (subnormal,
    special, near overflow and underflow)."""
    def ints(rng, m):
        c = rng.integers(-(1 << k), (1 << k) + 1, m)
        ext = np.array([0, 1, -1, 1 << k, -(1 << k), (1 << k) - 1, -(1 << k) + 1, 3, -3])
        c = np.where(rng.random(m) < 0.1, ext[rng.integers(0, ext.size, m)], c)
        return bits(c.astype(np.float32))

    def full(rng, m):  # b over every exponent field
        return ints(rng, m), _rand_exp(rng, m, 0, 255)

    def low(rng, m):   # subnormal b (fractions of every length): subnormal results
        return ints(rng, m), _pack(rng.integers(0, 2, m), np.zeros(m, int),
                                   rng.integers(0, 1 << 23, m) >> rng.integers(0, 23, m))

    def high(rng, m):  # overflow to inf and max finite
        return ints(rng, m), _rand_exp(rng, m, 240, 254)

    def ties(rng, m):  # exact products and halfway cases
        return ints(rng, m), _pack(rng.integers(0, 2, m), rng.integers(1, 254, m),
                                   _sparse_frac(rng, m))

    def specials(rng, m):
        return ints(rng, m), SPECIALS[rng.integers(0, SPECIALS.size, m)]

    return _mix(rng, n, [(30, full), (20, low), (15, high), (25, ties), (10, specials)])


def gen_int(rng, n):
    def length(rng, n):  # every bit length, both signs
        ln = rng.integers(0, 32, n)
        v = (rng.integers(0, 1 << 31, n) >> (31 - ln)) | (1 << ln)
        v = np.where(ln == 31, rng.integers(1 << 30, 1 << 31, n), v)
        return np.where(rng.random(n) < 0.5, -v, v)

    def ties(rng, n):  # 25..26 significant bits: halfway cases at the rounding bit
        m = rng.integers(1 << 24, 1 << 26, n) | 1
        s = rng.integers(0, 6, n)
        v = np.minimum(m << s, (1 << 31) - 1)
        return np.where(rng.random(n) < 0.5, -v, v)

    def near_pow2(rng, n):
        v = (1 << rng.integers(20, 32, n)) + rng.integers(-9, 10, n)
        return np.where(rng.random(n) < 0.5, -v, np.minimum(v, (1 << 31) - 1))

    def small(rng, n):
        return rng.integers(-1024, 1025, n)

    def extremes(rng, n):
        e = np.array([0, 1, -1, 2 ** 31 - 1, -2 ** 31, -2 ** 31 + 1, 2 ** 24, 2 ** 24 + 1,
                      2 ** 24 - 1, -(2 ** 24) - 1, 2 ** 11 - 1, -(2 ** 11), 2 ** 24 - 1,
                      -(2 ** 24)])
        return e[rng.integers(0, e.size, n)]

    parts = [(30, lambda r, k: r.integers(-2 ** 31, 2 ** 31, k)), (30, length), (15, ties),
             (10, near_pow2), (10, small), (5, extremes)]
    a, _ = _mix(rng, n, [(w, lambda r, k, g=g: ((g(r, k) & 0xFFFFFFFF), np.zeros(k, int)))
                         for w, g in parts])
    return a, np.zeros(n, dtype=np.uint32)


def gen_ge0(rng, n):
    a, _ = _mix(rng, n, [(50, _uniform), (50, _specials)])
    return a, np.zeros(n, dtype=np.uint32)


GEN = {"add": gen_add, "mul": gen_mul, "mul18": gen_mul, "mulk": gen_mul_short,
       "mulk18": gen_mul_short, "i32": gen_int, "i25": gen_int,
       "i12": gen_int,
       "ge0": gen_ge0}


# ------------------------------------------------------------------------------------------
# directed cases: (a, b, expected), results derived by hand (and checked against numpy too)

ADD_CASES = [
    # ties to even
    (0x3F800000, 0x33800000, 0x3F800000),  # 1 + 2^-24: halfway, stays even (1.0)
    (0x3F800001, 0x33800000, 0x3F800002),  # (1 + 2^-23) + 2^-24: halfway, up to even
    (0x3F800000, 0x34400000, 0x3F800002),  # 1 + 3*2^-24: halfway, up to even
    (0x3F800000, 0x33800001, 0x3F800001),  # just above halfway: up
    (0x3F800000, 0x337FFFFF, 0x3F800000),  # just below halfway: down
    (0xBF800000, 0xB3800000, 0xBF800000),  # -1 - 2^-24: halfway, stays even
    (0x3F800000, 0xB3000000, 0x3F800000),  # 1 - 2^-25: halfway between 1 - 2^-24 and 1
    (0x3F800000, 0xB3C00000, 0x3F7FFFFE),  # 1 - 3*2^-25: halfway, down to even
    (0x4B800000, 0x3F800000, 0x4B800000),  # 2^24 + 1: halfway, stays even
    (0x4B800001, 0x3F800000, 0x4B800002),  # (2^24 + 2) + 1: halfway, up to even
    # signed zeros and exact cancellation
    (0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x80000000, 0x00000000),
    (0x80000000, 0x00000000, 0x00000000), (0x80000000, 0x80000000, 0x80000000),
    (0x3FC00000, 0xBFC00000, 0x00000000),  # x + (-x) = +0
    (0xBFC00000, 0x3FC00000, 0x00000000),
    (0x7F7FFFFF, 0xFF7FFFFF, 0x00000000),
    (0x00000001, 0x80000001, 0x00000000),  # subnormal x + (-x) = +0
    (0xC0490FDB, 0x80000000, 0xC0490FDB),  # x + (-0) = x
    (0x80000000, 0xC0490FDB, 0xC0490FDB),
    (0x00000000, 0x80000001, 0x80000001),
    # cancellation
    (0x3F800001, 0xBF800000, 0x34000000),  # (1 + 2^-23) - 1 = 2^-23
    (0x3F800000, 0xBF7FFFFF, 0x33800000),  # 1 - (1 - 2^-24) = 2^-24
    (0x4B000001, 0xCAFFFFFF, 0x3FC00000),  # (2^23 + 1) - (2^23 - 0.5) = 1.5
    # subnormals and the subnormal/normal boundary
    (0x00000001, 0x00000001, 0x00000002),
    (0x00400000, 0x00400000, 0x00800000),  # two subnormals -> smallest normal
    (0x007FFFFF, 0x00000001, 0x00800000),
    (0x00800000, 0x80000001, 0x007FFFFF),  # smallest normal - smallest subnormal
    (0x00800001, 0x80800000, 0x00000001),  # normal - normal = smallest subnormal
    (0x00C00000, 0x80800000, 0x00400000),
    (0x80800000, 0x807FFFFF, 0x80FFFFFF),
    # overflow, max finite
    (0x7F7FFFFF, 0x7F7FFFFF, 0x7F800000),
    (0xFF7FFFFF, 0xFF7FFFFF, 0xFF800000),
    (0x7F7FFFFF, 0x73000000, 0x7F800000),  # max + half an ulp: halfway, odd -> up -> inf
    (0x7F7FFFFF, 0x72FFFFFF, 0x7F7FFFFF),  # max + less than half an ulp = max
    (0x7F7FFFFE, 0x73000000, 0x7F7FFFFE),  # halfway from an even max - ulp: stays
    # infinities and NaN
    (0x7F800000, 0xFF800000, QNAN), (0xFF800000, 0x7F800000, QNAN),
    (0x7F800000, 0x7F800000, 0x7F800000), (0xFF800000, 0xFF800000, 0xFF800000),
    (0xFF800000, 0x3F800000, 0xFF800000), (0x7F7FFFFF, 0x7F800000, 0x7F800000),
    (0x7FC00000, 0x3F800000, QNAN), (0x3F800000, 0xFFC00001, QNAN),
    (0x7F800001, 0x7F800000, QNAN), (0x7F800000, 0x7FC00000, QNAN),
]

MUL_CASES = [
    (0x3F800000, 0x3F800000, 0x3F800000),
    # ties to even
    (0x3F800800, 0x3F800800, 0x3F801000),  # (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: stays even
    (0x40400000, 0x3F800001, 0x40400002),  # 3 (1 + 2^-23) = 3 + 1.5 ulp: up to even
    (0x40400000, 0x3F800003, 0x40400004),  # 3 (1 + 3*2^-23) = 3 + 4.5 ulp: down to even
    (0xC0400000, 0x3F800001, 0xC0400002),
    # subnormal results and the boundary
    (0x00800000, 0x3F000000, 0x00400000),  # 2^-126 * 0.5 = 2^-127
    (0x00000001, 0x3F000000, 0x00000000),  # 2^-150: halfway between 0 and 2^-149 -> 0
    (0x00000003, 0x3F000000, 0x00000002),  # 1.5 * 2^-149: halfway -> 2 (even)
    (0x00000001, 0x3F400000, 0x00000001),  # 0.75 * 2^-149 -> 2^-149
    (0x00000001, 0x3E800000, 0x00000000),  # 0.25 * 2^-149 -> 0
    (0x80000001, 0x3F400000, 0x80000001),
    (0x1A000000, 0x1A000000, 0x00000000),  # 2^-75 * 2^-75 = 2^-150 -> +0
    (0x1A000000, 0x9A400000, 0x80000001),  # -1.5 * 2^-150 -> -2^-149
    (0x007FFFFF, 0x3F800001, 0x00800000),  # subnormal rounds up into the smallest normal
    (0x00FFFFFF, 0x3F000000, 0x00800000),  # (2 - 2^-23) * 2^-127: halfway -> normal
    (0x00FFFFFD, 0x3F000000, 0x007FFFFE),  # halfway, down to even subnormal
    # subnormal operands
    (0x00000001, 0x7F000000, 0x34800000),  # 2^-149 * 2^127 = 2^-22
    (0x00400000, 0x40000000, 0x00800000),
    (0x4B000000, 0x00000003, 0x01400000),  # 2^23 * 3*2^-149 = 1.5*2^-125
    (0x00000001, 0x00000001, 0x00000000), (0x80000001, 0x00000001, 0x80000000),
    # overflow, max finite
    (0x7F7FFFFF, 0x40000000, 0x7F800000), (0xFF7FFFFF, 0x40000000, 0xFF800000),
    (0x7F7FFFFF, 0x3F800000, 0x7F7FFFFF),
    (0x7F7FFFFF, 0x3F800001, 0x7F800000),  # (2 - 2^-46) * 2^127 rounds to 2^128: inf
    (0x5F800000, 0x5F800000, 0x7F800000),  # 2^64 * 2^64 = 2^128
    (0x5F7FFFFF, 0x5F800000, 0x7F7FFFFF),
    # zeros, infinities, NaN
    (0x00000000, 0x40A00000, 0x00000000), (0x80000000, 0x40A00000, 0x80000000),
    (0x00000000, 0xC0A00000, 0x80000000), (0x80000000, 0x80000000, 0x00000000),
    (0x00000000, 0x7F800000, QNAN), (0xFF800000, 0x80000000, QNAN),
    (0x7F800000, 0xC0000000, 0xFF800000), (0xFF800000, 0xFF800000, 0x7F800000),
    (0x7F800000, 0x00000001, 0x7F800000),
    (0x7FC00000, 0x00000000, QNAN), (0x3F800000, 0xFF800001, QNAN),
]

INT_CASES = [  # value, expected (N = 32)
    (0, 0x00000000), (1, 0x3F800000), (-1, 0xBF800000), (2, 0x40000000), (3, 0x40400000),
    (2 ** 24 - 1, 0x4B7FFFFF), (2 ** 24, 0x4B800000), (2 ** 24 + 1, 0x4B800000),
    (2 ** 24 + 2, 0x4B800001), (2 ** 24 + 3, 0x4B800002), (-(2 ** 24) - 1, 0xCB800000),
    (-(2 ** 24) - 3, 0xCB800002), (2 ** 25 + 2, 0x4C000000), (2 ** 25 + 6, 0x4C000002),
    (2 ** 25 + 3, 0x4C000001), (2 ** 31 - 1, 0x4F000000), (-(2 ** 31), 0xCF000000),
    (-(2 ** 31) + 1, 0xCF000000), (2 ** 31 - 128, 0x4EFFFFFF), (2 ** 31 - 64, 0x4F000000),
    (2 ** 31 - 192, 0x4EFFFFFE), (123456789, 0x4CEB79A3),
]
INT_SMALL_CASES = {  # unit: [(value, expected)]
    "i12": [(-2048, 0xC5000000), (2047, 0x44FFE000), (-1, 0xBF800000), (0, 0)],
    "i25": [(-(2 ** 24), 0xCB800000), (2 ** 24 - 1, 0x4B7FFFFF), (-1, 0xBF800000), (0, 0)],
}


def _short_a(x, k=10) -> bool:
    v = float(f32(x))
    return np.isfinite(v) and v == round(v) and abs(v) <= 2 ** k


# fp32_mul A_BITS=10: MUL_CASES (both operand orders) whose a is f32 of an integer with
# |a| <= 2^10, and a few more by hand
MULK_CASES = [c for a, b, w in MUL_CASES for c in ((a, b, w), (b, a, w)) if _short_a(c[0])] + [
    (0x44800000, 0x00000001, 0x00000400),  # 1024 * 2^-149 = 2^-139 (subnormal, exact)
    (0x44800000, 0x7F7FFFFF, 0x7F800000),  # 1024 * max finite -> +inf
    (0xC47FC000, 0x3F800001, 0xC47FC002),  # -1023 (1 + 2^-23): 1023 ulp/1024 -> rounds up
    (0x447FC000, 0x00000003, 0x00000BFD),  # 1023 * 3 * 2^-149 = 3069 * 2^-149, exact
    (0x80000000, 0x3F800000, 0x80000000),  # -0 * 1 = -0
    (0x00000000, 0x7F800000, QNAN),        # 0 * inf = NaN
    (0x3F800000, 0x00000000, 0x00000000),
]
