"""401 vs 403, and an agency never writes, or learns about, another agency's data."""

from __future__ import annotations

import pytest

from services.intake.entrypoints.examples import examples

from .conftest import NOW, counting


@pytest.fixture(scope="module")
async def tokens(service) -> dict[str, str]:
    return {a: await service.token(a) for a in ("CA-TINH", "CA-DAKRONG", "HQ")}


def ev(kind: str, agency: str = "CA-TINH", id: str | None = None, **data):
    doc = examples(agency)[kind]
    return {**doc, "id": id or f"{doc['id']}-{kind}-{len(data)}-{agency}", "data": {**doc["data"], **data}}


@pytest.mark.parametrize(
    "header, detail",
    [
        (None, "send your agency's API token as `Authorization: Bearer tdo_...`"),
        ("Basic Q0EtVElOSDpwdw==", "send your agency's API token as `Authorization: Bearer tdo_...`"),
        ("Bearer ", "send your agency's API token"),
        ("Bearer not-a-token", "the API token is not valid"),
        ("Bearer tdo_000000000000_" + "x" * 43, "the API token is not valid"),
    ],
)
async def test_missing_or_invalid_token_is_401(service, header, detail):
    headers = {
        "content-type": "application/cloudevents+json",
        **({"authorization": header} if header else {}),
    }
    response = await service.client.post("/v1/events", json=ev("report.submitted"), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(detail)


async def test_right_token_id_with_a_wrong_secret_is_401(service, tokens):
    forged = tokens["HQ"][:-4] + ("AAAA" if not tokens["HQ"].endswith("AAAA") else "BBBB")
    response = await service.post(ev("report.submitted", "HQ"), forged)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "token_of, event, reason, pointer",
    [
        ("HQ", ev("report.submitted", "CA-TINH"), "source-mismatch", "/source"),
        (
            "CA-DAKRONG",
            ev("indicator.reported", "CA-DAKRONG", unit_code="HH-LAO-BAO"),
            "foreign-unit",
            "/data/unit_code",
        ),
        (
            "HQ",
            ev("indicator.reported", "HQ", indicator="drug_users_managed", unit_code="QT"),
            "indicator-not-assigned",
            "/data/indicator",
        ),
        ("HQ", ev("commune.assessed", "HQ"), "indicator-not-assigned", "/type"),
    ],
)
async def test_valid_token_but_not_your_data_is_403(service, tokens, token_of, event, reason, pointer):
    response = await service.post(event, tokens[token_of])
    assert response.status_code == 403, response.text
    body = response.json()
    assert (body["reason"], body["errors"][0]["pointer"]) == (reason, pointer)


async def test_ids_are_per_agency_so_reusing_another_agencys_id_reveals_nothing(service, tokens):
    first = await service.post(ev("report.submitted", "CA-TINH", id="shared-id"), tokens["CA-TINH"])
    other = await service.post(ev("report.submitted", "HQ", id="shared-id"), tokens["HQ"])
    assert (first.status_code, other.status_code) == (202, 202)
    assert other.json() == {"status": "accepted", "id": "shared-id"}


async def test_correcting_another_agencys_event_looks_exactly_like_correcting_a_missing_one(service, tokens):
    original = ev("indicator.reported", "CA-TINH", id="ca-original")
    assert (await service.post(original, tokens["CA-TINH"])).status_code == 202
    fix_theirs = {
        **ev("indicator.corrected", "HQ", id="hq-fix-1"),
        "data": {"corrects": "ca-original", "value": 1, "reason": "x"},
    }
    fix_nothing = {
        **fix_theirs,
        "id": "hq-fix-2",
        "data": {**fix_theirs["data"], "corrects": "no-such-event"},
    }
    theirs = await service.post(fix_theirs, tokens["HQ"])
    nothing = await service.post(fix_nothing, tokens["HQ"])
    assert theirs.status_code == nothing.status_code == 422
    assert theirs.json()["detail"].replace("ca-original", "X") == nothing.json()["detail"].replace(
        "no-such-event", "X"
    )
    own_fix = {**fix_theirs, "id": "ca-fix-1", "source": "/agencies/CA-TINH"}
    assert (await service.post(own_fix, tokens["CA-TINH"])).status_code == 202


async def test_revocation_bites_within_the_token_cache_ttl(service):
    token = await service.token("HQ")
    assert (await service.post(ev("report.submitted", "HQ", id="before-revoke"), token)).status_code == 202
    await service.container.tokens.revoke("HQ", NOW, token.split("_")[1])
    service.monotonic.t += service.settings.token_cache_ttl_s + 1
    assert (await service.post(ev("report.submitted", "HQ", id="after-revoke"), token)).status_code == 401


async def test_a_token_is_verified_once_then_cached(service, monkeypatch):
    """Argon2 once; after the TTL only the row is read again (revocation), never the hash."""
    token = await service.token("HQ")
    tokens = service.container.tokens
    hashes, rows = counting(monkeypatch, tokens, "_secret_matches"), counting(monkeypatch, tokens, "_row")
    for i in range(5):
        assert (await service.post(ev("report.submitted", "HQ", id=f"cached-{i}"), token)).status_code == 202
    assert (len(hashes), len(rows)) == (1, 1)
    service.monotonic.t += service.settings.token_cache_ttl_s + 1
    assert (await service.post(ev("report.submitted", "HQ", id="cached-after-ttl"), token)).status_code == 202
    assert (len(hashes), len(rows)) == (1, 2)
