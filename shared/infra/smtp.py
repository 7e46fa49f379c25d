"""A real SMTP server (aiosmtpd) that drops every accepted message into a mailbox folder.

Each message is stored as `<timestamp>-<n>.eml` holding exactly the bytes received
after DATA. Fault simulation: while a file `.reject` exists in the mailbox, every
RCPT and DATA is answered `451` (transient failure; aiosmtplib raises
SMTPRecipientsRefused / SMTPDataError), so senders must retry later:

    touch MAILBOX/.reject   # or server.set_rejecting(True)
    rm MAILBOX/.reject      # or server.set_rejecting(False)

As its own process: `python -m shared.infra.smtp --port P --mailbox DIR` (SIGTERM/SIGINT
stop it cleanly). `MailboxSmtpServer(DIR).messages()` reads that mailbox without starting.
"""

from __future__ import annotations

import argparse
import email.policy
import os
import signal
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from shared.infra.ports import free_port

REJECT_FLAG = ".reject"
REJECT_REPLY = "451 4.3.0 Mailbox temporarily unavailable (simulated, see .reject)"


class _MailboxHandler:
    def __init__(self, mailbox: Path) -> None:
        self.mailbox = mailbox
        self.count = 0

    def _rejecting(self) -> bool:
        return (self.mailbox / REJECT_FLAG).exists()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self._rejecting():
            return REJECT_REPLY
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._rejecting():
            return REJECT_REPLY
        self.count += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{self.count:06d}.eml"
        tmp = self.mailbox / f".{name}.tmp"  # readers never see a half-written .eml
        tmp.write_bytes(envelope.original_content)
        os.replace(tmp, self.mailbox / name)
        return "250 Message accepted for delivery"


class MailboxSmtpServer:
    """SMTP on host:port (0 = pick a free port) storing messages in `mailbox`."""

    def __init__(self, mailbox: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.mailbox = Path(mailbox)
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    def start(self) -> MailboxSmtpServer:
        if self._controller is not None:
            return self
        self.mailbox.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.host)
        self._controller = Controller(
            _MailboxHandler(self.mailbox), hostname=self.host, port=self.port, enable_SMTPUTF8=True
        )
        self._controller.start()  # returns once the server answered its own probe
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def rejecting(self) -> bool:
        return (self.mailbox / REJECT_FLAG).exists()

    def set_rejecting(self, on: bool) -> None:
        """Answer 451 to every RCPT/DATA while on (works across processes)."""
        flag = self.mailbox / REJECT_FLAG
        if on:
            self.mailbox.mkdir(parents=True, exist_ok=True)
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    def paths(self) -> list[Path]:
        """Stored `.eml` files, oldest first."""
        return sorted(self.mailbox.glob("*.eml"), key=lambda p: p.name)

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=email.policy.default)
        return [parser.parsebytes(p.read_bytes()) for p in self.paths()]  # type: ignore[misc]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least `count` messages are stored; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while len(self.paths()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(self.paths())} of {count} messages in {self.mailbox} after {timeout:.0f}s"
                )
            time.sleep(0.05)
        return self.messages()

    def clear(self) -> None:
        """Delete stored messages (and the reject flag)."""
        for path in self.paths():
            path.unlink(missing_ok=True)
        self.set_rejecting(False)

    def __enter__(self) -> MailboxSmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.infra.smtp",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--mailbox", type=Path, required=True)
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    server = MailboxSmtpServer(args.mailbox, args.host, args.port).start()
    print(f"SMTP listening on {server.host}:{server.port}, mailbox {server.mailbox}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
