"""shared.http_server on loopback: a slow or half-open client is answered and closed within the
deadlines, a connection over the cap is refused at once, and ordinary requests are untouched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.http_server import ServerLimits, make_server

LIMITS = ServerLimits(header_timeout_s=0.3, body_timeout_s=0.3, max_connections=4, max_header_bytes=4096)
# Each wait below is bounded: a deadline that never fires fails the test, it does not hang it.
PATIENCE = 5.0


async def echo(scope, receive, send) -> None:
    """Reads the whole body (as intake does) and answers its length."""
    assert scope["type"] == "http"
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size, more = size + len(message.get("body", b"")), message.get("more_body", False)
    body = str(size).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    server = make_server(echo, host="127.0.0.1", port=0, limits=LIMITS, lifespan="off", log_level="warning")
    task = asyncio.create_task(server.serve())
    for _ in range(100):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield host, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, PATIENCE)


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    data = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), PATIENCE):
            data += chunk
    except ConnectionError:
        pass
    return data


async def test_an_ordinary_request_and_a_keep_alive_one_are_served(server):
    async with httpx.AsyncClient(base_url=f"http://{server[0]}:{server[1]}") as client:
        for body in (b"x" * 10, b"y" * 100_000):
            response = await client.post("/", content=body)
            assert (response.status_code, response.text) == (200, str(len(body)))


async def test_headers_trickled_past_the_deadline_get_408_and_the_connection_closed(server):
    reader, writer = await asyncio.open_connection(*server)
    started = time.monotonic()
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\n")
    for _ in range(2):  # a header line every 0.1 s, then nothing: the head is never complete
        await asyncio.sleep(0.1)
        writer.write(b"X-Slow: 1\r\n")
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < PATIENCE


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_deadline(server):
    reader, writer = await asyncio.open_connection(*server)
    started = time.monotonic()
    await read_until_closed(reader)
    writer.close()
    assert LIMITS.header_timeout_s * 0.8 < time.monotonic() - started < PATIENCE


async def test_a_content_length_longer_than_the_body_is_answered_408_after_the_body_deadline(server):
    reader, writer = await asyncio.open_connection(*server)
    started = time.monotonic()
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert LIMITS.body_timeout_s * 0.8 < time.monotonic() - started < PATIENCE


async def test_a_body_trickled_steadily_is_still_cut_at_the_body_deadline(server):
    """The deadline is for the whole body, not between two reads: a byte every 0.05 s does not
    keep the connection (a 1 MiB body would otherwise take a day)."""
    reader, writer = await asyncio.open_connection(*server)
    started = time.monotonic()
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")

    async def trickle() -> None:
        for _ in range(60):  # 3 s of a byte every 0.05 s, far past the deadline, unless cut
            await asyncio.sleep(0.05)
            if writer.is_closing() or reader.at_eof():
                return
            try:
                writer.write(b"x")
                await writer.drain()
            except ConnectionError:
                return

    trickling = asyncio.create_task(trickle())
    answer = await read_until_closed(reader)
    closed_after = time.monotonic() - started
    await trickling
    writer.close()
    # The 408 may be lost if a trickled byte meets the closed socket first (a reset); the close may not.
    assert answer.startswith(b"HTTP/1.1 408 ") or answer == b""
    assert closed_after < 2.0  # cut, not left to trickle on (with room for a slow machine)


async def test_the_second_request_of_a_keep_alive_connection_is_timed_too(server):
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n0"), PATIENCE)  # status, headers, body "0"
    assert first.startswith(b"HTTP/1.1 200 ")
    writer.write(b"GET / HTTP/1.1\r\n")  # ... and the rest never comes
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")


async def test_a_request_head_over_the_size_cap_is_refused_431(server):
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (LIMITS.max_header_bytes + 10))
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_connections_over_the_cap_are_refused_at_once_not_held(server):
    held = [await asyncio.open_connection(*server) for _ in range(LIMITS.max_connections)]
    try:
        await asyncio.sleep(0.05)  # let the server accept them all
        reader, writer = await asyncio.open_connection(*server)
        started = time.monotonic()
        answer = await read_until_closed(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert time.monotonic() - started < LIMITS.header_timeout_s  # refused, not timed out
    finally:
        for _, w in held:
            w.close()
    await asyncio.sleep(0.1)  # the held ones are gone: the server takes requests again
    async with httpx.AsyncClient(base_url=f"http://{server[0]}:{server[1]}") as client:
        assert (await client.get("/")).status_code == 200


async def test_an_h2c_upgrade_offer_is_ignored_and_the_body_still_read(server):
    # What Java's HttpClient sends by default: without the fix the parser stopped at the upgrade
    # and the body never reached the application.
    reader, writer = await asyncio.open_connection(*server)
    body = b'{"a": "\\r\\nupgrade: kept"}'
    writer.write(
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        b"HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    assert head.startswith(b"HTTP/1.1 200"), head
    answer = str(len(body)).encode()
    assert await asyncio.wait_for(reader.readexactly(len(answer)), PATIENCE) == answer
    writer.close()
