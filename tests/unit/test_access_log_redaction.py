"""Access logs never carry a credential: a request for a notifier acknowledgement link
(`/ack/<token>`) or with a `token=` query parameter is logged with `[redacted]` in its place,
through the real uvicorn access logger as shared.http_server configures it."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from shared.http_server import REDACTED, ServerLimits, make_server, redact_credentials

TOKEN = "eyJhbGVydCI6Mn0.c2lnbmVkLWFjay10b2tlbi1ub3QtZm9yLWxvZ3M"


async def ok(scope, receive, send) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (f"/ack/{TOKEN}", f"/ack/{REDACTED}"),
        (f"/ack/{TOKEN}?lang=en", f"/ack/{REDACTED}?lang=en"),
        (f"/ack/{TOKEN}/confirm", f"/ack/{REDACTED}/confirm"),
        (f"/kpis?agency=QT-CA&token={TOKEN}", f"/kpis?agency=QT-CA&token={REDACTED}"),
        (f"/x?access_token={TOKEN}&a=1", f"/x?access_token={REDACTED}&a=1"),
        ("/alerts/2/ack", "/alerts/2/ack"),  # the operator's acknowledgement: no credential in it
        ("/kpis?period=2024", "/kpis?period=2024"),
    ],
)
def test_redact_credentials(target: str, expected: str) -> None:
    assert redact_credentials(target) == expected


async def test_the_access_log_of_a_served_request_names_no_token() -> None:
    server = make_server(ok, host="127.0.0.1", port=0, limits=ServerLimits(), lifespan="off")
    capture = Lines()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(capture)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            assert (await client.get(f"/ack/{TOKEN}")).status_code == 200
            assert (await client.get(f"/outbox?token={TOKEN}")).status_code == 200
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        access.removeHandler(capture)
    assert len(capture.lines) == 2, capture.lines
    assert all(TOKEN not in line for line in capture.lines), capture.lines
    assert f"GET /ack/{REDACTED} HTTP/1.1" in capture.lines[0]
    assert f"/outbox?token={REDACTED}" in capture.lines[1]
