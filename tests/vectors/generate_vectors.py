"""One-off generator of the known-answer vector files in this directory (NOT run by the tests).

    cd /work/main && PYTHONPATH=. python tests/vectors/generate_vectors.py shamir|hpke|manifest|certificate|validity|bulk_body

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
        "field_modulus": str((1 << 127) - 1), "encoding": "cells-bands-flp/v3", "version": 1,
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
            "generator with json and hashlib."
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
VALIDATION_CHALLENGE = b"salary-mpc/v3 validation challenge\x00"


class _Layout:
    """The record layout of protocol/encoding.py's module docstring, rebuilt here: K = G x max(1, J)
    cells (gender-major), B bands; H[c, b] (K*B), P[c] (K), Q[c] (K), d1 (L bits), d2 (L bits)."""

    def __init__(self, genders: list[str], jobs: list[str], bands: list[int], salary_max: int) -> None:
        self.genders, self.jobs, self.bands, self.salary_max = genders, jobs, bands, salary_max
        self.J = max(1, len(jobs))
        self.K = len(genders) * self.J
        self.edges = [0] + bands
        self.B = len(self.edges)
        self.widths = [(self.edges[b + 1] - 1 if b + 1 < self.B else salary_max) - self.edges[b] for b in range(self.B)]
        self.L = max(1, max(self.widths).bit_length())
        self.KB = self.K * self.B
        self.P_at, self.Q_at = self.KB, self.KB + self.K
        self.d1_at = self.KB + 2 * self.K
        self.d2_at = self.d1_at + self.L
        self.M = self.d2_at + self.L  # gates = record width
        self.width = self.M + 3 + 2 * self.M + 1
        self.h_at = self.M + 3

    def record(self, gender: str, job: str, salary: int) -> list[int]:
        c = self.genders.index(gender) * self.J + (self.jobs.index(job) if self.jobs else 0)
        b = max(k for k, e in enumerate(self.edges) if e <= salary)
        vec = [0] * self.M
        vec[c * self.B + b], vec[self.P_at + c], vec[self.Q_at + c] = 1, salary, salary * salary
        off, dist = salary - self.edges[b], self.edges[b] + self.widths[b] - salary
        for j in range(self.L):
            vec[self.d1_at + j], vec[self.d2_at + j] = (off >> j) & 1, (dist >> j) & 1
        return vec

    def salary(self, x: list[int]) -> int:
        """s = sum_{c,b} e_b H[c, b] + sum_j 2^j d1_j."""
        return (sum(self.edges[i % self.B] * x[i] for i in range(self.KB))
                + sum(x[self.d1_at + j] << j for j in range(self.L))) % P127

    def widths_chosen(self, x: list[int]) -> int:
        """sum_{c,b} width_b H[c, b]: the chosen band's width, for a one-hot H."""
        return sum(self.widths[i % self.B] * x[i] for i in range(self.KB)) % P127

    def offset_bits(self, x: list[int]) -> int:
        """sum_j 2^j d1_j + sum_j 2^j d2_j."""
        return sum(x[self.d1_at + j] << (j % self.L) for j in range(2 * self.L)) % P127

    def gate_inputs(self, x: list[int]) -> list[tuple[int, int]]:
        """Gates 1..M in the docstring's order: H * H, d * d, s * ind_c, s * P_c."""
        s = self.salary(x)
        ind = [sum(x[c * self.B: (c + 1) * self.B]) % P127 for c in range(self.K)]
        return ([(x[i], x[i]) for i in range(self.KB)]
                + [(x[self.d1_at + j], x[self.d1_at + j]) for j in range(2 * self.L)]
                + [(s, ind[c]) for c in range(self.K)]
                + [(s, x[self.P_at + c]) for c in range(self.K)])

    def failed_groups(self, x: list[int]) -> list[str]:
        """The constraint groups the (unshared) record x breaks, checked in the clear."""
        p, H, d = P127, x[: self.KB], x[self.d1_at: self.d2_at + self.L]
        s = self.salary(x)
        ind = [sum(H[c * self.B: (c + 1) * self.B]) % p for c in range(self.K)]
        one_hot = all(v in (0, 1) for v in H) and sum(H) % p == 1
        in_range = all(v in (0, 1) for v in d) and self.offset_bits(x) == self.widths_chosen(x)
        product = all(x[self.P_at + c] == s * ind[c] % p and x[self.Q_at + c] == s * x[self.P_at + c] % p
                      for c in range(self.K))
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


def _prove(lay: _Layout, x: list[int], m: int, u0: int, v0: int) -> list[int]:
    """record, m, u0, v0, h(0..2M) with h = f g; f, g through (0, u0 | v0) and (k, gate k's inputs)."""
    x = [v % P127 for v in x]
    gates = lay.gate_inputs(x)
    left, right = [u0] + [a for a, _ in gates], [v0] + [b for _, b in gates]
    f = left + [_interpolate(left, k, P127) for k in range(lay.M + 1, 2 * lay.M + 1)]
    g = right + [_interpolate(right, k, P127) for k in range(lay.M + 1, 2 * lay.M + 1)]
    return x + [m, u0, v0] + [a * b % P127 for a, b in zip(f, g)]


def _challenge(lay: _Layout, seed: bytes) -> dict[str, Any]:
    """SHAKE-256(label || seed), 24 big-endian bytes per element reduced mod p, in the order sigma
    (one per vector entry), r, rho one-hot (K*B + 1), rho range (2L + 1), rho product (2K); r is
    mapped to 2M + 1 + (element mod (p - 2M - 1)), never an interpolation node."""
    counts = [lay.width, 1, lay.KB + 1, 2 * lay.L + 1, 2 * lay.K]
    stream = hashlib.shake_256(VALIDATION_CHALLENGE + seed).digest(24 * sum(counts))
    vals = [int.from_bytes(stream[24 * k: 24 * k + 24], "big") % P127 for k in range(sum(counts))]
    parts, at = [], 0
    for c in counts:
        parts.append(vals[at: at + c])
        at += c
    top = 2 * lay.M
    return {"sigma": parts[0], "r": top + 1 + parts[1][0] % (P127 - top - 1),
            "rho_onehot": parts[2], "rho_range": parts[3], "rho_product": parts[4]}


def _openings(lay: _Layout, v: list[int], ch: dict[str, Any]) -> list[int]:
    """Y, F, G, H and the three group combinations of the submission vector v, each from its
    definition: h(k) below is the submitted value, standing for gate k's product."""
    p, r, M, KB, L, K = P127, ch["r"], lay.M, lay.KB, lay.L, lay.K
    x, u0, v0, h = v[: M], v[M + 1], v[M + 2], v[lay.h_at:]
    gates = lay.gate_inputs(x)
    Y = sum(s * e for s, e in zip(ch["sigma"], v)) % p
    F = _interpolate([u0] + [a for a, _ in gates], r, p)
    G = _interpolate([v0] + [b for _, b in gates], r, p)
    Hr = _interpolate(h, r, p)
    r1, r2, r3 = ch["rho_onehot"], ch["rho_range"], ch["rho_product"]
    # one-hot: H_i^2 - H_i = 0 (rho_i) and sum H - 1 = 0 (rho_KB)
    v1 = sum(r1[i] * (h[1 + i] - x[i]) for i in range(KB)) + r1[KB] * (sum(x[:KB]) - 1)
    # range: d_j^2 - d_j = 0 (rho_j) and sum 2^j d1_j + sum 2^j d2_j - sum width_b H[c, b] = 0 (rho_2L)
    d = x[lay.d1_at: lay.d1_at + 2 * L]
    v2 = (sum(r2[j] * (h[1 + KB + j] - d[j]) for j in range(2 * L))
          + r2[2 * L] * (lay.offset_bits(x) - lay.widths_chosen(x)))
    # product: P_c - s ind_c = 0 (rho_c) and Q_c - s P_c = 0 (rho_K+c)
    ind_at, sq_at = 1 + KB + 2 * L, 1 + KB + 2 * L + K  # where the gates s ind_c and s P_c sit in h
    v3 = sum(r3[c] * (x[lay.P_at + c] - h[ind_at + c]) + r3[K + c] * (x[lay.Q_at + c] - h[sq_at + c]) for c in range(K))
    return [Y, F, G, Hr, v1 % p, v2 % p, v3 % p]


def _reason(opened: list[int]) -> str | None:
    """The verdict: "proof" unless H = F G, else the first group whose combination is not 0."""
    if opened[1] * opened[2] % P127 != opened[3]:
        return "proof"
    return next((g for g, val in zip(("one-hot", "range", "product"), opened[4:]) if val), None)


def _invalid(lay: _Layout, H: dict[int, int], d1: int, d2: int, cells: dict[int, int] | None = None,
             q_off: int = 0) -> list[int]:
    """A record vector with the given H entries and d1/d2 values (mod p, spread over the bits:
    a value outside 0..2^L - 1 sits in bit 0 alone), and P, Q consistent with its salary on the
    cells it indicates (or on ``cells``: c -> indicator), Q shifted by ``q_off`` on those cells."""
    x = [0] * lay.M
    for i, val in H.items():
        x[i] = val % P127
    for at, val in ((lay.d1_at, d1), (lay.d2_at, d2)):
        if 0 <= val < (1 << lay.L):
            for j in range(lay.L):
                x[at + j] = (val >> j) & 1
        else:
            x[at] = val % P127
    s = lay.salary(x)
    ind = cells if cells is not None else {c: sum(x[c * lay.B: (c + 1) * lay.B]) for c in range(lay.K)}
    for c, k in ind.items():
        x[lay.P_at + c] = s * k % P127
        x[lay.Q_at + c] = (s * s * k + (q_off if k else 0)) % P127
    return x


def _validity_case(name: str, lay: _Layout, record: tuple[str, str, int], rand: list[int], seed: bytes,
                   negatives: list[tuple[str, list[int], str]], flip: int) -> dict[str, Any]:
    x = lay.record(*record)
    assert lay.failed_groups(x) == []
    sub = _prove(lay, x, *rand)
    gates = lay.gate_inputs(x)
    assert sub[lay.h_at + 1: lay.h_at + lay.M + 1] == [a * b % P127 for a, b in gates]  # h(k): gate k's output
    ch = _challenge(lay, seed)
    opened = _openings(lay, sub, ch)
    assert opened[4:] == [0, 0, 0] and _reason(opened) is None
    neg = []
    tampered = list(sub)
    tampered[lay.h_at + flip] = (tampered[lay.h_at + flip] + 1) % P127
    t_open = _openings(lay, tampered, ch)
    assert _reason(t_open) == "proof"
    neg.append({"name": f"h({flip}) plus 1", "tampered_index": lay.h_at + flip, "submission": tampered,
                "openings": t_open, "reason": "proof"})
    for nname, xv, group in negatives:
        assert lay.failed_groups(xv) == [group], (nname, lay.failed_groups(xv))
        nsub = _prove(lay, xv, *rand)
        n_open = _openings(lay, nsub, ch)
        assert n_open[1] * n_open[2] % P127 == n_open[3] and _reason(n_open) == group
        neg.append({"name": nname, "record_vector": xv, "submission": nsub, "openings": n_open, "reason": group})

    def dec(v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        if isinstance(v, list):
            return [dec(e) for e in v]
        if isinstance(v, dict):
            return {k: (e if k == "tampered_index" else dec(e)) for k, e in v.items()}
        return v

    return {
        "name": name, "genders": lay.genders, "jobs": lay.jobs, "salary_bands": lay.bands,
        "salary_max": lay.salary_max,
        "record": {"gender": record[0], "job": record[1], "salary": record[2]},
        "record_vector": dec(x), "randomness": dec(dict(zip(("m", "u0", "v0"), rand))),
        "submission": dec(sub), "seed": seed.hex(), "challenge": dec(ch), "openings": dec(opened),
        "reason": None, "negatives": [dec(n) for n in neg],
    }


def validity() -> None:
    rng = random.Random(20261204)
    a = _Layout(["female", "male", "other"], [], [], 15)  # K = 3, B = 1, L = 4: M = 17
    b = _Layout(["female", "male", "other"], ["engineering", "sales"], [6, 12], 20)  # K = 6, B = 3, L = 4: M = 38
    seed_a = hashlib.sha256(b"salary-mpc test vector: validation seed, layout A").digest()
    seed_b = hashlib.sha256(b"salary-mpc test vector: validation seed, layout B").digest()
    cases = [
        _validity_case("3 genders, no jobs, one band, salary_max 15", a, ("male", "", 11),
                       [rng.randrange(P127) for _ in range(3)], seed_a, [
                           # two genders at once (each counted with salary 15): sum H = 2
                           ("one-hot: two genders", _invalid(a, {0: 1, 1: 1}, 15, 15), "one-hot"),
                           # d1 + d2 = 16, one more than the band's width 15: salary 15 + 1 claimed within [0, 15]
                           ("range: offset plus distance exceeds the band", _invalid(a, {1: 1}, 15, 1), "range"),
                           ("product: Q is not s^2", _invalid(a, {2: 1}, 9, 6, q_off=1), "product"),
                       ], flip=a.M + 1),
        _validity_case("3 genders x 2 jobs x 3 bands, salary_max 20", b, ("other", "sales", 9),
                       [rng.randrange(P127) for _ in range(3)], seed_b, [
                           # +1 on cells 0 and 5, -1 on cell 3 (all band 2): sum H = 1, salary moved between cells
                           ("one-hot: a -1 indicator", _invalid(b, {0 * 3 + 2: 1, 5 * 3 + 2: 1, 3 * 3 + 2: -1}, 3, 5),
                            "one-hot"),
                           # band 2 (12..20, width 8): d1 = 15 and d2 = -7 in a non-bit: salary 27 above the bound
                           ("range: salary above the bound, d2 not a bit", _invalid(b, {1 * 3 + 2: 1}, 15, -7),
                            "range"),
                           # H says cell 5 band 1; P and Q put the salary on cell 0
                           ("product: salary on another cell", _invalid(b, {5 * 3 + 1: 1}, 2, 3, cells={0: 1}),
                            "product"),
                       ], flip=1),
    ]
    out = {
        "provenance": (
            "Generated once by tests/vectors/generate_vectors.py (validity) on 2026-12-04, independently of "
            "protocol/validity.py and protocol/encoding.py (neither is imported): the record layout is rebuilt from "
            "protocol/encoding.py's module docstring, the gates (H*H, d*d, s*ind_c, s*P_c, in that order) and the "
            "proof from protocol/validity.py's module docstring: f, g of degree M through (0, u0 | v0) and (k, left | "
            "right input of gate k), h = f g given at 0..2M, every extrapolation and every evaluation at r by "
            "Lagrange's formula term by term with modular inverses. The challenge is SHAKE-256 of the label "
            "'salary-mpc/v3 validation challenge\\x00' and the seed, 24 big-endian bytes per element mod p; the "
            "element order (sigma, r, rho one-hot, rho range, rho product), the mapping of r to 2M + 1 + (element "
            "mod (p - 2M - 1)) and the assignment of each rho to a constraint with its sign, where h(gate) is the "
            "submitted h at that gate's index k (V_one-hot = sum_i rho_i (h(H_i H_i) - H_i) + rho_KB (sum H - 1); "
            "V_range = sum_j rho_j (h(d_j d_j) - d_j) + rho_2L (sum_j 2^(j mod L) d_j - sum width_b H[c, b]) over "
            "the 2L bits d = d1 d2; V_product = sum_c rho_c (P_c - h(s ind_c)) + rho_(K+c) (Q_c - h(s P_c))) are "
            "not in the docstrings and were read from protocol/validity.py (derive_challenge, query), then written "
            "here from their definitions. m, u0, v0 come from random.Random(20261204); seeds are SHA-256 of fixed "
            "labels; p = 2^127 - 1. 'openings' are (Y, F, G, H, V_one-hot, V_range, V_product) of the unshared "
            "submission vector, i.e. the opened values. Negatives: one submission with one h value increased by 1 "
            "(reason 'proof'), and per constraint group a record vector that breaks that group only (checked in "
            "the clear by the generator), proved honestly with the same m, u0, v0. The generator asserts h(k) = "
            "gate k's output, H = F G for every honest proof, and that each verdict is the intended one. Field "
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


if __name__ == "__main__":
    {"shamir": shamir, "hpke": hpke, "manifest": manifest, "certificate": certificate,
     "validity": validity, "bulk_body": bulk_body}[sys.argv[1]]()
