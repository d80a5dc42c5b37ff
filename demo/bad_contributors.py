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
from protocol.validity import Layout, Reason, prove
from protocol.wire import b64e

#: kind -> the reason the nodes must give (None: refused at upload, never stored)
KINDS: dict[str, str | None] = {
    "not-one-hot-1000": Reason.ONE_HOT.text,
    "two-genders": Reason.ONE_HOT.text,
    "salary-above-max": Reason.RANGE.text,
    "negative-salary": Reason.RANGE.text,
    "product-mismatch": Reason.PRODUCT.text,
    "inconsistent-shares": Reason.CONSISTENCY.text,
    "forged-proof": Reason.PROOF.text,
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
    that make a non-one-hot record (2 in one cell, -1 in another, salary 0) pass every constraint.
    """
    p, sc = m.field_modulus, m.scheme()
    layout = Layout(sc)
    job = rng.choice(sc.jobs) if sc.jobs else ""
    good = encode_record(Record(rng.choice(sc.genders), rng.randrange(sc.salary_max + 1), job), sc)
    KB, L = sc.K * sc.B, sc.bits
    v = list(good)

    def consistent(s: int) -> None:  # salary-by-cell entries that match the salary s
        ind = [sum(v[c * sc.B: (c + 1) * sc.B]) for c in range(sc.K)]
        for c in range(sc.K):
            v[sc.prod_at + c] = s * ind[c] % p
            v[sc.sq_at + c] = s * s * ind[c] % p

    if kind == "not-one-hot-1000":
        v[0] = 1000
    elif kind == "two-genders":
        v[0:KB] = [0] * KB
        if KB > 1:  # first band of two cells of different genders (or two bands of one cell)
            v[0] = v[sc.J * sc.B if sc.G > 1 else 1] = 1
        else:
            v[0] = 2
        consistent(sum(b << j for j, b in enumerate(v[sc.d1_at: sc.d2_at])))
    elif kind == "salary-above-max":
        # the top band, with an offset beyond its width: d1 + d2 cannot add up to the width
        v[0:KB] = [0] * KB
        v[sc.B - 1] = 1
        off = sc.band_width(sc.B - 1) + 1 + rng.randrange(1000)
        top = (1 << L) - 1
        if off <= top:
            v[sc.d1_at: sc.d2_at] = [(off >> j) & 1 for j in range(L)]
        else:  # does not fit in L bits: all ones, and the rest on the lowest "bit"
            v[sc.d1_at: sc.d2_at] = [1] * L
            v[sc.d1_at] = 1 + off - top
        consistent(sc.edges[-1] + off)
    elif kind == "negative-salary":
        # a "-1" where a bit should be: s = e_b - 1 + ..., negative in the lowest band
        v[sc.d1_at] = p - 1
        consistent(sum(b << j for j, b in enumerate(v[sc.d1_at: sc.d2_at])) % p)
    elif kind == "product-mismatch":
        c = next(k for k in range(sc.K) if v[sc.prod_at + k] or any(v[k * sc.B: (k + 1) * sc.B]))
        v[sc.prod_at + c] = (v[sc.prod_at + c] + 1 + rng.randrange(10_000)) % p
    elif kind == "forged-proof":
        other = sc.J * sc.B if sc.G > 1 else (1 if KB > 1 else 0)
        v[0:KB] = [0] * KB
        if other:
            v[0], v[other] = 2, p - 1  # counts 2 in one cell, -1 in another: sums to one
        else:
            v[0] = 1
        # salary 0 in band 0 (offset 0, distance w_0): range holds, since 2 w_0 - w_0 = w_0
        v[sc.d1_at: sc.d2_at] = [0] * L
        v[sc.d2_at: sc.d2_at + L] = [(sc.band_width(0) >> j) & 1 for j in range(L)]
        consistent(0)
        full = prove(v, layout, p)
        full[layout.h_at + 1] = 2  # claim H^2 = H for both (gate outputs h(1 + index))
        if other:
            full[layout.h_at + 1 + other] = p - 1
        else:  # a survey with one cell and band: a false gate output for a valid record
            full[layout.h_at + 1] = 2
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
