"""Build contract events for tests from the documented examples."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from schemas.envelope import new_event
from schemas.events import EVENT_TYPES, EXAMPLES
from schemas.topics import key_for

PROVINCE = "520000"


def event(type_: str, id_: str, day: str, **changes: Any) -> tuple[str, bytes]:
    """(Kafka key, value) of an event of `type_` at 10:00 on `day`, its example data changed."""
    data = EVENT_TYPES[type_].model_validate({**EXAMPLES[type_], **changes})
    key = key_for(type_, data, province=PROVINCE)
    source = (
        "/manufacturer/M11000000328" if type_.startswith("vbp.supply.") else f"/platform/{PROVINCE}"
    )
    cloud_event = new_event(
        type_,
        data,
        id=id_,
        source=source,
        time=f"{day}T10:00:00+08:00",
        subject=key,
        province=PROVINCE,
    )
    return key, cloud_event.to_json_bytes()


def tick(day: str) -> tuple[str, bytes]:
    return event("vbp.clock.tick", f"tick-{day}", day, as_of=day)


def daily_ticks(first: str, last: str) -> list[tuple[str, bytes]]:
    """A tick for every day from `first` to `last`, both included."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [tick((start + timedelta(days=i)).isoformat()) for i in range((end - start).days + 1)]
