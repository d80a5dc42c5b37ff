"""Malicious contributors for tests and the demo: well-sealed uploads of invalid records.

A modified contributor program can share any vector.  Each kind below must be refused at upload
(wrong length) or fail validation inside the MPC, never change the result, and be audited with
its reason.  Uploads go straight to every node over pinned HTTPS, like ``salary-submit`` does.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

import httpx

from protocol.encoding import Record, encode_record
from protocol.envelope import seal_shares
from protocol.commitment import make_certificate
from protocol.field import encode_elements, share_vector
from protocol.manifest import Manifest
from protocol.tls import pinned_client_context
from protocol.validity import Layout, prove
from protocol.wire import b64e

#: kind -> the reason the nodes must give (None: refused at upload, never stored)
KINDS: dict[str, str | None] = {
    "not-one-hot-1000": "gender part is not one-hot",
    "two-genders": "gender part is not one-hot",
    "salary-above-max": "salary outside [0, max] (bits)",
    "negative-salary": "salary outside [0, max] (bits)",
    "product-mismatch": "salary-by-gender entry does not match the salary and gender",
    "inconsistent-shares": "shares do not lie on one degree-t polynomial",
    "forged-proof": "validity proof does not verify",
    "wrong-length": None,
}


@dataclass(frozen=True)
class BadSubmission:
    kind: str
    submission_id: str
    statuses: tuple[int, ...]  # HTTP status per node


def bad_vector(kind: str, m: Manifest, rng: random.Random) -> list[int]:
    """The full shared vector (record and proof) of one malicious submission of this kind.

    Invalid records carry a proof of their true gate outputs (what a modified program that
    reuses our prover sends); ``forged-proof`` lies in the proof instead, claiming gate outputs
    that make a non-one-hot record pass every constraint.
    """
    p, cats, top = m.field_modulus, m.categories, m.salary_max
    layout = Layout.of(cats, top)
    good = encode_record(Record(rng.choice(cats), rng.randrange(top + 1)), cats, top)
    A = 2 * len(cats)
    L = (len(good) - A) // 2
    v = list(good)
    if kind == "not-one-hot-1000":
        v[0] = 1000
    elif kind == "two-genders":
        v[0:A] = [1, 0] * len(cats)
    elif kind == "salary-above-max":
        s = top + 1 + rng.randrange(1000)  # bits of s fit in L+1 bits: put the excess where max-s says
        v[A: A + L] = [(s >> j) & 1 for j in range(L)]
        for c in range(len(cats)):
            v[2 * c + 1] = s * v[2 * c] % p
    elif kind == "negative-salary":
        s = p - 1 - rng.randrange(1000)  # "-1" in the field
        for c in range(len(cats)):
            v[2 * c + 1] = s * v[2 * c] % p
        v[A: A + L] = [1] * L
    elif kind == "product-mismatch":
        c = next(k for k in range(len(cats)) if v[2 * k] == 1)
        v[2 * c + 1] = (v[2 * c + 1] + 1 + rng.randrange(10_000)) % p
    elif kind == "forged-proof":
        v[0:A:2] = [0] * len(cats)
        v[0], v[2] = 2, p - 1  # counts 2 for the first category, -1 for the second: sums to one
        for c in range(len(cats)):
            v[2 * c + 1] = v[2 * c] * sum(b << j for j, b in enumerate(v[A: A + L])) % p
        full = prove(v, layout, p)
        full[layout.h_at + 1], full[layout.h_at + 2] = 2, p - 1  # claim ind^2 = ind for those two
        return full
    elif kind == "wrong-length":
        return prove(v, layout, p) + [0]
    elif kind != "inconsistent-shares":
        raise ValueError(kind)
    return prove(v, layout, p)


def submit_bad(m: Manifest, tokens: list[str], kinds: list[str], seed: int | None = None) -> list[BadSubmission]:
    """Upload one bad submission per (token, kind) to every node; returns what each node said."""
    rng = random.Random(seed if seed is not None else secrets.randbits(64))
    out = []
    clients = [httpx.Client(base_url=nd.url, verify=pinned_client_context(nd.tls_cert_pem), timeout=30)
               for nd in m.nodes]
    try:
        for token, kind in zip(tokens, kinds, strict=True):
            vec = bad_vector(kind, m, rng)
            shares = share_vector(vec, m.n, m.threshold, m.field_modulus)
            if kind == "inconsistent-shares":
                victim = rng.randrange(m.n)
                shares[victim][rng.randrange(len(vec))] = rng.randrange(m.field_modulus)
            # it signs what it sends (an unsigned or mismatching share is refused at upload)
            sid, cert = make_certificate(m.hash(), [encode_elements(s, m.field_modulus) for s in shares])
            statuses = []
            for i, (nd, client) in enumerate(zip(m.nodes, clients)):
                env = seal_shares(shares[i], nd.hpke_public_key, m.hash(), i, bytes.fromhex(sid), m.field_modulus)
                r = client.post(f"/v1/surveys/{m.survey_id}/submissions",
                                json={"submission_id": sid, "token": token, "envelope": b64e(env),
                                      "certificate": b64e(cert)})
                statuses.append(r.status_code)
            out.append(BadSubmission(kind, sid, tuple(statuses)))
    finally:
        for c in clients:
            c.close()
    return out


def mixed_kinds(count: int) -> list[str]:
    names = list(KINDS)
    return [names[i % len(names)] for i in range(count)]
