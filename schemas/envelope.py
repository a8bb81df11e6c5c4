"""The CloudEvents 1.0 envelope in structured JSON mode (docs/contract.md, "Envelope").

`CloudEvent.model_validate_json(raw)` validates the envelope and then `data` against the model
registered for `type`, so `event.data` is an instance of that model. An unknown `type`, a bad
`data` field, invalid JSON or invalid UTF-8 all raise `pydantic.ValidationError`.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from schemas.base import EventData
from schemas.events import EVENT_TYPES, EXAMPLES, OUTPUT_TYPES
from schemas.topics import key_for
from schemas.types import RegionCode, Timestamp

__all__ = ["CONTENT_TYPE", "CloudEvent", "example_event", "new_event"]

CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
SPEC_VERSION = "1.0"

# CloudEvents 1.0: extension names MUST be lowercase ASCII letters or digits.
_EXTENSION_NAME = re.compile(r"[a-z0-9]+")
ExtensionValue = StrictStr | StrictInt | StrictBool

D = TypeVar("D", bound=EventData)


class CloudEvent(BaseModel):
    """One contract event. Unknown attributes are CloudEvents extensions and are kept."""

    model_config = ConfigDict(
        extra="allow", frozen=True, title="CloudEvent",
        json_schema_extra={"description": "CloudEvents 1.0 structured-mode event; `data` is "
                                          "the model registered for `type`."},
    )
    __pydantic_extra__: dict[str, ExtensionValue] = Field(init=False)

    specversion: Literal["1.0"] = Field(description="CloudEvents version, always 1.0.")
    id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=256)] = Field(
        description="Sender-unique id; the idempotency key.", examples=["ord-20200305-000123"]
    )
    source: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=2048)] = Field(
        description="Emitter: /platform/<prov>, /manufacturer/<id>, /alliance/<prov> or "
        "/service/<name>.",
        examples=["/platform/520000"],
    )
    type: StrictStr = Field(description="Event type; selects the `data` model.",
                            examples=["vbp.order.placed"])
    time: Timestamp = Field(description="Event time (RFC 3339 with offset); rules use this.")
    subject: Annotated[str, StringConstraints(strict=True, min_length=1)] | None = Field(
        default=None, description="Id of the subject, usually the Kafka key.",
        examples=["H52010200001"],
    )
    province: RegionCode = Field(description="Extension: GB/T 2260 code of the jurisdiction.")
    datacontenttype: Literal["application/json"] = Field(
        default="application/json", description="Always application/json."
    )
    data: Annotated[
        SerializeAsAny[EventData],
        WithJsonSchema({"type": "object", "description": "The `data` model of `type`."}),
    ]

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"unknown event type {value!r}")
        return value

    @field_validator("data", mode="plain")
    @classmethod
    def _data_of_type(cls, value: Any, info: ValidationInfo) -> Any:
        model = EVENT_TYPES.get(info.data.get("type", ""))
        if model is None:
            return value  # `type` already failed; one error is enough
        # A ValidationError raised here is reported field by field under ("data", ...).
        return model.model_validate(value)

    @model_validator(mode="after")
    def _extension_names(self) -> CloudEvent:
        for name in self.model_extra or {}:
            if not _EXTENSION_NAME.fullmatch(name):
                raise ValueError(
                    f"attribute {name!r}: extension names are lowercase ASCII letters and digits"
                )
        return self

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # CloudEvents: an absent optional attribute is left out, not sent as null.
        out: dict[str, Any] = handler(self)
        if out.get("subject") is None:
            out.pop("subject", None)
        return out

    def to_json_bytes(self) -> bytes:
        """UTF-8 JSON of the whole event: money as strings, dates ISO, no `null` subject."""
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_json_bytes(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate_json(raw)

    def data_as(self, model: builtins.type[D]) -> D:
        """`data` typed as `model`; TypeError if the event carries another type."""
        if not isinstance(self.data, model):
            raise TypeError(f"{self.type} carries {type(self.data).__name__}, not {model.__name__}")
        return self.data


def new_event(
    type: str,
    data: EventData | Mapping[str, Any],
    *,
    id: str,
    source: str,
    time: datetime | str,
    subject: str | None = None,
    province: str,
    **extensions: str | int | bool,
) -> CloudEvent:
    """Build and validate an event; `data` may be the model or a JSON-like mapping."""
    return CloudEvent.model_validate({
        "specversion": SPEC_VERSION, "id": id, "source": source, "type": type, "time": time,
        "subject": subject, "province": province, "datacontenttype": DATA_CONTENT_TYPE,
        "data": data, **extensions,
    })


def example_event(type: str, **changes: Any) -> CloudEvent:
    """The documented example of `type` in a full envelope; `changes` replace `data` fields."""
    data = EVENT_TYPES[type].model_validate({**EXAMPLES[type], **changes})
    if type in OUTPUT_TYPES:
        source = "/service/" + _EXAMPLE_SERVICE.get(type, "quota")
    elif type.startswith("vbp.supply."):
        source = f"/manufacturer/{data.model_dump()['manufacturer_id']}"
    else:
        source = "/platform/520000"
    return new_event(
        type, data, id=f"example-{type}", source=source, time="2020-04-01T08:00:00+08:00",
        subject=key_for(type, data, province="520000"), province="520000",
    )


_EXAMPLE_SERVICE = {"vbp.shortage.escalated": "supply", "vbp.notification.logged": "alerts",
                    "vbp.quota.monthly_summary": "alliance"}
