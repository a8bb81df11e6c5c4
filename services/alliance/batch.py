"""The wire format of the exchange: a signed JSON batch of CloudEvents (docs/alliance-exchange.md).

Pure functions: building and signing a batch for a partner, and checking one received, in the
order the spec gives, with the status each failure answers. Replays need the receiver's memory
and are checked by the caller (inbound.py).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from runtime.codec import _reason
from schemas.envelope import CloudEvent
from services.alliance import keys
from services.alliance.config import CATEGORY_TYPES, Partner

PROVINCE_HEADER = "X-VBP-Province"
KEY_ID_HEADER = "X-VBP-Key-Id"
SIGNATURE_HEADER = "X-VBP-Signature"
PATH = "/v1/alliance/inbound"
MAX_EVENTS = 10_000

_BATCH_ID = re.compile(r"^[!-~]{1,128}$")
_PROVINCE = re.compile(r"^[0-9]{6}$")

# How the endpoint's OpenAPI document names the signature headers.
SECURITY = {
    "province": {"type": "apiKey", "in": "header", "name": PROVINCE_HEADER,
                 "description": "The sending partner's GB/T 2260 code"},
    "signature": {"type": "apiKey", "in": "header", "name": SIGNATURE_HEADER,
                  "description": f"Base64 Ed25519 signature of the body by the key that "
                                 f"{KEY_ID_HEADER} names (any of the sender's keys without it)"},
}


class SignedBatch(BaseModel):
    """The body of a batch, as `check` reads it (for the OpenAPI document)."""

    batch_id: str = Field(pattern=_BATCH_ID.pattern)
    sender: str = Field(pattern=_PROVINCE.pattern)
    sent_at: AwareDatetime
    events: list[CloudEvent] = Field(min_length=1, max_length=MAX_EVENTS)


def batch_id(sender: str, partner: str, first: int, last: int, event_ids: Sequence[str]) -> str:
    """Deterministic: the same outbound offsets carrying the same events give the same id, so a
    batch re-sent after a crash is recognised by the receiver as already accepted."""
    digest = hashlib.sha256("\n".join(event_ids).encode()).hexdigest()[:16]
    return f"{sender}-{partner}-{first}-{last}-{digest}"


def encode(batch: str, sender: str, sent_at: datetime,
           events: Sequence[Mapping[str, Any]]) -> bytes:
    body = {"batch_id": batch, "sender": sender, "sent_at": sent_at.isoformat(),
            "events": list(events)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_headers(sender: str, key: Ed25519PrivateKey, key_id: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", PROVINCE_HEADER: sender, KEY_ID_HEADER: key_id,
            SIGNATURE_HEADER: keys.sign(key, body)}


class Refusal(Exception):
    """Why a batch is refused: the HTTP status, a stable error code and a human detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Admitted:
    """A batch that passed every check but the replay check."""

    sender: str
    batch_id: str
    sent_at: datetime
    key_id: str
    events: list[dict[str, Any]]  # as received: written to vbp.alliance.inbound unchanged


def check(headers: Mapping[str, str], body: bytes, partners: Mapping[str, Partner], now: datetime,
          window: timedelta) -> Admitted:
    """Check a received batch (its size was checked while reading it); raise `Refusal`."""
    h = {k.lower(): v for k, v in headers.items()}
    sender = h.get(PROVINCE_HEADER.lower(), "").strip()
    partner = partners.get(sender)
    if partner is None:
        raise Refusal(403, "unknown_sender",
                      f"{PROVINCE_HEADER} {sender!r} is not a partner of this province")
    signature = h.get(SIGNATURE_HEADER.lower())
    if not signature:
        raise Refusal(401, "missing_signature", f"{SIGNATURE_HEADER} is missing")
    kid = h.get(KEY_ID_HEADER.lower())
    if kid is not None and kid not in partner.public_keys:
        raise Refusal(401, "unknown_key", f"key id {kid!r} is not configured for {sender}")
    candidates = [kid] if kid is not None else list(partner.public_keys)
    verified = next((k for k in candidates if keys.verify(partner.public_keys[k], body, signature)),
                    None)
    if verified is None:
        raise Refusal(401, "bad_signature", f"the signature does not verify with {sender}'s key")
    batch = _parse(body)
    if batch["sender"] != sender:
        raise Refusal(403, "sender_mismatch",
                      f"batch sender {batch['sender']} differs from {PROVINCE_HEADER} {sender}")
    sent_at = batch["sent_at"]
    if abs(now - sent_at) > window:
        raise Refusal(422, "stale_batch", f"sent_at {sent_at.isoformat()} is more than "
                      f"{int(window.total_seconds())} s from the receiver's time {now.isoformat()}")
    _check_events(batch["events"], sender, partner)
    return Admitted(sender, batch["batch_id"], sent_at, verified, batch["events"])


def _parse(body: bytes) -> dict[str, Any]:
    try:
        batch = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Refusal(422, "malformed_batch", f"not UTF-8 JSON: {error}") from None
    if not isinstance(batch, dict):
        raise Refusal(422, "malformed_batch", "the batch is not a JSON object")
    fields = ("batch_id", "sender", "sent_at", "events")
    bid, sender, sent_at, events = (batch.get(f) for f in fields)
    if not isinstance(bid, str) or not _BATCH_ID.fullmatch(bid):
        raise Refusal(422, "malformed_batch", "batch_id: 1-128 printable ASCII characters")
    if not isinstance(sender, str) or not _PROVINCE.fullmatch(sender):
        raise Refusal(422, "malformed_batch", "sender: a 6-digit GB/T 2260 code")
    try:
        when = datetime.fromisoformat(sent_at) if isinstance(sent_at, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise Refusal(422, "malformed_batch", "sent_at: an RFC 3339 time with an offset")
    if not isinstance(events, list) or not events or len(events) > MAX_EVENTS:
        raise Refusal(422, "malformed_batch", f"events: a list of 1 to {MAX_EVENTS} CloudEvents")
    return {"batch_id": bid, "sender": sender, "sent_at": when, "events": events}


def _check_events(events: list[Any], sender: str, partner: Partner) -> None:
    seen: set[str] = set()
    for index, raw in enumerate(events):
        where = f"events[{index}]"
        try:
            event = CloudEvent.model_validate(raw)
        except ValidationError as error:
            raise Refusal(422, "invalid_event", f"{where}: {_reason(error)}") from None
        if event.province != sender or event.source != f"/alliance/{sender}":
            raise Refusal(403, "foreign_event", f"{where}: province {event.province} / source "
                          f"{event.source}; a partner sends only /alliance/{sender} events")
        if not event.id.startswith(f"{sender}-"):
            raise Refusal(422, "invalid_event", f"{where}: id must begin with '{sender}-'")
        if event.id in seen:
            raise Refusal(422, "invalid_event", f"{where}: id {event.id} repeated in the batch")
        seen.add(event.id)
        category = CATEGORY_TYPES.get(event.type)
        if category is None or category not in partner.accept:
            raise Refusal(403, "type_not_accepted",
                          f"{where}: {event.type} is not accepted from {sender}")
