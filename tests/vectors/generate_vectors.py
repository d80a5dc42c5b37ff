"""One-off generator of the known-answer vector files in this directory (NOT run by the tests).

    cd /work/main && PYTHONPATH=. python tests/vectors/generate_vectors.py shamir|hpke|manifest|certificate

Each JSON file records its provenance.  Do not regenerate casually: the point of a known-answer
file is that it stays fixed while the code changes.  (``hpke`` and ``manifest`` output differ on
every run because HPKE encryption and certificate generation are randomised.)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import sys
import types
from pathlib import Path

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


if __name__ == "__main__":
    {"shamir": shamir, "hpke": hpke, "manifest": manifest, "certificate": certificate}[sys.argv[1]]()
