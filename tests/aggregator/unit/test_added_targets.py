"""A target an amendment adds (issue 20) is judged from its day on, on the projector's fakes:
the Đakrông district committee's H2 reach target (900, QD-21-2024, from 1 September 2024) is not
there in August, and is from September; a rebuild as of August would judge without it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from services.aggregator.adapters.memory import MemoryUnitOfWork
from services.aggregator.service_layer.projector import Projector
from shared.plan import load_plan
from tests.aggregator.helpers import reported
from tests.aggregator.unit.test_plan_years import delivered
from tests.unit.test_plan_amendments import _adding

VN = ZoneInfo("Asia/Ho_Chi_Minh")
KEY = ("UBND-DAKRONG", "propaganda_participants", "2024-H2")


async def test_an_added_target_counts_from_its_day(tmp_path: Path):
    plan = load_plan(_adding(tmp_path))
    uow = MemoryUnitOfWork()
    projector = Projector(uow, plan, "status", "dlq")
    august = datetime(2024, 8, 20, 9, tzinfo=VN)
    await projector.apply([delivered(reported(KEY[0], KEY[1], "2024-08", 300, time=august), 1, plan)], august)
    before = uow.state.kpis.get(KEY)
    assert before is None or before.target is None
    september = datetime(2024, 9, 20, 9, tzinfo=VN)
    await projector.apply(
        [delivered(reported(KEY[0], KEY[1], "2024-09", 200, time=september), 2, plan)], september
    )
    after = uow.state.kpis[KEY]
    assert (after.target, after.actual) == (900, 500)
