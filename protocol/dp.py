"""Differential privacy for released figures: an exact discrete Laplace sampler and its budget.

**Sampler.**  :func:`discrete_laplace` draws X with ``P(X = x) = (1 - a) / (1 + a) * a^|x|``,
``a = exp(-1/scale)``, for a rational ``scale > 0``, exactly: it is Algorithms 1 and 2 of
Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020),
run on integers and :class:`fractions.Fraction` only.  No floating point enters sampling, so
there is no rounding leak of the kind that breaks textbook floating-point Laplace (Mironov 2012),
and every random choice is a ``secrets.randbelow`` call, so the noise is as unpredictable as the
operating system's CSPRNG.  Rejection sampling makes the running time random (its expectation is
a small constant); that timing depends on the noise only, never on the data.

**Accounting.**  :func:`plan_budget` splits a total epsilon equally over ``4 * families``
released query kinds and gives each its Laplace scale ``sensitivity / per-query epsilon``
(sequential composition of pure epsilon-DP mechanisms; delta = 0).  The neighbouring relation is
add/remove one employee's record.  Every released kind is a vector over *disjoint* cells (per
gender, or per gender x job category, and per salary band), and one employee lies in exactly one
cell, so the L1 sensitivity of a whole vector is that of a single cell: 1 for counts and band
histograms, ``salary_max`` for salary sums and ``salary_max^2`` for sums of squares (salaries
are proven to lie in ``[0, salary_max]`` by :mod:`protocol.validity`).  A complete survey's
further values (variable pay, hourly pay) add their own sums and sums of squares (kinds ``sum:i``
and ``sum_of_squares:i``, sensitivity from that value's bound) and histograms, and variable pay's
recipient counts one more count, per family.

**Distributed use** is described in :data:`NODE_NOISE_NOTE`.

This module imports only the standard library (and the label registry).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from .labels import Label

NODE_NOISE_NOTE = """\
How the MPC nodes add noise.  For every released figure (every entry of every released vector)
each of the n nodes independently samples its own full discrete Laplace variable at the planned
scale (Budget.scale(kind)), Shamir-shares it to all nodes, and every node adds the sum of the n
noise shares it received to its share of the figure before the figure is opened.  The opened
value is therefore the true figure plus the sum of n independent discrete Laplace variables.

Privacy: the noise of any single honest node is on its own a complete epsilon-DP mechanism, and
adding further independent noise (the other nodes' noise) is post-processing, so the release is
epsilon-DP (delta = 0) against the analyst, the public, and any coalition of nodes that cannot
reconstruct that honest node's noise, i.e. any coalition of at most t nodes (t = the Shamir
threshold).  Such a coalition knows its own noise exactly and may subtract it, but t < n leaves
at least one honest node's noise in place.  A coalition of more than t nodes can reconstruct
every shared secret, the honest noise and the raw submissions included, so no DP claim is made
against it (nor is one needed beyond the MPC threshold itself).  A cheating node that skips or
distorts its own noise cannot weaken privacy this way, only accuracy.

Cost: the released noise has n times the variance of one mechanism (standard deviation
sqrt(n) * Budget.sd(kind), see Budget.total_sd); it is a sum of discrete Laplace variables, not
itself discrete Laplace.  Noise values are signed integers embedded in the field; their size is
negligible next to the 127-bit prime, so they never wrap around.
"""

#: the released query kinds of one family, in planning order
KINDS: tuple[str, ...] = ("count", "sum", "sum_of_squares", "band_counts")

#: parse_epsilon accepts at most this many decimal places and at most MAX_EPSILON
MAX_EPSILON_PLACES = 6
MAX_EPSILON = 100

# Plain ASCII decimals with an optional exponent.  Decimal() alone would also take "NaN",
# "Infinity", underscores ("1_0") and non-ASCII digits, none of which belong in a manifest.
_EPSILON_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


# --------------------------------------------------------------------------------------------
# Exact samplers (integer core)
# --------------------------------------------------------------------------------------------
# The public functions below take Fractions; the loops work on (numerator, denominator) integer
# pairs instead, because the K-loop of Algorithm 1 needs Bernoulli(gamma / k) and building a
# Fraction for it (a gcd per step) would dominate the run time.  Bernoulli(num / den) is drawn
# as randbelow(den) < num whether or not num/den is in lowest terms: the probability is the same.


RandBelow = Callable[[int], int]


def _bernoulli_ratio(num: int, den: int, rb: RandBelow) -> int:
    """1 with probability ``num / den`` (requires ``0 <= num <= den``, ``den >= 1``), else 0."""
    return 1 if rb(den) < num else 0


def _bernoulli_exp_at_most_one(num: int, den: int, rb: RandBelow) -> int:
    """1 with probability ``exp(-num/den)`` for ``0 <= num <= den`` (Algorithm 1, gamma <= 1).

    Draw A_k ~ Bernoulli(gamma / k) for k = 1, 2, ... until the first A_K = 0; then
    ``P(K > k) = gamma^k / k!`` and ``P(K odd) = sum_j (-gamma)^j / j! = exp(-gamma)``.
    """
    k = 1
    while _bernoulli_ratio(num, den * k, rb):
        k += 1
    return k & 1


def _bernoulli_exp_ratio(num: int, den: int, rb: RandBelow) -> int:
    """1 with probability ``exp(-num/den)`` for any ``num >= 0``, ``den >= 1``.

    The K-loop needs gamma <= 1 (gamma / k must be a probability), so exp(-gamma) is factored as
    ``exp(-1)^floor(gamma) * exp(-frac(gamma))``: floor(gamma) independent exp(-1) trials, stopping
    at the first failure, then one trial for the fractional part.
    """
    whole, rest = divmod(num, den)
    for _ in range(whole):
        if not _bernoulli_exp_at_most_one(1, 1, rb):
            return 0
    return _bernoulli_exp_at_most_one(rest, den, rb)


def _discrete_laplace_ts(t: int, s: int, rb: RandBelow) -> int:
    """X with ``P(X = x)`` proportional to ``exp(-|x| * s / t)`` (Algorithm 2), ``t, s >= 1``.

    U uniform on {0..t-1} kept with probability exp(-U/t), plus t times V ~ Geometric(1 - e^-1),
    gives X0 = U + t*V with ``P(X0 = x) ~ exp(-x/t)`` on x >= 0.  Then ``Y = floor(X0 / s)`` has
    ``P(Y = y) ~ exp(-y * s / t)`` (each y collects the s consecutive values y*s .. y*s + s - 1,
    whose weights are exp(-y*s/t) times the same constant).  A fair sign B folds Y onto the
    integers; (B = 1, Y = 0) is rejected so that 0 is not counted twice.
    """
    while True:
        u = rb(t)
        if not _bernoulli_exp_ratio(u, t, rb):
            continue
        v = 0
        while _bernoulli_exp_at_most_one(1, 1, rb):
            v += 1
        y = (u + t * v) // s
        negative = rb(2)
        if negative and y == 0:
            continue
        return -y if negative else y


# --------------------------------------------------------------------------------------------
# Public samplers
# --------------------------------------------------------------------------------------------


def _as_fraction(value: Fraction | int, name: str) -> Fraction:
    """``value`` as a Fraction; floats are refused because they carry a binary rounding error
    that the exactness of the samplers would then faithfully reproduce."""
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        raise TypeError(f"{name} must be a Fraction or an int, not {type(value).__name__}")
    return Fraction(value)


def bernoulli(p: Fraction | int) -> int:
    """Return 1 with probability exactly ``p`` and 0 otherwise.

    Contract: ``0 <= p <= 1`` (ValueError otherwise), ``p`` a Fraction or int (TypeError for
    floats).  One call of ``secrets.randbelow(p.denominator)``.
    """
    q = _as_fraction(p, "p")
    if not 0 <= q <= 1:
        raise ValueError(f"p must be between 0 and 1, got {q}")
    return _bernoulli_ratio(q.numerator, q.denominator, secrets.randbelow)


def bernoulli_exp(gamma: Fraction | int) -> int:
    """Return 1 with probability exactly ``exp(-gamma)`` and 0 otherwise.

    Contract: ``gamma >= 0`` (ValueError otherwise), a Fraction or int.  Expected number of
    ``secrets.randbelow`` calls is below 1 + e for gamma <= 1 and grows at most linearly in
    floor(gamma) (each exp(-1) trial stops the loop with probability 1 - 1/e).
    """
    g = _as_fraction(gamma, "gamma")
    if g < 0:
        raise ValueError(f"gamma must be non-negative, got {g}")
    return _bernoulli_exp_ratio(g.numerator, g.denominator, secrets.randbelow)


def discrete_laplace(scale: Fraction | int, randbelow: RandBelow | None = None) -> int:
    """Sample X with ``P(X = x) = (1 - a) / (1 + a) * a^|x|``, ``a = exp(-1/scale)``, exactly.

    Contract: ``scale > 0`` (ValueError otherwise), a Fraction or int.  With ``scale = t/s`` in
    lowest terms, ``|x| / scale = |x| * s / t``: Algorithm 2 of Canonne-Kamath-Steinke with
    their (s, t).  Adding this to a query of L1 sensitivity D with ``scale = D / epsilon`` is
    epsilon-DP.  Variance :func:`laplace_variance`.  All randomness from ``secrets.randbelow``,
    or from ``randbelow`` (a :class:`NoiseSource`'s, seeded from os.urandom) when given.
    """
    sc = _as_fraction(scale, "scale")
    if sc <= 0:
        raise ValueError(f"scale must be positive, got {sc}")
    return _discrete_laplace_ts(sc.numerator, sc.denominator, randbelow or secrets.randbelow)


def sample_vector(scales: Sequence[Fraction | int]) -> list[int]:
    """One independent :func:`discrete_laplace` sample per entry of ``scales``, in order.

    All scales are checked before any sampling, so a bad entry raises without consuming
    randomness.
    """
    checked = [_as_fraction(sc, "scale") for sc in scales]
    for sc in checked:
        if sc <= 0:
            raise ValueError(f"scale must be positive, got {sc}")
    return [_discrete_laplace_ts(sc.numerator, sc.denominator, secrets.randbelow) for sc in checked]


class NoiseSource:
    """A deterministic cryptographic random source for one node's noise in one survey: SHA-256
    in counter mode over a 32-byte secret seed (which the node derives from its own secret key,
    itself from os.urandom).  Deterministic so that a rerun of the same computation draws the
    same noise: two independent draws of the same figure would let their average leak it."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) < 32:
            raise ValueError("a noise seed has at least 32 bytes")
        self._seed, self._counter, self._pool = bytes(seed), 0, b""

    def _bytes(self, k: int) -> bytes:
        while len(self._pool) < k:
            self._pool += hashlib.sha256(Label.DP_NOISE.value + self._seed
                                         + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        out, self._pool = self._pool[:k], self._pool[k:]
        return out

    def randbelow(self, n: int) -> int:
        """Uniform on {0..n-1} (rejection sampling: no modulo bias)."""
        if n < 1:
            raise ValueError("randbelow needs n >= 1")
        bits = (n - 1).bit_length()
        k = (bits + 7) // 8
        while True:
            r = int.from_bytes(self._bytes(k), "big") >> (8 * k - bits) if bits else 0
            if r < n:
                return r

    def laplace(self, scale: Fraction | int) -> int:
        """One :func:`discrete_laplace` draw from this source."""
        return discrete_laplace(scale, self.randbelow)


# --------------------------------------------------------------------------------------------
# Accounting
# --------------------------------------------------------------------------------------------


def laplace_variance(scale: Fraction | int) -> float:
    """Variance of :func:`discrete_laplace` at ``scale``: ``2a / (1 - a)^2``, ``a = exp(-1/scale)``.

    Contract: ``scale > 0``.  1 - a is computed as ``-expm1(-1/scale)``: for the large scales of
    salary sums (1e12 and more) ``1 - exp(-1/scale)`` would cancel to a few correct digits.  For
    tiny scales a underflows and the result is 0.0, which is the variance to double precision.
    """
    sc = _as_fraction(scale, "scale")
    if sc <= 0:
        raise ValueError(f"scale must be positive, got {sc}")
    inv = float(1 / sc)  # Fraction -> float is correctly rounded
    a = math.exp(-inv)
    one_minus_a = -math.expm1(-inv)
    return 2 * a / (one_minus_a * one_minus_a)


def laplace_sd(scale: Fraction | int) -> float:
    """Standard deviation of :func:`discrete_laplace` at ``scale`` (``scale > 0``)."""
    return math.sqrt(laplace_variance(scale))


def _sensitivity(kind: str, salary_max: int) -> int:
    """L1 sensitivity of a released kind under add/remove one employee (see module docstring)."""
    if kind in ("count", "band_counts"):
        return 1
    if kind == "sum":
        return salary_max
    if kind == "sum_of_squares":
        return salary_max * salary_max
    raise ValueError(f"unknown query kind {kind!r}; expected one of {', '.join(KINDS)}")


def _fmt(q: Fraction) -> str:
    """A Fraction for people: its exact decimal expansion when that terminates (denominator
    2^i 5^j), otherwise ``p/q (about x)``."""
    den = q.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{q.numerator}/{q.denominator} (about {float(q):.6g})"
    places = max(twos, fives)
    digits = str(abs(q.numerator) * 10 ** places // q.denominator).rjust(places + 1, "0")
    sign = "-" if q < 0 else ""
    return sign + (f"{digits[:-places]}.{digits[-places:]}" if places else digits)


@dataclass(frozen=True)
class Budget:
    """A pure epsilon-DP budget split equally over ``4 * families`` released queries.

    ``families`` is 1 when the survey releases per-gender figures only and 2 when it also releases
    per-(gender, job category) cells.  Each family releases the four :data:`KINDS`; every query
    gets ``per_query_epsilon = epsilon / (4 * families)`` and discrete Laplace noise of scale
    ``sensitivity / per_query_epsilon``.  Fields are validated on construction (ValueError).
    """

    epsilon: Fraction
    salary_max: int
    families: int
    #: a complete survey: the bounds of its further values (variable pay, hourly pay), each adding
    #: a sum (``sum:i``), a sum of squares (``sum_of_squares:i``) and a band histogram per family,
    #: i = 1, 2, ...; and whether variable pay's recipient counts are released (one more count per
    #: family)
    value_bounds: tuple[int, ...] = ()
    recipients: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, (int, Fraction)):
            raise TypeError("epsilon must be a Fraction (see parse_epsilon)")
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be positive, got {self.epsilon}")
        if isinstance(self.salary_max, bool) or not isinstance(self.salary_max, int) or self.salary_max < 1:
            raise ValueError(f"salary_max must be a positive integer, got {self.salary_max!r}")
        if isinstance(self.families, bool) or not isinstance(self.families, int) or self.families < 1:
            raise ValueError(f"families must be a positive integer, got {self.families!r}")
        # Normalise an int epsilon so the field always holds a Fraction (frozen: bypass setattr).
        object.__setattr__(self, "epsilon", Fraction(self.epsilon))

    @property
    def queries(self) -> int:
        """Number of released queries the budget is split over: ``4 * families`` for one value,
        3 more per family for each further value and 1 more for recipient counts."""
        return (len(KINDS) + 3 * len(self.value_bounds) + (1 if self.recipients else 0)) * self.families

    @property
    def per_query_epsilon(self) -> Fraction:
        """The epsilon spent on each query: ``epsilon / (4 * families)``."""
        return self.epsilon / self.queries

    def sensitivity(self, kind: str) -> int:
        """L1 sensitivity of ``kind`` (one of :data:`KINDS`, or ``sum:i`` / ``sum_of_squares:i``
        of further value i; ValueError otherwise)."""
        base, _, index = kind.partition(":")
        if not index:
            return _sensitivity(kind, self.salary_max)
        if base not in ("sum", "sum_of_squares") or not index.isdigit() or not 1 <= int(index) <= len(self.value_bounds):
            raise ValueError(f"unknown query kind {kind!r}")
        return _sensitivity(base, self.value_bounds[int(index) - 1])

    def scale(self, kind: str) -> Fraction:
        """Exact discrete Laplace scale of ``kind``: ``sensitivity / per_query_epsilon``."""
        return self.sensitivity(kind) / self.per_query_epsilon

    def sd(self, kind: str) -> float:
        """Standard deviation of one node's noise on one figure of ``kind``."""
        return laplace_sd(self.scale(kind))

    def total_sd(self, kind: str, n_nodes: int) -> float:
        """Standard deviation of the released noise when each of ``n_nodes`` nodes adds its own
        full sample (see :data:`NODE_NOISE_NOTE`): ``sqrt(n_nodes) * sd(kind)``."""
        if n_nodes < 1:
            raise ValueError(f"n_nodes must be at least 1, got {n_nodes}")
        return math.sqrt(n_nodes) * self.sd(kind)

    def describe(self) -> str:
        """One paragraph for people: mechanism, neighbouring relation, guarantee and split."""
        fam = ("per-gender figures" if self.families == 1 else
               "per-gender figures and per-(gender, job category) cells" if self.families == 2 else
               f"{self.families} families of figures")
        scales = "; ".join(f"{k} (sensitivity {self.sensitivity(k)}) scale {_fmt(self.scale(k))}, "
                           f"sd {self.sd(k):.4g}" for k in KINDS)
        return (f"Differential privacy: every released figure gets independent discrete Laplace noise "
                f"(exact sampler of Canonne, Kamath and Steinke, cryptographic randomness). "
                f"Neighbouring data sets differ by adding or removing one employee. "
                f"The guarantee is pure epsilon-DP with epsilon = {_fmt(self.epsilon)} and delta = 0. "
                f"The budget is split equally over {self.queries} queries ({self.queries // self.families} per "
                f"family x {self.families} {'family' if self.families == 1 else 'families'}: {fam}), "
                f"epsilon {_fmt(self.per_query_epsilon)} each: {scales}. "
                f"Each node adds its own such noise, so the released noise standard deviation is "
                f"sqrt(number of nodes) times the sd given here.")


def plan_budget(epsilon: Fraction, salary_max: int, families: int, value_bounds: tuple[int, ...] = (),
                recipients: bool = False) -> Budget:
    """The :class:`Budget` for a total ``epsilon`` (> 0), salaries in ``[0, salary_max]`` and
    ``families`` (1 = per-gender only, 2 = also per job category); a complete survey's
    ``value_bounds`` and ``recipients`` as :class:`Budget` has them.  ValueError on bad input."""
    return Budget(epsilon=epsilon, salary_max=salary_max, families=families, value_bounds=value_bounds,
                  recipients=recipients)


def parse_epsilon(text: str) -> Fraction:
    """Parse a user's epsilon (a manifest's ``dp_epsilon``) exactly.

    Accepts ASCII decimals such as ``"1"``, ``"0.5"``, ``"2.25"``, ``"1e-3"``, surrounding
    whitespace allowed, with ``0 < epsilon <= 100`` and at most 6 decimal places (counted on the
    value, so ``"1.500000000"`` is fine).  Conversion goes through Decimal, so ``"0.1"`` is
    exactly 1/10.  Raises ValueError with a message meant for the person who typed it.
    """
    s = text.strip()
    if not _EPSILON_RE.fullmatch(s):
        raise ValueError(f"epsilon must be a decimal number such as 1, 0.5 or 2.25, got {text!r}")
    try:
        d = Decimal(s)
    except InvalidOperation:  # pragma: no cover - the pattern only admits valid Decimal literals
        raise ValueError(f"epsilon must be a decimal number such as 1, 0.5 or 2.25, got {text!r}") from None
    # Range checks come before anything that scales with the exponent: "1e-999999999" and
    # "1e999999999" are valid literals, and Fraction() of them would build a billion-digit int.
    if d <= 0:
        raise ValueError(f"epsilon must be greater than 0, got {text!r}")
    if d > MAX_EPSILON:
        raise ValueError(f"epsilon must be at most {MAX_EPSILON} (larger values protect nobody), got {text!r}")
    _, digits, exponent = d.as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - the pattern admits finite values only
        raise ValueError(f"epsilon must be a finite number, got {text!r}")
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if -(exponent + trailing) > MAX_EPSILON_PLACES:
        raise ValueError(f"epsilon may have at most {MAX_EPSILON_PLACES} decimal places, got {text!r}")
    return Fraction(d)
