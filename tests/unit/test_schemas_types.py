"""Identifier, quantity, money and date rules of docs/contract.md ("Conventions inside data")."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import types as t

Case = tuple[Any, list[Any], list[Any]]

IDENTIFIER_CASES: dict[str, Case] = {
    "institution": (t.InstitutionId,
                    ["H52010200001", "P52010200001"],
                    ["h52010200001", "X52010200001", "H5201020000", "H520102000011", "H5201020000A",
                     "H５2010200001", " H52010200001", "H52010200001\n", 52010200001]),
    "manufacturer": (t.ManufacturerId, ["M11000000328"],
                     ["M1100000032", "D11000000328", "m11000000328", "M110000003280"]),
    "distributor": (t.DistributorId, ["D52010000017"],
                    ["D5201000001", "M52010000017", "D52010000017 "]),
    "product": (t.ProductCode,
                ["XC10AAA081A001010100328", "ZD01BAY0318010302251"],
                ["XC10AAA081A00101010032",     # 22 characters
                 "XC10AAA081A0010101003280",   # 24
                 "ZD01BAY031801030225",        # 19
                 "ZD01BAY0318010302251X",      # 21
                 "XD01BAY0318010302251",       # X with the Chinese-medicine length
                 "ZC10AAA081A001010100328",    # Z with the Western length
                 "xc10aaa081a001010100328", "XC10AAA081A0010101-0328", "YC10AAA081A001010100328"]),
    "region": (t.RegionCode, ["520000", "520102"], ["52000", "5200000", "52000A", 520000]),
    "month": (t.Month, ["2020-01", "2020-12"], ["2020-13", "2020-00", "2020-1", "202001",
                                                  "2020-01-01"]),
    "period": (t.Period, ["2020-Q1", "2020-Q4", "2020-03", "2020"],
               ["2020-Q0", "2020-Q5", "2020-q1", "Q1", "2020-13", "2020-H1"]),
    "identifier": (t.Identifier, ["ord-20200305-000123", "a:b/c.d_e"],
                   ["", "has space", "x" * 129, "订单1", 123]),
}


@pytest.mark.parametrize(("kind", "good"), [
    (kind, value) for kind, (_, goods, _) in IDENTIFIER_CASES.items() for value in goods
])
def test_identifier_accepted(kind: str, good: Any) -> None:
    adapter = TypeAdapter(IDENTIFIER_CASES[kind][0])
    assert adapter.validate_json(json.dumps(good)) == good


@pytest.mark.parametrize(("kind", "bad"), [
    (kind, value) for kind, (_, _, bads) in IDENTIFIER_CASES.items() for value in bads
])
def test_identifier_refused(kind: str, bad: Any) -> None:
    adapter = TypeAdapter(IDENTIFIER_CASES[kind][0])
    with pytest.raises(ValidationError):
        adapter.validate_json(json.dumps(bad, ensure_ascii=False))
    with pytest.raises(ValidationError):
        adapter.validate_python(bad)


QUANTITY = TypeAdapter(t.Quantity)
POSITIVE = TypeAdapter(t.PositiveQuantity)


@pytest.mark.parametrize("raw", ["0", "3000", str(t.MAX_QUANTITY)])
def test_quantity_accepted(raw: str) -> None:
    assert QUANTITY.validate_json(raw) == int(raw)


@pytest.mark.parametrize("raw", ['"3000"', "3000.0", "3e3", "true", "-1", "null",
                                 str(t.MAX_QUANTITY + 1), "1" + "0" * 40])
def test_quantity_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        QUANTITY.validate_json(raw)
    with pytest.raises(ValidationError):
        QUANTITY.validate_python(json.loads(raw))


def test_orders_and_deliveries_need_a_positive_quantity() -> None:
    assert POSITIVE.validate_json("1") == 1
    with pytest.raises(ValidationError):
        POSITIVE.validate_json("0")


MONEY = TypeAdapter(t.Money)


@pytest.mark.parametrize(("raw", "value"), [
    ('"0.3200"', Decimal("0.3200")), ('"0"', Decimal(0)), ('"12"', Decimal(12)),
    ('"2820.5"', Decimal("2820.5")), ('"999999999999.9999"', Decimal("999999999999.9999")),
])
def test_money_accepted_as_a_decimal_string(raw: str, value: Decimal) -> None:
    parsed = MONEY.validate_json(raw)
    assert isinstance(parsed, Decimal) and parsed == value
    assert MONEY.dump_json(parsed).decode() == raw  # written back exactly as received


@pytest.mark.parametrize("raw", [
    "0.32", "1", "0", "true", "null",                           # JSON numbers: never
    '"-0.32"', '"+0.32"', '"0.32001"', '"1e3"', '"1E+3"', '"NaN"', '"Infinity"', '"-0"',
    '" 0.32"', '"0.32 "', '"0,32"', '"1_000"', '".5"', '"5."', '"00.5"', '""', '"０.５"',
    '"1000000000000.0001"', '"99999999999999999"',
])
def test_money_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        MONEY.validate_json(raw)


def test_money_from_python() -> None:
    assert MONEY.validate_python(Decimal("0.32")) == Decimal("0.32")
    assert MONEY.dump_json(MONEY.validate_python(Decimal("1E+3"))) == b'"1000"'  # no exponent
    assert MONEY.dump_json(MONEY.validate_python(Decimal("-0.00"))) == b'"0.00"'
    for bad in (0.32, 1, True, Decimal("0.00001"), Decimal("-1"), Decimal("NaN"),
                Decimal("Infinity")):
        with pytest.raises(ValidationError):
            MONEY.validate_python(bad)


def test_rates_and_units_are_decimal_strings_too() -> None:
    assert TypeAdapter(t.Rate).validate_json('"1.0500"') == Decimal("1.05")  # early completion
    assert TypeAdapter(t.Units).validate_json('"0.5"') == Decimal("0.5")
    for adapter, raw in ((TypeAdapter(t.Rate), "0.8"), (TypeAdapter(t.Units), '"0"'),
                         (TypeAdapter(t.Rate), '"0.66667"')):
        with pytest.raises(ValidationError):
            adapter.validate_json(raw)


DATE = TypeAdapter(t.IsoDate)


def test_dates_are_iso_strings() -> None:
    assert DATE.validate_json('"2020-02-29"') == date(2020, 2, 29)
    assert DATE.validate_python(date(2020, 2, 29)) == date(2020, 2, 29)
    assert DATE.dump_json(date(2020, 3, 5)) == b'"2020-03-05"'


@pytest.mark.parametrize("raw", ['"2019-02-29"', '"2020-13-01"', '"2020-3-5"', '"20200305"',
                                 '"2020-03-05T00:00:00"', '"2020-03-05Z"', "1583366400", "null",
                                 '"05/03/2020"'])
def test_dates_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        DATE.validate_json(raw)


def test_a_datetime_is_not_a_date() -> None:
    with pytest.raises(ValidationError):
        DATE.validate_python(datetime(2020, 3, 5, tzinfo=UTC))


TIMESTAMP = TypeAdapter(t.Timestamp)


@pytest.mark.parametrize("raw", ['"2020-03-05T10:00:00+08:00"', '"2020-03-05T02:00:00Z"',
                                 '"2020-03-05t02:00:00z"', '"2020-03-05T02:00:00.123456-05:00"'])
def test_timestamps_with_offset_accepted(raw: str) -> None:
    assert TIMESTAMP.validate_json(raw).utcoffset() is not None


@pytest.mark.parametrize("raw", ['"2020-03-05T10:00:00"', '"2020-03-05 10:00:00+08:00"',
                                 '"2020-03-05"', "1583373600", '"2020-03-05T10:00+08:00"',
                                 '"2020-03-05T25:00:00+08:00"'])
def test_timestamps_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        TIMESTAMP.validate_json(raw)


def test_naive_datetime_refused_from_python() -> None:
    with pytest.raises(ValidationError, match="offset"):
        TIMESTAMP.validate_python(datetime(2020, 3, 5, 10))


METRICS = TypeAdapter(t.Metrics)


def test_metrics_take_json_values_but_no_floats() -> None:
    value = {"rate": Decimal("0.6667"), "n": 3, "ok": True, "ids": ["a"], "sub": {"x": None}}
    assert METRICS.validate_python(value)["rate"] == "0.6667"
    for bad in ({"rate": 0.6667}, {"deep": [{"rate": 1.5}]}, {"when": date(2020, 1, 1)}):
        with pytest.raises(ValidationError):
            METRICS.validate_python(bad)
    with pytest.raises(ValidationError):
        METRICS.validate_json('{"rate": 0.6667}')


def test_json_schema_says_money_is_a_string() -> None:
    schema = MONEY.json_schema()
    assert schema["type"] == "string" and "pattern" in schema and "number" not in str(schema)
    assert QUANTITY.json_schema()["type"] == "integer"
    assert TypeAdapter(t.ProductCode).json_schema()["examples"]
