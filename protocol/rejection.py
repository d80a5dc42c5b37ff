"""Why a node refuses a request, and the one way each refusal travels on the wire.

A node's error answer is ``{"error": <name>, "detail": <one line>, "reason": <RejectionReason>}``
with the reason's HTTP status.  ``error`` is the name of an exception class of
:mod:`protocol.errors` (clients map it back to that class); ``reason`` says which check refused
the request, finer than the class.  A :class:`RejectionReason` is a verdict on the request:
retrying the same request cannot help.  A :class:`Deferral` is not: the node did not look at the
request, and says with ``Retry-After`` when to send it again.

Exceptions carry their reason (:attr:`protocol.errors.SurveyError.reason`): a check either raises
``RejectionReason.X.exception(detail)``, or its caller tags what it raised with
:func:`refused_as`, so that the server turns any refusal into its answer in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from .errors import (
    DecryptionFailed,
    DuplicateSubmission,
    InvalidSubmission,
    InvalidToken,
    NotComputed,
    PayloadTooLarge,
    SurveyClosed,
    SurveyError,
    TokenUsed,
    TryLater,
    UnknownSurvey,
)


class RejectionReason(StrEnum):
    """Every way the node's API refuses a request.  All but the last three refuse an upload (one
    record or a batch); the order in which a node runs those checks is the node's, not this list's."""

    BODY_TOO_LARGE = "body-too-large"  # above the endpoint's size limit
    UNKNOWN_SURVEY = "unknown-survey"  # no survey with that id at this node
    MALFORMED_BODY = "malformed-body"  # not JSON, not the strict schema, or a bad binary batch body
    BAD_BASE64 = "bad-base64"  # a binary field of a JSON body is not standard base64
    CERTIFICATE_MALFORMED = "certificate-malformed"  # wrong length or layout (key, signature, commitments)
    ID_NOT_BOUND = "id-not-bound-to-key"  # the submission id is not the hash of the certificate's key
    SIGNATURE_INVALID = "signature-invalid"  # the certificate's (or the batch's) signature does not verify
    ENVELOPE_DOES_NOT_OPEN = "envelope-does-not-open"  # HPKE open fails: tampered, truncated, another context
    SHARE_MALFORMED = "share-malformed"  # opens, but the wrong format or number of entries
    UNREDUCED_ELEMENT = "unreduced-element"  # opens, but an entry is not a reduced field element
    SHARE_NOT_COMMITTED = "share-not-committed"  # the share is not the one the contributor committed to
    TOKEN_REPEATED = "token-repeated"  # a batch names one participation token twice
    DUPLICATE_ID = "duplicate-id"  # the submission id is stored with other content
    SURVEY_CLOSED = "survey-closed"  # the survey accepts no more submissions
    UNKNOWN_TOKEN = "unknown-token"  # no such participation token for this survey
    TOKEN_USED = "token-used"  # the token has a submission and the upload did not ask to replace it
    CREDENTIAL_REFUSED = "credential-refused"  # analyst credential or node signature missing or wrong
    SURVEY_PURGED = "survey-purged"  # the survey's shares are deleted: no submission ids to list
    NOT_COMPUTED = "not-computed"  # no committed result to serve yet

    @property
    def wire(self) -> WireError:
        return WIRE[self]

    def exception(self, detail: str) -> SurveyError:
        """The exception that refuses a request for this reason, with a one-line ``detail``."""
        exc = self.wire.exception(detail)
        exc.reason = self
        return exc


@dataclass(frozen=True)
class WireError:
    """How a refusal is answered: HTTP status and the exception class named in ``error``."""

    status: int
    exception: type[SurveyError]

    @property
    def name(self) -> str:
        return self.exception.__name__


_R = RejectionReason
#: The one mapping of every reason to the wire.
WIRE: dict[RejectionReason, WireError] = {
    _R.BODY_TOO_LARGE: WireError(413, PayloadTooLarge),
    _R.UNKNOWN_SURVEY: WireError(404, UnknownSurvey),
    _R.MALFORMED_BODY: WireError(400, InvalidSubmission),
    _R.BAD_BASE64: WireError(400, InvalidSubmission),
    _R.CERTIFICATE_MALFORMED: WireError(400, InvalidSubmission),
    _R.ID_NOT_BOUND: WireError(400, InvalidSubmission),
    _R.SIGNATURE_INVALID: WireError(400, InvalidSubmission),
    _R.ENVELOPE_DOES_NOT_OPEN: WireError(400, DecryptionFailed),
    _R.SHARE_MALFORMED: WireError(400, InvalidSubmission),
    _R.UNREDUCED_ELEMENT: WireError(400, InvalidSubmission),
    _R.SHARE_NOT_COMMITTED: WireError(400, InvalidSubmission),
    _R.TOKEN_REPEATED: WireError(403, InvalidToken),
    _R.DUPLICATE_ID: WireError(409, DuplicateSubmission),
    _R.SURVEY_CLOSED: WireError(409, SurveyClosed),
    _R.UNKNOWN_TOKEN: WireError(403, InvalidToken),
    _R.TOKEN_USED: WireError(409, TokenUsed),
    _R.CREDENTIAL_REFUSED: WireError(403, InvalidToken),
    _R.SURVEY_PURGED: WireError(409, SurveyClosed),
    _R.NOT_COMPUTED: WireError(404, NotComputed),
}


class Deferral(StrEnum):
    """Why a node did not look at a request: each is answered with ``Retry-After`` and clears by
    itself, so clients retry (after that many seconds) instead of reporting a refusal."""

    BUSY = "node-busy"  # too many request bodies held in memory at once (the node's, or this address's share)
    TOO_MANY_FAILURES = "too-many-failures"  # this client address's recent failed requests used its allowance
    BODY_STALLED = "body-stalled"  # the request body stopped arriving

    @property
    def wire(self) -> WireError:
        return DEFERRAL_WIRE[self]


#: The one mapping of every deferral to the wire.
DEFERRAL_WIRE: dict[Deferral, WireError] = {
    Deferral.BUSY: WireError(503, TryLater),
    Deferral.TOO_MANY_FAILURES: WireError(429, TryLater),
    Deferral.BODY_STALLED: WireError(408, TryLater),
}


@contextmanager
def refused_as(*reasons: RejectionReason) -> Iterator[None]:
    """Tag a :class:`SurveyError` raised inside that carries no reason yet with the one of
    ``reasons`` whose exception class it is exactly (for checks that do not name their reason
    themselves); anything else passes through unchanged."""
    try:
        yield
    except SurveyError as exc:
        if exc.reason is None:
            exc.reason = next((r for r in reasons if type(exc) is r.wire.exception), None)
        raise
