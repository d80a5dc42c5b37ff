"""What every role must agree on: field and Shamir sharing, record encoding, the survey
manifest, sealed envelopes, tokens and wire objects.  Imports no role package."""

from .errors import (
    CheatingDetected,
    ComputeFailed,
    DecryptionFailed,
    DuplicateSubmission,
    InconsistentShares,
    InvalidManifest,
    InvalidSubmission,
    InvalidToken,
    NodeUnreachable,
    SurveyClosed,
    SurveyError,
    TokenUsed,
    UnknownSurvey,
)

__all__ = [
    "CheatingDetected",
    "ComputeFailed",
    "DecryptionFailed",
    "DuplicateSubmission",
    "InconsistentShares",
    "InvalidManifest",
    "InvalidSubmission",
    "InvalidToken",
    "NodeUnreachable",
    "SurveyClosed",
    "SurveyError",
    "TokenUsed",
    "UnknownSurvey",
]
