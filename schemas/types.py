"""Constrained types shared by every event model (docs/contract.md, "Envelope" conventions).

Every type validates a JSON-decoded value exactly as it validates raw JSON, so
`Model.model_validate(json.loads(raw))` and `Model.model_validate_json(raw)` agree: numbers are
never coerced from strings, money never from numbers, dates only from ISO strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, StringConstraints, WithJsonSchema

MAX_QUANTITY = 10**12
MAX_MONEY = Decimal(10**12)


def _id(pattern: str) -> StringConstraints:
    # `[0-9]`, not `\d`: `\d` also matches digits of other scripts.
    return StringConstraints(strict=True, pattern=pattern)


InstitutionId = Annotated[
    str,
    _id(r"^[HP][0-9]{11}$"),
    Field(
        description="Designated-institution code: H (hospitals, clinics) or P (pharmacies) "
        "+ 6-digit area code + 5 digits.",
        examples=["H52010200001"],
    ),
]
ManufacturerId = Annotated[
    str,
    _id(r"^M[0-9]{11}$"),
    Field(description="Manufacturer id: M + 11 digits.", examples=["M11000000328"]),
]
DistributorId = Annotated[
    str,
    _id(r"^D[0-9]{11}$"),
    Field(description="Distributor id: D + 11 digits.", examples=["D52010000017"]),
]
PartyId = Annotated[
    str,
    _id(r"^[MD][0-9]{11}$"),
    Field(description="A manufacturer (M...) or distributor (D...) id.", examples=["D52010000017"]),
]
ProductCode = Annotated[
    str,
    _id(r"^(X[A-Z0-9]{22}|Z[A-Z0-9]{19})$"),
    Field(
        description="National medical-insurance drug code: 23 characters starting with X "
        "(Western medicine) or 20 starting with Z (Chinese patent medicine); "
        "uppercase letters and digits.",
        examples=["XC10AAA081A001010100328", "ZD01BAY0318010302251"],
    ),
]
RegionCode = Annotated[
    str,
    _id(r"^[0-9]{6}$"),
    Field(description="6-digit GB/T 2260 administrative region code.", examples=["520000"]),
]
Month = Annotated[
    str,
    _id(r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
    Field(description="Calendar month, YYYY-MM.", examples=["2020-03"]),
]
Period = Annotated[
    str,
    _id(r"^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"),
    Field(
        description="Period: YYYY-Qn (agreement-relative quarter counted from period_start), "
        "YYYY-MM (month) or YYYY (year).",
        examples=["2020-Q1", "2020-03", "2020"],
    ),
]
# Printable ASCII without spaces: ids travel in Kafka keys, URLs and log lines.
Identifier = Annotated[
    str,
    _id(r"^[!-~]{1,128}$"),
    Field(
        description="Sender-chosen id: 1-128 printable ASCII characters, no spaces.",
        examples=["ord-20200305-000123"],
    ),
]
RuleName = Annotated[
    str,
    _id(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"),
    Field(
        description="Rule name as listed in docs/contract.md.",
        examples=["quota.quarterly_completion"],
    ),
]
Name = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=200, pattern=r"\S"),
    Field(description="Non-blank name, at most 200 characters.", examples=["阿托伐他汀钙片"]),
]
Text = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=4000, pattern=r"\S"),
    Field(description="Non-blank free text, at most 4000 characters.", examples=["包装破损"]),
]

Quantity = Annotated[
    int,
    Field(
        strict=True, ge=0, le=MAX_QUANTITY,
        description="Integer count in the product's minimum unit (片/粒/支); never a string.",
        examples=[3000],
    ),
]
PositiveQuantity = Annotated[
    int,
    Field(
        strict=True, gt=0, le=MAX_QUANTITY,
        description="Positive integer count in the product's minimum unit (片/粒/支).",
        examples=[3000],
    ),
]

Severity = Literal["info", "warning", "critical"]
# "jurisdiction" (our extension): the deployment's own province or city, e.g. a calendar warning
SubjectKind = Literal[
    "institution", "manufacturer", "distributor", "product", "agreement", "jurisdiction"]


def _decimal_parser(what: str, places: int, example: str) -> Callable[[object], Decimal]:
    """Accept a Decimal, or a plain decimal string; refuse numbers (contract: never a float)."""
    text = re.compile(_decimal_pattern(places))

    def parse(value: object) -> Decimal:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{what} must be finite, got {value}")
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and exponent < -places:
                raise ValueError(f"{what} has more than {places} decimal places: {value}")
            return value.copy_abs() if value.is_zero() else value  # no "-0"
        if isinstance(value, str):
            if text.fullmatch(value):
                return Decimal(value)
            raise ValueError(
                f"{what} must be a plain decimal string with at most {places} decimal places "
                f"(like {example!r}), got {value!r}"
            )
        if isinstance(value, (int, float)):
            raise ValueError(f"{what} must be a decimal string like {example!r}, not a JSON number")
        raise ValueError(f"{what} must be a decimal string like {example!r}")

    return parse


def _decimal_pattern(places: int) -> str:
    return rf"(0|[1-9][0-9]{{0,15}})(\.[0-9]{{1,{places}}})?"


def _decimal_json_schema(places: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^{_decimal_pattern(places)}$"})


# Decimal's default JSON form is str(d), which may use an exponent ("1E+3").
_PLAIN_STRING = PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")

Money = Annotated[
    Decimal,
    BeforeValidator(_decimal_parser("money", 4, "0.3200")),
    Field(
        ge=0, le=MAX_MONEY,
        description="Amount in yuan as a decimal string, at most 4 decimal places.",
        examples=["0.3200"],
    ),
    _PLAIN_STRING,
    _decimal_json_schema(4),
]
Rate = Annotated[
    Decimal,
    BeforeValidator(_decimal_parser("rate", 4, "0.6667")),
    Field(
        ge=0, le=1000,
        description="Ratio as a decimal string (1 = 100 %), at most 4 decimal places.",
        examples=["0.6667"],
    ),
    _PLAIN_STRING,
    _decimal_json_schema(4),
]
Units = Annotated[
    Decimal,
    BeforeValidator(_decimal_parser("units", 6, "2")),
    Field(
        gt=0, le=10**6,
        description="Positive decimal string, at most 6 decimal places.",
        examples=["2"],
    ),
    _PLAIN_STRING,
    _decimal_json_schema(6),
]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _parse_date(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError("expected a date, got a datetime")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"invalid calendar date {value!r}") from None
    raise ValueError(f"date must be a string YYYY-MM-DD, got {value!r}")


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            raise ValueError(f"invalid timestamp {value!r}") from None
    else:
        raise ValueError(f"timestamp must be an RFC 3339 string with offset, got {value!r}")
    if parsed.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339), got a naive time")
    return parsed


IsoDate = Annotated[
    date,
    BeforeValidator(_parse_date),
    Field(description="Calendar date, YYYY-MM-DD.", examples=["2020-03-05"]),
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_timestamp),
    Field(
        description="RFC 3339 timestamp with UTC offset.", examples=["2020-03-05T10:00:00+08:00"]
    ),
]


def _check_metrics(value: object, depth: int = 0) -> Any:
    # Floats are refused here as in money: a metric like 0.6667 must be the string "0.6667".
    if depth > 8:
        raise ValueError("metrics nest deeper than 8 levels")
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("metric decimals must be finite")
        return format(value, "f")
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("metric keys must be strings")
        return {k: _check_metrics(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_check_metrics(v, depth + 1) for v in value]
    if isinstance(value, float):
        raise ValueError("metric values must not be floats: use decimal strings like '0.6667'")
    raise ValueError(f"metric values must be JSON values, got {type(value).__name__}")


Metrics = Annotated[
    dict[str, Any],
    BeforeValidator(lambda v: _check_metrics(v) if isinstance(v, dict) else v),
    Field(
        description="JSON object of the figures behind the event; decimals as strings, no floats.",
        examples=[{"completion_rate": "0.6667", "target_quantity": 30000}],
    ),
]
