"""The MPyC party program, run as real processes over mutually authenticated TLS.

These call :func:`mpc_nodes.compute.run_mpc` directly (no HTTP), one thread per party, each
thread supervising its own MPyC subprocess.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import make_survey
from mpc_nodes.compute import run_mpc
from mpc_nodes.mpc_program import RefusedPickle, SafePickle
from protocol.errors import ComputeFailed
from protocol.field import reconstruct_vector, share_vector
from protocol.manifest import Manifest

pytestmark = pytest.mark.slow


def _run_parties(node_dirs: list[Path], manifests: list[Manifest], totals: list[list[int]], digests: list[str],
                 timeout: float, parties: list[int] | None = None) -> dict[int, list[int] | Exception]:
    results: dict[int, list[int] | Exception] = {}
    runs: set[str] = set()

    def one(i: int) -> None:
        try:
            results[i], run_id = run_mpc(node_dirs[i], manifests[i], i, totals[i], digests[i], timeout)
            runs.add(run_id)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in (parties if parties is not None else range(len(node_dirs)))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(runs) <= 1, f"parties of one run disagree on its id: {runs}"
    return results


@pytest.mark.parametrize("n,t", [(3, 1), (5, 2)])
def test_mpc_releases_shares_of_counts_and_suppressed_sums(tmp_path: Path, n: int, t: int) -> None:
    s = make_survey(tmp_path, n=n, t=t, k=5)
    m = s.manifest
    counts, sums = [12, 3, 5], [12 * 4000 + 17, 3 * 3000, 5 * 4100 + 2]
    vec = [v for pair in zip(counts, sums) for v in pair]
    local = share_vector(vec, n, t, m.field_modulus)
    out = _run_parties(s.node_dirs, [m] * n, local, ["ab" * 32] * n, timeout=60)
    assert all(isinstance(v, list) for v in out.values()), out
    shares = {i: v for i, v in out.items() if isinstance(v, list)}
    result = reconstruct_vector(shares, t, m.field_modulus)
    # counts are released; the sum of the group below k=5 is zeroed inside the MPC
    assert result == counts + [sums[0], 0, sums[2]]
    # every party's output is a fresh sharing, not its input share carried over
    assert all(shares[i][0] != local[i][0] for i in range(n))


def test_missing_peer_fails_within_timeout_with_clear_message(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1)
    local = share_vector([1, 2, 3, 4, 5, 6], 3, 1, s.manifest.field_modulus)
    out = _run_parties(s.node_dirs, [s.manifest] * 3, local, ["cd" * 32] * 3, timeout=4, parties=[0, 1])
    for i in (0, 1):
        exc = out[i]
        assert isinstance(exc, ComputeFailed)
        assert "did not complete within 4 s: a peer is missing or stalled" in str(exc)
        assert "nothing was released" in str(exc)


def test_peer_with_wrong_certificate_is_refused(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1)
    m = s.manifest
    # Parties 0 and 1 expect node 2 to present node 1's certificate: node 2's real one must be refused.
    nodes = list(m.nodes)
    nodes[2] = dataclasses.replace(nodes[2], tls_cert_sha256=nodes[1].tls_cert_sha256)
    wrong = dataclasses.replace(m, nodes=tuple(nodes))
    local = share_vector([1, 2, 3, 4, 5, 6], 3, 1, m.field_modulus)
    out = _run_parties(s.node_dirs, [wrong, wrong, m], local, ["ef" * 32] * 3, timeout=8)
    messages = [str(out[i]) for i in (0, 1)]
    assert any("claiming to be node 2 presented a certificate that is not that node's certificate" in msg
               for msg in messages), messages
    assert all(isinstance(out[i], ComputeFailed) for i in range(3))


def test_parties_with_different_submission_sets_abort(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1)
    local = share_vector([1, 2, 3, 4, 5, 6], 3, 1, s.manifest.field_modulus)
    out = _run_parties(s.node_dirs, [s.manifest] * 3, local, ["01" * 32, "01" * 32, "02" * 32], timeout=30)
    for i in range(3):
        assert isinstance(out[i], ComputeFailed)
        assert "different submission sets; aborting before any result" in str(out[i])


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_safe_pickle_refuses_code_and_accepts_plain_data(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    crafted = pickle.dumps(_Evil(str(marker)))
    with pytest.raises(RefusedPickle, match="refused to unpickle"):
        SafePickle.loads(crafted)
    assert not marker.exists()
    assert SafePickle.loads(pickle.dumps([1, (2, b"x"), {"a": 3}])) == [1, (2, b"x"), {"a": 3}]


def test_hardening_replaces_mpyc_runtime_unpickler(tmp_path: Path) -> None:
    """Inside a party process, mpyc.runtime's pickle.loads (used by mpc.transfer) refuses globals."""
    marker = tmp_path / "pwned"
    crafted = pickle.dumps(_Evil(str(marker)))
    code = (
        "import sys; sys.argv = ['party', '--no-log']\n"
        "from mpc_nodes.mpc_program import _install_hardening, RefusedPickle\n"
        "from mpyc.runtime import mpc\n"
        "_install_hardening(['00'*32])\n"
        "import mpyc.runtime as r\n"
        "try:\n    r.pickle.loads(bytes.fromhex(sys.stdin.read()))\nexcept RefusedPickle as e:\n    print('refused:', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=crafted.hex(), capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert "refused: refused to unpickle posix.system" in proc.stdout or \
           "refused: refused to unpickle os.system" in proc.stdout, proc.stderr
    assert not marker.exists()
