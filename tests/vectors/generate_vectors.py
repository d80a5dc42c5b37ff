"""One-off generator of the known-answer vector files in this directory (NOT run by the tests).

    cd /work/main && PYTHONPATH=. python tests/vectors/generate_vectors.py shamir|hpke|manifest|certificate|validity|validity_complete|bulk_body

Each JSON file records its provenance.  Do not regenerate casually: the point of a known-answer
file is that it stays fixed while the code changes.  (``hpke`` and ``manifest`` output differ on
every run because HPKE encryption and certificate generation are randomised.)
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import re
import struct
import sys
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _direct_eval(secret: int, coeffs: list[int], x: int, p: int) -> int:
    """f(x) = secret + sum_k coeffs[k-1] * x^k, evaluated term by term (no Horner)."""
    return (secret + sum(c * pow(x, k, p) for k, c in enumerate(coeffs, start=1))) % p


def _mpyc_split(p: int, secrets_: list[int], coeffs: list[list[int]], n: int, t: int) -> list[list[int]]:
    """mpyc.thresha.random_split fed with our coefficients instead of fresh randomness.

    random_split draws c[0..t-1] per secret and uses f(X) = s + c[t-1] X + ... + c[0] X^t,
    so it must be fed the coefficients of X^t .. X^1 in that order."""
    import mpyc.thresha as thresha
    from mpyc.finfields import GF

    feed = iter([c for cs in coeffs for c in reversed(cs)])
    saved = thresha.secrets
    thresha.secrets = types.SimpleNamespace(randbelow=lambda _order: next(feed))  # type: ignore[assignment]
    try:
        shares = thresha.random_split(GF(p), secrets_, t, n)
    finally:
        thresha.secrets = saved
    return [[int(v) % p for v in row] for row in shares]


def _mpyc_recombine(p: int, points: list[tuple[int, list[int]]]) -> list[int]:
    import mpyc.thresha as thresha
    from mpyc.finfields import GF

    F = GF(p)
    return [int(v.value) for v in thresha.recombine(F, [(x, [F(v) for v in ys]) for x, ys in points])]


def shamir() -> None:
    rng = random.Random(20261122)
    cases = []
    for pname, p in (("2^127-1", (1 << 127) - 1), ("2^61-1", (1 << 61) - 1)):
        for n, t in ((3, 1), (5, 2)):
            secrets_ = [0, 1, p - 1, 52_000, rng.randrange(p)]
            coeffs = [[rng.randrange(p) for _ in range(t)] for _ in secrets_]
            coeffs[0] = [0] * t  # a constant polynomial: every share equals the secret
            expected = [[_direct_eval(s, cs, i + 1, p) for s, cs in zip(secrets_, coeffs)] for i in range(n)]
            assert expected == _mpyc_split(p, secrets_, coeffs, n, t), "mpyc disagrees with direct evaluation"
            for subset in itertools.combinations(range(n), t + 1):
                assert _mpyc_recombine(p, [(i + 1, expected[i]) for i in subset]) == secrets_
            cases.append({
                "name": f"p={pname} n={n} t={t}",
                "p": str(p), "n": n, "t": t,
                "secrets": [str(s) for s in secrets_],
                "coefficients": [[str(c) for c in cs] for cs in coeffs],
                "shares": [[str(v) for v in row] for row in expected],
            })
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_vectors.py (shamir) on 2026-11-22. Secrets and "
            "coefficients are fixed (random.Random(20261122)); coefficients[j] are those of x^1..x^t for "
            "secret j. shares[i][j] = f_j(i+1) (node i, 0-based, holds f(i+1)) computed by direct term-by-term "
            "polynomial evaluation mod p, independently of protocol/field.py, and cross-checked against "
            "mpyc 0.11 mpyc.thresha.random_split fed the same coefficients and against "
            "mpyc.thresha.recombine over every (t+1)-subset. All integers are decimal strings."
        ),
        "cases": cases,
    }
    (HERE / "shamir.json").write_text(json.dumps(out, indent=1) + "\n")


def hpke() -> None:
    sys.path.insert(0, str(HERE.parents[1]))
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from protocol.envelope import open_result, open_shares, seal_result, seal_shares
    from protocol.field import DEFAULT_PRIME

    p = DEFAULT_PRIME
    node_sk = hashlib.sha256(b"salary-mpc test vector: node HPKE key").digest()
    analyst_sk = hashlib.sha256(b"salary-mpc test vector: analyst HPKE key").digest()
    mhash = hashlib.sha256(b"salary-mpc test vector: manifest").digest()
    sid = bytes.fromhex("00112233445566778899aabbccddeeff")
    shares = [0, 1, p - 1, 52_000, 0x0123456789ABCDEF0123456789ABCDEF % p, 7]
    result = [3, 156_000, p - 2, 12345678901234567890]

    def pub(sk: bytes) -> str:
        return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    node_index, result_node = 2, 1
    sealed = seal_shares(shares, pub(node_sk), mhash, node_index, sid, p)
    sealed_res = seal_result(result, pub(analyst_sk), mhash, result_node, p)
    assert open_shares(sealed, X25519PrivateKey.from_private_bytes(node_sk), mhash, node_index, sid, len(shares), p) == shares
    assert open_result(sealed_res, X25519PrivateKey.from_private_bytes(analyst_sk), mhash, result_node, p) == result
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_vectors.py (hpke) on 2026-11-22: private keys and manifest "
            "hash are SHA-256 of fixed labels; 'sealed' was produced by protocol.envelope.seal_shares and "
            "'sealed_result' by seal_result (HPKE base mode, DHKEM(X25519,HKDF-SHA256), HKDF-SHA256, "
            "ChaCha20-Poly1305, pyca/cryptography 50.0.2). Encryption is randomised, so these are decryption "
            "known answers; the test also opens them with an independent RFC 9180 implementation."
        ),
        "field_modulus": str(p),
        "node_private_key": node_sk.hex(),
        "node_public_key": pub(node_sk),
        "manifest_hash": mhash.hex(),
        "node_index": node_index,
        "submission_id": sid.hex(),
        "shares": [str(v) for v in shares],
        "sealed": sealed.hex(),
        "analyst_private_key": analyst_sk.hex(),
        "analyst_public_key": pub(analyst_sk),
        "result_node_index": result_node,
        "result": [str(v) for v in result],
        "sealed_result": sealed_res.hex(),
    }
    (HERE / "hpke.json").write_text(json.dumps(out, indent=1) + "\n")


def manifest() -> None:
    sys.path.insert(0, str(HERE.parents[1]))
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from protocol.tls import cert_fingerprint

    def pub(label: bytes) -> str:
        sk = X25519PrivateKey.from_private_bytes(hashlib.sha256(label).digest())
        return sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    # The certificates were made once: later updates keep them, so that only the fields an update
    # is about change.  Without an earlier file, fresh ones come from mpc_nodes.keys.
    path = HERE / "manifest.json"
    earlier = json.loads(path.read_text(encoding="utf-8"))["manifest"]["nodes"] if path.exists() else None
    nodes = []
    for i in range(3):
        if earlier is not None:
            cert_pem = earlier[i]["tls_cert_pem"]
        else:
            from mpc_nodes.keys import make_certificate

            cert_pem = make_certificate(f"node{i}", "127.0.0.1")[0].decode()
        nodes.append({
            "name": f"node{i}", "url": f"https://127.0.0.1:{8441 + i}", "mpc_address": f"127.0.0.1:{9441 + i}",
            "hpke_public_key": pub(f"salary-mpc manifest vector node{i}".encode()),
            "tls_cert_pem": cert_pem, "tls_cert_sha256": cert_fingerprint(cert_pem),
        })
    m = {
        "survey_id": "kat-survey-2026", "title": "Gehaltsumfrage Zürich – 2026", "model": "semi-honest",
        "threshold": 1, "nodes": nodes, "analyst_public_key": pub(b"salary-mpc manifest vector analyst"),
        "closes_at": "2026-12-31T23:59:59Z", "salary_unit": "EUR/month", "salary_max": 1_000_000,
        "min_group_size": 5, "categories": ["female", "male", "other"],
        "job_categories": ["engineering", "sales", "support"], "salary_bands": [2000, 4000, 8000],
        "dp_epsilon": "1.5",
        "field_modulus": str((1 << 127) - 1), "encoding": "cells-bands-rank1/v4", "version": 1,
        "created_at": "2026-11-22T00:00:00Z",
    }
    # The canonical form, written out here independently of protocol/manifest.py.
    canonical = json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_vectors.py (manifest) on 2026-11-22: fixed fields, X25519 "
            "public keys derived from SHA-256 of fixed labels, self-signed P-256 certificates made once by "
            "mpc_nodes.keys.make_certificate. 'canonical' is json.dumps(sort_keys=True, separators=(',',':'), "
            "ensure_ascii=False) of the manifest, computed by the generator, and 'sha256' its SHA-256 over "
            "UTF-8. These pin the manifest identity: changing the canonicalisation changes every survey's hash. "
            "Updated on 2026-11-22 for encoding count-sum-range/v1 and again for count-sum-range-flp/v2 (only that "
            "field changed each time; canonical bytes edited, SHA-256 recomputed with hashlib). "
            "Updated on 2026-11-22 for encoding cells-bands-flp/v3 (new manifest fields job_categories, "
            "salary_bands, dp_epsilon): the generator re-run, keeping the earlier file's certificates, so only "
            "the encoding and these three fields changed; canonical bytes and SHA-256 recomputed by the "
            "generator with json and hashlib. Updated on 2026-12-04 for encoding cells-bands-rank1/v4: only the "
            "encoding field changed (in the manifest and in the canonical bytes, edited by hand); SHA-256 "
            "recomputed with hashlib."
        ),
        "manifest": m,
        "canonical": canonical,
        "sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    }
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def certificate() -> None:
    """Submission certificate, computed here from the documented layout with hashlib and a raw
    Ed25519 key (deterministic signatures), independently of protocol.commitment."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    p = (1 << 127) - 1
    sk_bytes = hashlib.sha256(b"salary-mpc test vector: certificate key").digest()
    sk = Ed25519PrivateKey.from_private_bytes(sk_bytes)
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    mhash = hashlib.sha256(b"salary-mpc test vector: manifest").digest()
    shares = [[1, 2, 3], [p - 1, 0, 52_000], [0x0123456789ABCDEF % p, 7, 8]]
    share_bytes = [b"".join(v.to_bytes(16, "big") for v in row) for row in shares]
    sid = hashlib.sha256(b"salary-mpc/v2 submission id\x00" + pk).hexdigest()[:32]
    commits = [hashlib.sha256(b"salary-mpc/v2 share commitment\x00" + mhash + bytes.fromhex(sid)
                              + j.to_bytes(2, "big") + sb).digest() for j, sb in enumerate(share_bytes)]
    signed = b"salary-mpc/v2 submission certificate\x00" + mhash + bytes.fromhex(sid) + b"".join(commits)
    cert = pk + sk.sign(signed) + b"".join(commits)
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_vectors.py (certificate) on 2026-11-22 with hashlib and "
            "pyca/cryptography Ed25519 directly (RFC 8032 signatures are deterministic): private key and manifest "
            "hash are SHA-256 of fixed labels; id = first 16 bytes of SHA-256(label || pk); C_j = SHA-256(label || "
            "manifest hash || id || j (2 bytes) || node j's 16-byte big-endian share elements); certificate = pk || "
            "signature over (label || manifest hash || id || C_0..C_2) || C_0..C_2."
        ),
        "private_key": sk_bytes.hex(),
        "manifest_hash": mhash.hex(),
        "shares": [[str(v) for v in row] for row in shares],
        "submission_id": sid,
        "certificate": cert.hex(),
    }
    (HERE / "certificate.json").write_text(json.dumps(out, indent=1) + "\n")


# ------------------------------------------------------------------ validity proofs (protocol.validity)

P127 = (1 << 127) - 1
VALIDATION_CHALLENGE = b"salary-mpc/v4 validation challenge\x00"
#: the previous protocol revision's label: a challenge derived with it is a wrong derivation
OLD_VALIDATION_CHALLENGE = b"salary-mpc/v3 validation challenge\x00"
OPENING_NAMES = ["Y", "e1", "f1", "e2", "f2", "w(r)", "h(r)", "Z_range", "Z1", "Z2"]


class _Layout:
    """The record layout of protocol/encoding.py's module docstring, rebuilt here: K = G x max(1, J)
    cells (gender-major), B bands; H[c, b] (K*B), P[c] (K), Q[c] (K), d1 (L bits), d2 (L bits); then
    the proof of protocol/validity.py's module docstring: m, x1 y1 z1, x2 y2 z2, w0, h(0..2G), G = 2L."""

    def __init__(self, genders: list[str], jobs: list[str], bands: list[int], salary_max: int) -> None:
        self.genders, self.jobs, self.bands, self.salary_max = genders, jobs, bands, salary_max
        self.J = max(1, len(jobs))
        self.K = len(genders) * self.J
        self.edges = [0] + bands
        self.B = len(self.edges)
        self.widths = [(self.edges[b + 1] - 1 if b + 1 < self.B else salary_max) - self.edges[b] for b in range(self.B)]
        self.L = max(1, max(self.widths).bit_length())
        self.G = 2 * self.L
        self.KB = self.K * self.B
        self.P_at, self.Q_at = self.KB, self.KB + self.K
        self.d1_at = self.KB + 2 * self.K
        self.d2_at = self.d1_at + self.L
        self.W = self.d2_at + self.L  # record width
        self.x1_at, self.x2_at, self.w0_at, self.h_at = self.W + 1, self.W + 4, self.W + 7, self.W + 8
        self.width = self.h_at + 2 * self.G + 1

    def record(self, gender: str, job: str, salary: int) -> list[int]:
        c = self.genders.index(gender) * self.J + (self.jobs.index(job) if self.jobs else 0)
        b = max(k for k, e in enumerate(self.edges) if e <= salary)
        vec = [0] * self.W
        vec[c * self.B + b], vec[self.P_at + c], vec[self.Q_at + c] = 1, salary, salary * salary
        off, dist = salary - self.edges[b], self.edges[b] + self.widths[b] - salary
        for j in range(self.L):
            vec[self.d1_at + j], vec[self.d2_at + j] = (off >> j) & 1, (dist >> j) & 1
        return vec

    def salary(self, x: list[int]) -> int:
        """s = sum_{c,b} e_b H[c, b] + sum_j 2^j d1_j."""
        return (sum(self.edges[i % self.B] * x[i] for i in range(self.KB))
                + sum(x[self.d1_at + j] << j for j in range(self.L))) % P127

    def ind(self, x: list[int]) -> list[int]:
        return [sum(x[c * self.B: (c + 1) * self.B]) % P127 for c in range(self.K)]

    def widths_chosen(self, x: list[int]) -> int:
        """sum_{c,b} width_b H[c, b]: the chosen band's width, for a one-hot H."""
        return sum(self.widths[i % self.B] * x[i] for i in range(self.KB)) % P127

    def offset_bits(self, x: list[int]) -> int:
        """sum_j 2^j d1_j + sum_j 2^j d2_j."""
        return sum(x[self.d1_at + j] << (j % self.L) for j in range(2 * self.L)) % P127

    def bits(self, x: list[int]) -> list[int]:
        return x[self.d1_at: self.d1_at + self.G]

    def failed_groups(self, x: list[int]) -> list[str]:
        """The constraint groups the (unshared) record x breaks, checked in the clear."""
        p, H, d, s = P127, x[: self.KB], self.bits(x), self.salary(x)
        one_hot = all(v in (0, 1) for v in H) and sum(H) % p == 1
        in_range = all(v in (0, 1) for v in d) and self.offset_bits(x) == self.widths_chosen(x)
        product = all(x[self.P_at + c] == s * i % p and x[self.Q_at + c] == s * x[self.P_at + c] % p
                      for c, i in enumerate(self.ind(x)))
        return [g for g, ok in (("one-hot", one_hot), ("range", in_range), ("product", product)) if not ok]


def _interpolate(ys: list[int], x: int, p: int) -> int:
    """The polynomial of degree < len(ys) through (k, ys[k]), k = 0.., at x: Lagrange's formula,
    term by term."""
    total = 0
    for j, y in enumerate(ys):
        num = den = 1
        for m in range(len(ys)):
            if m != j:
                num, den = num * (x - m) % p, den * (j - m) % p
        total += y * num * pow(den, -1, p)
    return total % p


def _prove(lay: _Layout, x: list[int], rand: dict[str, int]) -> list[int]:
    """record, m, x1 y1 x1*y1, x2 y2 x2*y2, w0, h(0..2G) with h = w^2 and w the polynomial of
    degree G through (0, w0) and (k, d_k), k = 1..G (d = d1 d2)."""
    x = [v % P127 for v in x]
    w = [rand["w0"]] + lay.bits(x)
    w += [_interpolate(w, k, P127) for k in range(lay.G + 1, 2 * lay.G + 1)]
    x1, y1, x2, y2 = rand["x1"], rand["y1"], rand["x2"], rand["y2"]
    return x + [rand["m"], x1, y1, x1 * y1 % P127, x2, y2, x2 * y2 % P127, rand["w0"]] + [v * v % P127 for v in w]


def _challenge(lay: _Layout, seed: bytes, label: bytes = VALIDATION_CHALLENGE) -> dict[str, Any]:
    """SHAKE-256(label || seed), 24 big-endian bytes per element reduced mod p, in the order sigma
    (one per vector entry), r, beta1 (K*B), gamma1 (K*B), mu1, beta2 (K), gamma2 (K), beta3 (G),
    mu3; r is mapped to 2G + 1 + (element mod (p - 2G - 1)), never an interpolation node."""
    names = ["sigma", "r", "beta1", "gamma1", "mu1", "beta2", "gamma2", "beta3", "mu3"]
    counts = [lay.width, 1, lay.KB, lay.KB, 1, lay.K, lay.K, lay.G, 1]
    stream = hashlib.shake_256(label + seed).digest(24 * sum(counts))
    vals = [int.from_bytes(stream[24 * k: 24 * k + 24], "big") % P127 for k in range(sum(counts))]
    out: dict[str, Any] = {}
    at = 0
    for name, c in zip(names, counts):
        out[name] = vals[at: at + c] if name not in ("r", "mu1", "mu3") else vals[at]
        at += c
    out["r"] = 2 * lay.G + 1 + out["r"] % (P127 - 2 * lay.G - 1)
    return out


def _openings(lay: _Layout, v: list[int], ch: dict[str, Any]) -> list[int]:
    """The ten opened values of the unshared submission v, each from its definition (the second
    round's in the Beaver form the nodes use, checked against the product it stands for)."""
    p, r = P127, ch["r"]
    x, H, d = v[: lay.W], v[: lay.KB], lay.bits(v)
    x1, y1, z1 = v[lay.x1_at: lay.x1_at + 3]
    x2, y2, z2 = v[lay.x2_at: lay.x2_at + 3]
    h = v[lay.h_at:]
    b1, g1, b2, g2, b3 = ch["beta1"], ch["gamma1"], ch["beta2"], ch["gamma2"], ch["beta3"]
    s, ind = lay.salary(x), lay.ind(x)
    P, Q = x[lay.P_at: lay.P_at + lay.K], x[lay.Q_at: lay.Q_at + lay.K]
    Y = sum(a * b for a, b in zip(ch["sigma"], v)) % p
    bH, gH = sum(a * b for a, b in zip(b1, H)) % p, sum(a * b for a, b in zip(g1, H)) % p
    e1, f1 = (bH - x1) % p, (gH - y1) % p
    rhs2 = (sum(a * b for a, b in zip(b2, ind)) + sum(a * b for a, b in zip(g2, P))) % p
    e2, f2 = (s - x2) % p, (rhs2 - y2) % p
    w_r = _interpolate([v[lay.w0_at]] + d, r, p)
    h_r = _interpolate(h, r, p)
    z_range = (sum(b3[k] * (h[1 + k] - d[k]) for k in range(lay.G))
               + ch["mu3"] * (lay.offset_bits(x) - lay.widths_chosen(x))) % p
    c1 = (sum(a * b * c for a, b, c in zip(b1, g1, H)) + ch["mu1"] * (sum(H) - 1)) % p
    c2 = (sum(a * b for a, b in zip(b2, P)) + sum(a * b for a, b in zip(g2, Q))) % p
    z1_open = (c1 - z1 - e1 * f1 - e1 * y1 - f1 * x1) % p
    z2_open = (c2 - z2 - e2 * f2 - e2 * y2 - f2 * x2) % p
    # the algebra: Z = C - (left form)(right form) - (z - x y)
    assert z1_open == (c1 - bH * gH - (z1 - x1 * y1)) % p
    assert z2_open == (c2 - s * rhs2 - (z2 - x2 * y2)) % p
    return [Y, e1, f1, e2, f2, w_r, h_r, z_range, z1_open, z2_open]


def _reason(opened: list[int]) -> str | None:
    """The verdict: "proof" unless h(r) = w(r)^2, else the first of Z1, Z_range, Z2 that is not 0."""
    if opened[5] * opened[5] % P127 != opened[6]:
        return "proof"
    return next((g for g, val in zip(("one-hot", "range", "product"), (opened[8], opened[7], opened[9])) if val), None)


def _invalid(lay: _Layout, H: dict[int, int], d1: int | list[int], d2: int | list[int],
             cells: dict[int, int] | None = None, q_off: int = 0) -> list[int]:
    """A record vector with the given H entries and d1/d2 (an integer spread over the bits, or the
    L entries themselves), and P, Q consistent with its salary on the cells it indicates (or on
    ``cells``: c -> indicator), Q shifted by ``q_off`` on those cells."""
    x = [0] * lay.W
    for i, val in H.items():
        x[i] = val % P127
    for at, val in ((lay.d1_at, d1), (lay.d2_at, d2)):
        entries = val if isinstance(val, list) else [(val >> j) & 1 for j in range(lay.L)]
        x[at: at + lay.L] = [e % P127 for e in entries]
    s = lay.salary(x)
    ind = cells if cells is not None else dict(enumerate(lay.ind(x)))
    for c, k in ind.items():
        x[lay.P_at + c] = s * k % P127
        x[lay.Q_at + c] = (s * s * k + (q_off if k else 0)) % P127
    return x


def _forge_triple(lay: _Layout, sub: list[int], ch: dict[str, Any]) -> list[int]:
    """The submission with z1 chosen so that Z1 = 0 under the challenge ch."""
    out = list(sub)
    out[lay.x1_at + 2] = (out[lay.x1_at + 2] + _openings(lay, sub, ch)[8]) % P127
    return out


def _forge_bits(lay: _Layout, sub: list[int], ch: dict[str, Any]) -> list[int]:
    """The submission with h(k) = d_k wherever d_k is not a bit ("d^2 = d"), and h(G + 1) solved
    for h(r) = w(r)^2 at ch's r: every check passes under ch."""
    out, d, p = list(sub), lay.bits(sub), P127
    for k, dk in enumerate(d):
        if dk not in (0, 1):
            out[lay.h_at + 1 + k] = dk
    r, free = ch["r"], lay.G + 1
    w_r = _interpolate([sub[lay.w0_at]] + d, r, p)
    out[lay.h_at + free] = 0
    unit = [0] * (2 * lay.G + 1)
    unit[free] = 1
    out[lay.h_at + free] = (w_r * w_r - _interpolate(out[lay.h_at:], r, p)) * pow(_interpolate(unit, r, p), -1, p) % p
    return out


def _dec(v: Any) -> Any:
    """Field elements as decimal strings (indices stay numbers)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, list):
        return [_dec(e) for e in v]
    if isinstance(v, dict):
        return {k: (e if k in ("tampered_index", "added") else _dec(e)) for k, e in v.items()}
    return v


def _forgeries(lay: _Layout, rand: dict[str, int], seed: bytes, ch: dict[str, Any], triple_record: list[int],
               bits_record: list[int]) -> list[dict[str, Any]]:
    """A forged triple tuned to the challenge of a wrong derivation (the previous revision's label,
    the same seed), and a forged bits proof tuned to a challenge from a seed the prover chose: each
    passes under the challenge it was built for and fails under the nodes' one."""
    out = []
    wrong = _challenge(lay, seed, OLD_VALIDATION_CHALLENGE)
    own_seed = hashlib.sha256(b"salary-mpc test vector: a seed the prover chose itself").digest()
    own = _challenge(lay, own_seed)
    for name, record, forge, against, what, reason in (
            ("forged triple, tuned to a wrong derivation", triple_record, _forge_triple, wrong,
             {"derivation": "label 'salary-mpc/v3 validation challenge\\x00', same seed"}, "one-hot"),
            ("forged bits proof, tuned to the prover's own seed", bits_record, _forge_bits, own,
             {"derivation": "the right label, the prover's seed", "seed": own_seed.hex()}, "proof")):
        assert lay.failed_groups(record)
        forged = forge(lay, _prove(lay, record, rand), against)
        passes = _openings(lay, forged, against)
        assert _reason(passes) is None
        opened = _openings(lay, forged, ch)
        assert _reason(opened) == reason
        out.append({"name": name, "record_vector": record, "submission": forged, "openings": opened,
                    "reason": reason, "forged_against": {**what, "challenge": against, "openings": passes}})
    return out
def _validity_case(name: str, lay: _Layout, record: tuple[str, str, int], rand: dict[str, int], seed: bytes,
                   negatives: list[tuple[str, list[int], str]], flip: int,
                   forge_records: tuple[list[int], list[int]]) -> dict[str, Any]:
    x = lay.record(*record)
    assert lay.failed_groups(x) == []
    sub = _prove(lay, x, rand)
    assert sub[lay.h_at + 1: lay.h_at + lay.G + 1] == lay.bits(x)  # h(k) = d_k^2 = d_k
    ch = _challenge(lay, seed)
    opened = _openings(lay, sub, ch)
    assert opened[7:] == [0, 0, 0] and _reason(opened) is None
    neg = []
    for what, at, delta, reason in (("h(%d) plus 1" % flip, lay.h_at + flip, 1, "proof"),
                                    ("z1 plus 1: a triple with z != x y", lay.x1_at + 2, 1, "one-hot"),
                                    ("z2 minus 1: a triple with z != x y", lay.x2_at + 2, -1, "product")):
        tampered = list(sub)
        tampered[at] = (tampered[at] + delta) % P127
        t_open = _openings(lay, tampered, ch)
        assert _reason(t_open) == reason
        neg.append({"name": what, "tampered_index": at, "submission": tampered, "openings": t_open, "reason": reason})
    for nname, xv, group in negatives:
        assert lay.failed_groups(xv) == [group], (nname, lay.failed_groups(xv))
        nsub = _prove(lay, xv, rand)
        n_open = _openings(lay, nsub, ch)
        assert n_open[5] * n_open[5] % P127 == n_open[6] and _reason(n_open) == group
        neg.append({"name": nname, "record_vector": xv, "submission": nsub, "openings": n_open, "reason": group})
    neg += _forgeries(lay, rand, seed, ch, *forge_records)
    return {
        "name": name, "genders": lay.genders, "jobs": lay.jobs, "salary_bands": lay.bands,
        "salary_max": lay.salary_max,
        "record": {"gender": record[0], "job": record[1], "salary": record[2]},
        "record_vector": _dec(x), "randomness": _dec(rand), "submission": _dec(sub), "seed": seed.hex(),
        "challenge": _dec(ch), "openings": _dec(opened), "reason": None, "negatives": [_dec(n) for n in neg],
    }


def validity() -> None:
    rng = random.Random(20261204)
    a = _Layout(["female", "male", "other"], [], [], 15)  # K = 3, B = 1, L = 4: W = 17, width 42
    b = _Layout(["female", "male", "other"], ["engineering", "sales"], [6, 12], 20)  # K = 6, B = 3, L = 4: W = 38
    seed_a = hashlib.sha256(b"salary-mpc test vector: validation seed, layout A").digest()
    seed_b = hashlib.sha256(b"salary-mpc test vector: validation seed, layout B").digest()
    names = ["m", "x1", "y1", "x2", "y2", "w0"]
    minus_one = [P127 - 1] + [0] * 3  # a "-1" in the lowest bit
    cases = [
        _validity_case("3 genders, no jobs, one band, salary_max 15", a, ("male", "", 11),
                       {k: rng.randrange(P127) for k in names}, seed_a, [
                           # two genders at once (each counted with salary 15): sum H = 2
                           ("one-hot: two genders", _invalid(a, {0: 1, 1: 1}, 15, 15), "one-hot"),
                           # d1 + d2 = 16, one more than the band's width 15: salary 15 + 1 claimed within [0, 15]
                           ("range: offset plus distance exceeds the band", _invalid(a, {1: 1}, 15, 1), "range"),
                           ("product: Q is not s^2", _invalid(a, {2: 1}, 9, 6, q_off=1), "product"),
                       ], flip=a.G + 1, forge_records=(
                           # 2 on female, -1 on male, salary 0: sum H = 1, range and products hold
                           _invalid(a, {0: 2, 1: -1}, 0, 15),
                           # salary -1 in [0, 15]: d1 = -1 (a non-bit), d2 = 16 = 15 + 1 (with a 2 in the lowest bit)
                           _invalid(a, {1: 1}, minus_one, [2, 1, 1, 1]))),
        _validity_case("3 genders x 2 jobs x 3 bands, salary_max 20", b, ("other", "sales", 9),
                       {k: rng.randrange(P127) for k in names}, seed_b, [
                           # +1 on cells 0 and 5, -1 on cell 3 (all band 2): sum H = 1, salary moved between cells
                           ("one-hot: a -1 indicator", _invalid(b, {0 * 3 + 2: 1, 5 * 3 + 2: 1, 3 * 3 + 2: -1}, 3, 5),
                            "one-hot"),
                           # band 2 (12..20, width 8): d1 = 15 and d2 = -7 in a non-bit: salary 27 above the bound
                           ("range: salary above the bound, d2 not a bit", _invalid(b, {1 * 3 + 2: 1}, 15, [-7, 0, 0, 0]),
                            "range"),
                           # H says cell 5 band 1; P and Q put the salary on cell 0
                           ("product: salary on another cell", _invalid(b, {5 * 3 + 1: 1}, 2, 3, cells={0: 1}),
                            "product"),
                       ], flip=1, forge_records=(
                           # 2 on cell 4, -1 on cell 1 (band 1, width 5: offset 1, distance 4)
                           _invalid(b, {4 * 3 + 1: 2, 1 * 3 + 1: -1}, 1, 4),
                           # salary 5 in band 1 (6..11): offset -1, distance 6 = 5 + 1
                           _invalid(b, {2 * 3 + 1: 1}, minus_one, 6))),
    ]
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_vectors.py (validity) on 2026-12-04, independently of "
            "protocol/validity.py and protocol/encoding.py (neither is imported): the record layout is rebuilt from "
            "protocol/encoding.py's module docstring; the proof and the checks from protocol/validity.py's module "
            "docstring: the submission is record, m, x1 y1 z1 = x1 y1, x2 y2 z2 = x2 y2, w0, h(0..2G) with G = 2L, "
            "w of degree G through (0, w0) and (k, d_k) for the bits d = d1 d2, h = w^2; every extrapolation and "
            "every evaluation at r by Lagrange's formula term by term with modular inverses. The challenge is "
            "SHAKE-256 of the label 'salary-mpc/v4 validation challenge\\x00' and the seed, 24 big-endian bytes "
            "per element mod p. Not in the docstrings, read from protocol/validity.py (derive_challenge, query) and "
            "then written here from their definitions: the element order (sigma, r, beta1, gamma1, mu1, beta2, "
            "gamma2, beta3, mu3), r mapped to 2G + 1 + (element mod (p - 2G - 1)), and the openings: Y = sigma . v; "
            "e1 = beta1 . H - x1; f1 = gamma1 . H - y1; e2 = s - x2; f2 = beta2 . ind + gamma2 . P - y2; w(r); h(r); "
            "Z_range = sum_k beta3_k (h(k) - d_k) + mu3 (sum_j 2^(j mod L) d_j - sum width_b H[c, b]); "
            "Z1 = sum_i beta1_i gamma1_i H_i + mu1 (sum H - 1) - z1 - e1 f1 - e1 y1 - f1 x1; "
            "Z2 = beta2 . P + gamma2 . Q - z2 - e2 f2 - e2 y2 - f2 x2 (the generator asserts that each Z equals "
            "C - (left form)(right form) - (z - x y)). 'openings' are these ten values of the unshared submission, "
            "i.e. the opened values; the verdict is 'proof' unless h(r) = w(r)^2, else the first of Z1 (one-hot), "
            "Z_range (range), Z2 (product) that is not 0. m, x1, y1, x2, y2, w0 come from "
            "random.Random(20261204); seeds are SHA-256 of fixed labels; p = 2^127 - 1. Negatives: one h value "
            "plus 1 (proof), z1 plus 1 (one-hot) and z2 minus 1 (product) on the honest submission; per "
            "constraint group a record vector that breaks that group only (checked in the clear by the "
            "generator), proved honestly with the same randomness; a record that counts 2 in one cell and -1 in "
            "another with z1 chosen so that Z1 = 0 under the challenge of a wrong derivation (the previous "
            "revision's label, the same seed); and a salary of -1 (non-bits in d) whose h claims d_k^2 = d_k with "
            "h(G + 1) solved so that h(r) = w(r)^2 under the challenge of a seed the prover chose itself. Each "
            "forgery records the challenge it was built for and its openings there (every check passes). Field "
            "elements are decimal strings."
        ),
        "field_modulus": str(P127),
        "cases": cases,
    }
    (HERE / "validity.json").write_text(_dump(out))


def _dump(obj: Any) -> str:
    """JSON with one level of indentation per object, lists of scalars on one line."""
    text = json.dumps(obj, indent=1)
    def one_line(m: re.Match[str]) -> str:
        return "[" + ", ".join(t.strip() for t in m.group(1).split(",\n")) + "]"

    flat = re.sub(r"\[\n\s*([^\[\]{}]*?)\n\s*\]", one_line, text)
    assert json.loads(flat) == obj
    return flat + "\n"


# ------------------------------------------------------------------ bulk upload binary form (protocol.wire)

def bulk_body() -> None:
    key = hashlib.sha256(b"salary-mpc test vector: bulk body batch key").digest()
    signature = hashlib.sha512(b"salary-mpc test vector: bulk body signature").digest()
    commitments = b"".join(hashlib.sha256(b"salary-mpc test vector: bulk body commitment" + bytes([r, j])).digest()
                           for r in range(2) for j in range(3))
    envelope = hashlib.shake_256(b"salary-mpc test vector: bulk body envelope").digest(77)
    tokens = ["q9X-2bGk_r1Zt0", "Vw_7hN-pL3aYe5"]

    def encode(flags: int, toks: list[bytes], count: int | None = None) -> bytes:
        out = b"SMB1" + struct.pack(">BI", flags, len(toks) if count is None else count)
        out += b"".join(struct.pack(">H", len(t)) + t for t in toks)
        return out + b"".join(struct.pack(">I", len(blob)) + blob for blob in (key, signature, commitments, envelope))

    raw_toks = [t.encode("ascii") for t in tokens]
    binary = encode(1, raw_toks)
    B = "bulk upload (binary): "
    token_msg = "token {} is missing, too long or has characters no participation token has"
    tampered = [
        ("magic SMB2", b"SMB2" + binary[4:], B + "the body does not start with the format's magic bytes"),
        ("empty body", b"", B + "the body does not start with the format's magic bytes"),
        ("flag bit 1 set", encode(3, raw_toks), B + "unknown flags 0x03"),
        ("flag bit 7 set", encode(0x80, raw_toks), B + "unknown flags 0x80"),
        ("last byte cut", binary[:-1], B + "the body is truncated"),
        ("cut inside the token count", binary[:8], B + "the body is truncated"),
        ("cut inside a token", binary[:9 + 2 + 3], B + "the body is truncated"),
        ("one trailing byte", binary + b"\x00", B + "1 bytes follow the last field"),
        ("three trailing bytes", binary + b"abc", B + "3 bytes follow the last field"),
        ("token count 2^32 - 1", encode(1, raw_toks, 2**32 - 1), B + "the body is truncated"),
        # one more token than the rest of the body could hold at 3 bytes each
        ("token count one above what fits", encode(1, raw_toks, (len(binary) - 9) // 3 + 1),
         B + "the body is truncated"),
        ("no tokens", encode(1, []), "bulk upload: tokens must list one token per record"),
        ("non-ASCII token", encode(1, [raw_toks[0], "t\u00e9k".encode("latin-1")]), B + token_msg.format(1)),
        ("token with a space", encode(1, [b"tok a", raw_toks[1]]), "bulk upload: " + token_msg.format(0)),
        ("empty token", encode(1, [b"", raw_toks[1]]), "bulk upload: " + token_msg.format(0)),
        ("token of 257 characters", encode(1, [b"t" * 257, raw_toks[1]]), "bulk upload: " + token_msg.format(0)),
    ]
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_vectors.py (bulk_body) on 2026-12-04 with struct and "
            "hashlib, independently of protocol/wire.py: fields are SHA-256/SHA-512/SHAKE-256 of fixed labels; "
            "'binary' is b'SMB1' | flags u8 (bit 0: replace) | token count u32 | per token (length u16, ASCII) | "
            "per field (length u32, bytes) for batch_key, signature, commitments, envelope, big-endian, as "
            "protocol.wire.BulkBody's docstring specifies. 'upload' is the JSON form (standard base64 fields). "
            "'tampered' are binary bodies built the same way with one defect each, and the exact one-line "
            "InvalidSubmission message protocol.wire gives for it."
        ),
        "batch_key": key.hex(), "signature": signature.hex(), "tokens": tokens,
        "commitments": commitments.hex(), "envelope": envelope.hex(), "replace": True,
        "binary": binary.hex(),
        "upload": {"batch_key": b64(key), "signature": b64(signature), "tokens": tokens,
                   "commitments": b64(commitments), "envelope": b64(envelope), "replace": True},
        "tampered": [{"name": n, "binary": raw.hex(), "error": err} for n, raw, err in tampered],
    }
    (HERE / "bulk_body.json").write_text(json.dumps(out, indent=1) + "\n")


# ------------------------------------------------------------ a complete survey's validity proof

HOURLY_S = 10_000  # hourly pay = floor(T * S / h), T whole units, h hundredths of an hour


class _Complete:
    """docs/COMPLETE_SURVEY.md's record, rebuilt here: values T (pay level), V (variable pay,
    band 0 = {0}), Y (hourly pay), each H (K x B), P (K), Q (K) in that order; then per value d1,
    d2 (L each); u (bits of T - V, bit length of the salary bound); R, S (bits of T*S mod h and of
    h - 1 - R, L_h = bit length of 100 x hours_max).  Proof: m, seven triples (one-hot and product
    per value, the hourly relation), w0, h(0..2G)."""

    def __init__(self, genders: list[str], jobs: list[str], t: tuple[int, list[int]], v: tuple[int, list[int]],
                 hours_max: int, y: tuple[int, list[int]]) -> None:
        self.genders, self.jobs, self.hours_max = genders, jobs, hours_max
        self.J = max(1, len(jobs))
        self.K = len(genders) * self.J
        self.vals = []
        at = 0
        for name, (top, bands) in (("T", t), ("V", (v[0], [1] + v[1])), ("Y", y)):
            edges = [0] + bands
            widths = [(edges[b + 1] - 1 if b + 1 < len(edges) else top) - edges[b] for b in range(len(edges))]
            B = len(edges)
            self.vals.append({"name": name, "top": top, "edges": edges, "widths": widths, "B": B,
                              "L": max(1, max(widths).bit_length()), "H": at, "P": at + self.K * B,
                              "Q": at + self.K * B + self.K})
            at += self.K * B + 2 * self.K
        for val in self.vals:
            val["d1"], val["d2"] = at, at + val["L"]
            at += 2 * val["L"]
        self.Lu, self.Lh = t[0].bit_length(), (100 * hours_max).bit_length()
        self.u_at, self.R_at, self.S_at = at, at + self.Lu, at + self.Lu + self.Lh
        self.W = self.S_at + self.Lh
        self.bits_at = self.vals[0]["d1"]
        self.G = self.W - self.bits_at
        self.x_at = [self.W + 1 + 3 * k for k in range(7)]
        self.w0_at = self.W + 22
        self.h_at = self.W + 23
        self.width = self.h_at + 2 * self.G + 1

    def record(self, gender: str, job: str, basic: int, variable: int, hours: int) -> list[int]:
        c = self.genders.index(gender) * self.J + (self.jobs.index(job) if self.jobs else 0)
        T = basic + variable
        Y = T * HOURLY_S // hours
        vec = [0] * self.W
        for val, x in zip(self.vals, (T, variable, Y)):
            b = max(k for k, e in enumerate(val["edges"]) if e <= x)
            vec[val["H"] + c * val["B"] + b], vec[val["P"] + c], vec[val["Q"] + c] = 1, x, x * x
            self._bits(vec, val["d1"], val["L"], x - val["edges"][b])
            self._bits(vec, val["d2"], val["L"], val["edges"][b] + val["widths"][b] - x)
        R = T * HOURLY_S % hours
        self._bits(vec, self.u_at, self.Lu, basic)
        self._bits(vec, self.R_at, self.Lh, R)
        self._bits(vec, self.S_at, self.Lh, hours - 1 - R)
        return vec

    @staticmethod
    def _bits(vec: list[int], at: int, L: int, x: int) -> None:
        for j in range(L):
            vec[at + j] = (x >> j) & 1

    def H(self, x: list[int], i: int) -> list[int]:
        val = self.vals[i]
        return x[val["H"]: val["H"] + self.K * val["B"]]

    def ind(self, x: list[int], i: int) -> list[int]:
        B = self.vals[i]["B"]
        return [sum(self.H(x, i)[c * B: (c + 1) * B]) % P127 for c in range(self.K)]

    def number(self, x: list[int], at: int, L: int) -> int:
        return sum(x[at + j] << j for j in range(L)) % P127

    def value(self, x: list[int], i: int) -> int:
        """sum_{c,b} e_b H[c, b] + sum_j 2^j d1_j."""
        val = self.vals[i]
        return (sum(val["edges"][k % val["B"]] * h for k, h in enumerate(self.H(x, i)))
                + self.number(x, val["d1"], val["L"])) % P127

    def band_relation(self, x: list[int], i: int) -> int:
        """sum 2^j d1 + sum 2^j d2 - sum width_b H[c, b]."""
        val = self.vals[i]
        return (self.number(x, val["d1"], val["L"]) + self.number(x, val["d2"], val["L"])
                - sum(val["widths"][k % val["B"]] * h for k, h in enumerate(self.H(x, i)))) % P127


def _prove_complete(lay: _Complete, x: list[int], rand: list[int]) -> list[int]:
    """record, m, (x, y, x y) for each of the seven triples, w0, h(0..2G) = w^2."""
    x = [v % P127 for v in x]
    w = [rand[-1]] + x[lay.bits_at: lay.W]
    w += [_interpolate(w, k, P127) for k in range(lay.G + 1, 2 * lay.G + 1)]
    triples = [v for k in range(7) for v in (rand[1 + 2 * k], rand[2 + 2 * k], rand[1 + 2 * k] * rand[2 + 2 * k] % P127)]
    return x + [rand[0]] + triples + [rand[-1]] + [v * v % P127 for v in w]


def _challenge_complete(lay: _Complete, seed: bytes) -> dict[str, Any]:
    """v4's order (sigma, r, beta1, gamma1, mu1, beta2, gamma2 of T, beta3 over all G bits, mu3 of
    T), then per further value (V, Y) beta1, gamma1, mu1, beta2, gamma2, mu3, then alpha (K per
    further value), mu_basic, rho."""
    K, T = lay.K, lay.vals[0]
    names = [("sigma", lay.width), ("r", 1), ("beta1_T", K * T["B"]), ("gamma1_T", K * T["B"]), ("mu1_T", 1),
             ("beta2_T", K), ("gamma2_T", K), ("beta3", lay.G), ("mu3_T", 1)]
    for val in lay.vals[1:]:
        n = val["name"]
        names += [(f"beta1_{n}", K * val["B"]), (f"gamma1_{n}", K * val["B"]), (f"mu1_{n}", 1), (f"beta2_{n}", K),
                  (f"gamma2_{n}", K), (f"mu3_{n}", 1)]
    names += [("alpha", 2 * K), ("mu_basic", 1), ("rho", 1)]
    total = sum(c for _, c in names)
    stream = hashlib.shake_256(VALIDATION_CHALLENGE + seed).digest(24 * total)
    vals = [int.from_bytes(stream[24 * k: 24 * k + 24], "big") % P127 for k in range(total)]
    out: dict[str, Any] = {}
    at = 0
    for name, c in names:
        out[name] = vals[at] if name == "r" or name.startswith(("mu", "rho")) else vals[at: at + c]
        at += c
    out["r"] = 2 * lay.G + 1 + out["r"] % (P127 - 2 * lay.G - 1)
    return out


def _openings_complete(lay: _Complete, v: list[int], ch: dict[str, Any]) -> list[int]:
    """First round: Y, e and f of T's one-hot and product checks, w(r), h(r), Z_range, e and f of
    V's and Y's checks and of the hourly relation, the cell agreement; second round: Z of each of
    the seven checks, from its definition C - z - e f - e y - f x (asserted equal to
    C - (left form)(right form) - (z - x y))."""
    p, x = P127, v[: lay.W]
    dot = lambda a, b: sum(i * j for i, j in zip(a, b)) % p  # noqa: E731
    trip = [v[at: at + 3] for at in lay.x_at]
    checks = []  # (C, left form, right form) per check
    for i, val in enumerate(lay.vals):
        n = val["name"]
        H, P_, Q_ = lay.H(x, i), x[val["P"]: val["P"] + lay.K], x[val["Q"]: val["Q"] + lay.K]
        b1, g1 = ch[f"beta1_{n}"], ch[f"gamma1_{n}"]
        checks.append(((sum(a * b * h for a, b, h in zip(b1, g1, H)) + ch[f"mu1_{n}"] * (sum(H) - 1)) % p,
                       dot(b1, H), dot(g1, H)))
        b2, g2 = ch[f"beta2_{n}"], ch[f"gamma2_{n}"]
        checks.append(((dot(b2, P_) + dot(g2, Q_)) % p, lay.value(x, i), (dot(b2, lay.ind(x, i)) + dot(g2, P_)) % p))
    R, S = lay.number(x, lay.R_at, lay.Lh), lay.number(x, lay.S_at, lay.Lh)
    rho = ch["rho"]
    checks.append((rho * (HOURLY_S * lay.value(x, 0) - R) % p, lay.value(x, 2), rho * (1 + R + S) % p))
    ef = [((left - t[0]) % p, (right - t[1]) % p) for (_, left, right), t in zip(checks, trip)]
    Z = []
    for (C, left, right), (e, f), (xx, yy, zz) in zip(checks, ef, trip):
        z = (C - zz - e * f - e * yy - f * xx) % p
        assert z == (C - left * right - (zz - xx * yy)) % p
        Z.append(z)
    d = x[lay.bits_at: lay.W]
    h = v[lay.h_at:]
    z_range = sum(ch["beta3"][k] * (h[1 + k] - d[k]) for k in range(lay.G))
    z_range += sum(ch[f"mu3_{val['name']}"] * lay.band_relation(x, i) for i, val in enumerate(lay.vals))
    z_range += ch["mu_basic"] * (lay.value(x, 0) - lay.value(x, 1) - lay.number(x, lay.u_at, lay.Lu))
    cells = sum(ch["alpha"][(i - 1) * lay.K + c] * (lay.ind(x, i)[c] - lay.ind(x, 0)[c])
                for i in (1, 2) for c in range(lay.K)) % p
    first = [dot(ch["sigma"], v), *ef[0], *ef[1], _interpolate([v[lay.w0_at]] + d, ch["r"], p),
             _interpolate(h, ch["r"], p), z_range % p] + [e for pair in ef[2:] for e in pair] + [cells]
    return first + Z


def _reason_complete(opened: list[int]) -> str | None:
    """proof unless h(r) = w(r)^2; else the first non-zero of the one-hot checks (T, V, Y), the cell
    agreement, Z_range, the product checks (T, V, Y), the hourly relation."""
    if opened[5] * opened[5] % P127 != opened[6]:
        return "proof"
    F = 19  # first-round columns
    order = [(F + 0, "one-hot"), (F + 2, "one-hot"), (F + 4, "one-hot"), (F - 1, "cells"), (7, "range"),
             (F + 1, "product"), (F + 3, "product"), (F + 5, "product"), (F + 6, "hourly")]
    return next((why for at, why in order if opened[at]), None)


def validity_complete() -> None:
    rng = random.Random(20261205)
    # K = 2 cells; T to 7 in bands [0, 3] [4, 7]; V to 3 in {0} {1} [2, 3]; hours to 1; Y to 70,000 (hundredths)
    lay = _Complete(["female", "male"], [], (7, [4]), (3, [2]), 1, (70_000, [500]))
    seed = hashlib.sha256(b"salary-mpc test vector: validation seed, complete survey").digest()
    rand = [rng.randrange(P127) for _ in range(16)]
    record = ("male", "", 5, 1, 70)  # basic 5, variable 1, 0.70 hours: level 6, hourly 857 (hundredths), R = 10
    x = lay.record(*record)
    sub = _prove_complete(lay, x, rand)
    ch = _challenge_complete(lay, seed)
    opened = _openings_complete(lay, sub, ch)
    assert _reason_complete(opened) is None
    negs = []

    def negative(name: str, xv: list[int], reason: str, tamper: tuple[int, int] | None = None) -> None:
        nsub = _prove_complete(lay, xv, rand)
        if tamper is not None:
            nsub[tamper[0]] = (nsub[tamper[0]] + tamper[1]) % P127
        n_open = _openings_complete(lay, nsub, ch)
        assert _reason_complete(n_open) == reason, (name, _reason_complete(n_open))
        negs.append({"name": name, "record_vector": xv, "submission": nsub, "openings": n_open, "reason": reason,
                     **({"tampered_index": tamper[0], "added": tamper[1]} if tamper is not None else {})})

    T, V, Y = lay.vals
    c = 1  # male
    # variable pay 1 claimed in band 0 ({0}): V's indicator says none, its offset bit says 1
    bad = list(x)
    bad[V["H"] + c * V["B"] + 1], bad[V["H"] + c * V["B"]] = 0, 1
    negative("range: variable pay 1 in band 0 (no variable pay)", bad, "range")
    # V's whole block (H, P, Q) on the female cell, T's and Y's on the male one
    bad = list(x)
    for k in range(V["B"]):
        bad[V["H"] + k], bad[V["H"] + V["B"] + k] = bad[V["H"] + V["B"] + k], bad[V["H"] + k]
    for at in (V["P"], V["Q"]):
        bad[at], bad[at + 1] = bad[at + 1], bad[at]
    negative("cells: variable pay on another cell", bad, "cells")
    # hourly pay 858 instead of 857 (all of Y consistent with itself; same band)
    bad = lay.record(*record)
    bad[Y["P"] + c], bad[Y["Q"] + c] = 858, 858 * 858
    lay._bits(bad, Y["d1"], Y["L"], 858 - 500)
    lay._bits(bad, Y["d2"], Y["L"], 70_000 - 858)
    negative("hourly: hourly pay one hundredth above floor(T S / h)", bad, "hourly")
    # hours at their least (R = h - 1 - R = 0, so h = 1) against the hourly level of 0.70 hours
    bad = list(x)
    bad[lay.R_at: lay.W] = [0] * (2 * lay.Lh)
    negative("hourly: hours 0.01 (R and h - 1 - R zero) with the hourly level of 0.70 hours", bad, "hourly")
    # basic pay negative: u claims T - V = 6 - 1 = 4
    bad = list(x)
    lay._bits(bad, lay.u_at, lay.Lu, 4)
    negative("range: the bits of basic pay do not give T - V", bad, "range")
    for k, what, reason in ((2, "V's one-hot triple", "one-hot"), (3, "V's product triple", "product"),
                            (6, "the hourly relation's triple", "hourly")):
        negative(f"z plus 1 in {what}: a triple with z != x y", list(x), reason, (lay.x_at[k] + 2, 1))
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_vectors.py (validity_complete) on 2026-12-05, independently "
            "of protocol/validity.py and protocol/encoding.py (neither is imported): the record layout, the proof "
            "and every check are rebuilt from docs/COMPLETE_SURVEY.md (values T, V, Y with H, P, Q each; their "
            "offset bits; the bits u of T - V and R, h - 1 - R of the hourly relation Y h = S T - R with S = 10,000; "
            "seven Beaver triples; one FLP over every bit). Read from protocol/validity.py and written here from "
            "their definitions: the challenge order (v4's, then per further value beta1, gamma1, mu1, beta2, "
            "gamma2, mu3, then alpha, mu_basic, rho; SHAKE-256 of 'salary-mpc/v4 validation challenge\\x00' and "
            "the seed, 24 bytes per element mod p) and the column order of the openings (first round: Y, e f of "
            "T's one-hot and product checks, w(r), h(r), Z_range, e f of V's and Y's checks and of the hourly "
            "relation, the cell agreement; second round: Z of the seven checks). Randomness from "
            "random.Random(20261205); the seed is SHA-256 of a fixed label; p = 2^127 - 1. Negatives: per new "
            "group a record vector breaking it (checked by the generator's own verdict), proved honestly with the "
            "same randomness, and z plus 1 in three of the new triples. Field elements are decimal strings."
        ),
        "field_modulus": str(P127),
        "survey": {"genders": lay.genders, "jobs": lay.jobs, "salary_max": 7, "salary_bands": [4], "variable_max": 3,
                   "variable_bands": [2], "hours_max": 1, "hourly_max": 70_000, "hourly_bands": [500]},
        "record": {"gender": record[0], "job": record[1], "basic": record[2], "variable": record[3],
                   "hours": record[4]},
        "record_vector": _dec(x), "randomness": _dec(rand), "submission": _dec(sub), "seed": seed.hex(),
        "challenge": _dec(ch), "openings": _dec(opened), "reason": None,
        "negatives": [_dec(n) for n in negs],
    }
    (HERE / "validity_complete.json").write_text(_dump(out))


if __name__ == "__main__":
    {"shamir": shamir, "hpke": hpke, "manifest": manifest, "certificate": certificate,
     "validity": validity, "validity_complete": validity_complete, "bulk_body": bulk_body}[sys.argv[1]]()
