"""One kind of event per figure (issue 15): a session reported in a monthly figure and recorded as
an activity would count twice; the plan says which kind makes each agency's figure
(`from_activities`) and intake refuses the other with a 422 that says so."""

from __future__ import annotations

from services.intake.entrypoints.examples import examples


def doc(kind: str, agency: str, id: str, **data) -> dict:
    base = examples(agency)[kind]
    merged = {k: v for k, v in {**base["data"], **data}.items() if v is not None}
    return {**base, "id": id, "data": merged}


async def test_the_other_kind_of_event_for_a_figure_is_refused_with_a_reason(service):
    commune, border = await service.token("UBND-KHE-SANH"), await service.token("BDBP")
    figure = doc(
        "indicator.reported",
        "UBND-KHE-SANH",
        "fs-figure",
        indicator="propaganda_sessions",
        period="2024-06",
        value=1,
        unit_code=None,
    )
    assert (await service.post(figure, commune)).status_code == 202
    twice = await service.post(
        doc("activity.recorded", "UBND-KHE-SANH", "fs-session", unit_code=None), commune
    )
    assert twice.status_code == 422, twice.text
    problem = twice.json()
    assert problem["reason"] == "wrong-figure-source" and problem["errors"][0]["pointer"] == "/data/activity"
    assert "twice" in problem["detail"] and "propaganda_sessions" in problem["detail"]

    assert (
        await service.post(doc("activity.recorded", "BDBP", "fs-border-session", unit_code=None), border)
    ).status_code == 202
    reported = await service.post(
        doc(
            "indicator.reported",
            "BDBP",
            "fs-border-figure",
            indicator="propaganda_sessions",
            period="2024-06",
            value=4,
            unit_code=None,
        ),
        border,
    )
    assert reported.status_code == 422 and reported.json()["reason"] == "wrong-figure-source", reported.text
    assert reported.json()["errors"][0]["pointer"] == "/data/indicator"
