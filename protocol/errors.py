"""The project's small, flat set of exceptions.

Every error a user can meet derives from :class:`SurveyError`; CLIs print its message on one
line and exit non-zero.  Messages say what is wrong and what to do, and never contain a share,
a salary, a token or a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rejection import RejectionReason


class SurveyError(Exception):
    """Base class: a problem the user can act on (printed without a traceback).  ``reason``: the
    check of the node's API that refused a request, if this is such a refusal (protocol.rejection)."""

    reason: RejectionReason | None = None


class UnknownSurvey(SurveyError):
    """No survey with that id here (HTTP 404)."""


class InvalidSubmission(SurveyError):
    """A record or an upload is malformed, out of range, or not for this survey/node."""


class DuplicateSubmission(InvalidSubmission):
    """A submission id was reused with different content (HTTP 409)."""


class PayloadTooLarge(InvalidSubmission):
    """A request body is above the endpoint's size limit (HTTP 413)."""


class InvalidManifest(SurveyError):
    """A manifest is malformed, inconsistent, or differs between nodes."""


class InvalidToken(SurveyError):
    """A participation token or an analyst credential is missing, unknown or already used."""


class TokenUsed(InvalidToken):
    """The token already has a submission and the upload did not ask to replace it (HTTP 409)."""


class SurveyClosed(SurveyError):
    """The survey no longer accepts submissions (or is not closed yet, for compute)."""


class NotComputed(SurveyError):
    """A node holds no committed result for the survey yet (HTTP 404)."""


class DecryptionFailed(SurveyError):
    """A sealed envelope could not be opened: tampered, truncated, or bound to another context."""


class InconsistentShares(SurveyError):
    """Shares do not lie on one polynomial of the agreed degree."""


class CheatingDetected(SurveyError):
    """A node deviated from the protocol; ``culprits`` names the node indices (0-based)."""

    def __init__(self, message: str, culprits: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.culprits = culprits


class TryLater(SurveyError):
    """The node did not look at the request: too many request bodies in memory (HTTP 503) or too
    many failed requests from this address (HTTP 429).  Retrying after the answer's Retry-After
    seconds can succeed."""


class NodeUnreachable(SurveyError):
    """A node did not answer (after retries)."""


class ComputeFailed(SurveyError):
    """The MPC computation did not complete (peer missing, timeout, disagreement)."""


class InvalidWebPage(SurveyError):
    """The survey's browser page is missing, altered, or not what the manifest pins."""
