"""The MPyC program one node runs as one party of the survey computation (a subprocess).

Started by :mod:`mpc_nodes.compute` as ``python -m mpc_nodes.mpc_program JOB OUT`` with the
working directory holding ``.config/party_{pid}.crt|key`` and ``.config/mpyc_ca.crt`` (MPyC's
fixed ``--ssl`` layout).  ``mpyc.runtime`` parses ``sys.argv`` at import time, so this module
builds that argv itself from the job file and imports the runtime only inside :func:`main`.

What it computes, on secret shares only:

1. every party inputs the digest of the agreed submission set; all must be equal, or abort;
2. validation of every submission on shares (:mod:`protocol.validity`): with coefficients from
   a jointly drawn seed and PRSS masks (random degree-t, and degree-2t sharings of zero), each
   party sends every other party its masked combinations — as bytes, strictly decoded — and all
   reach the same verdict per submission without learning anything else;
3. its local share of the summed *valid* record vectors becomes a secure value (no communication);
4. per category c: ``ok_c = count_c >= k`` (secure comparison) and ``sum_c * ok_c``;
5. the output ``[count_c ..., sum_c * ok_c ...]`` is re-shared with fresh randomness and each
   party writes *its share* to OUT.  Nothing is opened to the nodes: only the analyst, holding
   all shares, learns the table.

Hardening around MPyC (pinned to mpyc 0.11):
- peers are authenticated by the SHA-256 of their TLS certificate from the manifest, on top of
  MPyC's mutual TLS (whose hostname check cannot bind party ids to our self-signed certs);
- ``pickle.loads`` inside ``mpyc.runtime`` is replaced by an unpickler that refuses every
  global, so a peer's crafted pickle cannot run code here (this program only ever transfers
  ``bytes`` and ints, and decodes the bytes strictly).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import secrets
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_PEER_IDENTITY = 3
EXIT_DISAGREEMENT = 4
EXIT_UNSAFE_MESSAGE = 5


class RefusedPickle(pickle.UnpicklingError):
    pass


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise RefusedPickle(f"refused to unpickle {module}.{name} from a peer")


@dataclass(frozen=True)
class Refused:
    """What a refused message becomes: the receiving code names the sender and aborts."""

    reason: str


class SafePickle:
    """Stand-in for the ``pickle`` module inside ``mpyc.runtime``: plain data only.

    ``loads`` never runs code: a message that needs any global (a class, a function) — or is not
    a pickle at all — becomes a :class:`Refused` marker instead, which every receiver in this
    program checks for, naming the peer that sent it.
    """

    dumps = staticmethod(pickle.dumps)
    HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL

    @staticmethod
    def loads(data: bytes) -> Any:
        try:
            return _NoGlobalsUnpickler(io.BytesIO(data)).load()
        except RefusedPickle as exc:
            return Refused(str(exc))
        except Exception as exc:  # malformed pickle: same treatment
            return Refused(f"not a valid message ({exc.__class__.__name__})")


#: Deviations a node can be told to commit, for the cheating-node tests and the demo only
#: (``mpc-node compute --cheat STEP``): what an attacker controlling that node could do.
CHEATS = ("agree", "garbage", "pickle", "result")
_FAULT_FILE = "fault.json"
CHEAT: str | None = None


def _fail(code: int, message: str, culprits: tuple[int, ...] = ()) -> None:
    """Abort this party at once; a detected deviation names the culprits in fault.json."""
    import os

    if culprits:
        Path(_FAULT_FILE).write_text(json.dumps({"culprits": list(culprits), "message": message}))
    print(f"mpc-node compute: {message}", file=sys.stderr, flush=True)
    os._exit(code)


def _install_hardening(fingerprints: list[str]) -> None:
    from mpyc import asyncoro
    import mpyc.runtime as rt_module

    rt_module.pickle = SafePickle

    original_create = ssl.create_default_context

    def create_context(purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, **kw: Any) -> ssl.SSLContext:
        ctx = original_create(purpose, **kw)
        # Party identity is checked by certificate fingerprint below; MPyC's fixed server names
        # ("MPyC party i") cannot be in certificates made before party indices were assigned.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    ssl.create_default_context = create_context

    def check_peer(transport: Any, peer_pid: int) -> None:
        obj = transport.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
        if not der or not 0 <= peer_pid < len(fingerprints) or hashlib.sha256(der).hexdigest() != fingerprints[peer_pid]:
            transport.abort()
            _fail(EXIT_PEER_IDENTITY, f"a peer claiming to be node {peer_pid} presented a certificate that is not "
                                      "that node's certificate in the manifest; aborting")

    cls = asyncoro.MessageExchanger
    orig_made, orig_received = cls.connection_made, cls.data_received

    def connection_made(self: Any, transport: Any) -> None:
        if self.peer_pid is not None:  # we are the client: we know whom we dialled
            check_peer(transport, self.peer_pid)
        orig_made(self, transport)

    def data_received(self: Any, data: bytes) -> None:
        if self.peer_pid is None and len(self.bytes) + len(data) >= 2:  # server: first bytes carry the pid
            head = (bytes(self.bytes) + bytes(data))[:2]
            check_peer(self.transport, int.from_bytes(head, "little"))
        orig_received(self, data)

    cls.connection_made = connection_made
    cls.data_received = data_received


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    job_path, out_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text())
    global CHEAT
    CHEAT = job.get("cheat")
    n, pid, t = job["n"], job["pid"], job["threshold"]
    mpyc_argv = [sys.argv[0], "-I", str(pid), "-T", str(t), "--ssl", "--no-log"]
    for addr in job["parties"]:
        mpyc_argv += ["-P", addr]
    sys.argv = mpyc_argv
    from mpyc.runtime import mpc  # parses sys.argv: must come after it is set

    _install_hardening(job["fingerprints"])
    if len(mpc.parties) != n or mpc.threshold != t or mpc.pid != pid:
        _fail(2, "MPyC did not accept the party configuration")
    X = load_matrix(job_path.parent / job["matrix_file"], int(job["rows"]), int(job["width"]),
                    int(job["field_modulus"]))
    result = mpc.run(_compute(mpc, job, X))
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(out_path)


def load_matrix(path: Path, rows: int, width: int, p: int) -> Any:
    """The node's share matrix written by mpc_nodes.compute: rows x width 16-byte big-endian
    field elements below p, as an object array of Python ints."""
    import numpy as np

    raw = np.fromfile(path, dtype=">u8") if rows else np.zeros(0, dtype=">u8")
    if raw.size != rows * width * 2:
        raise ValueError("share matrix file has the wrong size")
    hi, lo = raw[0::2], raw[1::2]
    p_hi, p_lo = p >> 64, p & ((1 << 64) - 1)
    if ((hi > p_hi) | ((hi == p_hi) & (lo >= p_lo))).any():  # vectorised range check of every element
        raise ValueError("share matrix holds an unreduced field element")
    return _join_halves(raw, rows * width).reshape(rows, width)


def _join_halves(raw: Any, count: int) -> Any:
    """(hi, lo) uint64 pairs -> object array of Python ints (tolist is C-speed; one shift-or each)."""
    import numpy as np

    pairs = raw.reshape(count, 2)
    out = np.empty(count, dtype=object)
    out[:] = [h << 64 | lo for h, lo in zip(pairs[:, 0].tolist(), pairs[:, 1].tolist())]
    return out


async def _exchange(mpc: Any, arrays: list[Any], p: int) -> list[list[Any]]:
    """Send our vectors to every party and receive theirs: fixed-width bytes, strictly decoded.

    ``mpc.transfer`` pickles, but only ``bytes`` travel here and the unpickler in this process
    refuses every global (see SafePickle): a peer can make us fail, never run code.
    """
    import numpy as np

    N = len(arrays[0])
    width = 16 * N * len(arrays)
    payload = b"VAL1" + b"".join(int(v).to_bytes(16, "big") for a in arrays for v in a)
    if CHEAT == "garbage":
        payload = secrets.token_bytes(len(payload))
    elif CHEAT == "pickle":
        _send_crafted_pickle(mpc)
    received = await mpc.transfer(payload)
    out: list[list[Any]] = []
    for pid, msg in enumerate(received):
        if isinstance(msg, Refused):
            _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {pid} sent a message that is not plain data "
                                       f"({msg.reason}); nothing was run, aborting", (pid,))
        if not isinstance(msg, bytes) or len(msg) != 4 + width or msg[:4] != b"VAL1":
            _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {pid} sent a malformed validation message; "
                                       "aborting", (pid,))
        vals = np.frombuffer(msg[4:], dtype=">u8")
        arrs = []
        for k in range(len(arrays)):
            if not N:
                arrs.append(np.zeros(0, dtype=object))
                continue
            a = _join_halves(vals[2 * N * k: 2 * N * (k + 1)], N)
            if max(a) >= p:
                _fail(EXIT_UNSAFE_MESSAGE, f"cheating detected: node {pid} sent an unreduced field element; "
                                           "aborting", (pid,))
            arrs.append(a)
        out.append(arrs)
    return out


def _send_crafted_pickle(mpc: Any) -> None:
    """Cheat "pickle": make this party's next transfer carry a pickle that would run a command."""

    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            import os

            return (os.system, (f"touch {Path.cwd().parent / 'PWNED-by-peer-pickle'}",))

    crafted = pickle.dumps(Evil())
    SafePickle.dumps = staticmethod(lambda obj, *a, **k: crafted)


async def _validate(mpc: Any, field: Any, X: Any, seed: bytes, job: dict[str, Any]) -> list[str | None]:
    """Verdict per submission (None = valid), identical at every honest party.

    Round 1 opens, per submission, the consistency combination and one combination of all
    constraints (masked); round 2 opens the per-group combinations for the submissions found
    invalid only, to give the reason.
    """
    import numpy as np
    from mpyc import thresha

    from protocol.validity import GROUPS, Layout, consistency_terms, constraint_terms, derive_challenge, verdicts

    p, t, m = field.order, mpc.threshold, len(mpc.parties)
    N = len(X)
    if N == 0:
        return []
    layout = Layout(int(job["categories"]), int(job["bits"]), int(job["salary_max"]))
    ch = derive_challenge(seed, layout, p)
    prfs = mpc.prfs(field.order)
    R = thresha.np_pseudorandom_share(field, m, mpc.pid, prfs, mpc._prss_uci(), N).value
    Z = thresha.np_pseudorandom_share_0(field, m, mpc.pid, prfs, mpc._prss_uci(), N).value
    y = (consistency_terms(X, ch, p) + R) % p
    terms = constraint_terms(X, ch, layout, p)
    w_all = (sum(terms.values()) + Z) % p  # zero iff every group holds (w.h.p. over rho)
    everyone = await _exchange(mpc, [y, w_all], p)
    first = verdicts([a[0] for a in everyone], {"all": [a[1] for a in everyone]}, t, p, groups=("all",))
    bad = [i for i, r in enumerate(first) if r == "all"]
    reasons: list[str | None] = [r if r == "consistency" else None for r in first]
    if bad:  # every honest party reaches this with the same list
        idx = np.array(bad)
        Zg = [thresha.np_pseudorandom_share_0(field, m, mpc.pid, prfs, mpc._prss_uci(), len(bad)).value
              for _ in GROUPS]
        per = [(terms[g][idx] + z) % p for g, z in zip(GROUPS, Zg)]
        again = await _exchange(mpc, per, p)
        second = verdicts([np.zeros(len(bad), dtype=object)] * len(everyone),
                          {g: [a[k] for a in again] for k, g in enumerate(GROUPS)}, t, p)
        for i, r in zip(bad, second):
            reasons[i] = r or "one-hot"  # a nonzero sum has a nonzero part (w.h.p.)
    return reasons


async def _compute(mpc: Any, job: dict[str, Any], X: Any) -> dict[str, Any]:
    import numpy as np

    p = int(job["field_modulus"])
    k = int(job["min_group_size"])
    secint = mpc.SecInt(64, p=p)
    field = secint.field
    everyone = list(range(len(mpc.parties)))
    await mpc.start()
    # 1. Same submission set everywhere (defence in depth; agreement already compared digests).
    digest = int(job["agreed_digest"], 16) % (1 << 120)
    if CHEAT == "agree":
        digest ^= 1  # as if this node had agreed on another submission set
    digests = [int(d) for d in await mpc.output(mpc.input(secint(field(digest)), senders=everyone))]
    if len(set(digests)) != 1:
        from protocol.wire import majority_outliers

        odd = majority_outliers(digests)
        who = (f"cheating detected: node(s) {', '.join(map(str, odd))} entered another submission set than the "
               "others" if odd else "the nodes computed over different submission sets")
        _fail(EXIT_DISAGREEMENT, f"{who}; aborting before any result", odd)
    # 2. Validation challenge seed: drawn jointly now that the submissions are fixed.
    coin = await mpc.output(mpc.sum(mpc.input(secint(field(secrets.randbits(120))), senders=everyone)))
    seed = (int(coin) % p).to_bytes(16, "big") + bytes.fromhex(job["agreed_digest"])
    reasons = await _validate(mpc, field, X, seed, job)
    # 3. This party's shares of the totals over the valid submissions only.
    agg = 2 * int(job["categories"])
    valid = np.array([r is None for r in reasons], dtype=bool)
    local = [int(v) % p for v in X[valid, :agg].sum(axis=0)] if valid.any() else [0] * agg
    totals = [secint(field(int(v))) for v in local]
    counts, sums = totals[0::2], totals[1::2]
    # 4. Disclosure rule inside the MPC: a group below k releases its count but no salary figure.
    ok = [c >= k for c in counts]
    masked = mpc.schur_prod(sums, ok)
    # 5. Fresh degree-t randomisation of everything released, then keep our own share only.
    out = mpc._reshare(counts + masked)
    shares = await mpc.gather(out)
    # A public id for this run (sum of every party's random nonce): the nodes commit the result
    # only when all of them hold shares of the same run (see mpc_nodes/compute.py).
    nonce = secint(field(secrets.randbits(100)))
    run_id = await mpc.output(mpc.sum(mpc.input(nonce, senders=everyone)))
    await mpc.shutdown()
    mine_out = [s.value % p for s in shares]
    if CHEAT == "result":
        mine_out[0] = (mine_out[0] + 1 + secrets.randbelow(1000)) % p  # a wrong share sent to the analyst
    return {"pid": mpc.pid, "result_shares": [str(v) for v in mine_out],
            "run_id": f"{int(run_id) % p:032x}",
            "invalid": [[i, r] for i, r in enumerate(reasons) if r is not None]}


if __name__ == "__main__":
    main()
