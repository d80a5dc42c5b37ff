"""Prime field arithmetic and Shamir secret sharing, as MPyC does it.

Party (node) ``i`` (0-based) holds ``f(i+1)`` for a random polynomial ``f`` of degree ``t`` with
``f(0)`` the secret — the convention of ``mpyc.thresha``, so shares made here are valid MPyC
shares.  Randomness comes from :mod:`secrets` only.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from .errors import InconsistentShares

#: The default field: the Mersenne prime 2^127 - 1.  Large enough for MPyC's SecInt(64) with its
#: 30-bit statistical security parameter (needs > 95 bits), and for sums of 10^7 salaries of up
#: to 10^12 units (and their squares' sums, for later statistics) without wrap-around.
DEFAULT_PRIME = (1 << 127) - 1

#: Bytes per field element on the wire (big-endian, fixed width).
ELEMENT_BYTES = 16


def is_probable_prime(p: int, rounds: int = 64) -> bool:
    """Miller-Rabin with random bases from :mod:`secrets` (error below 4^-rounds)."""
    if p < 2:
        return False
    for q in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if p % q == 0:
            return p == q
    d, r = p - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(2 + secrets.randbelow(p - 3), d, p)
        if x in (1, p - 1):
            continue
        for _ in range(r - 1):
            x = x * x % p
            if x == p - 1:
                break
        else:
            return False
    return True


def check_prime_params(p: int, n: int, t: int) -> None:
    """Raise ValueError unless n parties with threshold t can share over GF(p)."""
    if p < 3 or p.bit_length() > ELEMENT_BYTES * 8 or not is_probable_prime(p):
        raise ValueError(f"field modulus must be an odd prime below 2^{ELEMENT_BYTES * 8}")
    if not 1 <= t or not 2 * t < n:
        raise ValueError(f"threshold t={t} needs 1 <= t and 2t < n (n={n})")
    if n >= p:
        raise ValueError("more parties than field elements")


def share_vector(secrets_: Sequence[int], n: int, t: int, p: int) -> list[list[int]]:
    """Share every entry of ``secrets_`` with an independent random degree-t polynomial.

    Returns ``n`` share vectors; vector ``i`` is node ``i``'s share of each entry.
    """
    coeffs = [[secrets.randbelow(p) for _ in range(t)] for _ in secrets_]
    return share_vector_with_coefficients(secrets_, coeffs, n, p)


def share_vector_with_coefficients(
    secrets_: Sequence[int], coeffs: Sequence[Sequence[int]], n: int, p: int
) -> list[list[int]]:
    """Deterministic sharing with the given coefficients (for known-answer tests).

    ``coeffs[j]`` are the coefficients of x^1..x^t for entry ``j``.
    """
    out = [[0] * len(secrets_) for _ in range(n)]
    for j, (s, cs) in enumerate(zip(secrets_, coeffs, strict=True)):
        for i in range(n):
            x = i + 1
            # Horner evaluation of s + c1 x + ... + ct x^t.
            acc = 0
            for c in reversed(cs):
                acc = (acc + c) * x % p
            out[i][j] = (acc + s) % p
    return out


def lagrange_coefficients(xs: Sequence[int], x: int, p: int) -> list[int]:
    """Coefficients l_i with f(x) = sum_i l_i f(xs[i]) for every polynomial f of degree < len(xs)."""
    lam = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                num = num * (x - xj) % p
                den = den * (xi - xj) % p
        lam.append(num * pow(den, -1, p) % p)
    return lam


def lagrange_consecutive(count: int, x: int, p: int) -> list[int]:
    """:func:`lagrange_coefficients` for the nodes 0, 1, ..., count-1, in O(count) operations
    (p prime > count): l_k = prod_{j != k} (x - j) / (k - j), whose denominator is
    k! (count-1-k)! (-1)^(count-1-k).  The validity proofs interpolate over thousands of nodes."""
    x %= p
    if x < count:  # x is a node
        return [1 if k == x else 0 for k in range(count)]
    fact = [1] * count
    for k in range(1, count):
        fact[k] = fact[k - 1] * k % p
    # prefix[k] = prod_{j<k} (x - j), suffix[k] = prod_{j>k} (x - j)
    prefix = [1] * (count + 1)
    for j in range(count):
        prefix[j + 1] = prefix[j] * (x - j) % p
    suffix = [1] * (count + 1)
    for j in range(count - 1, -1, -1):
        suffix[j] = suffix[j + 1] * (x - j) % p
    inv_fact_last = pow(fact[count - 1], -1, p)
    inv_fact = [1] * count
    inv_fact[count - 1] = inv_fact_last
    for k in range(count - 1, 0, -1):
        inv_fact[k - 1] = inv_fact[k] * k % p
    out = []
    for k in range(count):
        v = prefix[k] * suffix[k + 1] % p * inv_fact[k] % p * inv_fact[count - 1 - k] % p
        out.append(v if (count - 1 - k) % 2 == 0 else (p - v) % p)
    return out


def lagrange_at_zero(xs: Sequence[int], p: int) -> list[int]:
    """Lagrange coefficients for interpolating f(0) from the points ``xs``."""
    return lagrange_coefficients(xs, 0, p)


def _recombine(shares: Mapping[int, Sequence[int]], nodes: Sequence[int], t: int, p: int) -> list[int]:
    """f(0) per entry from the first t+1 of ``nodes`` (no consistency check)."""
    base = list(nodes)[: t + 1]
    lam = lagrange_at_zero([i + 1 for i in base], p)
    return [sum(l * shares[i][j] for l, i in zip(lam, base)) % p for j in range(len(shares[base[0]]))]


def reconstruct_vector(shares: Mapping[int, Sequence[int]], t: int, p: int) -> list[int]:
    """Reconstruct every entry from the shares of nodes ``shares.keys()`` (0-based).

    Checks first that all given shares lie on one degree-t polynomial per entry (which needs
    more than t+1 shares to mean anything) and raises :class:`InconsistentShares` naming the
    nodes that disagree when a single node explains it.
    """
    nodes = sorted(shares)
    if len(nodes) < t + 1:
        raise InconsistentShares(f"need at least {t + 1} shares, got {len(nodes)}")
    lengths = {len(shares[i]) for i in nodes}
    if len(lengths) != 1:
        raise InconsistentShares("result shares have different lengths")
    bad = inconsistent_nodes(shares, t, p)
    if bad is not None:
        who = ", ".join(f"node {i}" for i in bad) if bad else "cannot tell which node"
        raise InconsistentShares(f"shares do not lie on one degree-{t} polynomial ({who})")
    return _recombine(shares, nodes, t, p)


def _consistent(shares: Mapping[int, Sequence[int]], nodes: Sequence[int], t: int, p: int) -> bool:
    base, rest = nodes[: t + 1], nodes[t + 1 :]
    xs = [i + 1 for i in base]
    predict = {k: lagrange_coefficients(xs, k + 1, p) for k in rest}
    for j in range(len(shares[nodes[0]])):
        for k in rest:
            if sum(l * shares[i][j] for l, i in zip(predict[k], base)) % p != shares[k][j] % p:
                return False
    return True


def inconsistent_nodes(shares: Mapping[int, Sequence[int]], t: int, p: int) -> tuple[int, ...] | None:
    """None if all shares are consistent; else the single culprit if removing one node makes the
    rest consistent, else the empty tuple (inconsistent, culprit unknown).

    A culprit is named only with n >= 3t+1 shares: with fewer, t colluding nodes can place their
    shares on another polynomial through all but one honest share and so frame that honest node.
    """
    nodes = sorted(shares)
    if _consistent(shares, nodes, t, p):
        return None
    if len(nodes) >= 3 * t + 1:
        suspects = [k for k in nodes if _consistent(shares, [i for i in nodes if i != k], t, p)]
        if len(suspects) == 1:
            return (suspects[0],)
    return ()


def correctable(m: int, t: int) -> int:
    """How many wrong share vectors :func:`robust_reconstruct` corrects among ``m`` of a degree-t
    sharing (the other nodes' shares missing): the largest s with ``m - s - t >= t + 1``, at
    most t.  Then any m - s consistent shares hold t + 1 honest ones whatever up to t nodes
    send, so they determine the true polynomial and nobody honest can be framed; it is the
    decoding budget 2s + e <= n - t - 1 with e = n - m erasures, tightened where t liars could
    outnumber s.  With all n >= 3t + 1 shares it is t."""
    return max(0, min(t, m - 2 * t - 1))


def robust_reconstruct(shares: Mapping[int, Sequence[int]], t: int, p: int) -> tuple[list[int], tuple[int, ...]]:
    """Error-correcting reconstruction of share vectors (one vector per node present; absent
    nodes are erasures).

    Returns ``(values, culprits)``.  Up to :func:`correctable` wrong share vectors are corrected
    and their nodes named (the fewest nodes whose removal leaves the rest consistent: each of
    them is off the true polynomial).  With none correctable the error can only be detected:
    raises :class:`CheatingDetected` naming nobody (t colluding nodes could otherwise frame an
    honest one; see :func:`inconsistent_nodes`).
    """
    from itertools import combinations

    from .errors import CheatingDetected

    nodes = sorted(shares)
    m = len(nodes)
    if m < t + 1 or len({len(shares[i]) for i in nodes}) != 1:
        raise InconsistentShares(f"need {t + 1} share vectors of one length, got {m}")
    if _consistent(shares, nodes, t, p):
        return _recombine(shares, nodes, t, p), ()
    s = correctable(m, t)
    for size in range(1, s + 1):
        for bad in combinations(nodes, size):
            keep = [i for i in nodes if i not in bad]
            if _consistent(shares, keep, t, p):
                return _recombine(shares, keep, t, p), bad
    if s == t:
        raise CheatingDetected(f"more than t={t} nodes sent inconsistent shares; nothing can be trusted")
    if s:
        raise CheatingDetected(f"more than {s} of the {m} shares present are inconsistent; nothing can be trusted")
    raise CheatingDetected(f"the shares are inconsistent and with n={m} < 3t+1={3 * t + 1} nodes the culprit "
                           "cannot be identified")


def encode_elements(values: Sequence[int], p: int) -> bytes:
    """Fixed-width big-endian encoding of field elements (each must be in [0, p))."""
    out = bytearray()
    for v in values:
        if not 0 <= v < p:
            raise ValueError("value is not a reduced field element")
        out += v.to_bytes(ELEMENT_BYTES, "big")
    return bytes(out)


def decode_elements(data: bytes, count: int, p: int) -> list[int]:
    """Inverse of :func:`encode_elements`; raises ValueError on a wrong length or unreduced value
    (the range check is :func:`protocol.fastfield.decode_matrix`'s)."""
    from .fastfield import decode_matrix, supported, to_ints

    if len(data) != count * ELEMENT_BYTES:
        raise ValueError(f"expected {count} field elements, got {len(data)} bytes")
    m = decode_matrix(data, 1, count, p)
    return [int(v) for v in (to_ints(m) if supported(p) else m).ravel()]  # type: ignore[arg-type]
