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

from protocol.encoding import HOURLY_SCALE, Record, Scheme, ValueBlock, ValueKind, encode_record
from protocol.envelope import seal_share_block, seal_shares
from protocol.commitment import batch_envelope_id, make_batch, make_certificate
from protocol.field import encode_elements, lagrange_consecutive, share_vector
from protocol.manifest import Manifest
from protocol.tls import pinned_client_context
from protocol.validity import Layout, Reason, all_openings, as_matrix, derive_challenge, prove
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
    "forged-triple": Reason.ONE_HOT.text,
    "wrong-length": None,
}
#: the further kinds of a complete survey (variable pay, hours): kind -> the nodes' reason
COMPLETE_KINDS: dict[str, str] = {
    "variable-in-band-zero": Reason.RANGE.text,  # variable pay > 0 where the indicator says none
    "variable-above-max": Reason.RANGE.text,
    "basic-negative": Reason.RANGE.text,  # variable pay above the pay level
    "cells-disagree": Reason.CELLS.text,  # variable pay on another gender or job than the pay level
    "hours-zero": Reason.HOURLY.text,  # the least hours the record can state (h = 1) against its hourly pay
    "hourly-mismatch": Reason.HOURLY.text,  # hourly pay not (basic + variable) / hours
}


@dataclass(frozen=True)
class BadSubmission:
    kind: str
    submission_id: str
    statuses: tuple[int, ...]  # HTTP status per node


def bad_vector(kind: str, m: Manifest, rng: random.Random) -> list[int]:
    """The full shared vector (record and proof) of one malicious submission of this kind.

    Invalid records carry honest triples and the true squares of their bits (what a modified
    program that reuses our prover sends).  The two forgeries lie in the proof instead, built to
    pass every check under a challenge the forger drew itself (it cannot know the nodes' one):
    ``forged-proof`` claims the squares of a negative salary's non-bits are the non-bits
    themselves; ``forged-triple`` picks the one-hot product's triple to cancel the error of a
    record that counts 2 in one cell and -1 in another.
    """
    p, sc = m.field_modulus, m.scheme()
    layout = Layout(sc)
    v = encode_record(good_record(sc, rng), sc)
    if kind in COMPLETE_KINDS:
        break_complete(kind, v, sc)
        return prove(v, layout, p)
    if kind in FORGERIES:
        return forged_vector(kind, m, rng, rng.randbytes(32))
    if kind == "wrong-length":
        return prove(v, layout, p) + [0]
    if kind != "inconsistent-shares":
        _break_record(kind, v, m, rng)
    return prove(v, layout, p)


def good_record(sc: Scheme, rng: random.Random) -> Record:
    """A random valid record of the scheme (variable pay for about half, hours when collected)."""
    job = rng.choice(sc.jobs) if sc.jobs else ""
    top = sc.variable.top if sc.variable is not None else 0
    variable = rng.randint(1, min(top, sc.salary_max)) if top and rng.random() < 0.5 else 0
    level = rng.randint(variable, sc.salary_max)
    hours = 0
    if sc.hourly is not None:  # enough hours for the hourly level to stay within its bound
        least = -(-level * HOURLY_SCALE // sc.hourly.top)
        hours = rng.randint(max(1, least), max(least, sc.hours_max * 100))
    return Record(rng.choice(sc.genders), level - variable, job, variable, hours)


def break_complete(kind: str, v: list[int], sc: Scheme) -> None:
    """Make a complete survey's valid record vector v invalid in the way ``kind`` names (one of
    :data:`COMPLETE_KINDS`), every other part left consistent."""
    if kind == "variable-in-band-zero":
        _set_value(v, sc, ValueKind.VARIABLE, 700, band=0)
    elif kind == "variable-above-max":
        var = _value_block(sc, ValueKind.VARIABLE)
        _set_value(v, sc, ValueKind.VARIABLE, var.banding.top + 3, band=var.B - 1)
    elif kind == "basic-negative":
        level = max(v[sc.prod_at: sc.prod_at + sc.K])
        top = _value_block(sc, ValueKind.VARIABLE).banding.top
        _set_value(v, sc, ValueKind.VARIABLE, min(level + 5, top) if level < top else top)
        if level >= top:  # no variable pay can exceed the level: lower the level instead
            _set_value(v, sc, ValueKind.LEVEL, top - 1)
    elif kind == "cells-disagree":
        _move_cell(v, sc, _value_block(sc, ValueKind.VARIABLE if sc.variable is not None else ValueKind.HOURLY))
    elif kind == "hours-zero":
        v[sc.remainder_at: sc.slack_at + sc.hours_bits] = [0] * (2 * sc.hours_bits)
    elif kind == "hourly-mismatch":
        y = _value_block(sc, ValueKind.HOURLY)
        x = max(v[y.prod_at: y.prod_at + sc.K])
        _set_value(v, sc, ValueKind.HOURLY, x + 1 if x < y.banding.top else x - 1)
    else:
        raise ValueError(kind)


def _value_block(sc: Scheme, kind: ValueKind) -> ValueBlock:
    v = sc.value(kind)
    if v is None:
        raise ValueError(f"this survey does not collect {kind.value}")
    return v


def _set_value(vec: list[int], sc: Scheme, kind: ValueKind, x: int, band: int | None = None) -> None:
    """Rewrite one value of a valid record vector (its cell kept) to ``x``, in ``band`` (its own
    band by default), P, Q and the offset bits following x (cut to L bits when x lies outside the
    band, so that the band relation fails)."""
    v = _value_block(sc, kind)
    H = vec[v.hist_at: v.hist_at + sc.K * v.B]
    c = H.index(1) // v.B
    b = v.banding.band_of(min(x, v.banding.top)) if band is None else band
    vec[v.hist_at: v.hist_at + sc.K * v.B] = [0] * (sc.K * v.B)
    vec[v.hist_at + c * v.B + b] = 1
    vec[v.prod_at + c], vec[v.sq_at + c] = x, x * x
    mask = (1 << v.bits) - 1
    for at, val in ((v.d1_at, x - v.banding.edges[b]), (v.d2_at, v.banding.band_hi(b) - x)):
        vec[at: at + v.bits] = [((val & mask) >> j) & 1 for j in range(v.bits)]
    if sc.basic_bits and kind != ValueKind.HOURLY:  # keep basic = T - V's bits (when it is not negative)
        level = max(vec[sc.prod_at: sc.prod_at + sc.K])
        var = vec[_value_block(sc, ValueKind.VARIABLE).prod_at + c]
        vec[sc.basic_bits_at: sc.basic_bits_at + sc.basic_bits] = [((level - var) >> j) & 1 if level >= var else 0
                                                                   for j in range(sc.basic_bits)]


def _move_cell(vec: list[int], sc: Scheme, v: ValueBlock) -> None:
    """Value v's block moved to the next cell, all of it consistent."""
    at = vec[v.hist_at: v.hist_at + sc.K * v.B].index(1)
    c, b = divmod(at, v.B)
    other = (c + 1) % sc.K
    vec[v.hist_at + at], vec[v.hist_at + other * v.B + b] = 0, 1
    for base in (v.prod_at, v.sq_at):
        vec[base + other], vec[base + c] = vec[base + c], 0


def _consistent(v: list[int], m: Manifest, s: int) -> None:
    """Salary-by-cell entries that match the salary s on the cells v's indicators count."""
    p, sc = m.field_modulus, m.scheme()
    ind = [sum(v[c * sc.B: (c + 1) * sc.B]) for c in range(sc.K)]
    for c in range(sc.K):
        v[sc.prod_at + c] = s * ind[c] % p
        v[sc.sq_at + c] = s * s * ind[c] % p


def _break_record(kind: str, v: list[int], m: Manifest, rng: random.Random) -> None:
    """Make the record vector v invalid in the way ``kind`` names."""
    p, sc = m.field_modulus, m.scheme()
    KB, L = sc.K * sc.B, sc.bits
    if kind == "not-one-hot-1000":
        v[0] = 1000
    elif kind == "two-genders":
        v[0:KB] = [0] * KB
        if KB > 1:  # first band of two cells of different genders (or two bands of one cell)
            v[0] = v[sc.J * sc.B if sc.G > 1 else 1] = 1
        else:
            v[0] = 2
        _consistent(v, m, sum(b << j for j, b in enumerate(v[sc.d1_at: sc.d2_at])))
    elif kind == "salary-above-max":
        # the top band of its cell, with an offset beyond its width: d1 + d2 cannot add up to the width
        c = v[0:KB].index(1) // sc.B
        v[0:KB] = [0] * KB
        v[c * sc.B + sc.B - 1] = 1
        off = sc.band_width(sc.B - 1) + 1 + rng.randrange(1000)
        top = (1 << L) - 1
        if off <= top:
            v[sc.d1_at: sc.d2_at] = [(off >> j) & 1 for j in range(L)]
        else:  # does not fit in L bits: all ones, and the rest on the lowest "bit"
            v[sc.d1_at: sc.d2_at] = [1] * L
            v[sc.d1_at] = 1 + off - top
        _consistent(v, m, sc.edges[-1] + off)
    elif kind == "negative-salary":
        # a "-1" where a bit should be: s = e_b - 1 + ..., negative in the lowest band
        v[sc.d1_at] = p - 1
        _consistent(v, m, sum(b << j for j, b in enumerate(v[sc.d1_at: sc.d2_at])) % p)
    elif kind == "product-mismatch":
        c = next(k for k in range(sc.K) if v[sc.prod_at + k] or any(v[k * sc.B: (k + 1) * sc.B]))
        v[sc.prod_at + c] = (v[sc.prod_at + c] + 1 + rng.randrange(10_000)) % p
    else:
        raise ValueError(kind)


#: the kinds whose proof is forged (rather than honest for an invalid record)
FORGERIES = ("forged-proof", "forged-triple")


def forged_vector(kind: str, m: Manifest, rng: random.Random, seed: bytes) -> list[int]:
    """A forged proof of an invalid record (see :func:`bad_vector`), built to pass every check
    under the challenge the joint seed ``seed`` would give."""
    p, sc = m.field_modulus, m.scheme()
    layout = Layout(sc)
    KB, L, G = sc.K * sc.B, sc.bits, layout.gates
    guess = derive_challenge(seed, layout, p)
    v = [0] * sc.record_width
    v[sc.cell(rng.randrange(sc.G), rng.randrange(sc.J)) * sc.B] = 1  # band 0 of some cell
    if kind == "forged-triple":  # salary 0 in band 0, P and Q to match
        v[sc.d1_at: sc.d1_at + 2 * L] = [0] * L + [(sc.band_width(0) >> j) & 1 for j in range(L)]
        _consistent(v, m, 0)
        at = v.index(1)
        other = next((i for i in range(0, KB, sc.B) if i != at), None)
        if other is not None:  # 2 in one cell, -1 in another: sum H = 1, and the range still holds
            v[at], v[other] = 2, p - 1
        full = prove(v, layout, p)
        z1 = layout.one_hot_triple_at + 2
        opened = all_openings(as_matrix([full], layout.width), layout, guess, p)[0]
        full[z1] = (full[z1] + int(opened[layout.columns.z(0)]) + (0 if other is not None else 1)) % p
        return full
    # forged-proof: salary -1 in band 0 (offset -1, distance width + 1), P and Q to match
    width = sc.band_width(0)
    d1 = [p - 1] + [0] * (L - 1)
    d2 = [((width + 1) >> j) & 1 for j in range(L)] if width + 1 < (1 << L) else [2] + [1] * (L - 1)
    v[sc.d1_at: sc.d1_at + 2 * L] = d1 + d2
    _consistent(v, m, p - 1)
    full = prove(v, layout, p)
    not_bits = [k for k in range(G) if v[sc.d1_at + k] not in (0, 1)]
    for k in not_bits:
        full[layout.h_at + 1 + k] = v[sc.d1_at + k]  # "d^2 = d"
    # h(G + 1) chosen so that h(r) = w(r)^2 at the forger's r
    lam_w = lagrange_consecutive(G + 1, guess.r, p)
    wire = [full[layout.seed_at]] + v[sc.d1_at: sc.d1_at + G]
    w_r = sum(c * x for c, x in zip(lam_w, wire)) % p
    lam_h = lagrange_consecutive(2 * G + 1, guess.r, p)
    free = G + 1
    rest = sum(c * full[layout.h_at + j] for j, c in enumerate(lam_h) if j != free) % p
    full[layout.h_at + free] = (w_r * w_r - rest) * pow(lam_h[free], -1, p) % p
    return full


def _shared(kind: str, m: Manifest, rng: random.Random) -> list[list[int]]:
    """Every node's share vector of one malicious submission of this kind."""
    vec = bad_vector(kind, m, rng)
    shares = share_vector(vec, m.n, m.threshold, m.field_modulus)
    if kind == "inconsistent-shares":
        victim = rng.randrange(m.n)
        shares[victim][rng.randrange(len(vec))] = rng.randrange(m.field_modulus)
    return shares


def _clients(m: Manifest) -> list[httpx.Client]:
    return [httpx.Client(base_url=nd.url, verify=pinned_client_context(nd.tls_cert_pem), timeout=30) for nd in m.nodes]


def submit_bad(m: Manifest, tokens: list[str], kinds: list[str], seed: int | None = None) -> list[BadSubmission]:
    """Upload one bad submission per (token, kind) to every node; returns what each node said."""
    rng = random.Random(seed if seed is not None else secrets.randbits(64))
    out = []
    clients = _clients(m)
    try:
        for token, kind in zip(tokens, kinds, strict=True):
            shares = _shared(kind, m, rng)
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


def submit_bad_batch(m: Manifest, tokens: list[str], kinds: list[str], seed: int | None = None
                     ) -> list[BadSubmission]:
    """Upload one bulk batch (``POST /batches``, as ``salary-submit --csv`` sends them) holding one
    bad submission per (token, kind), signed and sealed like an honest batch; a batch is all or
    nothing, so ``wrong-length`` has no place in it."""
    if "wrong-length" in kinds:
        raise ValueError("a batch's records all have the survey's width")
    rng = random.Random(seed if seed is not None else secrets.randbits(64))
    p, mh = m.field_modulus, m.hash()
    rows = [[encode_elements(s, p) for s in _shared(kind, m, rng)] for kind in kinds]
    batch = make_batch(mh, rows)
    env_id = batch_envelope_id(batch.public_key)
    statuses = []
    clients = _clients(m)
    try:
        for i, (nd, client) in enumerate(zip(m.nodes, clients)):
            block = seal_share_block(b"".join(row[i] for row in rows), len(rows), m.vector_length(),
                                     nd.hpke_public_key, mh, i, env_id)
            r = client.post(f"/v1/surveys/{m.survey_id}/batches",
                            json={"batch_key": b64e(batch.public_key), "signature": b64e(batch.signature),
                                  "tokens": tokens, "commitments": b64e(b"".join(batch.commitments)),
                                  "envelope": b64e(block), "replace": False})
            statuses.append(r.status_code)
    finally:
        for c in clients:
            c.close()
    return [BadSubmission(kind, sid, tuple(statuses)) for kind, sid in zip(kinds, batch.ids, strict=True)]


def mixed_kinds(count: int) -> list[str]:
    names = list(KINDS)
    return [names[i % len(names)] for i in range(count)]
