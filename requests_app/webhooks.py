"""Signing and verifying webhook bodies (pure functions, shared by inbound and outbound hooks).

A signed request carries ``X-Triage-Timestamp`` (Unix seconds) and ``X-Triage-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<raw body>"`` with the shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Triage-Timestamp"
SIGNATURE_HEADER = "X-Triage-Signature"
EVENT_HEADER = "X-Triage-Event"
DELIVERY_HEADER = "X-Triage-Delivery"
MAX_SKEW_SECONDS = 300


def sign(*, secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    *,
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
    max_skew: int = MAX_SKEW_SECONDS,
) -> bool:
    """True when the signature matches and the timestamp is within ``max_skew`` seconds of now
    (either side, so a captured request cannot be replayed later with its old signature)."""
    if not secret or not timestamp or not signature:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > max_skew:
        return False
    expected = sign(secret=secret, timestamp=sent_at, body=body)
    return hmac.compare_digest(expected, signature.strip())


def backoff_seconds(attempt: int, *, base: float, maximum: float) -> float:
    """Delay before retry number ``attempt`` (1 = first retry): base, 2·base, 4·base, ... capped."""
    return min(maximum, base * 2 ** max(0, attempt - 1))
