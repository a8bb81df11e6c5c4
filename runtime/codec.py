"""CloudEvents structured JSON codec: bytes in, a validated event or the reason it is invalid."""

from __future__ import annotations

from pydantic import ValidationError

from schemas.envelope import CONTENT_TYPE, CloudEvent

__all__ = ["CONTENT_TYPE", "InvalidEvent", "decode"]

# Larger values are refused before parsing: a hostile payload must not exhaust memory.
MAX_EVENT_BYTES = 256 * 1024


class InvalidEvent(ValueError):
    """The message is not a valid contract event; str() is the reason for the dead-letter header."""


def decode(raw: bytes | None) -> CloudEvent:
    if raw is None:
        raise InvalidEvent("empty message value (tombstone)")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"message of {len(raw)} bytes exceeds {MAX_EVENT_BYTES}")
    try:
        return CloudEvent.model_validate_json(raw)
    except ValidationError as error:
        raise InvalidEvent(_reason(error)) from None


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "event"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
