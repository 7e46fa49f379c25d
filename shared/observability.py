"""Metrics and health endpoints every service mounts on its ASGI app."""

from __future__ import annotations

import asyncio
import logging
import platform
from collections.abc import Awaitable, Callable
from weakref import WeakKeyDictionary

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Gauge, make_asgi_app

ReadinessCheck = Callable[[], Awaitable[str | None]]  # None = ready, else the reason it is not
CHECK_TIMEOUT_S = 1.0  # below a probe's usual timeout, so /readyz answers 503 rather than nothing

# Checks added by components wired on a service's registry (its consumers' health), so the
# entrypoint that mounts /readyz need not know them.
_REGISTERED: WeakKeyDictionary[CollectorRegistry, dict[str, ReadinessCheck]] = WeakKeyDictionary()


def register_check(registry: CollectorRegistry, name: str, check: ReadinessCheck) -> None:
    """`/readyz` of the app mounted on `registry` also asks `check` (a later one of the same name wins)."""
    _REGISTERED.setdefault(registry, {})[name] = check


def forget_checks(registry: CollectorRegistry, prefix: str) -> None:
    """Stop asking the checks whose names start with `prefix` (e.g. the consumers' health in an app
    that serves the API only and never runs them: they would turn /readyz red after a minute)."""
    checks = _REGISTERED.get(registry, {})
    for name in [n for n in checks if n.startswith(prefix)]:
        del checks[name]


def new_registry() -> CollectorRegistry:
    """A registry per service instance, with process metrics (RSS, CPU) included."""
    from prometheus_client import ProcessCollector

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


def build_version() -> str:
    """The installed tiendo package's version ("unknown" when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tiendo")
    except PackageNotFoundError:
        return "unknown"


def add_build_info(registry: CollectorRegistry, service: str) -> Gauge:
    """`tiendo_build_info{service, version, python} 1`: joins any series with the build that made
    it (`* on (instance) group_left (version)`), and shows a half-finished rollout on a dashboard."""
    info = Gauge(
        "tiendo_build_info",
        "Always 1; the labels say which build of which service answers",
        ["service", "version", "python"],
        registry=registry,
    )
    info.labels(service, build_version(), platform.python_version()).set(1)
    return info


def mount_health_and_metrics(
    app: FastAPI, registry: CollectorRegistry, checks: dict[str, ReadinessCheck]
) -> None:
    """`/healthz` (process up), `/readyz` (every dependency answers), `/metrics` (Prometheus)."""

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    async def ask(check: ReadinessCheck) -> str | None:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except TimeoutError:  # a partitioned dependency hangs rather than refuses
            return f"no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:  # a readiness probe reports, it never raises
            return f"{type(exc).__name__}: {exc}"

    @app.get("/readyz", tags=["operations"], summary="Every dependency is reachable")
    async def readyz() -> JSONResponse:
        named = {**checks, **_REGISTERED.get(registry, {})}
        reasons = await asyncio.gather(*(ask(check) for check in named.values()))
        problems = {name: reason for name, reason in zip(named, reasons) if reason}
        status = 503 if problems else 200
        return JSONResponse({"status": "unavailable" if problems else "ready", "problems": problems}, status)

    app.mount("/metrics", make_asgi_app(registry=registry))


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
