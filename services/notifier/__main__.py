"""`python -m services.notifier`: apply the notifier's migrations, then serve (shared.http_server)."""

from __future__ import annotations

import asyncio

from services.notifier.bootstrap import bootstrap
from services.notifier.entrypoints.app import create_app
from services.notifier.settings import NotifierSettings
from shared import http_server
from shared.db import upgrade_async
from shared.observability import configure_logging


def main() -> None:
    settings = NotifierSettings()  # type: ignore[call-arg]
    configure_logging(settings.log_level)
    asyncio.run(upgrade_async("notifier", settings.database_url))
    app = create_app(bootstrap(settings))
    http_server.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        limits=http_server.ServerLimits.of(settings),
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
