"""Hostile Kafka message values for the input topics, generated with hypothesis.

Each message starts from the documented example of an input event (schemas.events.EXAMPLES, in
its full envelope) and is broken in one named way (`FAULTS`). Almost all are refused by the codec
(runtime.codec.decode); the few that decode are refused by a service rule, named in
`Hostile.rejected_by`:

- `wrong_topic`: a registered type on a topic that is not its home (runtime.loop: each type
  only on its own topic, schemas.topics);
- `spoofed_manufacturer`: a report or incident sent by /manufacturer/A about manufacturer B
  (supply: a manufacturer reports only for itself);
- `resumed_without_stop`: a production resumption under an incident id no stop was reported
  under (supply);
- `alliance_not_from_partner`: a product on vbp.alliance.inbound not sent as /alliance/<partner>
  (supply).

`generate(count, seed)` is deterministic for a seed. Every message gets a unique event id (where
it still has one), so no hostile message can pass as a repeat of another.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from runtime.codec import MAX_EVENT_BYTES
from schemas.envelope import example_event, new_event
from schemas.events import EVENT_TYPES, EXAMPLES, INPUT_TYPES
from schemas.topics import TOPICS, TYPE_TOPIC
from schemas.types import MAX_QUANTITY

REPO = Path(__file__).resolve().parent.parent
CODEC = "codec"
ID_SENTINEL = "hostile-##########"
OVERSIZE_LIMIT = 1_000_000  # under the broker's 1 MiB message.max.bytes, dead-letter headers too
PARTNER = "510000"  # Sichuan, an alliance partner of the examples' Guizhou (520000)


@dataclass(frozen=True)
class Hostile:
    """One message to send: contract topic, Kafka key, value, and why it must be refused."""

    topic: str
    key: str | None
    value: bytes
    fault: str  # a name in FAULTS
    detail: str  # what exactly was broken
    rejected_by: str  # CODEC, or the service rule that refuses a message that decodes


@dataclass(frozen=True)
class Base:
    """A valid event to break: its topic, key and JSON-ready envelope (id = ID_SENTINEL)."""

    type: str
    topic: str
    key: str
    envelope: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.envelope["data"])

    def with_data(self, **changes: Any) -> dict[str, Any]:
        return {**self.envelope, "data": {**self.envelope["data"], **changes}}


def _base(type_: str) -> Base:
    event = example_event(type_).model_copy(update={"id": ID_SENTINEL})
    return Base(type_, TYPE_TOPIC[type_], event.subject or "", event.model_dump(mode="json"))


def _partner_product() -> Base:
    data = EXAMPLES["vbp.product.listed"]
    event = new_event("vbp.product.listed", data, id=ID_SENTINEL, source=f"/alliance/{PARTNER}",
                      time="2020-04-01T08:00:00+08:00", subject=PARTNER, province=PARTNER)
    return Base("vbp.product.listed", "vbp.alliance.inbound", PARTNER,
                event.model_dump(mode="json"))


BASES: list[Base] = [_base(t) for t in INPUT_TYPES] + [_partner_product()]
INPUT_TOPICS = sorted({b.topic for b in BASES})


def valid_bases() -> list[Hostile]:
    """The unbroken events the hostile ones start from (all valid), as messages."""
    return [Hostile(b.topic, b.key, _dump(b.envelope), "none", "valid base", "") for b in BASES]


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _data_fields(type_: str) -> dict[str, bool]:
    """`data` field name -> required, of the model of `type_`."""
    return {name: f.is_required() for name, f in EVENT_TYPES[type_].model_fields.items()}


# Field groups by what their values are (schemas.types), to break each the way it can break.
POSITIVE_QUANTITIES = {"quantity", "agreed_quantity"}
QUANTITIES = {"produced_quantity", "supplied_quantity", "inventory_quantity", "reserve_quantity",
              "monthly_capacity", "expected_capacity", "committed_quantity"}
YEARS = {"cycle_year": (1, 9999), "disbursement_year": (1000, 9999)}
MONEY = {"unit_price", "amount", "price", "payments_received", "avg_monthly_disbursement"}
IDENTIFIERS = {"order_id", "delivery_id", "payment_id", "prepayment_id", "agreement_id",
               "report_id", "incident_id"}
NAMES = {"name": 200, "generic_name": 200, "specification": 200, "unit": 200, "reason": 4000}
CODES = {
    "institution_id": r"[HP][0-9]{11}", "manufacturer_id": r"M[0-9]{11}",
    "distributor_id": r"D[0-9]{11}", "payee_id": r"[MD][0-9]{11}",
    "product_code": r"X[A-Z0-9]{22}|Z[A-Z0-9]{19}", "county_code": r"[0-9]{6}",
    "city_code": r"[0-9]{6}",
}
DATES = {"accepted_on", "paid_on", "period_start", "period_end", "stopped_on",
         "expected_resume_on", "resumed_on", "as_of"}
MONTHS = {"month"}
NULLABLE = {"expected_resume_on", "disbursement_year", "avg_monthly_disbursement"}


def _with_fields(fields: set[str] | dict[str, Any]) -> list[Base]:
    return [b for b in BASES if set(b.data) & set(fields)]


bases = st.sampled_from(BASES)


def _hostile(base: Base, value: bytes, fault: str, detail: str, *, key: str | None = "",
             rejected_by: str = CODEC) -> Hostile:
    return Hostile(base.topic, base.key if key == "" else key, value, fault, detail, rejected_by)


# -- bytes that are not a JSON object -----------------------------------------------------------

INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\x80", b"\xc0\xaf", b"\xc3\x28", b"\xed\xa0\x80",
                b"\xe2\x82", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80"]


@st.composite
def invalid_utf8(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    text = _dump(base.envelope).decode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        return _hostile(base, text.encode("utf-16"), "invalid_utf8", "UTF-16 encoded")
    at = draw(st.integers(0, len(text)))
    bad = draw(st.sampled_from(INVALID_UTF8))
    value = text[:at].encode() + bad + text[at:].encode()
    return _hostile(base, value, "invalid_utf8", f"{bad!r} at character {at}")


@st.composite
def not_json(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    raw = _dump(base.envelope)
    how = draw(st.sampled_from(["truncated", "binary", "python repr", "trailing garbage", "xml",
                                "byte order mark", "comment", "single quotes", "empty"]))
    if how == "truncated":
        value = raw[: draw(st.integers(0, len(raw) - 1))]
    elif how == "binary":
        value = draw(st.binary(min_size=1, max_size=300).filter(_not_json))
    elif how == "python repr":
        value = repr(base.envelope).encode()
    elif how == "trailing garbage":
        value = raw + draw(st.sampled_from([b",", b"}", b"x", b"{}", b"\x00", b" ,null"]))
    elif how == "xml":
        value = f"<event type=\"{base.type}\"><id>{ID_SENTINEL}</id></event>".encode()
    elif how == "byte order mark":
        value = b"\xef\xbb\xbf" + raw
    elif how == "comment":
        value = b"// event\n" + raw
    elif how == "single quotes":
        value = raw.replace(b'"', b"'")
    else:
        value = draw(st.sampled_from([b"", b" ", b"\n", b"\x00"]))
    # A compacted topic's broker refuses a message without a key: it would never reach a service.
    keys = [base.key] if TOPICS[base.topic].compacted else [None, base.key]
    return _hostile(base, value, "not_json", how, key=draw(st.sampled_from(keys)))


def _not_json(value: bytes) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return True
    return False


@st.composite
def not_object(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    value = draw(st.sampled_from([
        None, True, 0, -1, 3.5, "vbp.order.placed", [], [base.envelope],
        [base.envelope, base.envelope], _dump(base.envelope).decode(),  # double-encoded
    ]))
    return _hostile(base, _dump(value), "not_object", type(value).__name__)


# -- the envelope ---------------------------------------------------------------------------

REQUIRED_ENVELOPE = ["specversion", "id", "source", "type", "time", "province", "data"]


@st.composite
def missing_envelope_field(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    field = draw(st.sampled_from(REQUIRED_ENVELOPE))
    envelope = {k: v for k, v in base.envelope.items() if k != field}
    return _hostile(base, _dump(envelope), "missing_envelope_field", field)


@st.composite
def wrong_specversion(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    version = draw(st.sampled_from(["0.3", "1.1", "2.0", "", "1", "1.0 ", "v1.0", 1.0, 1, None]))
    return _hostile(base, _dump({**base.envelope, "specversion": version}), "wrong_specversion",
                    repr(version))


def _other_json_type(like: Any, *, nullable: bool = False) -> st.SearchStrategy[Any]:
    """A JSON value of another type than `like` (never a valid stand-in for it)."""
    choices: list[st.SearchStrategy[Any]] = [
        st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(), st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2), st.text(max_size=20),
    ]
    if not nullable:
        choices.append(st.none())
    return st.one_of(choices).filter(lambda v: not _same_json_type(v, like))


def _same_json_type(a: Any, b: Any) -> bool:
    def kind(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return type(v).__name__
        if isinstance(v, (int, float)):
            return "float" if isinstance(v, float) else "int"
        return type(v).__name__
    return kind(a) == kind(b)


@st.composite
def wrong_envelope_type(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    field = draw(st.sampled_from(
        ["specversion", "id", "source", "type", "time", "subject", "province", "datacontenttype",
         "data"]))
    value = draw(_other_json_type(base.envelope[field], nullable=field == "subject"))
    return _hostile(base, _dump({**base.envelope, field: value}), "wrong_envelope_type",
                    f"{field}={value!r}"[:200])


@st.composite
def bad_extension(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    if draw(st.booleans()):
        name = draw(st.sampled_from(["Region", "trace_id", "trace-id", "über", "x y", "ID", ""]))
        value: Any = "x"
    else:
        name = draw(st.sampled_from(["traceid", "batch"]))
        value = draw(st.sampled_from([None, 1.5, [], ["a"], {}, {"a": 1}]))
    return _hostile(base, _dump({**base.envelope, name: value}), "bad_extension",
                    f"{name!r}: {value!r}")


@st.composite
def unknown_type(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    type_ = draw(st.one_of(
        st.sampled_from([base.type.upper(), base.type + ".v2", " " + base.type, base.type + " ",
                         "vbp.order.shipped", "com.example.order", "vbp", "", "vbp.order.*"]),
        st.text(max_size=40),
    ).filter(lambda t: t not in EVENT_TYPES))
    return _hostile(base, _dump({**base.envelope, "type": type_}), "unknown_type", repr(type_))


@st.composite
def wrong_topic(draw: st.DrawFn) -> Hostile:
    """A registered type (input or output) on a topic that is not its home; it decodes fine."""
    type_ = draw(st.sampled_from(sorted(EVENT_TYPES)))
    topics = [t for t in INPUT_TOPICS if t not in (TYPE_TOPIC[type_], "vbp.alliance.inbound")]
    topic = draw(st.sampled_from(topics))
    event = example_event(type_).model_copy(update={"id": ID_SENTINEL})
    base = Base(type_, topic, event.subject or "", event.model_dump(mode="json"))
    return _hostile(base, _dump(base.envelope), "wrong_topic", f"{type_} on {topic}",
                    rejected_by=f"runtime.loop: {type_} is carried only on {TYPE_TOPIC[type_]}")


# -- the data ---------------------------------------------------------------------------------


@st.composite
def missing_data_field(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    required = [name for name, needed in _data_fields(base.type).items() if needed]
    if draw(st.integers(0, 9)) == 0:
        return _hostile(base, _dump({**base.envelope, "data": {}}), "missing_data_field", "all")
    field = draw(st.sampled_from(required))
    envelope = {**base.envelope, "data": {k: v for k, v in base.data.items() if k != field}}
    return _hostile(base, _dump(envelope), "missing_data_field", field)


@st.composite
def wrong_data_type(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    field = draw(st.sampled_from(sorted(base.data)))
    value = draw(_other_json_type(base.data[field], nullable=field in NULLABLE))
    return _hostile(base, _dump(base.with_data(**{field: value})), "wrong_data_type",
                    f"{field}={value!r}"[:200])


@st.composite
def huge_number(draw: st.DrawFn) -> Hostile:
    numeric = POSITIVE_QUANTITIES | QUANTITIES | set(YEARS) | MONEY | {"reference_units"}
    base = draw(st.sampled_from(_with_fields(numeric)))
    field = draw(st.sampled_from(sorted(set(base.data) & numeric)))
    value: Any
    if field in MONEY or field == "reference_units":
        limit = 10**12 if field in MONEY else 10**6
        whole = draw(st.one_of(st.integers(limit + 1, 10**16 - 1), st.integers(10**16, 10**40)))
        value = str(whole) + draw(st.sampled_from(["", ".0001", ".5"]))
    else:
        limit = YEARS[field][1] if field in YEARS else MAX_QUANTITY
        value = draw(st.one_of(st.integers(limit + 1, 10**30), st.just(10**400),
                               st.sampled_from([1e20, 1e308, 9.9e12])))
    return _hostile(base, _dump(base.with_data(**{field: value})), "huge_number",
                    f"{field}={value!r}"[:200])


@st.composite
def huge_string(draw: st.DrawFn) -> Hostile:
    where = draw(st.sampled_from(["identifier", "name", "envelope id", "envelope source"]))
    if where == "identifier":
        base = draw(st.sampled_from(_with_fields(IDENTIFIERS)))
        field = draw(st.sampled_from(sorted(set(base.data) & IDENTIFIERS)))
        value = _long(draw, 129, "k")
        envelope = base.with_data(**{field: value})
    elif where == "name":
        base = draw(st.sampled_from(_with_fields(NAMES)))
        field = draw(st.sampled_from(sorted(set(base.data) & set(NAMES))))
        value = _long(draw, NAMES[field] + 1, "药")
        envelope = base.with_data(**{field: value})
    else:
        base = draw(bases)
        field = where.split()[1]
        value = _long(draw, 257 if field == "id" else 2049, "i" if field == "id" else "/")
        envelope = {**base.envelope, field: value}
    return _hostile(base, _dump(envelope), "huge_string", f"{field} of {len(value):,} characters")


def _long(draw: st.DrawFn, at_least: int, fill: str) -> str:
    """A string of at least `at_least` characters (up to ~60 KB), built cheaply."""
    length = draw(st.one_of(st.integers(at_least, at_least + 10), st.integers(at_least, 20_000)))
    return (fill * length)[:length]


@st.composite
def not_positive(draw: st.DrawFn) -> Hostile:
    """Zero or negative quantities (zero only where the contract wants a positive one)."""
    base = draw(st.sampled_from(_with_fields(POSITIVE_QUANTITIES | QUANTITIES | MONEY)))
    field = draw(st.sampled_from(sorted(set(base.data) & (POSITIVE_QUANTITIES | QUANTITIES
                                                          | MONEY))))
    value: Any
    if field in MONEY:
        value = draw(st.sampled_from(["-0.0100", "-1", "-2820.0000", "-0"]))
    elif field in POSITIVE_QUANTITIES:
        value = draw(st.integers(-MAX_QUANTITY, 0))
    else:
        value = draw(st.integers(-MAX_QUANTITY, -1))
    return _hostile(base, _dump(base.with_data(**{field: value})), "not_positive",
                    f"{field}={value!r}")


@st.composite
def bad_code(draw: st.DrawFn) -> Hostile:
    fields = set(CODES) | {"distributor_ids", "province"}
    base = draw(st.sampled_from(_with_fields(fields) + BASES))
    field = draw(st.sampled_from(sorted((set(base.data) & fields) | {"province"})))
    pattern = CODES.get(field, r"D[0-9]{11}" if field == "distributor_ids" else r"[0-9]{6}")
    good = (base.envelope["province"] if field == "province"
            else base.data[field][0] if field == "distributor_ids" else base.data[field])
    value = draw(_broken_code(good).filter(lambda v: not re.fullmatch(pattern, v)))
    if field == "province":
        envelope = {**base.envelope, "province": value}
    elif field == "distributor_ids":
        envelope = base.with_data(distributor_ids=[*base.data[field][1:], value])
    else:
        envelope = base.with_data(**{field: value})
    return _hostile(base, _dump(envelope), "bad_code", f"{field}={value!r}")


def _broken_code(good: str) -> st.SearchStrategy[str]:
    at = st.integers(0, len(good) - 1)
    return st.one_of(
        st.just(good.lower()), st.just(good[:-1]), st.just(good + "0"), st.just(""),
        st.just(" " + good), st.just(good + "\n"),
        at.map(lambda i: good[:i] + good[i + 1:]),
        st.tuples(at, st.sampled_from(["Q", "x", "-", "１", "٣", "é", " ", "\u0000"])).map(
            lambda c: good[: c[0]] + c[1] + good[c[0] + 1:]),
        st.text(max_size=30),
    )


BAD_DATES = ["2020-02-30", "2021-02-29", "2020-13-01", "2020-00-10", "2020-04-31", "0000-01-01",
             "10000-01-01", "2020-1-5", "2020/01/05", "20200105", "2020-01-05T00:00:00+08:00",
             "05.01.2020", "", "yesterday", "2020-01-05 "]
BAD_MONTHS = ["2020-13", "2020-00", "2020-1", "202001", "2020-02-01", "20-02", "", "2020-Q1"]
BAD_TIMES = ["2020-03-05 10:00:00+08:00", "2020-03-05T10:00:00", "2020-03-05T24:00:00+08:00",
             "2020-02-30T10:00:00+08:00", "2020-03-05T10:00:00+99:00", "0000-03-05T10:00:00Z",
             "2020-03-05", "1583373600", "2020-03-05T10:61:00+08:00", "now"]


@st.composite
def bad_date(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    fields = sorted((set(base.data) & (DATES | MONTHS)) | {"time"})
    field = draw(st.sampled_from(fields))
    if field == "time":
        value = draw(st.sampled_from(BAD_TIMES))
        envelope = {**base.envelope, "time": value}
    else:
        value = draw(st.sampled_from(BAD_MONTHS if field in MONTHS else BAD_DATES))
        envelope = base.with_data(**{field: value})
    return _hostile(base, _dump(envelope), "bad_date", f"{field}={value!r}")


INCONSISTENT: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "period_end before period_start": (
        "vbp.agreement.signed", lambda d: {**d, "period_start": "2020-12-31",
                                           "period_end": "2020-01-01"}),
    "duplicate distributor_ids": (
        "vbp.agreement.signed", lambda d: {**d, "distributor_ids": ["D52010000017"] * 2}),
    "resumption expected before the stop": (
        "vbp.supply.production_stopped", lambda d: {**d, "expected_resume_on": "2020-03-01"}),
    "pharmacy code on a hospital": (
        "vbp.institution.registered", lambda d: {**d, "institution_id": "P52010200001"}),
    "hospital code on a pharmacy": (
        "vbp.institution.registered", lambda d: {**d, "kind": "pharmacy"}),
    "disbursement year without amount": (
        "vbp.institution.registered", lambda d: {**d, "avg_monthly_disbursement": None}),
    "payment of no delivery": ("vbp.payment.made", lambda d: {**d, "delivery_ids": []}),
    "payment of one delivery twice": (
        "vbp.payment.made", lambda d: {**d, "delivery_ids": d["delivery_ids"] * 2}),
    "money with five decimals": ("vbp.order.placed", lambda d: {**d, "unit_price": "0.94001"}),
    "money as exponent": ("vbp.fund.prepaid", lambda d: {**d, "amount": "1.86E+5"}),
    "unknown institution kind": ("vbp.institution.registered", lambda d: {**d, "kind": "clinic"}),
    "blank name": ("vbp.product.listed", lambda d: {**d, "generic_name": "   "}),
    "blank reason": ("vbp.delivery.rejected", lambda d: {**d, "reason": "\t"}),
    "zero reference units": ("vbp.product.listed", lambda d: {**d, "reference_units": "0"}),
}


@st.composite
def inconsistent(draw: st.DrawFn) -> Hostile:
    """Fields that are each well-formed but break a rule of the data model together."""
    what = draw(st.sampled_from(sorted(INCONSISTENT)))
    type_, change = INCONSISTENT[what]
    base = _base(type_)
    return _hostile(base, _dump({**base.envelope, "data": change(base.data)}), "inconsistent",
                    what)


@st.composite
def deeply_nested(draw: st.DrawFn) -> Hostile:
    base = draw(bases)
    depth = draw(st.integers(300, 5000))
    field = draw(st.sampled_from(sorted(base.data)))
    text = _dump(base.with_data(**{field: "@@"})).decode()
    value = text.replace('"@@"', "[" * depth + "]" * depth).encode()
    return _hostile(base, value, "deeply_nested", f"{field} nested {depth} deep")


@st.composite
def oversize(draw: st.DrawFn) -> Hostile:
    """A valid event padded past the codec's limit, but under Kafka's default 1 MiB."""
    base = draw(bases)
    size = draw(st.integers(MAX_EVENT_BYTES + 1, OVERSIZE_LIMIT))
    padded = _dump({**base.envelope, "padding": ""})
    value = _dump({**base.envelope, "padding": "x" * (size - len(padded))})
    return _hostile(base, value, "oversize", f"{len(value):,} bytes")


# -- decode fine, refused by a service rule ---------------------------------------------------


@st.composite
def spoofed_manufacturer(draw: st.DrawFn) -> Hostile:
    base = draw(st.sampled_from([b for b in BASES if b.type.startswith("vbp.supply.")]))
    other = draw(st.sampled_from(["M11000000329", "M99999999999", "M12000000783",
                                  "M11000000328"]).filter(
        lambda m: m != base.data["manufacturer_id"]))
    envelope = {**base.envelope, "source": f"/manufacturer/{other}"}
    return _hostile(base, _dump(envelope), "spoofed_manufacturer", f"sent by {other}",
                    rejected_by="supply: a manufacturer reports only for itself")


@st.composite
def resumed_without_stop(draw: st.DrawFn) -> Hostile:
    base = _base("vbp.supply.production_resumed")
    resumed_on = draw(st.dates(date(2020, 1, 1), date(2020, 12, 31))).isoformat()
    envelope = base.with_data(incident_id=f"{ID_SENTINEL}-inc", resumed_on=resumed_on)
    return _hostile(base, _dump(envelope), "resumed_without_stop", f"resumed on {resumed_on}",
                    rejected_by="supply: a resumption needs the stop of its incident")


@st.composite
def alliance_not_from_partner(draw: st.DrawFn) -> Hostile:
    base = BASES[-1]
    source, province = draw(st.sampled_from([
        ("/platform/520000", PARTNER), ("/alliance/520000", "520000"),
        ("/manufacturer/M11000000328", PARTNER), ("/alliance/530000", PARTNER)]))
    envelope = {**base.envelope, "source": source, "province": province}
    return _hostile(base, _dump(envelope), "alliance_not_from_partner",
                    f"source {source}, province {province}",
                    rejected_by="supply: partner products come as /alliance/<partner province>")


# Weights: an oversize message is ~0.3-1 MB and is copied to the dead-letter topic by each
# service reading it, so they are rare; the rest are equally likely.
FAULTS: dict[str, tuple[int, Callable[[], st.SearchStrategy[Hostile]]]] = {
    "invalid_utf8": (20, invalid_utf8),
    "not_json": (20, not_json),
    "not_object": (20, not_object),
    "missing_envelope_field": (20, missing_envelope_field),
    "wrong_specversion": (20, wrong_specversion),
    "wrong_envelope_type": (20, wrong_envelope_type),
    "bad_extension": (20, bad_extension),
    "unknown_type": (20, unknown_type),
    "wrong_topic": (20, wrong_topic),
    "missing_data_field": (20, missing_data_field),
    "wrong_data_type": (20, wrong_data_type),
    "huge_number": (20, huge_number),
    "huge_string": (20, huge_string),
    "not_positive": (20, not_positive),
    "bad_code": (20, bad_code),
    "bad_date": (20, bad_date),
    "inconsistent": (20, inconsistent),
    "deeply_nested": (20, deeply_nested),
    "oversize": (1, oversize),
    "spoofed_manufacturer": (20, spoofed_manufacturer),
    "resumed_without_stop": (10, resumed_without_stop),
    "alliance_not_from_partner": (10, alliance_not_from_partner),
}


def hostile_messages() -> st.SearchStrategy[Hostile]:
    """One hostile message, its fault drawn by the weights of FAULTS."""
    weighted = [name for name, (weight, _) in FAULTS.items() for _ in range(weight)]
    return st.sampled_from(weighted).flatmap(lambda name: FAULTS[name][1]())


def generate(count: int, seed: int = 0) -> list[Hostile]:
    """`count` hostile messages, the same ones for the same seed; each with a unique event id.

    Generated in a fresh interpreter: hypothesis also draws constants it finds in the project's
    modules loaded so far, so in this process the messages would depend on what was imported.
    """
    program = ("import pickle, sys; from faults.hostile import generate_here; "
               "sys.stdout.buffer.write(pickle.dumps(generate_here(*map(int, sys.argv[1:]))))")
    done = subprocess.run([sys.executable, "-c", program, str(count), str(seed)],
                          cwd=REPO, capture_output=True, check=True)
    messages: list[Hostile] = pickle.loads(done.stdout)
    return messages


def generate_here(count: int, seed: int) -> list[Hostile]:
    found: list[Hostile] = []
    attempt = 0
    while len(found) < count:

        @settings(max_examples=count - len(found), database=None, phases=[Phase.generate],
                  deadline=None, suppress_health_check=list(HealthCheck))
        @hypothesis_seed(seed * 1000 + attempt)
        @given(hostile_messages())
        def collect(message: Hostile) -> None:
            found.append(message)

        collect()
        attempt += 1
    return [_numbered(message, n) for n, message in enumerate(found[:count])]


def _numbered(message: Hostile, n: int) -> Hostile:
    sentinel = ID_SENTINEL.encode()
    unique = f"hostile-{n:010d}".encode()
    assert len(unique) == len(sentinel)  # same length: sizes stay as generated
    value = message.value.replace(sentinel, unique)
    return Hostile(message.topic, message.key, value, message.fault, message.detail,
                   message.rejected_by)
