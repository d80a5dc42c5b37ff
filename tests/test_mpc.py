"""The MPyC party program, run as real processes over mutually authenticated TLS.

These call :func:`mpc_nodes.compute.run_mpc` directly (no HTTP), one thread per party, each
thread supervising its own MPyC subprocess.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import make_survey, wired_channels
from mpc_nodes.channel import RunAborted
from mpc_nodes.channel_frame import Round
from mpc_nodes.compute import run_mpc
from mpc_nodes.mpc_program import Refused, SafePickle
from mpc_nodes.party_job import PartyOutcome
from protocol.errors import CheatingDetected, ComputeFailed
from protocol.encoding import Record, encode_record
from protocol.validity import Layout, encode_submission, prove
from protocol.field import reconstruct_vector, share_vector
from protocol.manifest import Manifest

pytestmark = pytest.mark.slow


def _write_rows(path: Path, rows: list[list[int]]) -> Path:
    path.write_bytes(b"".join(v.to_bytes(16, "big") for r in rows for v in r))
    return path


def _run_parties(node_dirs: list[Path], manifests: list[Manifest], rows: list[list[list[int]]], digests: list[str],
                 timeout: float, parties: list[int] | None = None,
                 batch_rows: int | None = None) -> dict[int, PartyOutcome | Exception]:
    """rows[i] = party i's share vectors, one per submission (read ``batch_rows`` at a time)."""
    results: dict[int, PartyOutcome | Exception] = {}

    def one(i: int) -> None:
        try:
            matrix = _write_rows(node_dirs[i] / "test-shares.bin", rows[i])
            results[i] = run_mpc(node_dirs[i], manifests[i], i, matrix, len(rows[i]), digests[i], timeout,
                                 batch_rows=batch_rows)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in (parties if parties is not None else range(len(node_dirs)))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    runs = {r.run_id for r in results.values() if isinstance(r, PartyOutcome)}
    assert len(runs) <= 1, f"parties of one run disagree on its id: {runs}"
    return results


def _shared_rows(m: Manifest, vectors: list[list[int]]) -> list[list[list[int]]]:
    per_sub = [share_vector(v, m.n, m.threshold, m.field_modulus) for v in vectors]
    return [[sh[i] for sh in per_sub] for i in range(m.n)]


def _records(m: Manifest, spec: list[tuple[str, int]]) -> list[list[int]]:
    return [encode_submission(Record(g, s), m.scheme(), m.field_modulus) for g, s in spec]


@pytest.mark.parametrize("n,t,batch_rows", [(3, 1, 4), (5, 2, None)])
def test_mpc_validates_counts_valid_only_and_suppresses(tmp_path: Path, n: int, t: int,
                                                        batch_rows: int | None) -> None:
    """(With batch_rows=4 the party streams its 27 rows in 7 batches: the same verdicts and sums.)"""
    s = make_survey(tmp_path, n=n, t=t, k=5)
    m = s.manifest
    spec = [("female", 4000 + i) for i in range(12)] + [("male", 3000)] * 3 + [("other", 4100 + i) for i in range(5)]
    vectors = _records(m, spec)
    sc = m.scheme()
    layout = Layout(sc)
    good_rec = encode_record(Record("female", 5000), sc)
    W, P, Q, D = layout.record_width, sc.prod_at, sc.sq_at, sc.d1_at
    bad_records = {
        "one-hot": [1000] + good_rec[1:],  # 1000 in one slot
        "one-hot ": good_rec[:1] + [1] + good_rec[2:],  # two ones
        "range": good_rec[:D] + [2] + good_rec[D + 1:],  # a "bit" that is 2
        "range ": good_rec[:D] + [1] * (W - D),  # offsets adding up past the band's width
        "product": good_rec[:P] + [9999] + good_rec[P + 1:],  # salary entry does not match the bits
        "product ": good_rec[:Q] + [good_rec[Q] + 1] + good_rec[Q + 1:],  # square does not match
    }
    # what a modified contributor program sends: each invalid record with a proof of its true gates
    bad = {k: prove(v, layout, m.field_modulus) for k, v in bad_records.items()}
    forged = prove(good_rec, layout, m.field_modulus)
    forged[layout.h_at + 1] = (forged[layout.h_at + 1] + 1) % m.field_modulus  # a false gate output
    bad["proof"] = forged
    good = encode_submission(Record("female", 5000), sc, m.field_modulus)
    vectors += list(bad.values())
    rows = _shared_rows(m, vectors)
    # one more valid-looking submission whose shares are inconsistent (node 0's share is off)
    inconsistent = share_vector(good, n, t, m.field_modulus)
    inconsistent[0][3] = (inconsistent[0][3] + 1) % m.field_modulus
    for i in range(n):
        rows[i].append(inconsistent[i])
    out = _run_parties(s.node_dirs, [m] * n, rows, ["ab" * 32] * n, timeout=60, batch_rows=batch_rows)
    assert all(isinstance(v, PartyOutcome) for v in out.values()), out
    outcomes = {i: v for i, v in out.items() if isinstance(v, PartyOutcome)}
    expected_invalid = [(len(spec) + k, r.strip()) for k, r in enumerate(bad)] + [(len(spec) + len(bad), "consistency")]
    assert all(o.invalid == expected_invalid for o in outcomes.values())
    result = reconstruct_vector({i: o.shares for i, o in outcomes.items()}, t, m.field_modulus)
    counts = [sum(1 for g, _ in spec if g == c) for c in m.categories]
    sums = [sum(v for g, v in spec if g == c) for c in m.categories]
    squares = [sum(v * v for g, v in spec if g == c) for c in m.categories]
    # release vector (protocol.disclosure): counts, sums, sums of squares, band counts (one band);
    # counts are released, every salary figure of the group below k=5 (male) is zeroed in the MPC
    assert result == counts + [sums[0], 0, sums[2]] + [squares[0], 0, squares[2]] + [counts[0], 0, counts[2]]
    # the group below k: every party's share of each of its figures is 0, whatever its input shares
    assert all(o.shares[j] == 0 for o in outcomes.values() for j in (4, 7, 10))
    assert all(o.corrected == [] for o in outcomes.values())
    # the inconsistent row is reported; its odd share is located only when n >= 3t+1 (not with 3 or 5 nodes)
    assert all(o.off_polynomial == {len(spec) + len(bad): []} for o in outcomes.values())


@pytest.mark.parametrize("n,t", [(3, 1), (4, 1)])
def test_every_invalid_kind_of_the_demo_is_caught_by_the_parties(tmp_path: Path, n: int, t: int) -> None:
    """Every kind of demo/bad_contributors.py that reaches the MPC (the forgeries included), shared
    as a modified contributor would, beside honest rows: the parties reject each for its reason."""
    from demo.bad_contributors import KINDS, bad_vector
    from protocol.validity import REASONS

    s = make_survey(tmp_path, n=n, t=t, k=1, salary_max=20_000, job_categories=("eng", "ops"),
                    salary_bands=(5000, 10_000))
    m = s.manifest
    rng = random.Random(n)
    kinds = [k for k, why in KINDS.items() if why is not None and k != "inconsistent-shares"]
    vectors = [bad_vector(k, m, rng) for k in kinds]
    vectors += [encode_submission(Record("female", 7000 + i, "ops"), m.scheme(), m.field_modulus) for i in range(3)]
    rows = _shared_rows(m, vectors)
    out = _run_parties(s.node_dirs, [m] * n, rows, ["cd" * 32] * n, timeout=60)
    outcomes = [v for v in out.values() if isinstance(v, PartyOutcome)]
    assert len(outcomes) == n, out
    by_text = {text: reason.value for reason, text in REASONS.items()}
    want = [(i, by_text[KINDS[k]]) for i, k in enumerate(kinds)]
    assert all(o.invalid == want for o in outcomes)
    assert "forged-proof" in kinds and "forged-triple" in kinds


def test_mpc_releases_cells_and_gender_totals_with_secondary_suppression(tmp_path: Path) -> None:
    """Job categories and bands: the release vector against a plaintext oracle, with a small cell
    (female/sales, 2 < k) suppressed and, to protect it, the smallest other female cell as well."""
    jobs, bands = ("eng", "sales", "ops"), (3000, 4000, 5000)
    s = make_survey(tmp_path, n=3, t=1, k=3, salary_max=9000, job_categories=jobs, salary_bands=bands)
    m = s.manifest
    sc = m.scheme()
    spec = ([("female", "eng", 3500 + 10 * i) for i in range(6)] + [("female", "sales", 4100), ("female", "sales", 2900)]
            + [("female", "ops", 5200 + i) for i in range(4)] + [("male", j, 3000 + 700 * i) for i in range(5)
                                                                  for j in jobs] + [("other", "eng", 8000)])
    vectors = [encode_submission(Record(g, v, j), sc, m.field_modulus) for g, j, v in spec]
    out = _run_parties(s.node_dirs, [m] * 3, _shared_rows(m, vectors), ["ef" * 32] * 3, timeout=60)
    outcomes = {i: v for i, v in out.items() if isinstance(v, PartyOutcome)}
    assert len(outcomes) == 3, out
    got = reconstruct_vector({i: o.shares for i, o in outcomes.items()}, 1, m.field_modulus)

    def figures(rows: list[tuple[str, str, int]]) -> tuple[int, int, int, list[int]]:
        hist = [0] * 4
        for _, _, v in rows:
            hist[sum(v >= e for e in bands)] += 1
        return len(rows), sum(v for *_, v in rows), sum(v * v for *_, v in rows), hist

    cells = [figures([r for r in spec if r[0] == g and r[1] == j]) for g in m.categories for j in jobs]
    genders = [figures([r for r in spec if r[0] == g]) for g in m.categories]
    # released: female/eng (6) and female/ops (4) minus the smaller one to protect female/sales (2)
    released_cells = [True, False, False] + [True] * 3 + [False] * 3
    released_genders = [True, True, False]  # other: 1 < k
    expected = [c[0] for c in cells] + [g[0] for g in genders]
    for figs, keep in ((cells, released_cells), (genders, released_genders)):
        expected += [f[1] if k else 0 for f, k in zip(figs, keep)]
        expected += [f[2] if k else 0 for f, k in zip(figs, keep)]
        expected += [h if k else 0 for f, k in zip(figs, keep) for h in f[3]]
    assert got == expected


def test_mpc_with_differential_privacy_adds_joint_noise_of_the_planned_scale(tmp_path: Path) -> None:
    """Every released figure carries the sum of three nodes' discrete Laplace draws: the 300
    band counts' noise has three times one mechanism's variance; a rerun releases the same
    noise (the nodes' draws are deterministic per survey), so nothing new leaks."""
    from fractions import Fraction

    from protocol.dp import laplace_variance, plan_budget

    bands = tuple(range(10, 1001, 10))  # 101 bands
    s = make_survey(tmp_path, n=3, t=1, k=2, salary_max=1010, salary_bands=bands, dp_epsilon="4")
    m = s.manifest
    sc = m.scheme()
    spec = [(g, 7 * i % 1011) for i in range(40) for g in ("female", "male", "other")]
    rows = _shared_rows(m, [encode_submission(Record(g, v), sc, m.field_modulus) for g, v in spec])
    first = _run_parties(s.node_dirs, [m] * 3, rows, ["12" * 32] * 3, timeout=60)
    again = _run_parties(s.node_dirs, [m] * 3, rows, ["12" * 32] * 3, timeout=60)
    results = []
    for out in (first, again):
        assert all(isinstance(o, PartyOutcome) for o in out.values()), out
        vals = reconstruct_vector({i: o.shares for i, o in out.items() if isinstance(o, PartyOutcome)}, 1,
                                  m.field_modulus)
        results.append([v - m.field_modulus if v > m.field_modulus // 2 else v for v in vals])
    assert results[0] == results[1]
    got = results[0]
    K, B = sc.K, sc.B
    hist = [[sum(1 for g, v in spec if g == gender and sc.band_of(v) == b) for b in range(B)] for gender in sc.genders]
    noise = [got[3 + 6 + c * B + b] - hist[c][b] for c in range(K) for b in range(B)]
    counts_noise = [got[c] - 40 for c in range(K)]
    sums_noise = [got[3 + c] - sum(v for g, v in spec if g == sc.genders[c]) for c in range(K)]
    assert any(noise) and any(sums_noise)  # noise was added...
    budget = plan_budget(Fraction(4), 1010, 1)
    var = sum(x * x for x in noise) / len(noise)
    expected = 3 * laplace_variance(budget.scale("band_counts"))
    assert 0.6 < var / expected < 1.6, (var, expected)  # ...of the planned scale (303 draws)
    assert all(abs(x) < 60 for x in counts_noise)  # scale 1 per node: a count is never far off
    assert max(abs(x) for x in sums_noise) < 40 * 3 * float(budget.scale("sum"))


def test_mpc_with_no_submissions(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=5)
    out = _run_parties(s.node_dirs, [s.manifest] * 3, [[], [], []], ["00" * 32] * 3, timeout=60)
    outcomes = [v for v in out.values() if isinstance(v, PartyOutcome)]
    assert len(outcomes) == 3 and all(o.invalid == [] for o in outcomes)
    shares = {i: v.shares for i, v in out.items() if isinstance(v, PartyOutcome)}
    assert reconstruct_vector(shares, 1, s.manifest.field_modulus) == [0] * 12


def test_missing_peer_fails_within_timeout_with_clear_message(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1)
    rows = _shared_rows(s.manifest, _records(s.manifest, [("male", 1)]))
    out = _run_parties(s.node_dirs, [s.manifest] * 3, rows, ["cd" * 32] * 3, timeout=4, parties=[0, 1])
    for i in (0, 1):
        exc = out[i]
        assert isinstance(exc, ComputeFailed)
        assert str(exc).startswith(f"the MPC could not start: node 2 (node2, {s.manifest.nodes[2].mpc_address}) "
                                   "did not join within 4 s")
        assert "nothing was released" in str(exc)


def test_peer_with_wrong_certificate_is_refused(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1)
    m = s.manifest
    # Parties 0 and 1 expect node 2 to present node 1's certificate: node 2's real one must be refused.
    nodes = list(m.nodes)
    nodes[2] = dataclasses.replace(nodes[2], tls_cert_sha256=nodes[1].tls_cert_sha256)
    wrong = dataclasses.replace(m, nodes=tuple(nodes))
    rows = _shared_rows(m, _records(m, [("male", 1)]))
    out = _run_parties(s.node_dirs, [wrong, wrong, m], rows, ["ef" * 32] * 3, timeout=8)
    messages = [str(out[i]) for i in (0, 1)]
    assert any("claiming to be node 2 presented a certificate that is not that node's certificate" in msg
               for msg in messages), messages
    assert all(isinstance(out[i], ComputeFailed) for i in range(3))


def test_parties_with_different_submission_sets_abort(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1)
    rows = _shared_rows(s.manifest, _records(s.manifest, [("male", 1)]))
    out = _run_parties(s.node_dirs, [s.manifest] * 3, rows, ["01" * 32, "01" * 32, "02" * 32], timeout=30)
    for i in range(3):
        exc = out[i]
        assert isinstance(exc, CheatingDetected) and exc.culprits == (2,)
        assert "cheating detected: node(s) 2 entered another submission set than the others" in str(exc)


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_safe_pickle_parses_party_ids_only_and_never_unpickles(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    crafted = pickle.dumps(_Evil(str(marker)))
    refused = SafePickle.loads(crafted)
    assert isinstance(refused, Refused) and "nothing was unpickled" in refused.reason
    assert isinstance(SafePickle.loads(b"not a pickle at all"), Refused)
    assert not marker.exists()
    # MPyC's shutdown barrier sends the party id: the one message still decoded, by hand
    assert [SafePickle.loads(pickle.dumps(i)) for i in (0, 1, 7, 255)] == [0, 1, 7, 255]
    assert isinstance(SafePickle.loads(pickle.dumps([1, (2, b"x")])), Refused)  # plain data, still refused


def test_hardening_replaces_mpyc_runtime_unpickler(tmp_path: Path) -> None:
    """Inside a party process, mpyc.runtime's pickle.loads (used by mpc.transfer) is SafePickle."""
    marker = tmp_path / "pwned"
    crafted = pickle.dumps(_Evil(str(marker)))
    code = (
        "import sys; sys.argv = ['party', '--no-log']\n"
        "from mpc_nodes.mpc_program import _install_hardening, Refused\n"
        "from mpyc.runtime import mpc\n"
        "_install_hardening(['00'*32], mpc._loop, '127.0.0.1')\n"
        "import mpyc.runtime as r\n"
        "got = r.pickle.loads(bytes.fromhex(sys.stdin.read()))\n"
        "if isinstance(got, Refused):\n    print('refused:', got.reason)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=crafted.hex(), capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert "refused: not a party id" in proc.stdout, proc.stderr
    assert not marker.exists()


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.new_event_loop().run_until_complete(coro)


def _echo(frames: list[bytes], swap: dict[int, bytes] | None = None) -> bytes:
    """The echo a party sends after receiving ``frames`` (``swap``: node -> another frame it
    claims to have received from that node)."""
    def triple(frame: bytes) -> bytes:
        slen = frame[8]
        sig, view, body = frame[9: 9 + slen], frame[9 + slen: 9 + slen + 48], frame[9 + slen + 48:]
        return hashlib.sha256(body).digest() + view + bytes([slen]) + sig.ljust(80, b"\0")

    swap = swap or {}
    return b"SMP2ECHO" + (1).to_bytes(4, "big") + b"".join(triple(swap.get(j, f)) for j, f in enumerate(frames))


def _broadcast_with(chan: Any, frames: list[bytes], echoes: list[bytes]) -> RunAborted:
    """Run ``chan``'s first broadcast with scripted messages; return the detection it raised."""
    answers = iter([frames, echoes])

    async def transfer(msg: bytes, alt: Any = None) -> list[bytes]:
        return next(answers)

    chan._transfer = transfer
    with pytest.raises(RunAborted) as exc:
        _run(chan.broadcast(Round.AGREEMENT, b"payload 0"))
    return exc.value


def test_channel_names_a_forwarder_that_replays_an_earlier_runs_message(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Node 2 keeps node 1's signed message from an earlier run and forwards it in the echo, as if
    node 1 had told it something else: a stale statement names the forwarder, never node 1."""
    a, b, c = wired_channels(tmp_path, monkeypatch)
    current = b.view
    b.view = bytes(len(current))  # node 1's view in an *earlier* run: other nonces
    stale = b._frame(Round.AGREEMENT, b"earlier payload")
    b.view = current
    frames = [ch._frame(Round.AGREEMENT, f"payload {i}".encode()) for i, ch in enumerate((a, b, c))]
    caught = _broadcast_with(a, frames, [_echo(frames), _echo(frames), _echo(frames, {1: stale})])
    assert caught.culprits == (2,) and "node 2 forwarded a message that node 1 never signed in this run" in str(caught)


def test_channel_names_an_equivocating_sender_by_its_signatures(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = wired_channels(tmp_path, monkeypatch)
    frames = [ch._frame(Round.AGREEMENT, f"payload {i}".encode()) for i, ch in enumerate((a, b, c))]
    other = b._frame(Round.AGREEMENT, b"something else")  # node 1 tells node 2 another thing, signed, this run
    caught = _broadcast_with(a, frames, [_echo(frames), _echo(frames), _echo(frames, {1: other})])
    assert caught.culprits == (1,) and "node 1 sent different signed messages" in str(caught)
