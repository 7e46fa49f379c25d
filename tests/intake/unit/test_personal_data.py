"""The personal-data detector (services/intake/domain/personal_data.py): citizen ID numbers,
phone numbers and licence plates in free text are found; dates, amounts, case numbers and counts
are not; every free-text field of the contract is checked and the problem names the field."""

from __future__ import annotations

import typing
from datetime import datetime, timedelta
from functools import cache

import pytest
from pydantic import BaseModel

from services.intake.domain.personal_data import (
    FREE_TEXT_FIELDS,
    KINDS,
    find_identifiers,
    personal_data_problem,
)
from services.intake.domain.plan_rules import check_content
from services.intake.entrypoints.examples import examples
from shared.events import models
from shared.events.models import agency_event_adapter
from shared.plan import load_plan
from shared.plan.index import PlanIndex
from shared.settings import DEFAULT_PLAN

NOW = datetime.fromisoformat("2024-06-20T08:00:00+07:00")


@cache
def plan() -> PlanIndex:
    return load_plan(DEFAULT_PLAN).index


def kinds(text: str) -> list[str]:
    return [i.kind for i in find_identifiers(text)]


IDENTIFIERS = [
    ("Đối tượng CCCD 045203001234 đã được lập hồ sơ", "citizen-id"),
    ("số định danh: 001 203 012 345", "citizen-id"),
    ("CCCD 045.203.001.234", "citizen-id"),
    ("CCCD 0452-0300-1234", "citizen-id"),
    ("(045203001234)", "citizen-id"),
    ("liên hệ 0912345678", "phone-number"),
    ("SĐT: 0912 345 678", "phone-number"),
    ("ĐT 0912.345.678", "phone-number"),
    ("gọi 091-234-5678", "phone-number"),
    ("+84 912 345 678", "phone-number"),
    ("(+84) 912345678", "phone-number"),
    ("84912345678", "phone-number"),
    ("0386 123 456 (Viettel)", "phone-number"),
    ("máy bàn 0233 3852 123", "phone-number"),
    ("xe 74A-123.45 bị tạm giữ", "licence-plate"),
    ("xe máy 74-B1 234.56", "licence-plate"),
    ("xe 29LD-12345", "licence-plate"),
    ("74A1-234.56", "licence-plate"),
    ("biển 74A12345", "licence-plate"),
    ("biển cũ 29A-1234.", "licence-plate"),
]


@pytest.mark.parametrize(("text", "kind"), IDENTIFIERS)
def test_identifiers_are_found(text: str, kind: str) -> None:
    assert kinds(text) == [kind]


@pytest.mark.parametrize(("text", "kind"), IDENTIFIERS)
def test_the_quick_screen_lets_every_identifier_through(text: str, kind: str) -> None:
    """personal_data_problem skips text with fewer than six digits: no identifier may have fewer."""
    problem = personal_data_problem(event("indicator.reported", {"note": text}))
    assert problem is not None and KINDS[kind][1] in problem.errors[0].detail


@pytest.mark.parametrize(
    "text",
    [
        "Tuyên truyền tại 12 thôn, 1.250 lượt người tham gia",
        "ngày 20/06/2024, ngày 20.06.2024 và 2024-06-20",
        "thu giữ 1.500.000.000 đồng, 0,5 kg heroin, 12500000 đ",
        "Vụ án số 123/2024/HS-ST, Quyết định 05/QĐ-UBND, Kế hoạch 74/KH-CAT",
        "Điều 249 BLHS 2015; 03 vụ, 05 đối tượng",
        "mã báo cáo 2024-Q2-0912345678",  # part of a longer identifier
        "1234567890123",  # 13 digits: not a CCCD
        "145203001234",  # 12 digits but no province code 001-096
        "0612345678",  # 06x is no mobile prefix
        "09123456789",  # 11 digits
        "Tổ 15 KG 12345",  # a space between province and series: not a plate
        "Vụ 12HS-2024",  # a year is not a plate number
        "đợt 2 năm 2024: 74 xã, 3.456 hộ",
        "indicator CA-01, HH-KHE-SANH",
    ],
)
def test_near_misses_are_not_identifiers(text: str) -> None:
    assert kinds(text) == []


def event(kind: str, data: dict | None = None, **envelope):
    doc = examples("CA-TINH")[kind]
    doc = {**doc, **envelope, "data": {**doc["data"], **(data or {})}}
    return agency_event_adapter.validate_python({k: v for k, v in doc.items() if v is not None})


@pytest.mark.parametrize(
    ("kind", "data", "envelope", "pointer"),
    [
        ("indicator.reported", {"note": "người báo tin 0912 345 678"}, {}, "/data/note"),
        ("indicator.corrected", {"reason": "nhập nhầm CCCD 045203001234"}, {}, "/data/reason"),
        ("activity.recorded", {"note": "xe 74A-123.45"}, {}, "/data/note"),
        (
            "activity.recorded",
            {"target_groups": ["học sinh", "chủ xe 74-B1 234.56"]},
            {},
            "/data/target_groups/1",
        ),
        ("activity.recorded", {"channel": "Zalo 0912345678"}, {}, "/data/channel"),
        ("report.submitted", {"note": "liên hệ +84 912 345 678"}, {}, "/data/note"),
        ("commune.assessed", {"note": "045203001234"}, {}, "/data/note"),
        ("report.submitted", None, {"subject": "0912345678"}, "/subject"),
    ],
)
def test_the_problem_names_the_field_and_check_content_refuses_it(kind, data, envelope, pointer) -> None:
    e = event(kind, data, **envelope)
    problem = personal_data_problem(e)
    assert problem is not None
    assert (problem.reason, problem.status) == ("personal-data", 422)
    assert [err.pointer for err in problem.errors] == [pointer]
    field = ".".join(pointer.split("/")[1:])
    assert f"`{field}`" in problem.detail
    assert check_content(e, plan(), NOW, timedelta(minutes=5)) == problem  # the path both doors take
    body = problem.as_dict()
    text = str(body)
    assert "0912" not in text and "045203001234" not in text and "123.45" not in text  # never echoed


def test_every_example_passes() -> None:
    for kind in examples():
        assert personal_data_problem(event(kind)) is None


def _string_fields(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        text = str(info.annotation) + str(typing.get_args(info.annotation))
        if "str" in text:
            names.add(name)
    return names


def test_every_free_text_field_of_the_contract_is_checked() -> None:
    """A new string field is either a code (pattern-restricted) or listed as free text."""
    codes = {"indicator", "period", "unit_code", "activity", "corrects"}
    inputs = [
        models.IndicatorReported,
        models.IndicatorCorrected,
        models.ActivityRecorded,
        models.ReportSubmitted,
        models.CommuneAssessed,
    ]
    strings = set().union(*(_string_fields(m) for m in inputs))
    assert strings - codes == set(FREE_TEXT_FIELDS)


def test_mask_identifiers_hides_each_identifier_and_keeps_the_rest_and_the_lengths() -> None:
    from services.intake.domain.personal_data import mask_identifiers

    text = '{"note": "Đối tượng CCCD 045203001234, SĐT 0912 345 678, xe 74A-123.45; 1.500.000 đồng"}'
    masked = mask_identifiers(text)
    assert len(masked) == len(text)
    assert "045203001234" not in masked and "0912 345 678" not in masked and "74A-123.45" not in masked
    assert masked == (
        '{"note": "Đối tượng CCCD XXXXXXXXXXXX, SĐT XXXXXXXXXXXX, xe XXXXXXXXXX; 1.500.000 đồng"}'
    )
