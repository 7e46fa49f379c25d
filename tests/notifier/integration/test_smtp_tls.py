"""The SMTP transport against a real aiosmtpd server with STARTTLS + AUTH, and implicit TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from services.notifier.adapters.smtp import SmtpTransport, TransientSmtpError
from shared.infra.ports import free_port

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


class Keep:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content)
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"tiendo" and auth_data.password == b"mat-khau"
    return AuthResult(success=ok)


def message() -> bytes:
    m = EmailMessage()
    m["Subject"] = "Thử nghiệm"
    m["From"], m["To"] = "tiendo@t.example", "lanh-dao@t.example"
    m.set_content("Nội dung có dấu")
    return m.as_bytes()


@pytest.fixture
def starttls_server(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler = Keep()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield controller, handler
    controller.stop()


async def test_starttls_with_auth_and_a_private_ca(starttls_server, certificate):
    controller, handler = starttls_server
    transport = SmtpTransport(
        "127.0.0.1", controller.port, "starttls", "tiendo", "mat-khau", ca_file=certificate[0]
    )
    await transport.send("tiendo@t.example", "lanh-dao@t.example", message())
    assert len(handler.received) == 1 and b"Subject: =?utf-8?" in handler.received[0]
    with pytest.raises(
        TransientSmtpError
    ):  # an unknown certificate: refused, retried later, never sent in clear
        await SmtpTransport("127.0.0.1", controller.port, "starttls", "tiendo", "mat-khau").send(
            "tiendo@t.example", "lanh-dao@t.example", message()
        )
    assert len(handler.received) == 1


async def test_implicit_tls(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ssl_context=context)
    controller.start()
    try:
        await SmtpTransport("127.0.0.1", controller.port, "ssl", ca_file=certificate[0]).send(
            "tiendo@t.example", "lanh-dao@t.example", message()
        )
    finally:
        controller.stop()
    assert len(handler.received) == 1
