"""hw.affine: the jump-point proof against the exhaustive oracle, the fit on small shapes and on
wide (22-bit) ranges, wrong constants rejected, reachable ranges from producers; the same for the
round-half-to-even form (rows of RNE requants built by brute force with numpy's rint, and the
global-pool quantizer's thresholds of hw.thresholds)."""
import numpy as np
import pytest

from hw.affine import (affine_eval, affine_jumps, fit_affine, level_threshold, prove,
                       prove_exhaustive, prove_row, shift_round, step_function, threshold_jumps)
from hw.thresholds import _round_half_even_thresholds, requant_thresholds


def rand_case(rng):
    """Thresholds of a random requant (hw.thresholds, with its rounding h), sometimes perturbed
    (+-1 on a few), on a random small range."""
    S, bits, C = int(rng.integers(0, 9)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    A = rng.integers(0, 1 << (S + 2), C)
    B = rng.integers(-(1 << (S + 5)), 1 << (S + 5), C)
    T = requant_thresholds(A, B, S, bits).astype(np.float64)
    perturbed = rng.random() < 0.3
    if perturbed:
        T = np.sort(T + rng.integers(-2, 3, T.shape) * (rng.random(T.shape) < 0.1), axis=1)
    xmin = int(rng.integers(-300, 100))
    return T, -(2 ** (bits - 1)), xmin, xmin + int(rng.integers(0, 300)), perturbed


def off_by_one_agrees(T, f, xmin, xmax) -> int:
    """prove == prove_exhaustive with A[0] or B[0] off by one; returns how many were rejected."""
    rejected = 0
    for key in ("A", "B"):
        for d in (-1, 1):
            g = dict(f, **{key: list(f[key])})
            g[key][0] += d
            ok = prove(T, g, xmin, xmax)
            assert ok == prove_exhaustive(T, g, xmin, xmax), (key, d, g)
            rejected += not ok
    return rejected


def test_proof_equals_exhaustive_random():
    """prove == prove_exhaustive on fits, on fits with A or B off by one and on random (A, B)."""
    rng = np.random.default_rng(0)
    fitted = rejected = 0
    for _ in range(600):
        T, lo, xmin, xmax, perturbed = rand_case(rng)
        f = fit_affine(T, lo, xmin, xmax, max_shift=12)
        if not perturbed:
            assert f is not None, "an unperturbed requant must fit"
        if f is None:
            f = {"A": [int(v) for v in rng.integers(0, 64, len(T))],
                 "B": [int(v) for v in rng.integers(-512, 512, len(T))], "S": 4, "lo": lo,
                 "hi": lo + T.shape[1]}
        else:
            fitted += 1
            assert prove_exhaustive(T, f, xmin, xmax)
        rejected += off_by_one_agrees(T, f, xmin, xmax)
        g = dict(f, A=[-a for a in f["A"]])        # negative slopes: only constant rows agree
        assert prove(T, g, xmin, xmax) == prove_exhaustive(T, g, xmin, xmax)
    assert fitted > 300 and rejected > 300


@pytest.mark.parametrize("rounding,seed,n,min_found", [("floor", 1, 60, 5), ("rne", 12, 40, 3)])
def test_fit_is_complete_on_small_shapes(rounding, seed, n, min_found):
    """fit_affine finds a fit whenever a brute-force search over A < 4 2^S, |B| < 24 2^S, S <= 2
    finds one (and every fit it returns is exact), for both roundings."""
    rng = np.random.default_rng(seed)
    found = 0
    for _ in range(n):
        K, lo, xmin = 3, -2, int(rng.integers(-8, 0))
        xmax = xmin + 12
        T = np.sort(rng.integers(xmin - 1, xmax + 2, (1, K)), axis=1)
        xs = np.arange(xmin, xmax + 1)
        y = step_function(T[0], lo, xs)
        brute = any((affine_eval(a, b, s, lo, lo + K, xs, rounding) == y).all()
                    for s in range(3) for a in range(0, 4 << s) for b in range(-24 << s, 24 << s))
        f = fit_affine(T, lo, xmin, xmax, max_shift=2, rounding=rounding)
        if brute:
            assert f is not None, (T, xmin)
            found += 1
        if f is not None:
            assert prove_exhaustive(T, f, xmin, xmax)
    assert found > min_found


def test_wrong_constant_fails_proof():
    """A real 8-bit requant of a 22-bit accumulator: the fit is proven; the largest / smallest
    B that still prove (found by bisection on prove_row) are exact and B one beyond is rejected,
    both confirmed by the exhaustive oracle over all 4 M inputs; A off by one agrees with it."""
    A, B, S = np.array([23351, 30001]), np.array([-1 << 20, 5 << 22]), 26
    T = requant_thresholds(A, B, S, 8)
    xmin, xmax = -(1 << 21), (1 << 21) - 1
    f = fit_affine(T, -128, xmin, xmax)
    assert f is not None and f["S"] <= S and prove(T, f, xmin, xmax)
    a, b, s = f["A"][0], f["B"][0], f["S"]

    def ok(bb):
        return prove_row(T[0], -128, a, bb, s, xmin, xmax)

    def oracle(bb):
        return prove_exhaustive(T[:1], {"A": [a], "B": [bb], "S": s, "lo": -128, "hi": 127},
                                xmin, xmax)
    for d in (1, -1):
        good, step = b, 1                           # ok(good); find the last ok B in direction d
        while ok(good + d * step):
            good, step = good + d * step, 2 * step
        bad = good + d * step
        while abs(bad - good) > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if ok(mid) else (good, mid)
        assert oracle(good) and not ok(bad) and not oracle(bad), (d, good, bad)
    for da in (-1, 1):                               # A off by one: proof == oracle
        g = {"A": [a + da], "B": [b], "S": s, "lo": -128, "hi": 127}
        assert prove(T[:1], g, xmin, xmax) == prove_exhaustive(T[:1], g, xmin, xmax)


def test_jump_points():
    """ceil of thresholds, clipped to [xmin, xmax + 1]; affine jumps exact (ties included)."""
    assert threshold_jumps([2.5, -9.0, 1e9], 0, 5).tolist() == [0, 3, 6]
    # floor((3x + 1)/4) >= v  <=>  x >= ceil((4v - 1)/3): v = 1, 2: 1, 3 (x = 3: 10/4 = 2.5)
    assert affine_jumps(3, 1, 2, 0, 2, -10, 10).tolist() == [1, 3]
    assert affine_jumps(0, 8, 2, 0, 3, -10, 10).tolist() == [-10, -10, 11]   # constant 2
    with pytest.raises(ValueError):
        affine_jumps(-1, 0, 0, 0, 1, 0, 1)


def test_per_row_ranges_and_unfittable():
    """Per-channel ranges; a round-half-even row (jumps 15, 17, 15, ...) has no affine fit."""
    T = requant_thresholds([5, 7], [3, -9], 4, 3)
    f = fit_affine(T, -4, [-50, -20], [60, 10])
    assert f is not None and prove_exhaustive(T, f, [-50, -20], [60, 10])
    v = np.arange(-7, 8)
    m = np.ceil((v - 0.5) * 16) + ((np.ceil((v - 0.5) * 16) == (v - 0.5) * 16) & (v % 2 != 0))
    assert fit_affine(m[None, :] - 0.5, -8, -128, 127) is None


# -- round half to even ----------------------------------------------------------------------
def rne_rows(A, B, S, lo, hi, xmin, xmax):
    """Thresholds of y = clamp(rint((A x + B) / 2^S), lo, hi) found by brute force on
    [xmin, xmax] (numpy rint: ties to even): T_v = the first x with y >= v, -1e9 / +1e9 when
    every / no x of the range reaches v. Independent of hw.affine's formulas."""
    xs = np.arange(xmin, xmax + 1, dtype=np.int64)
    rows = []
    for a, b in zip(A, B):
        y = np.clip(np.rint((int(a) * xs + int(b)) / 2.0 ** S), lo, hi).astype(np.int64)
        row = []
        for v in range(lo + 1, hi + 1):
            k = np.searchsorted(y, v)                   # y is non-decreasing (a >= 0)
            row.append(-1e9 if k == 0 else 1e9 if k == len(xs) else float(xs[k]))
        rows.append(row)
    return np.array(rows)


def test_rne_shift_formula_and_levels():
    """(t + 2^(S-1) - 1 + t[S]) >> S == rint(t / 2^S) on every t of a range (exact ties of both
    parities included), and rne(t/2^S) >= v <=> t >= L_v; unknown rounding names raise."""
    t = np.arange(-700, 700, dtype=np.int64)
    for S in range(0, 7):
        q = shift_round(t, S, "rne")
        assert np.array_equal(q, np.rint(t / 2.0 ** S).astype(np.int64)), S
        assert all(shift_round(int(u), S, "rne") == int(w) for u, w in zip(t[::37], q[::37]))
        for v in range(-12, 13):
            assert np.array_equal(q >= v, t >= level_threshold(v, S, "rne")), (S, v)
            assert np.array_equal(t >> S >= v, t >= level_threshold(v, S, "floor")), (S, v)
    # the ties at S = 3: 4 -> 0, 12 -> 2, -4 -> 0, -12 -> -2 (floor + 1/2 would give 1, 2, 0, -1)
    assert shift_round(np.array([4, 12, -4, -12]), 3, "rne").tolist() == [0, 2, 0, -2]
    with pytest.raises(ValueError, match="rounding"):
        shift_round(4, 2, "half_up")
    with pytest.raises(ValueError, match="rounding"):
        fit_affine(np.zeros((1, 3)), 0, 0, 4, rounding="ceil")


def test_rne_proof_equals_exhaustive_random():
    """Rows of random RNE requants (some perturbed): the rne fit exists on every unperturbed row
    and is exact by the oracle; prove == prove_exhaustive with A or B off by one; the floor form
    fails on some rows (those whose ties the range reaches)."""
    rng = np.random.default_rng(11)
    fitted = rejected = floor_fits = 0
    for _ in range(250):
        S, bits, C = int(rng.integers(1, 7)), int(rng.integers(2, 5)), int(rng.integers(1, 3))
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        xmin = int(rng.integers(-200, 50))
        xmax = xmin + int(rng.integers(10, 250))
        A = rng.integers(1, 1 << (S + 1), C)
        B = rng.integers(-(1 << (S + 4)), 1 << (S + 4), C)
        T = rne_rows(A, B, S, lo, hi, xmin, xmax)
        perturbed = rng.random() < 0.25
        if perturbed:
            T = np.sort(T + rng.integers(-1, 2, T.shape) * (rng.random(T.shape) < 0.15), axis=1)
        f = fit_affine(T, lo, xmin, xmax, max_shift=12, rounding="rne")
        if not perturbed:
            assert f is not None and f["S"] <= S, (A, B, S)
        floor_fits += fit_affine(T, lo, xmin, xmax, max_shift=12) is not None
        if f is None:
            continue
        fitted += 1
        assert f["rounding"] == "rne" and prove_exhaustive(T, f, xmin, xmax)
        rejected += off_by_one_agrees(T, f, xmin, xmax)
        g = dict(f, rounding="floor")              # the same constants read as floor: proof == oracle
        assert prove(T, g, xmin, xmax) == prove_exhaustive(T, g, xmin, xmax)
    assert fitted > 150 and rejected > 150 and floor_fits < fitted - 10


def test_global_pool_thresholds_fit_rne():
    """The global-pool quantizer's round-half-even thresholds (hw.thresholds, a 4x4 and an 8x8
    pool of 8-bit values, as streamlining leaves them: shifted by an integer offset) have no floor
    fit but an rne one, proven on the pool sum's whole range and equal to the oracle."""
    for pix, off in ((16, 0), (64, -37)):
        v = np.arange(-127, 128, dtype=np.float64)
        m = _round_half_even_thresholds(float(pix), v)      # r = output step / pooled grid
        T = (m - 0.5 + off)[None, :]
        xmin, xmax = -128 * pix + off, 127 * pix + off
        assert fit_affine(T, -128, xmin, xmax) is None
        f = fit_affine(T, -128, xmin, xmax, rounding="rne")
        assert f is not None and prove(T, f, xmin, xmax) and prove_exhaustive(T, f, xmin, xmax)
        assert f["S"] == int(np.log2(pix)) and f["A"] == [1]


def test_rne_wrong_constant_fails_proof():
    """A wide RNE requant (22-bit input, 8-bit output): the fit is proven; the largest / smallest
    B that still prove are exact by the oracle over all 4 M inputs and B one beyond is rejected
    by both; a deliberately wrong B (+1 at an exact-tie row) fails the proof."""
    S0, A0, B0 = 14, 1, 1 << 13                         # rne((x + 2^13) / 2^14): ties at 2^13 mod 2^14
    xmin, xmax = -(1 << 21), (1 << 21) - 1
    xs = np.arange(xmin, xmax + 1, dtype=np.int64)
    y = np.clip(np.rint((A0 * xs + B0) / 2.0 ** S0), -128, 127).astype(np.int64)
    T = (xs[np.searchsorted(y, np.arange(-127, 128))]).astype(np.float64)[None, :]
    f = fit_affine(T, -128, xmin, xmax, rounding="rne")
    assert f is not None and prove(T, f, xmin, xmax) and fit_affine(T, -128, xmin, xmax) is None
    a, b, s = f["A"][0], f["B"][0], f["S"]

    def ok(bb):
        return prove_row(T[0], -128, a, bb, s, xmin, xmax, "rne")

    def oracle(bb):
        return prove_exhaustive(T, {"A": [a], "B": [bb], "S": s, "lo": -128, "hi": 127,
                                    "rounding": "rne"}, xmin, xmax)
    assert oracle(b)
    width = 0
    for d in (1, -1):                               # walk to the last B that proves, each way
        good, bad = b, b + d
        while ok(bad) and abs(bad - b) < 64:
            good, bad = bad, bad + d
        assert oracle(good) and not ok(bad) and not oracle(bad), (d, good, bad)
        width += abs(good - b)
    assert width == 0, "the ties pin B: B +- 1 must already fail"
    for da in (-1, 1):                               # A off by one: proof == oracle (both fail)
        g = {"A": [a + da], "B": [b], "S": s, "lo": -128, "hi": 127, "rounding": "rne"}
        assert not prove(T, g, xmin, xmax) and not prove_exhaustive(T, g, xmin, xmax)
