"""Statistics from released sums and band histograms (pure functions, checked against
``statistics``/numpy in tests/test_statistics.py).

Medians and quartiles come from band histograms: the values inside a band are taken as evenly
spread over it, so a figure is exact when the bands holding it are one salary value wide, and
otherwise off by at most the width of those bands (returned with every estimate).  Quartile
pay bands follow the UK/EU definition: the employees ordered by salary and cut into four groups
of equal size; employees of a band that a cut goes through are split between the two quarters
in proportion (ties are shared out evenly), so the shares are exact when no cut goes through a
band holding more than one salary value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction


def signed(v: int, p: int) -> int:
    """A field element as a signed integer (noise under differential privacy can be negative)."""
    v %= p
    return v - p if v > p // 2 else v


def mean(total: int, count: int) -> float | None:
    return float(Fraction(total, count)) if count > 0 else None


def stdev(total: int, squares: int, count: int) -> float | None:
    """Sample standard deviation (as ``statistics.stdev``) from n, sum and sum of squares; None
    for fewer than two values.  Noisy inputs can make the variance negative: clamped to 0."""
    if count < 2:
        return None
    var = Fraction(squares * count - total * total, count * (count - 1))
    return math.sqrt(max(var, Fraction(0)))


def _clamped(bands: Sequence[float]) -> list[float]:
    return [max(0, b) for b in bands]


def project_histogram(bands: Sequence[float], total: int) -> list[float]:
    """The histogram nearest (least squares) to noisy band counts among those with non-negative
    entries adding up to ``total`` (Euclidean projection onto the scaled simplex; Duchi et al.,
    ICML 2008).  Post-processing of a differentially private release, so it costs no privacy;
    unlike clamping negative counts to zero it does not pile noise up in empty bands, which
    would drag medians towards the middle of the salary range."""
    if total <= 0 or not bands:
        return [0.0] * len(bands)
    u = sorted((float(b) for b in bands), reverse=True)
    acc, tau = 0.0, 0.0
    for j, v in enumerate(u, start=1):
        acc += v
        t = (acc - total) / j
        if v - t > 0:
            tau = t
    return [max(0.0, b - tau) for b in bands]


def value_at_rank(bands: Sequence[float], edges: Sequence[int], salary_max: int, r: float) -> tuple[float, int]:
    """The r-th smallest value (1-based) of a band histogram, and the width of its band (the
    worst-case error).  Pre-condition: 1 <= r <= sum(bands).  A projected (fractional) histogram
    and a fractional rank are read the same way."""
    cum = 0.0
    for b, n in enumerate(bands):
        if n > 0 and r <= cum + n:
            lo = edges[b]
            hi = edges[b + 1] - 1 if b + 1 < len(edges) else salary_max
            return lo + (hi - lo) * (r - cum - 0.5) / n, hi - lo
        cum += n
    raise ValueError("rank beyond the histogram")


def banded_median(bands: Sequence[float], edges: Sequence[int], salary_max: int) -> tuple[float, float] | None:
    """(median, worst-case error) as ``statistics.median`` would give on the underlying values,
    up to the width of the band(s) holding the middle value(s); None for an empty histogram.
    A fractional (projected, noisy) histogram gives the value at rank (n + 1) / 2."""
    h = _clamped(bands)
    n = sum(h)
    if n <= 0:
        return None
    if any(v != int(v) for v in h):
        return value_at_rank(h, edges, salary_max, min(n, max(1.0, (n + 1) / 2)))
    n = int(n)
    if n % 2:
        return value_at_rank(h, edges, salary_max, (n + 1) // 2)
    (a, ea), (b, eb) = (value_at_rank(h, edges, salary_max, n // 2),
                        value_at_rank(h, edges, salary_max, n // 2 + 1))
    return (a + b) / 2, max(ea, eb)


def quarter_fractions(total_bands: Sequence[float]) -> list[list[float]]:
    """For the whole population's histogram: per band, the fraction of its employees that falls in
    each of the four quarters by rank (rows: bands, columns: quarters)."""
    h = _clamped(total_bands)
    N = sum(h)
    out = [[0.0] * 4 for _ in h]
    if N == 0:
        return out
    cum = 0.0
    for b, n in enumerate(h):
        if n:
            for q in range(4):
                lo, hi = max(cum, q * N / 4), min(cum + n, (q + 1) * N / 4)
                if hi > lo:
                    out[b][q] = (hi - lo) / n
        cum += n
    return out


def quarter_counts(bands: Sequence[float], fractions: Sequence[Sequence[float]]) -> list[float]:
    """A group's (expected) number of employees in each quarter."""
    h = _clamped(bands)
    return [sum(h[b] * fractions[b][q] for b in range(len(h))) for q in range(4)]


def quartile_boundaries(total_bands: Sequence[float], edges: Sequence[int], salary_max: int) -> list[float] | None:
    """The salaries at the three cuts between the quarters (ranks N/4, N/2, 3N/4, rounded up)."""
    h = _clamped(total_bands)
    N = sum(h)
    if N < 4:
        return None
    return [value_at_rank(h, edges, salary_max, min(N, max(1, math.ceil(q * N / 4))))[0] for q in (1, 2, 3)]


def gap_percent(reference: float | None, value: float | None) -> float | None:
    """(reference - value) / reference in percent, rounded to 2 decimals (None if undefined)."""
    if reference is None or value is None or reference == 0:
        return None
    return round((reference - value) / reference * 100, 2)
