"""Sending one stored message through SMTP (aiosmtplib), telling transient from permanent failure."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiosmtplib

from services.notifier.service_layer.ports import PermanentSmtpError, TransientSmtpError


@dataclass(frozen=True)
class SmtpTransport:
    """The `MailTransport` port on an SMTP relay."""

    host: str
    port: int
    tls: str = "none"  # none | starttls | ssl
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0
    ca_file: str | None = None  # a private CA for the relay's certificate
    validate_certs: bool = True

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.tls == "none":
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        try:
            await aiosmtplib.send(
                message,
                sender=sender,
                recipients=[recipient],
                hostname=self.host,
                port=self.port,
                use_tls=self.tls == "ssl",
                start_tls=self.tls == "starttls",
                tls_context=self._tls_context(),
                username=self.username,
                password=self.password,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our configuration, not the message: keep it queued until the credentials are fixed.
            raise TransientSmtpError(f"authentication failed: {exc.code} {exc.message}") from exc
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
