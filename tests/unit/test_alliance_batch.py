"""The exchange's wire format and the receiver's checks, in the order docs/alliance-exchange.md
gives them, each with the status it answers."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.envelope import new_event
from schemas.events import example_data
from services.alliance import batch, keys
from services.alliance.config import CATEGORIES, Partner

A, B = "520000", "530000"
NOW = datetime(2020, 4, 2, 2, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
A_KEY = Ed25519PrivateKey.generate()
A_KID = keys.key_id(A, A_KEY.public_key())


def partner(accept: frozenset[str] = frozenset(CATEGORIES)) -> dict[str, Partner]:
    return {A: Partner(A, "贵州省", "http://a.invalid/v1/alliance/inbound",
                       {A_KID: A_KEY.public_key()}, frozenset(CATEGORIES), accept)}


def shared(type_: str = "vbp.product.listed", id_: str = f"{A}-availability-1",
           province: str = A, source: str | None = None, **data: Any) -> dict[str, Any]:
    event = new_event(type_, example_data(type_, **data), id=id_, time="2020-04-01T10:00:00+08:00",
                      source=source or f"/alliance/{province}", province=province)
    return json.loads(event.to_json_bytes())


def body(events: list[dict[str, Any]] | None = None, sender: str = A, sent_at: datetime = NOW,
         bid: str = "520000-530000-0-0-abc") -> bytes:
    return batch.encode(bid, sender, sent_at, events if events is not None else [shared()])


def check(raw: bytes, key: Ed25519PrivateKey = A_KEY, sender: str = A, signed: bytes | None = None,
          partners: dict[str, Partner] | None = None, **headers: str | None) -> batch.Admitted:
    signature = batch.signed_headers(sender, key, A_KID, signed or raw)
    h: dict[str, str | None] = {**signature, **headers}
    return batch.check({k: v for k, v in h.items() if v is not None}, raw,
                       partners or partner(), NOW, WINDOW)


def refused(raw: bytes, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(batch.Refusal) as caught:
        check(raw, **kwargs)
    return caught.value.status, caught.value.code


def test_a_signed_batch_from_a_partner_is_admitted_unchanged() -> None:
    events = [shared(), shared("vbp.shortage.escalated", f"{A}-escalation-1", level="alliance")]
    admitted = check(body(events))
    assert (admitted.sender, admitted.key_id) == (A, A_KID)
    assert admitted.batch_id == "520000-530000-0-0-abc"
    assert admitted.events == events


def test_header_names_are_case_insensitive() -> None:
    raw = body()
    headers = {k.lower(): v for k, v in batch.signed_headers(A, A_KEY, A_KID, raw).items()}
    assert batch.check(headers, raw, partner(), NOW, WINDOW).sender == A


def test_without_a_key_id_any_key_of_the_partner_may_verify() -> None:
    assert check(body(), **{batch.KEY_ID_HEADER: None}).key_id == A_KID


def test_unknown_province_is_403_before_anything_else() -> None:
    assert refused(body(sender="110000"), sender="110000") == (403, "unknown_sender")
    assert refused(body(), **{batch.PROVINCE_HEADER: None}) == (403, "unknown_sender")


def test_missing_forged_and_altered_signatures_are_401() -> None:
    raw = body()
    assert refused(raw, **{batch.SIGNATURE_HEADER: None}) == (401, "missing_signature")
    assert refused(raw, key=Ed25519PrivateKey.generate()) == (401, "bad_signature")
    altered = raw.replace(b'"winning":true', b'"winning":false')
    assert altered != raw
    assert refused(altered, signed=raw) == (401, "bad_signature")
    assert refused(raw, **{batch.SIGNATURE_HEADER: "not base64!"}) == (401, "bad_signature")
    assert refused(raw, **{batch.KEY_ID_HEADER: f"{A}-00000000"}) == (401, "unknown_key")


@pytest.mark.parametrize("raw", [
    b"not json", b"[1, 2]", b'{"batch_id": "x"}',
    batch.encode("has space", A, NOW, [{}]),
    batch.encode("ok", "52", NOW, [{}]),
    batch.encode("ok", A, NOW, []),
    json.dumps({"batch_id": "ok", "sender": A, "sent_at": "2020-04-02T02:00:00",
                "events": [{}]}).encode(),
])
def test_a_signed_but_malformed_batch_is_422(raw: bytes) -> None:
    assert refused(raw) == (422, "malformed_batch")


def test_a_batch_speaking_for_another_province_is_403() -> None:
    assert refused(body(sender=B)) == (403, "sender_mismatch")
    assert refused(body([shared(province=B)])) == (403, "foreign_event")
    assert refused(body([shared(source="/platform/520000")])) == (403, "foreign_event")


@pytest.mark.parametrize("offset", [-WINDOW - timedelta(seconds=1), WINDOW + timedelta(seconds=1)])
def test_sent_outside_the_window_is_stale(offset: timedelta) -> None:
    assert refused(body(sent_at=NOW + offset)) == (422, "stale_batch")


def test_at_the_window_edge_is_still_fresh() -> None:
    assert check(body(sent_at=NOW - WINDOW)).sender == A


def test_events_must_be_valid_distinct_and_prefixed_by_the_sender() -> None:
    bad = shared()
    bad["data"]["winning"] = "yes"
    assert refused(body([bad])) == (422, "invalid_event")
    assert refused(body([shared(id_="availability-1")])) == (422, "invalid_event")
    assert refused(body([shared(), shared()])) == (422, "invalid_event")


def test_a_type_the_partner_may_not_send_is_403() -> None:
    assert refused(body([shared("vbp.order.placed", f"{A}-o-1")])) == (403, "type_not_accepted")
    only_progress = partner(frozenset({"progress"}))
    assert refused(body(), partners=only_progress) == (403, "type_not_accepted")


def test_batch_ids_are_deterministic_and_change_with_the_events() -> None:
    first = batch.batch_id(A, B, 10, 14, ["e1", "e2"])
    assert first == batch.batch_id(A, B, 10, 14, ["e1", "e2"])
    assert first.startswith("520000-530000-10-14-")
    assert first != batch.batch_id(A, B, 10, 14, ["e1", "e3"])
    assert first != batch.batch_id(A, "500000", 10, 14, ["e1", "e2"])


def test_the_signature_covers_the_exact_bytes() -> None:
    raw = body()
    signature = keys.sign(A_KEY, raw)
    assert keys.verify(A_KEY.public_key(), raw, signature)
    assert not keys.verify(A_KEY.public_key(), raw + b" ", signature)
    assert keys.decode_public(keys.encode_public(A_KEY.public_key())) is not None
