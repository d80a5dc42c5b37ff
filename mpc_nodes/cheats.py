"""Deviations a node can be told to commit, for the cheating-node tests and the demo only
(``mpc-node compute --cheat STEP``, or ``STEP@J`` to aim what it sends at node J alone): what an
attacker controlling that node could do.

Each is a :class:`~mpc_nodes.channel.Channel` that overrides one of its seams (what this party
says in a round, what it sends to whom, the result share it hands over, what its stop statement
says); the honest code has no trace of them.  The party picks one only when its job names a
cheat (``mpc_program._open_channel``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol.validity import FIRST_ROUND, SECOND_ROUND, Opening
from protocol.wire import AccusationKind

from .channel import Channel
from .channel_frame import Round
from .party_job import Cheat


class CheatingChannel(Channel):
    """A channel that deviates from the protocol in one way (``p``: the survey's field;
    ``towards``: the one peer a deviation in what it sends is aimed at, None for every peer)."""

    def __init__(self, mpc: Any, certificates: Sequence[str], survey_id: str, manifest_hash: str, *, p: int,
                 towards: int | None = None) -> None:
        super().__init__(mpc, certificates, survey_id, manifest_hash)
        self.p, self.towards = p, towards

    def _aimed(self, frame: bytes, to_some: dict[int, bytes], bad: bytes) -> tuple[bytes, dict[int, bytes]]:
        """``bad`` instead of ``frame`` to every peer, or to the targeted peer only."""
        return (bad, to_some) if self.towards is None else (frame, {**to_some, self.towards: bad})

    def _add_to_element(self, payload: bytes, k: int, delta: int) -> bytes:
        """``payload`` (16-byte big-endian field elements) with ``delta`` added to element k."""
        v = (int.from_bytes(payload[16 * k: 16 * (k + 1)], "big") + delta) % self.p
        return payload[: 16 * k] + v.to_bytes(16, "big") + payload[16 * (k + 1):]


class AnotherSubmissionSet(CheatingChannel):
    """``agree``: enters another agreed digest than the one its node computed (``agree@j``:
    tells peer j alone, validly signed: an equivocation)."""

    def _other(self, payload: bytes) -> bytes:
        return hashlib.sha256(b"another submission set" + payload[:32]).digest() + payload[32:]

    def own_payload(self, rnd: Round, payload: bytes) -> bytes:
        return self._other(payload) if rnd is Round.AGREEMENT and self.towards is None else payload

    def outgoing(self, rnd: Round, payload: bytes) -> tuple[bytes, dict[int, bytes]]:
        frame, to_some = super().outgoing(rnd, payload)
        if rnd is Round.AGREEMENT and self.towards is not None:
            to_some = {**to_some, self.towards: self._frame(rnd, self._other(payload))}
        return frame, to_some


class Equivocation(CheatingChannel):
    """``equivocate``: tells its next peer another commitment than the others, validly signed."""

    def outgoing(self, rnd: Round, payload: bytes) -> tuple[bytes, dict[int, bytes]]:
        frame, to_some = super().outgoing(rnd, payload)
        if rnd is Round.AGREEMENT:
            other = payload[:32] + hashlib.sha256(b"other" + payload[32:64]).digest() + payload[64:]
            to_some = {(self.me + 1) % self.n: self._frame(rnd, other)}
        return frame, to_some


class Garbage(CheatingChannel):
    """``garbage``: random bytes instead of its validation frame (``garbage@j``: to peer j alone)."""

    def outgoing(self, rnd: Round, payload: bytes) -> tuple[bytes, dict[int, bytes]]:
        frame, to_some = super().outgoing(rnd, payload)
        return self._aimed(frame, to_some, secrets.token_bytes(len(frame))) if rnd is Round.VALIDATION \
            else (frame, to_some)


class Pickle(CheatingChannel):
    """``pickle``: a crafted pickle instead of its validation frame (it would create a marker file
    beside the party's directory if anyone unpickled it; ``pickle@j``: to peer j alone)."""

    def outgoing(self, rnd: Round, payload: bytes) -> tuple[bytes, dict[int, bytes]]:
        frame, to_some = super().outgoing(rnd, payload)
        return self._aimed(frame, to_some, crafted_pickle(Path.cwd().parent / "PWNED-by-peer-pickle")) \
            if rnd is Round.VALIDATION else (frame, to_some)


class WrongValidationShares(CheatingChannel):
    """``validate``: on every other submission, a wrong share of the consistency opening in the
    first round and of the one-hot check in the second."""

    TAMPERED = {Round.VALIDATION: (FIRST_ROUND, Opening.CONSISTENCY),
                Round.PRODUCT_CHECKS: (SECOND_ROUND, Opening.ONE_HOT)}

    def own_payload(self, rnd: Round, payload: bytes) -> bytes:
        if rnd not in self.TAMPERED:
            return payload
        columns, which = self.TAMPERED[rnd]
        rows = len(payload) // (16 * len(columns))
        for r in range(0, rows, 2):
            payload = self._add_to_element(payload, r * len(columns) + columns.index(which), 1)
        return payload


class WrongCountShare(CheatingChannel):
    """``open``: a wrong share of the first count when the counts are opened."""

    def own_payload(self, rnd: Round, payload: bytes) -> bytes:
        return self._add_to_element(payload, 0, 1 + secrets.randbelow(1000)) if rnd is Round.COUNTS else payload


class WrongResultShare(CheatingChannel):
    """``result``: a wrong share of the first released figure, sent to the analyst."""

    def result_shares(self, shares: list[int]) -> list[int]:
        return [(shares[0] + 1 + secrets.randbelow(1000)) % self.p, *shares[1:]]


class Crash(CheatingChannel):
    """``crash``: the party dies as the validation round starts (its links close at once)."""

    def own_payload(self, rnd: Round, payload: bytes) -> bytes:
        if rnd is Round.VALIDATION:
            os._exit(9)
        return payload


class Stall(CheatingChannel):
    """``stall``: the party hangs as the validation round starts, sending nothing (not even a
    heartbeat) for two stall timeouts, then dies."""

    def own_payload(self, rnd: Round, payload: bytes) -> bytes:
        if rnd is Round.VALIDATION:
            time.sleep(2 * self.links.stall)
            os._exit(9)
        return payload


class DropLink(CheatingChannel):
    """``drop@J``: closes its MPC link to node J alone (without a stop statement) as the
    validation round starts, and its stop statement then says it lost a third node: the crafted
    combination that makes each loss look explained by another when cascades are not told apart
    from first-hand losses."""

    def _victim(self) -> int:
        return self.towards if self.towards is not None else self.links.peers()[0]

    def own_payload(self, rnd: Round, payload: bytes) -> bytes:
        if rnd is Round.VALIDATION:
            transport = getattr(getattr(self.links.mpc.parties[self._victim()], "protocol", None), "transport", None)
            if transport is not None:
                transport.close()
        return payload

    def stop_claim(self, kind: AccusationKind, accused: tuple[int, ...]) -> tuple[AccusationKind, tuple[int, ...]]:
        return AccusationKind.LOST, (next(j for j in self.links.peers() if j != self._victim()),)


CHEATING_CHANNELS: dict[Cheat, type[CheatingChannel]] = {
    Cheat.AGREE: AnotherSubmissionSet,
    Cheat.EQUIVOCATE: Equivocation,
    Cheat.GARBAGE: Garbage,
    Cheat.PICKLE: Pickle,
    Cheat.VALIDATE: WrongValidationShares,
    Cheat.OPEN: WrongCountShare,
    Cheat.RESULT: WrongResultShare,
    Cheat.CRASH: Crash,
    Cheat.STALL: Stall,
    Cheat.DROP: DropLink,
}


def cheating_channel(cheat: Cheat) -> type[CheatingChannel]:
    return CHEATING_CHANNELS[cheat]


def crafted_pickle(marker: Path) -> bytes:
    """A pickle that would run ``touch marker`` if anyone unpickled it."""

    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            import os

            return (os.system, (f"touch {marker}",))

    return pickle.dumps(Evil())
