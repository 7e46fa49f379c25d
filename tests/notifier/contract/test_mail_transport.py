"""The `MailTransport` contract, on the fake and on `SmtpTransport` against a real aiosmtpd server:
an accepted message arrives as sent; a refusal for now is `TransientSmtpError`, a refusal for good
(5xx) is `PermanentSmtpError`, and an unreachable server is transient; a refused message is not
delivered. The `Clock` port's contract is here too: both clocks give aware times, the manual one
moves only when told."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from aiosmtpd.controller import Controller

from services.notifier.adapters.memory import MemoryTransport
from services.notifier.adapters.smtp import SmtpTransport
from services.notifier.service_layer.ports import MailTransport, PermanentSmtpError, TransientSmtpError
from shared.clock import Clock, ManualClock, SystemClock
from shared.infra.ports import free_port
from tests.notifier.helpers import T0

REFUSED_NOW, REFUSED_FOR_GOOD = "451 4.3.0 try again later", "550 5.1.1 no such mailbox"


class Relay:
    """An aiosmtpd handler keeping what it accepts, refusing for now or for good when told."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reply:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content)
        return "250 OK"


@dataclass
class Subject:
    transport: MailTransport
    delivered: Callable[[], list[bytes]]
    refuse: Callable[[str], None]  # the next sends are refused with this reply
    unreachable: MailTransport


@pytest.fixture(params=["memory", pytest.param("smtp", marks=pytest.mark.infra)])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    if request.param == "memory":
        fake = MemoryTransport()

        def refuse(reply: str) -> None:
            error = PermanentSmtpError if reply.startswith("5") else TransientSmtpError
            fake.failures = [error(reply)] * 3

        down = MemoryTransport([TransientSmtpError("ConnectionRefusedError")])
        yield Subject(fake, lambda: [m for _, _, m in fake.sent], refuse, down)
        return
    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port("127.0.0.1"))
    controller.start()
    try:
        yield Subject(
            SmtpTransport("127.0.0.1", controller.port, timeout=5),
            lambda: relay.received,
            lambda reply: setattr(relay, "reply", reply),
            SmtpTransport("127.0.0.1", free_port("127.0.0.1"), timeout=5),
        )
    finally:
        controller.stop()


def message(n: int = 1) -> bytes:
    email = EmailMessage(policy=SMTP)
    email["Subject"], email["From"], email["To"] = f"Cảnh báo {n}", "tiendo@tiendo.local", "cat@qt.example"
    email.set_content("Kính gửi đồng chí", charset="utf-8", cte="quoted-printable")
    return email.as_bytes()


def same(delivered: bytes, sent: bytes) -> bool:
    return delivered.replace(b"\r\n", b"\n").rstrip() == sent.replace(b"\r\n", b"\n").rstrip()


async def test_an_accepted_message_arrives_as_sent(subject: Subject):
    await subject.transport.send("tiendo@tiendo.local", "cat@qt.example", message(1))
    await subject.transport.send("tiendo@tiendo.local", "bcd@qt.example", message(2))
    delivered = subject.delivered()
    assert len(delivered) == 2 and same(delivered[0], message(1)) and same(delivered[1], message(2))


@pytest.mark.parametrize(
    ("reply", "error"), [(REFUSED_NOW, TransientSmtpError), (REFUSED_FOR_GOOD, PermanentSmtpError)]
)
async def test_a_refusal_says_whether_to_try_again(subject: Subject, reply: str, error: type[Exception]):
    subject.refuse(reply)
    with pytest.raises(error):
        await subject.transport.send("tiendo@tiendo.local", "cat@qt.example", message())
    assert subject.delivered() == []


async def test_an_unreachable_server_is_a_transient_failure(subject: Subject):
    with pytest.raises(TransientSmtpError):
        await subject.unreachable.send("tiendo@tiendo.local", "cat@qt.example", message())


@pytest.mark.parametrize("clock", [SystemClock(), ManualClock(T0)], ids=["system", "manual"])
def test_a_clock_tells_aware_time(clock: Clock):
    assert clock.now().utcoffset() is not None


def test_the_manual_clock_moves_only_when_told():
    clock = ManualClock(T0)
    assert clock.now() == clock.now() == T0
    clock.advance(timedelta(minutes=5))
    assert clock.now() == T0 + timedelta(minutes=5)
