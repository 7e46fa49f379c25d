"""A notifier sender process that kills itself with SIGKILL at a chosen moment.

    python -m tests.notifier.integration.crashing_sender claimed|sent

Settings come from the environment like the service's. The real sender code runs; only the
checkpoint hook is this script's, so the crash lands exactly between claim and send, or
between the SMTP server's acceptance and marking the email sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from services.notifier.bootstrap import bootstrap
from services.notifier.domain.directory import Directory
from tests.notifier.helpers import PLAN_CUTOFF_DAY, PLAN_ZONE


def main(stage: str) -> None:
    def checkpoint(at: str, item_id: int) -> None:
        if at == stage:
            os.kill(os.getpid(), signal.SIGKILL)

    async def run() -> None:
        container = bootstrap(
            directory=Directory(cutoff_day=PLAN_CUTOFF_DAY, timezone=PLAN_ZONE), checkpoint=checkpoint
        )
        for _ in range(100):
            await container.sender.run_once()
            await asyncio.sleep(0.1)

    asyncio.run(run())


if __name__ == "__main__":
    main(sys.argv[1])
