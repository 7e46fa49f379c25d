"""Walking skeleton: a token from the CLI, one event over HTTP, read back from Kafka."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from services.intake.entrypoints.examples import examples
from shared.cli import _register
from shared.cli import app as tiendo


async def cli(*args: str, database_url: str):
    _register()
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, tiendo, list(args), env={"DATABASE_URL": database_url})


async def test_cli_token_authorizes_an_event_that_lands_in_kafka(service, intake_db):
    created = await cli("agency", "token", "create", "CA-TINH", database_url=intake_db)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("tdo_")

    event = examples()["indicator.reported"]
    response = await service.post(event, token)

    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "id": event["id"]}
    [record] = await service.read(service.settings.events_topic, 1)
    headers = dict(record.headers)
    assert record.key == b"CA-TINH"
    assert headers["ce_id"] == event["id"].encode()
    assert headers["ce_type"] == event["type"].encode()
    assert headers["ce_source"] == b"/agencies/CA-TINH"
    assert json.loads(record.value) == {**event["data"], "value": 17.0}


async def test_token_list_shows_ids_never_secrets_and_revoke_bites(service, intake_db):
    created = await cli("agency", "token", "create", "HQ", database_url=intake_db)
    token = created.stdout.strip().splitlines()[0]
    token_id = token.split("_")[1]
    listed = await cli("agency", "token", "list", "HQ", database_url=intake_db)
    assert token_id in listed.stdout and "active" in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout

    revoked = await cli("agency", "token", "revoke", "HQ", token_id, database_url=intake_db)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in (await cli("agency", "token", "list", "HQ", database_url=intake_db)).stdout
    event = {**examples("HQ")["report.submitted"], "id": "hq-after-revoke"}
    response = await service.post(event, token)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


async def test_cli_refuses_an_agency_not_in_the_plan(intake_db):
    result = await cli("agency", "token", "create", "NOBODY", database_url=intake_db)
    assert result.exit_code != 0
    assert "not an agency" in result.output
