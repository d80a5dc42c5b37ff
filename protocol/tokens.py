"""Participation tokens and the analyst credential.

Tokens are 256-bit random strings from :mod:`secrets`.  Nodes store only their SHA-256 (a
high-entropy secret needs no salt or slow hash) and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    """A fresh URL-safe token (43 characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Hex SHA-256 of the token, as nodes store it."""
    # surrogatepass: a malformed string from the network hashes (to no known token) instead of raising
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(a.encode(), b.encode())


def new_submission_id() -> str:
    """A fresh 128-bit submission id, hex."""
    return secrets.token_hex(16)
