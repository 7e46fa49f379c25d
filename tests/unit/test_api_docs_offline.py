"""/docs and /redoc of every service load nothing from the internet: each page references only
paths of the service itself, and the service serves every one of them (shared/api_docs.py)."""

from __future__ import annotations

import re

import httpx
import pytest

DB = "postgresql+asyncpg://docs@localhost/docs"  # nothing connects: no lifespan runs
KAFKA = "localhost:9092"


def intake():
    from services.intake.entrypoints.openapi_docs import _app_for_docs

    return _app_for_docs()


def aggregator():
    from services.aggregator.entrypoints.app import create_app
    from services.aggregator.settings import AggregatorSettings

    return create_app(
        settings=AggregatorSettings(DATABASE_URL=DB, KAFKA_BOOTSTRAP_SERVERS=KAFKA), run_background=False
    )


def notifier():
    from services.notifier.bootstrap import bootstrap
    from services.notifier.entrypoints.app import create_app
    from services.notifier.settings import NotifierSettings

    return create_app(
        bootstrap(
            NotifierSettings(
                DATABASE_URL=DB, KAFKA_BOOTSTRAP_SERVERS=KAFKA, NOTIFIER_ACK_SECRET="docs-only-" + "x" * 32
            )
        ),
        run_loops=False,
    )


REFERENCE = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""")


@pytest.mark.parametrize("make_app", [intake, aggregator, notifier])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_pages_use_only_local_assets(make_app, page):
    app = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.get(page)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        html = response.text
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), (
            "an absolute URL on " + page
        )
        references = REFERENCE.findall(html)
        scripts = [r for r in references if r.endswith(".js")]
        assert scripts and all(r.startswith("/") and not r.startswith("//") for r in references), references
        for reference in references:
            served = await client.get(reference)
            assert served.status_code == 200 and served.content, reference
