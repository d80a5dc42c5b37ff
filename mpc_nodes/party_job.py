"""The contract between ``mpc-node compute`` and its MPC party process (:mod:`mpc_nodes.mpc_program`).

The node writes ``party.json`` (:class:`PartyConfig`) when it starts the party, and
``job.json`` (:class:`PartyJob`) when it says "go"; the party writes ``out.json``
(:class:`PartyOutcome`), or ``fault.json`` (:class:`PartyFault`) when it caught a deviation.
Each is a frozen dataclass with ``to_json()`` and one parser, ``parse()``, which checks every
field's type and raises :class:`PartyFileError` naming the first bad one.

Imported by both sides, so it uses the standard library only: ``mpc-node compute`` must not
import MPyC or asyncio (tests/test_architecture.py checks what it imports).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from protocol.encoding import Scheme
    from protocol.validity import Reason

T = TypeVar("T")


class PartyFileError(ValueError):
    """A party file that is not what the other side writes."""


class Cheat(StrEnum):
    """A deviation a node can be told to commit, for the cheating-node tests and the demo only
    (``mpc-node compute --cheat STEP``; :mod:`mpc_nodes.cheats` implements each)."""

    AGREE = "agree"  # enter another submission set
    EQUIVOCATE = "equivocate"  # tell one peer something else, validly signed
    GARBAGE = "garbage"  # random bytes instead of a frame
    PICKLE = "pickle"  # a crafted pickle instead of a frame
    VALIDATE = "validate"  # wrong shares in the validation openings
    OPEN = "open"  # a wrong share when the counts are opened
    RESULT = "result"  # a wrong result share to the analyst
    CRASH = "crash"  # its party dies when the validation round starts
    STALL = "stall"  # its party hangs when the validation round starts (for two stall timeouts, then dies)
    DROP = "drop"  # drop its link to one peer when the validation round starts, then say it lost a third


# -- strict field readers: each raises PartyFileError("<what>: field 'x' ...") --

def _object(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise PartyFileError(f"{what}: not a JSON object")
    return obj


def _field(obj: dict[str, Any], key: str, typ: type[T], what: str) -> T:
    if key not in obj:
        raise PartyFileError(f"{what}: field {key!r} is missing")
    val = obj[key]
    if not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
        raise PartyFileError(f"{what}: field {key!r} must be of type {typ.__name__}, not {type(val).__name__}")
    return val


def _optional(obj: dict[str, Any], key: str, typ: type[T], what: str) -> T | None:
    return None if obj.get(key) is None else _field(obj, key, typ, what)


def _items(obj: dict[str, Any], key: str, typ: type[T], what: str) -> tuple[T, ...]:
    vals = _field(obj, key, list, what)
    if not all(isinstance(v, typ) and not (typ is int and isinstance(v, bool)) for v in vals):
        raise PartyFileError(f"{what}: field {key!r} must be a list of {typ.__name__}")
    return tuple(vals)


def _hex(obj: dict[str, Any], key: str, what: str, size: int | None = None) -> bytes:
    text = _field(obj, key, str, what)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise PartyFileError(f"{what}: field {key!r} is not hex") from None
    if size is not None and len(raw) != size:
        raise PartyFileError(f"{what}: field {key!r} must hold {size} bytes, not {len(raw)}")
    return raw


def _number(obj: dict[str, Any], key: str, what: str) -> float:
    val = _field(obj, key, object, what)
    if not isinstance(val, (int, float)) or isinstance(val, bool):
        raise PartyFileError(f"{what}: field {key!r} must be a number")
    return float(val)


def _decimal(obj: dict[str, Any], key: str, what: str) -> int:
    text = _field(obj, key, str, what)
    if not text.isdigit():
        raise PartyFileError(f"{what}: field {key!r} is not a decimal integer")
    return int(text)


def _load(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except ValueError:
        raise PartyFileError(f"{what}: not JSON") from None
    return _object(obj, what)


# -- party.json --

@dataclass(frozen=True)
class PartyConfig:
    """Who the parties are and how to authenticate them: what the party needs to start MPyC
    before the job is known (``party.json``, and again inside the job)."""

    n: int
    pid: int  # this party's index
    threshold: int
    parties: tuple[str, ...]  # host:port of every party's MPC link
    fingerprints: tuple[str, ...]  # SHA-256 (hex) of every party's TLS certificate
    listen_host: str | None = None  # the address its MPC port binds (None: the host of its own address)
    stall_timeout: float = 120.0  # seconds a peer may send nothing before the run fails naming it
    excluded: tuple[int, ...] = ()  # parties left out of this run (named for a deviation, or lost): erasures

    def to_obj(self) -> dict[str, Any]:
        return {"n": self.n, "pid": self.pid, "threshold": self.threshold, "parties": list(self.parties),
                "fingerprints": list(self.fingerprints), "listen_host": self.listen_host,
                "stall_timeout": self.stall_timeout, "excluded": list(self.excluded)}

    def to_json(self) -> str:
        return json.dumps(self.to_obj())

    def bind_host(self) -> str:
        """The address this party's MPC server listens on: :attr:`listen_host`, or the host part of
        its own address (``[...]`` stripped from an IPv6 literal)."""
        if self.listen_host is not None:
            return self.listen_host
        host = self.parties[self.pid].rsplit(":", 1)[0]
        return host[1:-1] if host.startswith("[") and host.endswith("]") else host

    @staticmethod
    def from_obj(obj: Any, what: str = "party configuration") -> PartyConfig:
        d = _object(obj, what)
        cfg = PartyConfig(_field(d, "n", int, what), _field(d, "pid", int, what), _field(d, "threshold", int, what),
                          _items(d, "parties", str, what), _items(d, "fingerprints", str, what),
                          _optional(d, "listen_host", str, what), _number(d, "stall_timeout", what),
                          _items(d, "excluded", int, what) if "excluded" in d else ())
        if not (0 <= cfg.pid < cfg.n and len(cfg.parties) == len(cfg.fingerprints) == cfg.n and cfg.threshold >= 0):
            raise PartyFileError(f"{what}: pid, threshold and the lists of parties and fingerprints do not fit n")
        if not all(0 <= j < cfg.n and j != cfg.pid for j in cfg.excluded) or len(set(cfg.excluded)) != len(cfg.excluded):
            raise PartyFileError(f"{what}: field 'excluded' must list other parties, each once")
        if not cfg.stall_timeout > 0:
            raise PartyFileError(f"{what}: field 'stall_timeout' must be positive")
        return cfg

    @staticmethod
    def parse(text: str | bytes) -> PartyConfig:
        return PartyConfig.from_obj(_load(text, "party configuration"))


# -- job.json and its parts --

@dataclass(frozen=True)
class SchemeSpec:
    """The survey's record scheme (:class:`protocol.encoding.Scheme`), as the manifest gives it;
    the last five fields only for a complete survey (0 and () otherwise, and then absent from the
    JSON)."""

    genders: tuple[str, ...]
    jobs: tuple[str, ...]
    bands: tuple[int, ...]
    salary_max: int
    variable_max: int = 0
    variable_bands: tuple[int, ...] = ()
    hours_max: int = 0
    hourly_max: int = 0
    hourly_bands: tuple[int, ...] = ()

    def scheme(self) -> Scheme:
        from protocol.encoding import Scheme

        return Scheme.of(self.genders, self.salary_max, self.jobs, self.bands, variable_max=self.variable_max,
                         variable_bands=self.variable_bands, hours_max=self.hours_max, hourly_max=self.hourly_max,
                         hourly_bands=self.hourly_bands)

    def to_obj(self) -> dict[str, Any]:
        out: dict[str, Any] = {"genders": list(self.genders), "jobs": list(self.jobs), "bands": list(self.bands),
                               "salary_max": self.salary_max}
        for name in _COMPLETE_FIELDS:
            value = getattr(self, name)
            if value:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @staticmethod
    def from_obj(obj: Any, what: str = "job scheme") -> SchemeSpec:
        d = _object(obj, what)
        more: dict[str, Any] = {}
        for name in _COMPLETE_FIELDS:
            if name in d:
                more[name] = _items(d, name, int, what) if name.endswith("bands") else _field(d, name, int, what)
        return SchemeSpec(_items(d, "genders", str, what), _items(d, "jobs", str, what), _items(d, "bands", int, what),
                          _field(d, "salary_max", int, what), **more)


_COMPLETE_FIELDS = ("variable_max", "variable_bands", "hours_max", "hourly_max", "hourly_bands")


@dataclass(frozen=True)
class BucketFiles:
    """Share bucket files in the party's directory (``compute.write_share_buckets``): bucket b
    holds rows [b * bucket_rows, (b + 1) * bucket_rows), each with its row number."""

    files: tuple[str, ...]
    bucket_rows: int


@dataclass(frozen=True)
class MatrixFile:
    """One share matrix file in the party's directory, rows in agreed order."""

    name: str


ShareFiles = BucketFiles | MatrixFile


def _shares_obj(shares: ShareFiles) -> dict[str, Any]:
    if isinstance(shares, BucketFiles):
        return {"buckets": {"files": list(shares.files), "bucket_rows": shares.bucket_rows}}
    return {"matrix_file": shares.name}


def _shares_from(obj: dict[str, Any], what: str) -> ShareFiles:
    if ("buckets" in obj) == ("matrix_file" in obj):
        raise PartyFileError(f"{what}: exactly one of 'buckets' and 'matrix_file' is needed")
    if "matrix_file" in obj:
        return MatrixFile(_field(obj, "matrix_file", str, what))
    b = _field(obj, "buckets", dict, what)
    return BucketFiles(_items(b, "files", str, f"{what} buckets"), _field(b, "bucket_rows", int, f"{what} buckets"))


@dataclass(frozen=True)
class DpSpec:
    """Differential privacy: the budget, and this node's secret seed for its noise draws."""

    epsilon: str  # as the manifest writes it (protocol.dp.parse_epsilon reads it)
    seed: bytes


@dataclass(frozen=True)
class CertificateLookup:
    """Where the party finds this node's stored certificates of the rows it must reveal: the
    agreed ids in order (16 bytes each, in the party's directory) and the node's database,
    opened read-only."""

    ids_file: str
    store: str


@dataclass(frozen=True)
class SetStatement:
    """A node's signed digest of its frozen submission set, as this node fetched it."""

    digest: bytes  # 32 bytes
    signature: bytes


@dataclass(frozen=True)
class PartyJob:
    """Everything the party computes from, besides its share files and TLS material."""

    party: PartyConfig
    survey_id: str
    manifest_hash: str  # hex
    certificates: tuple[str, ...]  # every node's TLS certificate (PEM): verifies their signed messages
    field_modulus: int
    min_group_size: int
    scheme: SchemeSpec
    shares: ShareFiles
    rows: int
    width: int
    agreed_digest: bytes  # 32 bytes: digest of the agreed submission set
    set_statements: tuple[SetStatement, ...] = ()  # one per node; empty in tests that run the party alone
    certificate_lookup: CertificateLookup | None = None
    dp: DpSpec | None = None
    batch_rows: int | None = None  # rows read at a time (None: the party's default)
    cheat: Cheat | None = None
    cheat_towards: int | None = None  # the one peer the deviation is aimed at (None: every peer)
    attempt: int = 0  # this run's attempt number over the frozen set (mpc_nodes.dispute.Attempt)
    sequence: int = 0  # the sequence number of its stop statement, if it stops (0: it sends none)

    def to_json(self) -> str:
        return json.dumps({
            "party": self.party.to_obj(), "survey_id": self.survey_id, "manifest_hash": self.manifest_hash,
            "certificates": list(self.certificates), "field_modulus": str(self.field_modulus),
            "min_group_size": self.min_group_size, "scheme": self.scheme.to_obj(), **_shares_obj(self.shares),
            "rows": self.rows, "width": self.width, "agreed_digest": self.agreed_digest.hex(),
            "set_statements": [{"digest": s.digest.hex(), "signature": base64.b64encode(s.signature).decode()}
                               for s in self.set_statements],
            "certificate_lookup": None if self.certificate_lookup is None else
            {"ids_file": self.certificate_lookup.ids_file, "store": self.certificate_lookup.store},
            "dp": None if self.dp is None else {"epsilon": self.dp.epsilon, "seed": self.dp.seed.hex()},
            "batch_rows": self.batch_rows, "cheat": None if self.cheat is None else self.cheat.value,
            "cheat_towards": self.cheat_towards, "attempt": self.attempt, "sequence": self.sequence,
        })

    @staticmethod
    def parse(text: str | bytes) -> PartyJob:
        what = "party job"
        d = _load(text, what)
        lookup, dp = _optional(d, "certificate_lookup", dict, what), _optional(d, "dp", dict, what)
        cheat = _optional(d, "cheat", str, what)
        if cheat is not None and cheat not in {c.value for c in Cheat}:
            raise PartyFileError(f"{what}: field 'cheat' names no deviation: {cheat!r}")
        return PartyJob(
            party=PartyConfig.from_obj(_field(d, "party", dict, what), f"{what} party"),
            survey_id=_field(d, "survey_id", str, what), manifest_hash=_field(d, "manifest_hash", str, what),
            certificates=_items(d, "certificates", str, what), field_modulus=_decimal(d, "field_modulus", what),
            min_group_size=_field(d, "min_group_size", int, what),
            scheme=SchemeSpec.from_obj(_field(d, "scheme", dict, what)), shares=_shares_from(d, what),
            rows=_field(d, "rows", int, what), width=_field(d, "width", int, what),
            agreed_digest=_hex(d, "agreed_digest", what, 32),
            set_statements=tuple(_set_statement(s) for s in _items(d, "set_statements", dict, what)),
            certificate_lookup=None if lookup is None else CertificateLookup(
                _field(lookup, "ids_file", str, f"{what} certificate lookup"),
                _field(lookup, "store", str, f"{what} certificate lookup")),
            dp=None if dp is None else DpSpec(_field(dp, "epsilon", str, f"{what} dp"),
                                              _hex(dp, "seed", f"{what} dp", 32)),
            batch_rows=_optional(d, "batch_rows", int, what), cheat=None if cheat is None else Cheat(cheat),
            cheat_towards=_optional(d, "cheat_towards", int, what), attempt=_field(d, "attempt", int, what),
            sequence=_field(d, "sequence", int, what))


def _set_statement(obj: dict[str, Any]) -> SetStatement:
    what = "party job set statement"
    try:
        sig = base64.b64decode(_field(obj, "signature", str, what).encode(), validate=True)
    except (binascii.Error, ValueError):
        raise PartyFileError(f"{what}: field 'signature' is not base64") from None
    return SetStatement(_hex(obj, "digest", what, 32), sig)


# -- out.json and fault.json --

@dataclass(frozen=True)
class PartyOutcome:
    """What the party computed: this node's result shares and what it found."""

    shares: list[int]  # this node's shares of the release vector (0 where a figure is suppressed)
    run_id: str  # public: the same at every party of one run
    invalid: list[tuple[int, Reason]]  # (row in the agreed order, reason) of submissions that failed validation
    off_polynomial: dict[int, list[int]]  # rejected row -> nodes whose opening shares were off ([] if not located)
    corrected: list[int]  # nodes caught sending wrong shares whose error was corrected (n >= 3t+1)
    seconds: dict[str, float]  # phase timings inside the party
    peak_rss_mb: float  # the party process's peak resident memory

    def to_json(self) -> str:
        return json.dumps({
            "result_shares": [str(v) for v in self.shares], "run_id": self.run_id,
            "invalid": [[i, r.value] for i, r in self.invalid],
            "off_polynomial": [[i, who] for i, who in sorted(self.off_polynomial.items())],
            "corrected": self.corrected, "seconds": self.seconds, "peak_rss_mb": self.peak_rss_mb})

    @staticmethod
    def parse(text: str | bytes) -> PartyOutcome:
        from protocol.validity import Reason

        what = "party outcome"
        d = _load(text, what)
        shares = _items(d, "result_shares", str, what)
        if not all(s.isdigit() for s in shares):
            raise PartyFileError(f"{what}: field 'result_shares' must hold decimal integers")
        invalid, off = [], {}
        for item in _items(d, "invalid", list, what):
            if len(item) != 2 or not isinstance(item[0], int) or item[1] not in {r.value for r in Reason}:
                raise PartyFileError(f"{what}: field 'invalid' must hold [row, reason] pairs")
            invalid.append((item[0], Reason(item[1])))
        for item in _items(d, "off_polynomial", list, what):
            if len(item) != 2 or not isinstance(item[0], int) or not isinstance(item[1], list) \
                    or not all(isinstance(j, int) for j in item[1]):
                raise PartyFileError(f"{what}: field 'off_polynomial' must hold [row, [node, ...]] pairs")
            off[item[0]] = list(item[1])
        seconds = _field(d, "seconds", dict, what)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seconds.values()):
            raise PartyFileError(f"{what}: field 'seconds' must map phases to numbers")
        return PartyOutcome([int(s) for s in shares], _field(d, "run_id", str, what), invalid, off,
                            list(_items(d, "corrected", int, what)), {str(k): float(v) for k, v in seconds.items()},
                            _number(d, "peak_rss_mb", what))


#: where the party records its stop statement, in its working directory, before sending it
STOP_FILE = "stop.json"


@dataclass(frozen=True)
class StopRecord:
    """What a party that stopped told its peers (``stop.json``, written before it sends anything):
    its signed stop statement, and the peer's statement it followed ("" if none); JSON of
    :class:`protocol.wire.Accusation`, which the node publishes in the dispute as they are."""

    statement: str
    followed: str = ""

    def to_json(self) -> str:
        return json.dumps({"statement": self.statement, "followed": self.followed})

    @staticmethod
    def parse(text: str | bytes) -> StopRecord:
        what = "stop record"
        d = _load(text, what)
        return StopRecord(_field(d, "statement", str, what), _field(d, "followed", str, what))


class FaultKind(StrEnum):
    """Why a party ended without a result (:class:`PartyFault`)."""

    DEVIATION = "deviation"  # a peer deviated from the protocol (``culprits``: those proven to have)
    NOT_JOINED = "not-joined"  # peers did not connect within the stall timeout
    SILENT = "silent"  # peers sent nothing for the stall timeout in the middle of the run
    LINK_LOST = "link-lost"  # peers' links closed in the middle of the run, without a stop statement
    FOLLOWED = "followed"  # a peer stopped the run and sent its signed stop statement (``peers``: that peer)
    SETUP = "setup"  # this party could not start (e.g. its MPC port could not be bound)


@dataclass(frozen=True)
class PartyFault:
    """Why the party exits without a result: a deviation it detected, or peers it lost."""

    message: str  # one line, for the operator
    culprits: tuple[int, ...]  # the nodes proven to have deviated (empty if they cannot be told)
    kind: FaultKind = FaultKind.DEVIATION
    peers: tuple[int, ...] = ()  # the peers that did not join, fell silent or dropped their links

    def to_json(self) -> str:
        return json.dumps({"message": self.message, "culprits": list(self.culprits), "kind": self.kind.value,
                           "peers": list(self.peers)})

    @staticmethod
    def parse(text: str | bytes) -> PartyFault:
        what = "party fault"
        d = _load(text, what)
        kind = _field(d, "kind", str, what)
        if kind not in {k.value for k in FaultKind}:
            raise PartyFileError(f"{what}: field 'kind' names no fault: {kind!r}")
        return PartyFault(_field(d, "message", str, what), _items(d, "culprits", int, what), FaultKind(kind),
                          _items(d, "peers", int, what))
