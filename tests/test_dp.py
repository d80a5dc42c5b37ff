"""protocol.dp: the exact discrete Laplace sampler (statistically and by exact call traces), its
use of ``secrets`` only, and the budget accounting.

The statistical tests draw fresh cryptographic randomness, so they cannot be seeded: every bound
is a 5-standard-error bound (false alarm about 6e-7 each), and the chi-square tests compare with
the p = 0.001 critical value but draw a second, independent sample before failing, so a correct
sampler fails one with probability 1e-6 while a wrong one fails both (its statistic is huge).
"""

from __future__ import annotations

import ast
import math
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from fractions import Fraction as F
from pathlib import Path

import pytest

from protocol import dp
from protocol.dp import (
    KINDS,
    NODE_NOISE_NOTE,
    Budget,
    bernoulli,
    bernoulli_exp,
    discrete_laplace,
    laplace_sd,
    laplace_variance,
    parse_epsilon,
    plan_budget,
    sample_vector,
)

ROOT = Path(__file__).resolve().parent.parent

#: chi-square critical values at p = 0.001 by degrees of freedom (standard table)
CHI2_CRIT_001 = {
    1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32, 8: 26.12, 9: 27.88,
    10: 29.59, 11: 31.26, 12: 32.91, 13: 34.53, 14: 36.12, 15: 37.70, 16: 39.25, 17: 40.79,
    18: 42.31, 19: 43.82, 20: 45.31, 21: 46.80, 22: 48.27, 23: 49.73, 24: 51.18, 25: 52.62,
    26: 54.05, 27: 55.48, 28: 56.89, 29: 58.30, 30: 59.70,
}

N_BERNOULLI = 20_000
N_LAPLACE = 25_000
LAPLACE_SCALES = (F(1, 2), F(1), F(3), F(10))


def _a(scale: F) -> float:
    return math.exp(-1 / float(scale))


def _pmf(scale: F, x: int) -> float:
    a = _a(scale)
    return (1 - a) / (1 + a) * a ** abs(x)


def _tail(scale: F, lo: int) -> float:
    """P(X >= lo) for lo >= 1: sum_{v >= lo} (1-a)/(1+a) a^v = a^lo / (1 + a)."""
    a = _a(scale)
    return a ** lo / (1 + a)


def _assert_frequency(hits: int, n: int, p: float) -> None:
    se = math.sqrt(p * (1 - p) / n)
    assert abs(hits / n - p) <= 5 * se, (hits, n, p)


# --------------------------------------------------------------------------------------------
# Bernoulli samplers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [F(0), F(1), F(1, 3), F(7, 10), F(1, 1000)])
def test_bernoulli_frequency(p: F) -> None:
    hits = sum(bernoulli(p) for _ in range(N_BERNOULLI))
    if p in (0, 1):
        assert hits == p * N_BERNOULLI
    else:
        _assert_frequency(hits, N_BERNOULLI, float(p))


@pytest.mark.parametrize("gamma", [F(0), F(1, 2), F(1), F(27, 10), F(5)])
def test_bernoulli_exp_frequency(gamma: F) -> None:
    hits = sum(bernoulli_exp(gamma) for _ in range(N_BERNOULLI))
    if gamma == 0:
        assert hits == N_BERNOULLI  # exp(0) = 1 exactly
    else:
        _assert_frequency(hits, N_BERNOULLI, math.exp(-float(gamma)))


def test_bernoulli_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        bernoulli(F(3, 2))
    with pytest.raises(ValueError, match="between 0 and 1"):
        bernoulli(F(-1, 2))
    with pytest.raises(ValueError, match="non-negative"):
        bernoulli_exp(F(-1, 3))
    with pytest.raises(TypeError, match="Fraction or an int"):
        bernoulli(0.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Discrete Laplace: moments, symmetry, goodness of fit
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def laplace_samples() -> dict[F, list[int]]:
    """One sample set per scale, shared by the moment, symmetry and chi-square tests."""
    return {sc: [discrete_laplace(sc) for _ in range(N_LAPLACE)] for sc in LAPLACE_SCALES}


@pytest.mark.parametrize("scale", LAPLACE_SCALES)
def test_laplace_mean_and_variance(scale: F, laplace_samples: dict[F, list[int]]) -> None:
    xs = laplace_samples[scale]
    n = len(xs)
    var = laplace_variance(scale)
    mean = sum(xs) / n
    assert abs(mean) <= 5 * math.sqrt(var / n), (mean, var)
    # The sample variance's standard error is sqrt((m4 - s^4) / n), m4 the fourth central moment.
    s2 = sum((x - mean) ** 2 for x in xs) / (n - 1)
    m4 = sum((x - mean) ** 4 for x in xs) / n
    se = math.sqrt((m4 - s2 * s2) / n)
    assert abs(s2 - var) <= 5 * se, (s2, var, se)


@pytest.mark.parametrize("scale", LAPLACE_SCALES)
def test_laplace_symmetric(scale: F, laplace_samples: dict[F, list[int]]) -> None:
    xs = laplace_samples[scale]
    pos = sum(1 for x in xs if x > 0)
    neg = sum(1 for x in xs if x < 0)
    # Given a non-zero draw, its sign is a fair coin.
    assert abs(pos - neg) <= 5 * math.sqrt(pos + neg), (pos, neg)
    # and zero has its exact probability (1-a)/(1+a), not twice it (the B=1, Y=0 rejection)
    _assert_frequency(len(xs) - pos - neg, len(xs), _pmf(scale, 0))


def _bins(scale: F, n: int) -> list[tuple[float, float]]:
    """Signed integer intervals [lo, hi] (hi may be inf) covering Z for a chi-square test:
    {0}, then on each side consecutive runs of integers of mass >= 4% each, and a tail bin holding
    the rest; the tail is merged into the last run when its expected count would be below 20."""
    q = 0.04
    side: list[tuple[int, float]] = []
    lo = 1
    while _tail(scale, lo) >= 2 * q:
        hi = lo
        while _tail(scale, lo) - _tail(scale, hi + 1) < q:
            hi += 1
        side.append((lo, hi))
        lo = hi + 1
    if n * _tail(scale, lo) < 20 and side:
        side[-1] = (side[-1][0], math.inf)
    else:
        side.append((lo, math.inf))
    return [(-hi, -lo) for lo, hi in reversed(side)] + [(0, 0)] + [(lo, hi) for lo, hi in side]


def _mass(scale: F, lo: float, hi: float) -> float:
    if lo == hi == 0:
        return _pmf(scale, 0)
    if lo < 0:
        return _mass(scale, -hi, -lo)
    upper = 0.0 if hi == math.inf else _tail(scale, int(hi) + 1)
    return _tail(scale, int(lo)) - upper


def _chi_square(xs: list[int], scale: F) -> tuple[float, int]:
    """Pearson's statistic of ``xs`` against the exact pmf at ``scale`` and its degrees of freedom."""
    bins = _bins(scale, len(xs))
    masses = [_mass(scale, lo, hi) for lo, hi in bins]
    assert abs(sum(masses) - 1) < 1e-9  # the bins partition Z
    observed = [0] * len(bins)
    counts = Counter(xs)
    for value, c in counts.items():
        (i,) = [i for i, (lo, hi) in enumerate(bins) if lo <= value <= hi]
        observed[i] += c
    n = len(xs)
    stat = sum((o - n * m) ** 2 / (n * m) for o, m in zip(observed, masses))
    return stat, len(bins) - 1


@pytest.mark.parametrize("scale", LAPLACE_SCALES)
def test_laplace_chi_square_goodness_of_fit(scale: F, laplace_samples: dict[F, list[int]]) -> None:
    stat, df = _chi_square(laplace_samples[scale], scale)
    assert df >= 4  # the test has some resolution at every scale
    if stat > CHI2_CRIT_001[df]:
        # One false alarm in a thousand is expected; a second, fresh sample must then pass.
        stat, df = _chi_square([discrete_laplace(scale) for _ in range(N_LAPLACE)], scale)
    assert stat <= CHI2_CRIT_001[df], (scale, stat, df)


def test_chi_square_detects_a_wrong_scale(laplace_samples: dict[F, list[int]]) -> None:
    """The goodness-of-fit test above has power: 20% off in the scale is flagged."""
    for true_scale, claimed in ((F(3), F(36, 10)), (F(10), F(8))):
        stat, df = _chi_square(laplace_samples[true_scale], claimed)
        assert stat > CHI2_CRIT_001[df], (true_scale, claimed, stat)


def test_laplace_tiny_scale_exact_probabilities() -> None:
    scale = F(1, 5)  # a = e^-5: almost always 0, so this checks the y = floor(x/s) folding
    n = 20_000
    counts = Counter(discrete_laplace(scale) for _ in range(n))
    _assert_frequency(counts[0], n, _pmf(scale, 0))
    _assert_frequency(counts[1], n, _pmf(scale, 1))
    _assert_frequency(counts[-1], n, _pmf(scale, -1))
    _assert_frequency(sum(c for x, c in counts.items() if abs(x) >= 2), n, 2 * _tail(scale, 2))


def test_laplace_rejects_bad_scales() -> None:
    for bad in (F(0), 0, F(-1, 2)):
        with pytest.raises(ValueError, match="scale must be positive"):
            discrete_laplace(bad)
    with pytest.raises(TypeError, match="Fraction or an int"):
        discrete_laplace(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scale must be positive"):
        sample_vector([F(1), F(0)])


def test_sample_vector_one_independent_sample_per_entry() -> None:
    out = sample_vector([F(1, 5), F(1000), F(1, 5), F(10**12)])
    assert len(out) == 4 and all(isinstance(x, int) for x in out)
    assert sample_vector([]) == []
    # Many independent large-scale draws are all different with overwhelming probability.
    big = sample_vector([F(10**12)] * 50)
    assert len(set(big)) == 50


# --------------------------------------------------------------------------------------------
# Randomness comes from secrets.randbelow and nothing else
# --------------------------------------------------------------------------------------------


def _lcg(seed: int, calls: list[int] | None = None) -> Callable[[int], int]:
    """A deterministic stand-in for secrets.randbelow (64-bit LCG); records the bounds asked."""
    state = [seed]

    def randbelow(n: int) -> int:
        assert isinstance(n, int) and n >= 1
        if calls is not None:
            calls.append(n)
        state[0] = (state[0] * 6364136223846793005 + 1442695040888963407) % 2**64
        return (state[0] >> 11) % n

    return randbelow


def _scripted(script: list[tuple[int, int]]) -> tuple[Callable[[int], int], Iterator[tuple[int, int]]]:
    """A fake randbelow that checks each call's bound and answers from ``script``."""
    it = iter(script)

    def randbelow(n: int) -> int:
        bound, value = next(it)
        assert n == bound, (n, bound)
        return value

    return randbelow, it


def test_sampling_is_a_function_of_randbelow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    scales = [F(1, 2), F(1), F(7, 3), F(10), F(10**9)]

    def run(seed: int) -> tuple[list[int], list[int]]:
        calls: list[int] = []
        monkeypatch.setattr(dp.secrets, "randbelow", _lcg(seed, calls))
        out = sample_vector(scales * 20)
        out += [bernoulli(F(1, 3)) for _ in range(20)] + [bernoulli_exp(F(27, 10)) for _ in range(20)]
        return out, calls

    a1, calls1 = run(1)
    a2, calls2 = run(1)
    b, _ = run(2)
    assert a1 == a2 and calls1 == calls2  # same randbelow answers -> same output: no other source
    assert a1 != b  # and the output really depends on those answers
    assert len(calls1) >= 100 * 2


def test_exact_call_trace_discrete_laplace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Algorithm 2 at scale 1 (t = s = 1), driven call by call."""
    script = [
        (1, 0),  # U = 0
        (1, 0),  # Bernoulli(exp(-0/1)): A_1 ~ Bern(0) = 0 -> K = 1 odd -> accept
        (1, 0), (2, 0), (3, 2),  # V loop, Bernoulli(e^-1): A_1 = 1, A_2 = 1, A_3 = 0, K = 3 odd -> V = 1
        (1, 0), (2, 1),  # Bernoulli(e^-1): A_1 = 1, A_2 = 0, K = 2 even -> stop; X = 1, Y = 1
        (2, 1),  # sign B = 1
    ]
    fake, rest = _scripted(script)
    monkeypatch.setattr(dp.secrets, "randbelow", fake)
    assert discrete_laplace(F(1)) == -1
    assert next(rest, None) is None  # every scripted answer was used


def test_exact_call_trace_rejections_and_folding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scale 3/2 (t = 3, s = 2): a rejected U, a rejected negative zero, then Y = floor(4/2)."""
    script = [
        (3, 2),  # U = 2
        (3, 0), (6, 0), (9, 5),  # Bernoulli(exp(-2/3)): A_1 = 1, A_2 = 1 (0 < 2), A_3 = 0 -> K = 3 odd: accept
        (1, 0), (2, 1),  # V loop: Bernoulli(e^-1) = 0 at K = 2 -> V = 0; X = 2, Y = floor(2/2) = 1
        (2, 0),  # sign B = 0 -> +1
    ]
    fake, rest = _scripted(script)
    monkeypatch.setattr(dp.secrets, "randbelow", fake)
    assert discrete_laplace(F(3, 2)) == 1
    assert next(rest, None) is None

    script = [
        (3, 1), (3, 0), (6, 3),  # U = 1; Bernoulli(exp(-1/3)): A_1 = 1, A_2 = 0 (3 >= 1) -> K = 2 -> reject U
        (3, 0), (3, 2),  # U = 0; Bernoulli(exp(0)): A_1 = 0 -> accept
        (1, 0), (2, 1),  # V = 0; X = 0, Y = 0
        (2, 1),  # B = 1 with Y = 0: rejected (zero must not be counted twice)
        (3, 1), (3, 2),  # U = 1; A_1 = 0 (2 >= 1) -> K = 1 -> accept
        (1, 0), (2, 0), (3, 2), (1, 0), (2, 1),  # V: first trial K = 3 -> 1, second K = 2 -> 0: V = 1
        (2, 1),  # X = 1 + 3 = 4, Y = floor(4/2) = 2, B = 1 -> -2
    ]
    fake, rest = _scripted(script)
    monkeypatch.setattr(dp.secrets, "randbelow", fake)
    assert discrete_laplace(F(3, 2)) == -2
    assert next(rest, None) is None


def test_exact_call_trace_bernoulli_exp_above_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """gamma = 5/2: two exp(-1) trials, then exp(-1/2) with the K-loop at Bern(1/(2k))."""
    script = [
        (1, 0), (2, 1),  # exp(-1) trial 1: A_1 = 1, A_2 = 0 -> K = 2 even -> 0 -> the answer is 0
    ]
    fake, rest = _scripted(script)
    monkeypatch.setattr(dp.secrets, "randbelow", fake)
    assert bernoulli_exp(F(5, 2)) == 0
    assert next(rest, None) is None
    script = [
        (1, 0), (2, 0), (3, 1),  # exp(-1) trial 1: A_1 = 1, A_2 = 1, A_3 = 0 -> K = 3 odd -> 1
        (1, 0), (2, 0), (3, 2),  # exp(-1) trial 2: likewise -> 1
        (2, 0), (4, 0), (6, 5),  # exp(-1/2): Bern(1/2), Bern(1/4), Bern(1/6) = 1, 1, 0 -> K = 3 -> 1
    ]
    fake, rest = _scripted(script)
    monkeypatch.setattr(dp.secrets, "randbelow", fake)
    assert bernoulli_exp(F(5, 2)) == 1
    assert next(rest, None) is None


def test_module_imports_only_the_standard_library() -> None:
    """protocol/dp.py imports the standard library and the label registry, which itself imports
    only the standard library."""
    imported: set[str] = set()
    for name in ("dp.py", "labels.py"):
        for node in ast.walk(ast.parse((ROOT / "protocol" / name).read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module == "labels", node.module
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0 and node.module
                imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "hashlib", "math", "re", "secrets", "collections", "dataclasses", "decimal",
                        "enum", "fractions", "typing"}, imported
    assert "random" not in imported and "numpy" not in imported


# --------------------------------------------------------------------------------------------
# Accounting
# --------------------------------------------------------------------------------------------


def test_laplace_variance_formula() -> None:
    for scale in (F(1, 5), F(1, 2), F(1), F(3), F(10)):
        a = math.exp(-1 / float(scale))
        assert laplace_variance(scale) == pytest.approx(2 * a / (1 - a) ** 2, rel=1e-12)
        assert laplace_sd(scale) == pytest.approx(math.sqrt(2 * a / (1 - a) ** 2), rel=1e-12)
    # Large scales: 2a/(1-a)^2 = 1 / (2 sinh^2(1/(2 scale))) = 2 scale^2 - 1/6 + O(1/scale^2);
    # the naive 1 - exp(-1/scale) would be off by ~1e-4 relative at 4e12.
    for scale in (F(4 * 10**6), F(4 * 10**12), F(16 * 10**12, 3)):
        assert laplace_variance(scale) == pytest.approx(2 * float(scale) ** 2 - 1 / 6, rel=1e-9)
    assert laplace_variance(F(1, 10**4)) == 0.0  # a underflows: the variance is 0 to double precision
    with pytest.raises(ValueError):
        laplace_variance(F(0))


def test_plan_budget_one_family() -> None:
    b = plan_budget(F(1), 1_000_000, 1)
    assert b.epsilon == 1 and b.per_query_epsilon == F(1, 4) and b.queries == 4
    assert {k: b.scale(k) for k in KINDS} == {
        "count": F(4), "sum": F(4_000_000), "sum_of_squares": F(4 * 10**12), "band_counts": F(4)}
    assert all(isinstance(b.scale(k), F) for k in KINDS)
    for k in KINDS:
        a = math.exp(-1 / float(b.scale(k)))
        assert b.sd(k) == pytest.approx(math.sqrt(2 * a) / -math.expm1(-1 / float(b.scale(k))), rel=1e-12)
        assert b.total_sd(k, 3) == pytest.approx(math.sqrt(3) * b.sd(k), rel=1e-15)
        assert b.total_sd(k, 1) == b.sd(k)
    assert b.sd("count") == pytest.approx(math.sqrt(2 * math.exp(-0.25)) / (1 - math.exp(-0.25)))
    assert b.sd("sum") == pytest.approx(math.sqrt(2) * 4e6, rel=1e-9)


def test_plan_budget_two_families() -> None:
    b = plan_budget(F(1, 2), 150_000, 2)
    assert b.per_query_epsilon == F(1, 16) and b.queries == 8
    assert b.scale("count") == b.scale("band_counts") == 16
    assert b.scale("sum") == 16 * 150_000
    assert b.scale("sum_of_squares") == 16 * 150_000**2
    # a split that does not terminate in decimal stays exact
    b3 = plan_budget(F(3, 10), 7, 2)
    assert b3.per_query_epsilon == F(3, 80) and b3.scale("sum") == F(560, 3)


def test_budget_rejects_bad_input() -> None:
    b = plan_budget(F(1), 100, 1)
    with pytest.raises(ValueError, match="unknown query kind 'median'"):
        b.scale("median")
    with pytest.raises(ValueError, match="n_nodes"):
        b.total_sd("count", 0)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        plan_budget(F(0), 100, 1)
    with pytest.raises(ValueError, match="salary_max"):
        plan_budget(F(1), 0, 1)
    with pytest.raises(ValueError, match="families"):
        plan_budget(F(1), 100, 0)
    with pytest.raises(TypeError, match="epsilon must be a Fraction"):
        plan_budget(0.5, 100, 1)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        b.epsilon = F(2)  # type: ignore[misc]  # frozen
    assert isinstance(Budget(epsilon=2, salary_max=1, families=1).epsilon, F)  # type: ignore[arg-type]


def test_describe() -> None:
    text = plan_budget(F(1, 2), 1_000_000, 2).describe()
    assert "\n" not in text
    for needle in ("discrete Laplace", "epsilon = 0.5", "delta = 0", "adding or removing one employee",
                   "8 queries", "epsilon 0.0625 each", "sum (sensitivity 1000000) scale 16000000",
                   "sum_of_squares (sensitivity 1000000000000) scale 16000000000000",
                   "count (sensitivity 1) scale 16", "job category"):
        assert needle in text, needle
    assert "job category" not in plan_budget(F(1), 10, 1).describe()
    assert "40/3 (about 13.3333)" in plan_budget(F(3, 10), 10, 1).describe()  # scale of count


def test_node_noise_note() -> None:
    note = " ".join(NODE_NOISE_NOTE.split())
    for needle in ("independently samples", "Shamir-shares", "sum of n independent discrete Laplace",
                   "post-processing", "at most t nodes", "n times the variance", "total_sd"):
        assert needle in note, needle


@pytest.mark.parametrize(("text", "value"), [
    ("1", F(1)), ("0.5", F(1, 2)), ("2.25", F(9, 4)), ("1e-3", F(1, 1000)), (" 0.1 ", F(1, 10)),
    ("100", F(100)), ("0.000001", F(1, 10**6)), ("1.500000000", F(3, 2)), ("+3", F(3)), (".25", F(1, 4)),
    ("5.", F(5)), ("2E1", F(20)),
])
def test_parse_epsilon_good(text: str, value: F) -> None:
    got = parse_epsilon(text)
    assert got == value and isinstance(got, F)


@pytest.mark.parametrize(("text", "message"), [
    ("abc", "epsilon must be a decimal number such as 1, 0.5 or 2.25, got 'abc'"),
    ("", "epsilon must be a decimal number such as 1, 0.5 or 2.25, got ''"),
    ("nan", "epsilon must be a decimal number such as 1, 0.5 or 2.25, got 'nan'"),
    ("Infinity", "epsilon must be a decimal number such as 1, 0.5 or 2.25, got 'Infinity'"),
    ("1_0", "epsilon must be a decimal number such as 1, 0.5 or 2.25, got '1_0'"),
    ("1/2", "epsilon must be a decimal number such as 1, 0.5 or 2.25, got '1/2'"),
    ("\u0661", "epsilon must be a decimal number such as 1, 0.5 or 2.25, got '\u0661'"),
    ("0", "epsilon must be greater than 0, got '0'"),
    ("-1", "epsilon must be greater than 0, got '-1'"),
    ("0e5", "epsilon must be greater than 0, got '0e5'"),
    ("100.5", "epsilon must be at most 100 (larger values protect nobody), got '100.5'"),
    ("1e999999999", "epsilon must be at most 100 (larger values protect nobody), got '1e999999999'"),
    ("0.0000001", "epsilon may have at most 6 decimal places, got '0.0000001'"),
    ("1e-999999999", "epsilon may have at most 6 decimal places, got '1e-999999999'"),
    ("2.1234567", "epsilon may have at most 6 decimal places, got '2.1234567'"),
])
def test_parse_epsilon_bad(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_epsilon(text)
    assert str(exc.value) == message


# --------------------------------------------------------------------------------------------
# NoiseSource: a node's deterministic noise stream
# --------------------------------------------------------------------------------------------


def test_noise_source_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    from protocol.dp import NoiseSource

    a, b, c = NoiseSource(b"\x01" * 32), NoiseSource(b"\x01" * 32), NoiseSource(b"\x02" * 32)
    draws_a = [a.laplace(Fraction(10)) for _ in range(200)]
    assert draws_a == [b.laplace(Fraction(10)) for _ in range(200)]
    assert draws_a != [c.laplace(Fraction(10)) for _ in range(200)]
    with pytest.raises(ValueError, match="at least 32 bytes"):
        NoiseSource(b"short")


def test_noise_source_randbelow_is_uniform() -> None:
    from protocol.dp import NoiseSource

    src = NoiseSource(secrets.token_bytes(32))
    n, draws = 6, 30_000
    counts = [0] * n
    for _ in range(draws):
        counts[src.randbelow(n)] += 1
    expected = draws / n
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    assert chi2 < 20.52, counts  # df = 5, p = 0.001
    assert src.randbelow(1) == 0


def test_noise_source_laplace_has_the_planned_variance() -> None:
    from protocol.dp import NoiseSource, laplace_variance

    src = NoiseSource(secrets.token_bytes(32))
    scale = Fraction(5)
    xs = [src.laplace(scale) for _ in range(20_000)]
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    assert abs(m) < 5 * math.sqrt(laplace_variance(scale) / len(xs))
    assert abs(var / laplace_variance(scale) - 1) < 0.08
