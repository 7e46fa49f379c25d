"""Sending one stored message through SMTP (aiosmtplib), telling transient from permanent failure."""

from __future__ import annotations

from dataclasses import dataclass

import aiosmtplib


class TransientSmtpError(Exception):
    """Try again later: the server is down, busy or said 4xx."""


class PermanentSmtpError(Exception):
    """The server said 5xx for this message or recipient: retrying will not help."""


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    tls: str = "none"  # none | starttls | ssl
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        try:
            await aiosmtplib.send(
                message, sender=sender, recipients=[recipient], hostname=self.host, port=self.port,
                use_tls=self.tls == "ssl", start_tls=self.tls == "starttls",
                username=self.username, password=self.password, timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            raise _classify(codes, str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _classify([exc.code], f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientSmtpError(f"{type(exc).__name__}: {exc}") from exc


def _classify(codes: list[int], text: str) -> Exception:
    if codes and all(500 <= c < 600 for c in codes):
        return PermanentSmtpError(text)
    return TransientSmtpError(text)
