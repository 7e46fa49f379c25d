"""Signed acknowledgement links: HMAC-SHA256, an expiry, and a nonce that can be used once.

The token carries the alert id, the leader's address, the expiry and a nonce; the signature
covers all of them, so a token cannot be moved to another alert or stretched in time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime


class InvalidToken(ValueError):
    """reason: "malformed" | "signature" | "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AckClaim:
    alert_id: int
    recipient: str
    expires_at: datetime
    nonce: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: bytes) -> str:
    return _b64(hmac.new(secret, b"tiendo-ack-v1\x00" + payload, hashlib.sha256).digest())


def nonce_for(secret: bytes, *parts: str) -> str:
    """Deterministic nonce, so re-rendering the same email yields the same link."""
    return _b64(hmac.new(secret, "\x00".join(parts).encode(), hashlib.sha256).digest()[:12])


def issue(secret: bytes, claim: AckClaim) -> str:
    payload = "\n".join(
        [str(claim.alert_id), claim.recipient, str(int(claim.expires_at.timestamp())), claim.nonce]
    ).encode()
    return f"{_b64(payload)}.{_sign(secret, payload)}"


def verify(secret: bytes, token: str, now: datetime) -> AckClaim:
    if not token.isascii():  # a signature is base64: compare_digest refuses other text
        raise InvalidToken("malformed")
    try:
        encoded, signature = token.split(".")
        payload = _unb64(encoded)
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed") from exc
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise InvalidToken("signature")
    try:
        alert_id, recipient, expires, nonce = payload.decode().split("\n")
        claim = AckClaim(int(alert_id), recipient, datetime.fromtimestamp(int(expires), tz=UTC), nonce)
    except ValueError as exc:
        raise InvalidToken("malformed") from exc
    if now >= claim.expires_at:
        raise InvalidToken("expired")
    return claim
