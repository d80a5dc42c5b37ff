"""protocol.sharing against the Python-integer reference (protocol.field): the same shares from
the same coefficients, reconstruction of every secret, coefficients below p and uniform, and a
bulk-prepared batch opened and reconstructed as the nodes do."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import sharing
from protocol.field import reconstruct_vector, share_vector_with_coefficients

P = sharing.P
EDGES = (0, 1, 2, P - 2, P - 1, (1 << 64) - 1, 1 << 64, (1 << 126), (1 << 127) - 2)

element = st.one_of(st.sampled_from(EDGES), st.integers(0, P - 1))
#: (n, t) with 3 <= n <= 7 and 1 <= t <= (n - 1) // 2
params = st.integers(3, 7).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, (n - 1) // 2)))


def _ints(buf: np.ndarray, count: int) -> list[int]:
    raw = buf.tobytes()
    return [int.from_bytes(raw[16 * e: 16 * (e + 1)], "big") for e in range(count)]


@settings(max_examples=60, deadline=None)
@given(params, st.data())
def test_share_words_equal_the_reference_given_the_same_coefficients(nt: tuple[int, int], data: st.DataObject) -> None:
    n, t = nt
    size = data.draw(st.integers(1, 12))
    secrets_ = data.draw(st.lists(element, min_size=size, max_size=size))
    coeffs = data.draw(st.lists(st.lists(element, min_size=t, max_size=t), min_size=size, max_size=size))
    want = share_vector_with_coefficients(secrets_, coeffs, n, P)
    secret = sharing.Words.of_ints(secrets_)
    cw = [sharing.Words.of_ints([c[k] for c in coeffs]) for k in range(t)]
    before = [(w.hi.copy(), w.lo.copy()) for w in (secret, *cw)]
    got = sharing.share_words(secret, cw, n)
    assert [g.to_ints() for g in got] == want
    assert all((w.hi == h).all() and (w.lo == lo).all() for w, (h, lo) in zip((secret, *cw), before))  # inputs kept


def _submissions(rng: random.Random, rows: int, record: int, tail: int, extremes: bool) -> tuple[sharing.Submissions,
                                                                                                  list[list[int]]]:
    rec = [[rng.choice([0, 1, (1 << 63) - 1]) if extremes else rng.randrange(1 << 40) for _ in range(record)]
           for _ in range(rows)]
    tl = [[rng.choice(EDGES) if extremes else rng.randrange(P) for _ in range(tail)] for _ in range(rows)]
    w = sharing.Words.of_ints([v for row in tl for v in row])
    subs = sharing.Submissions(np.array(rec, dtype=np.int64).reshape(rows, record),
                               sharing.Words(w.hi.reshape(rows, tail), w.lo.reshape(rows, tail)))
    return subs, [r + t_ for r, t_ in zip(rec, tl)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params, st.integers(1, 4), st.integers(0, 9), st.integers(0, 5), st.sampled_from([3, 7, 1 << 15]),
       st.booleans(), st.integers(0, 2**32))
def test_batch_shares_equal_the_reference_and_reconstruct(nt: tuple[int, int], rows: int, record: int, tail: int,
                                                         chunk: int, extremes: bool, seed: int) -> None:
    """Chunks across rows, inside rows and whole batches; the record part's int64 path and the
    tail's words; fixed coefficients against the reference, fresh ones by reconstruction."""
    n, t = nt
    if record + tail == 0:
        record = 1
    old, sharing.CHUNK = sharing.CHUNK, chunk
    try:
        _check_batch(n, t, rows, record, tail, extremes, random.Random(seed))
    finally:
        sharing.CHUNK = old


def _check_batch(n: int, t: int, rows: int, record: int, tail: int, extremes: bool, rng: random.Random) -> None:
    subs, X = _submissions(rng, rows, record, tail, extremes)
    width, flat = record + tail, [v for row in X for v in row]
    coeffs = [[rng.choice(EDGES) if extremes else rng.randrange(P) for _ in range(t)] for _ in flat]
    cw = [sharing.Words.of_ints([c[k] for c in coeffs]) for k in range(t)]
    cw = [sharing.Words(w.hi.reshape(rows, width), w.lo.reshape(rows, width)) for w in cw]
    outs = [np.full(16 * rows * width, 0xAB, dtype=np.uint8) for _ in range(n)]
    sharing.share_submissions(subs, n, t, outs, cw)
    assert [_ints(o, len(flat)) for o in outs] == share_vector_with_coefficients(flat, coeffs, n, P)
    sharing.share_submissions(subs, n, t, outs)
    shares = {i: _ints(o, len(flat)) for i, o in enumerate(outs)}
    assert all(v < P for s in shares.values() for v in s)
    for subset in (range(t + 1), range(n - t - 1, n)):
        assert reconstruct_vector({i: shares[i] for i in subset}, t, P) == flat
    assert [v for row in X for v in row] == flat  # the submissions were not modified
    assert [int(v) for v in subs.tail.hi.ravel()] == [v >> 64 for row in X for v in row[record:]]


def test_share_submissions_refuses_what_it_cannot_share() -> None:
    subs = sharing.Submissions(np.array([[1, 2]], dtype=np.int64),
                               sharing.Words(np.zeros((1, 0), np.uint64), np.zeros((1, 0), np.uint64)))
    with pytest.raises(ValueError) as exc:
        sharing.share_submissions(subs, 3, 1, [np.empty(32, np.uint8)] * 2)
    assert str(exc.value) == "one output buffer of 16 x rows x width bytes per node"
    with pytest.raises(ValueError) as exc:
        sharing.share_submissions(subs, 3, 3, [np.empty(32, np.uint8)] * 3)
    assert str(exc.value) == "sharing needs 1 <= t < n"
    neg = sharing.Submissions(np.array([[1, -2]], dtype=np.int64), subs.tail)
    with pytest.raises(ValueError) as exc:
        sharing.share_submissions(neg, 3, 1, [np.empty(32, np.uint8)] * 3)
    assert str(exc.value) == "record entries must be non-negative"


def test_random_words_are_below_p_and_uniform() -> None:
    w = sharing.random_words(40_000)
    assert int(w.hi.max()) < 1 << 63
    assert not ((w.hi == (1 << 63) - 1) & (w.lo == (1 << 64) - 1)).any()
    # each of the 127 bits is set about half the time (6 sigma), so no bit is stuck or masked
    bits = [((w.hi >> np.uint64(b)) & np.uint64(1)).mean() for b in range(63)]
    bits += [((w.lo >> np.uint64(b)) & np.uint64(1)).mean() for b in range(64)]
    sigma = (0.25 / 40_000) ** 0.5
    assert all(abs(b - 0.5) < 6 * sigma for b in bits)
    # two draws differ (a fresh key each time)
    assert not (sharing.random_words(4).lo == sharing.random_words(4).lo).all()


def test_the_value_p_is_drawn_again_never_mapped() -> None:
    """A source whose first draw is p: the element is redrawn from the source, not set to 0."""
    p_bytes = np.array([(1 << 64) - 1, (1 << 63) - 1], dtype=np.uint64).tobytes()  # lo, then hi
    second = np.array([5, 7], dtype=np.uint64).tobytes()
    draws = [p_bytes, second]
    w = sharing.random_words(1, lambda size: draws.pop(0)[:size])
    assert w.to_ints() == [(7 << 64) | 5] and not draws


@pytest.mark.parametrize("value", [0, 1, P - 1])
def test_edge_secrets_share_and_reconstruct(value: int) -> None:
    for n in range(3, 8):
        for t in range(1, (n - 1) // 2 + 1):
            shares = sharing.share_words(sharing.Words.of_ints([value] * 5), [sharing.random_words(5) for _ in range(t)], n)
            got = {i: s.to_ints() for i, s in enumerate(shares)}
            assert reconstruct_vector(got, t, P) == [value] * 5


def test_difference_weights_walk_every_polynomial() -> None:
    """f(1 + x) from the differences at 1 (Newton's forward formula) is f for x^k, k <= 4."""
    from math import comb

    w = sharing.difference_weights(4)
    for k in range(5):
        for x in range(6):
            assert sum(comb(x, j) * w[j][k] for j in range(5)) == (1 + x) ** k


def test_bulk_prepared_batch_opens_and_reconstructs_at_the_nodes(tmp_path: Path) -> None:
    """A complete survey's batch from prepare_batch, 5 nodes, t = 2: every node opens its sealed
    block with its own key, its rows match the signed commitments, and any t + 1 nodes' rows
    reconstruct the encoded records, whose proofs pass the nodes' checks."""
    import secrets

    from conftest import make_survey
    from contributor.bulk import prepare_batch
    from demo.bad_contributors import good_record
    from mpc_nodes.keys import load_hpke_private
    from protocol.commitment import batch_envelope_id, check_share, verify_batch, verify_certificate
    from protocol.encoding import encode_record
    from protocol.envelope import open_share_block
    from protocol.validity import Layout, all_openings, as_matrix, decide, derive_challenge

    s = make_survey(tmp_path, n=5, t=2, tokens=1, salary_max=15_000, job_categories=("a", "b"),
                    salary_bands=(5000, 10_000))
    sc, layout = s.manifest.scheme(), Layout(s.manifest.scheme())
    rng = random.Random(5)
    records = [good_record(sc, rng) for _ in range(7)]
    pb = prepare_batch(s.manifest, records, ["a" * 64] * 7, [None] * 7)
    mh, W = s.manifest.hash(), s.manifest.vector_length()
    batch = verify_batch(pb.batch_key, pb.signature, pb.commitments, 7, 5, mh)
    rows: dict[int, list[list[int]]] = {}
    for i in range(5):
        block = open_share_block(pb.envelopes[i], load_hpke_private(s.node_dirs[i]), mh, i,
                                 batch_envelope_id(pb.batch_key), 7, W)
        for r in range(7):
            cert = verify_certificate(batch.certificate(r), batch.ids[r], 5, mh)
            check_share(cert, mh, batch.ids[r], i, block[16 * W * r: 16 * W * (r + 1)])
        rows[i] = [_ints(np.frombuffer(block[16 * W * r: 16 * W * (r + 1)], np.uint8), W) for r in range(7)]
    vecs = []
    for r, rec in enumerate(records):
        vec = reconstruct_vector({i: rows[i][r] for i in (1, 3, 4)}, 2, P)
        assert vec[: layout.record_width] == encode_record(rec, sc)
        assert reconstruct_vector({i: rows[i][r] for i in range(5)}, 2, P) == vec
        vecs.append(vec)
    ch = derive_challenge(secrets.token_bytes(32), layout, P)
    assert decide(all_openings(as_matrix(vecs, W), layout, ch, P), P) == [None] * 7
