"""How every Tiendo service serves HTTP: uvicorn (uvloop, httptools) plus the limits uvicorn lacks.

uvicorn bounds the idle time between two requests (keep-alive) but not how long a client takes
to send one: a client that trickles its headers, or declares a Content-Length it never sends,
held its connection and its task for ever. `GuardedHttpTools` adds, per connection:

- a header deadline, from the connection (or a keep-alive request's first byte) to the end of
  the request head, and a cap on the head's size: 408 / 431, then closed;
- a body deadline, from the end of the head to the end of the body: 408 if nothing was answered
  yet, then closed (the application sees a disconnect);
- a connection cap: a connection over it is answered 503 and closed at once, never held;
- an `Upgrade` offer (Java's HttpClient offers `h2c` by default) is ignored, as RFC 9110 allows:
  uvicorn stops parsing at an upgrade it cannot make, and the request's body was lost.

Behind a reverse proxy its own limits come first (docs/operations.md); these are the last line.

Access logs never carry a credential: `RedactCredentials` (installed on uvicorn's access logger by
`run` and `make_server`) replaces the token of a path `/ack/<token>` and the value of a query
parameter such as `token=` with `[redacted]` before the line is written.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import re
from asyncio import TimerHandle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger(__name__)

# The header renamed to one of the same length: the parser then never enters its upgrade state.
_UPGRADE_HEADER = re.compile(rb"\r\nupgrade:", re.IGNORECASE)


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000  # per process; keep it below the open-file limit
    max_header_bytes: int = 64 * 1024

    @classmethod
    def of(cls, settings: Any) -> ServerLimits:
        """From a service's settings (`http_header_timeout_s`, `http_body_timeout_s`, `http_max_connections`)."""
        return cls(
            header_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
            max_connections=settings.http_max_connections,
        )


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and a connection cap."""

    def __init__(self, *args: Any, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._deadline: TimerHandle | None = None
        self._timing: str | None = None  # what the deadline is for: "head" or "body"
        self._phase = "head"  # of the request being read: "head", "body", or "done" (none being read)
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.debug("refused a connection from %s: %d open", self.client, len(self.connections) - 1)
            self._answer_and_close(503, "too many connections; retry later", b"retry-after: 1\r\n")
            return
        self._arm("head")  # a client that connects and sends nothing is timed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase != "body":
            self._head_bytes += len(data)
            end = data.find(b"\r\n\r\n")  # only the head is rewritten, never a body's bytes
            head = data if end < 0 else data[: end + 2]
            if _UPGRADE_HEADER.search(head):
                data = _UPGRADE_HEADER.sub(b"\r\nx-upgra:", head) + data[len(head) :]
        super().data_received(data)
        # Deadlines are armed only for a request still incomplete once the bytes so far are
        # parsed: one that arrived whole (the usual case) costs no timer.
        phase = self._phase
        if phase == "done" or self.transport.is_closing():
            return
        if phase == "head" and self._head_bytes > self.limits.max_header_bytes:
            self._answer_and_close(431, f"the request head is over {self.limits.max_header_bytes} bytes")
        elif self._timing != phase:
            self._arm(phase)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "head"

    def on_headers_complete(self) -> None:
        self._phase = "body"
        if self._timing == "head":
            self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase, self._head_bytes = "done", 0
        if self._deadline is not None:
            self._disarm()
        super().on_message_complete()

    def _arm(self, phase: str) -> None:
        self._disarm()
        if phase == "head":
            self._deadline = self.loop.call_later(self.limits.header_timeout_s, self._head_late)
        else:
            self._deadline = self.loop.call_later(self.limits.body_timeout_s, self._body_late)
        self._timing = phase

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = self._timing = None

    def _head_late(self) -> None:
        self._deadline = self._timing = None
        if not self.transport.is_closing():
            log.debug(
                "closed %s: no complete request head within %.3g s", self.client, self.limits.header_timeout_s
            )
            self._answer_and_close(
                408, f"the request head did not arrive within {self.limits.header_timeout_s:g} s"
            )

    def _body_late(self) -> None:
        self._deadline = self._timing = None
        if self.transport.is_closing():
            return
        log.debug(
            "closed %s: the request body did not arrive within %.3g s",
            self.client,
            self.limits.body_timeout_s,
        )
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            # Whatever the application still sends goes nowhere; it reads a disconnect.
            cycle.disconnected = True
            cycle.message_event.set()
            self._answer_and_close(
                408, f"the request body did not arrive within {self.limits.body_timeout_s:g} s"
            )
        else:
            self.transport.close()

    def _answer_and_close(self, status: int, text: str, extra: bytes = b"") -> None:
        body = text.encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n",
                    extra,
                    b"\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


REDACTED = "[redacted]"
# A path segment that is a credential (the notifier's signed acknowledgement links), and query
# parameters that carry one: a log reader must not be able to replay them.
_CREDENTIAL_PATH = re.compile(r"(/ack/)[^/?#\s]+")
_CREDENTIAL_QUERY = re.compile(r"([?&](?:token|access_token|ack|signature|code)=)[^&#\s]*", re.IGNORECASE)


def redact_credentials(target: str) -> str:
    """A request target (path and query) with every credential replaced by `[redacted]`."""
    return _CREDENTIAL_QUERY.sub(rf"\g<1>{REDACTED}", _CREDENTIAL_PATH.sub(rf"\g<1>{REDACTED}", target))


class RedactCredentials(logging.Filter):
    """On uvicorn's access logger: its records' arguments are (client, method, target, version,
    status); the target is redacted, the rest kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_credentials(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with `RedactCredentials` on its access logger (a dict, so
    worker processes configure it the same way)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_credentials"] = {"()": RedactCredentials}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_credentials"]
    return config


def protocol(limits: ServerLimits) -> Callable[..., GuardedHttpTools]:
    """uvicorn's `http=` (picklable, so it reaches worker processes)."""
    return functools.partial(GuardedHttpTools, limits=limits)


def run(app: Any, *, host: str, port: int, limits: ServerLimits, **options: Any) -> None:
    """`uvicorn.run` with the guarded protocol (options: uvicorn's, e.g. workers, factory, loop)."""
    options.setdefault("log_config", log_config())
    uvicorn.run(app, host=host, port=port, http=protocol(limits), **options)  # type: ignore[arg-type]


def make_server(app: Any, *, host: str, port: int, limits: ServerLimits, **options: Any) -> uvicorn.Server:
    """A `uvicorn.Server` with the guarded protocol, for `await server.serve()` in a running loop."""
    options.setdefault("log_config", log_config())
    config = uvicorn.Config(app, host=host, port=port, http=protocol(limits), **options)  # type: ignore[arg-type]
    return uvicorn.Server(config)
