"""Base class of every event `data` model."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class EventData(BaseModel):
    """Base of every event `data` model.

    Unknown fields are ignored (the contract lets senders add optional fields); the known ones are
    validated strictly. Instances are immutable: an event is a fact.
    """

    TYPE: ClassVar[str]  # the CloudEvents `type` whose `data` this model is
    model_config = ConfigDict(extra="ignore", frozen=True)


def example(data: dict[str, Any]) -> ConfigDict:
    """Model config carrying a type's documented example (also in `EXAMPLES`, a test fixture)."""
    return ConfigDict(json_schema_extra={"examples": [data]})
