"""The event models and the CloudEvents envelope, read against docs/contract.md."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import (
    CONTENT_TYPE,
    EVENT_TYPES,
    EXAMPLES,
    CloudEvent,
    DecisionIssued,
    OrderPlaced,
    example_data,
    example_event,
    new_event,
)

ALL_TYPES = sorted(EVENT_TYPES)
GUIYANG = timezone(timedelta(hours=8))


def envelope(type_: str = "vbp.order.placed", **changes: Any) -> dict[str, Any]:
    """The example event of `type_` as a JSON object, with envelope attributes replaced."""
    return {**json.loads(example_event(type_).to_json_bytes()), **changes}


def with_data(type_: str = "vbp.order.placed", **changes: Any) -> bytes:
    event = envelope(type_)
    event["data"] = {**event["data"], **changes}
    return json.dumps(event, ensure_ascii=False).encode()


def errors(raw: bytes | dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    with pytest.raises(ValidationError) as caught:
        CloudEvent.model_validate_json(data)
    return [(e["loc"], e["msg"]) for e in caught.value.errors()]


def test_every_contract_type_is_registered() -> None:
    contract = {
        "vbp.institution.registered", "vbp.product.listed", "vbp.agreement.signed",
        "vbp.order.placed", "vbp.order.cancelled", "vbp.delivery.accepted",
        "vbp.delivery.rejected", "vbp.supply.monthly_reported", "vbp.supply.production_stopped",
        "vbp.supply.production_resumed", "vbp.supply.shortfall_forecast", "vbp.payment.made",
        "vbp.fund.prepaid", "vbp.clock.tick", "vbp.quota.progress", "vbp.warning.raised",
        "vbp.shortage.escalated", "vbp.decision.issued", "vbp.notification.logged",
        "vbp.quota.monthly_summary",
    }
    assert set(EVENT_TYPES) == contract == set(EXAMPLES)


def test_models_carry_the_contract_field_names() -> None:
    assert list(EVENT_TYPES["vbp.delivery.accepted"].model_fields) == [
        "delivery_id", "order_id", "institution_id", "product_code", "quantity", "amount",
        "accepted_on",
    ]
    assert list(EVENT_TYPES["vbp.quota.progress"].model_fields)[:10] == [
        "agreement_id", "institution_id", "product_code", "period", "ordered_quantity",
        "accepted_quantity", "target_quantity", "completion_rate", "cumulative_quantity",
        "cumulative_target",
    ]
    assert list(EVENT_TYPES["vbp.supply.monthly_reported"].model_fields) == [
        "report_id", "manufacturer_id", "product_code", "month", "produced_quantity",
        "supplied_quantity", "inventory_quantity", "reserve_quantity", "monthly_capacity",
        "payments_received",
    ]


@pytest.mark.parametrize("type_", ALL_TYPES)
def test_example_validates_and_survives_a_round_trip_through_bytes(type_: str) -> None:
    event = example_event(type_)
    assert isinstance(event.data, EVENT_TYPES[type_])
    raw = event.to_json_bytes()
    again = CloudEvent.model_validate_json(raw)
    assert again == event
    assert again.to_json_bytes() == raw
    assert json.loads(raw)["data"] == EXAMPLES[type_]  # byte-exact example: strings stay strings


@pytest.mark.parametrize("type_", ALL_TYPES)
def test_example_validates_from_python_and_json_alike(type_: str) -> None:
    model = EVENT_TYPES[type_]
    assert model.model_validate(EXAMPLES[type_]) == model.model_validate_json(
        json.dumps(EXAMPLES[type_])
    )


def test_money_and_dates_come_out_as_strings() -> None:
    raw = example_event("vbp.delivery.accepted").to_json_bytes()
    data = json.loads(raw)["data"]
    assert data["amount"] == "2820.0000" and data["accepted_on"] == "2020-03-09"
    assert b'"amount":"2820.0000"' in raw


def test_bytes_are_utf8_without_escapes() -> None:
    raw = example_event("vbp.institution.registered").to_json_bytes()
    assert "贵阳市第一人民医院".encode() in raw


def test_data_is_dispatched_by_type() -> None:
    event = CloudEvent.model_validate_json(with_data("vbp.order.placed"))
    assert isinstance(event.data, OrderPlaced)
    assert event.data_as(OrderPlaced).unit_price == Decimal("0.9400")
    with pytest.raises(TypeError):
        event.data_as(DecisionIssued)


def test_data_of_another_type_is_refused() -> None:
    raw = envelope("vbp.order.placed", data=EXAMPLES["vbp.clock.tick"])
    assert (("data", "order_id"), "Field required") in errors(raw)


def test_unknown_type_is_one_clear_error() -> None:
    assert errors(envelope(type="vbp.order.shipped")) == [
        (("type",), "Value error, unknown event type 'vbp.order.shipped'")
    ]


@pytest.mark.parametrize("field", ["specversion", "id", "source", "type", "time", "province",
                                   "data"])
def test_required_envelope_attribute_missing(field: str) -> None:
    event = envelope()
    del event[field]
    assert ((field,), "Field required") in errors(event)


def test_missing_data_field_is_named() -> None:
    event = envelope()
    del event["data"]["order_id"]
    assert errors(event) == [(("data", "order_id"), "Field required")]


@pytest.mark.parametrize("raw", [
    b"\xff\xfe{}",
    with_data(reason="x").replace(b"520000", b"52\xc0\xaf00"),  # overlong UTF-8 encoding
    b'{"specversion": "1.0", ',
    b"",
])
def test_bytes_that_are_not_utf8_json_are_refused(raw: bytes) -> None:
    assert errors(raw)[0][0] == ()


@pytest.mark.parametrize("raw", [b"[]", b'"vbp.order.placed"', b"null", b"42"])
def test_json_that_is_not_an_object_is_refused(raw: bytes) -> None:
    assert errors(raw)


def test_time_must_carry_an_offset() -> None:
    assert errors(envelope(time="2020-03-05T10:00:00"))[0][0] == ("time",)
    assert errors(envelope(time=1583373600))[0][0] == ("time",)
    assert errors(envelope(time="2020-03-05"))[0][0] == ("time",)
    with pytest.raises(ValidationError):
        new_event("vbp.clock.tick", {"as_of": "2020-03-05"}, id="t1", source="/platform/520000",
                  time=datetime(2020, 3, 5, 10), province="520000")


def test_time_keeps_its_offset() -> None:
    event = CloudEvent.model_validate_json(json.dumps(envelope(time="2020-03-05T02:00:00Z")))
    assert event.time == datetime(2020, 3, 5, 10, tzinfo=GUIYANG)
    assert json.loads(event.to_json_bytes())["time"] == "2020-03-05T02:00:00Z"


@pytest.mark.parametrize("changes", [
    {"specversion": "0.3"}, {"specversion": 1.0}, {"id": ""}, {"id": "x" * 257}, {"source": ""},
    {"province": "52000"}, {"province": 520000}, {"datacontenttype": "text/plain"},
    {"subject": ""},
])
def test_bad_envelope_attribute_is_refused(changes: dict[str, Any]) -> None:
    (field,) = changes
    assert (field,) in [loc[:1] for loc, _ in errors(envelope(**changes))]


def test_extension_attributes_are_kept_when_well_formed() -> None:
    event = CloudEvent.model_validate_json(json.dumps(envelope(traceparent="00-ab-cd-01")))
    assert event.model_extra == {"traceparent": "00-ab-cd-01"}
    assert b'"traceparent":"00-ab-cd-01"' in event.to_json_bytes()
    assert errors(envelope(Trace_Parent="x"))
    assert errors(envelope(partition={"key": 1}))


def test_unknown_data_fields_are_ignored_for_forward_compatibility() -> None:
    event = CloudEvent.model_validate_json(with_data(priority="urgent"))
    assert "priority" not in event.data.model_dump()


def test_events_are_immutable() -> None:
    event = example_event("vbp.order.placed")
    with pytest.raises(ValidationError):
        event.data_as(OrderPlaced).quantity = 1  # type: ignore[misc]


def test_new_event_takes_a_model_or_a_mapping() -> None:
    data = OrderPlaced.model_validate(EXAMPLES["vbp.order.placed"])
    common: dict[str, Any] = dict(
        id="ord-20200305-000123", source="/platform/520000",
        time=datetime(2020, 3, 5, 10, tzinfo=GUIYANG), subject="H52010200001",
        province="520000",
    )
    from_model = new_event("vbp.order.placed", data, **common)
    from_mapping = new_event("vbp.order.placed", EXAMPLES["vbp.order.placed"], **common)
    assert from_model == from_mapping and from_model.data is data
    assert json.loads(from_model.to_json_bytes())["datacontenttype"] == "application/json"


def test_subject_is_left_out_when_absent() -> None:
    event = new_event("vbp.clock.tick", {"as_of": "2020-04-01"}, id="tick-2020-04-01",
                      source="/platform/520000", time="2020-04-01T00:00:00+08:00",
                      province="520000")
    assert "subject" not in json.loads(event.to_json_bytes())


def test_content_type_is_structured_cloudevents() -> None:
    assert CONTENT_TYPE == "application/cloudevents+json"


# -- cross-field rules -------------------------------------------------------------------------

def test_agreement_period_must_not_end_before_it_starts() -> None:
    assert errors(with_data("vbp.agreement.signed", period_end="2019-12-31"))
    one_day = with_data("vbp.agreement.signed", period_start="2020-01-01", period_end="2020-01-01")
    assert CloudEvent.model_validate_json(one_day).data.period_end == date(2020, 1, 1)  # type: ignore[attr-defined]


def test_agreement_distributors_are_unique_but_not_capped_by_the_schema() -> None:
    assert errors(with_data("vbp.agreement.signed",
                            distributor_ids=["D52010000017", "D52010000017"]))
    # The profile's limit is the supply.distributor_limit rule's business, not the schema's.
    many = [f"D520100000{n:02d}" for n in range(10)]
    assert CloudEvent.model_validate_json(with_data("vbp.agreement.signed", distributor_ids=many))


def test_pharmacies_and_only_pharmacies_have_p_codes() -> None:
    assert errors(with_data("vbp.institution.registered", kind="pharmacy"))
    assert errors(with_data("vbp.institution.registered", institution_id="P52010200001"))
    assert CloudEvent.model_validate_json(with_data(
        "vbp.institution.registered", institution_id="P52010200001", kind="pharmacy"))


def test_resumption_is_not_expected_before_the_stop() -> None:
    assert errors(with_data("vbp.supply.production_stopped", expected_resume_on="2020-04-01"))
    unknown = with_data("vbp.supply.production_stopped", expected_resume_on=None)
    assert CloudEvent.model_validate_json(unknown).data.expected_resume_on is None  # type: ignore[attr-defined]


def test_budget_cut_and_prepayment_decisions_carry_an_amount() -> None:
    for action in ("reduce_next_year_budget", "release_prepayment"):
        assert errors(with_data("vbp.decision.issued", action=action, amount=None))
        assert CloudEvent.model_validate_json(
            with_data("vbp.decision.issued", action=action, amount="11280.0000"))


@pytest.mark.parametrize(("type_", "field", "value"), [
    ("vbp.institution.registered", "kind", "state"),
    ("vbp.warning.raised", "severity", "fatal"),
    ("vbp.warning.raised", "subject_kind", "province"),
    ("vbp.shortage.escalated", "level", "county"),
    ("vbp.decision.issued", "action", "suspend_settlement"),
    ("vbp.notification.logged", "outcome", "delivered"),
    ("vbp.notification.logged", "status_code", "200"),
    ("vbp.notification.logged", "status_code", 42),
    ("vbp.notification.logged", "at", "2020-04-01T00:00:05"),
    ("vbp.product.listed", "winning", "true"),
    ("vbp.product.listed", "winning", 1),
    ("vbp.product.listed", "reference_units", "0"),
    ("vbp.quota.progress", "period", "2020-Q5"),
    ("vbp.quota.progress", "completion_rate", 0.6667),
    ("vbp.warning.raised", "metrics", {"completion_rate": 0.6667}),
    ("vbp.warning.raised", "rule", "Quota Quarterly"),
    ("vbp.payment.made", "delivery_ids", []),
    ("vbp.payment.made", "payee_id", "H52010200001"),
    ("vbp.agreement.signed", "cycle_year", "1"),
    ("vbp.clock.tick", "as_of", "2020-04-01T00:00:00+08:00"),
])
def test_enumerations_and_types_are_enforced(type_: str, field: str, value: Any) -> None:
    assert ("data", field) in [loc[:2] for loc, _ in errors(with_data(type_, **{field: value}))]


@pytest.mark.parametrize("period", ["2020-Q1", "2020-Q4", "2020-03", "2020"])
def test_progress_periods(period: str) -> None:
    event = CloudEvent.model_validate_json(with_data("vbp.quota.progress", period=period))
    assert event.data.period == period  # type: ignore[attr-defined]


def test_example_data_is_a_fresh_copy() -> None:
    data = example_data("vbp.agreement.signed", agreed_quantity=1)
    data["distributor_ids"].append("D52010000099")
    assert EXAMPLES["vbp.agreement.signed"]["distributor_ids"] == ["D52010000017", "D52010000023"]
    assert EXAMPLES["vbp.agreement.signed"]["agreed_quantity"] == 120000
