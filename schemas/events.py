"""Registry of the contract's event types: `type` -> `data` model, and one example each."""

from __future__ import annotations

import copy
from typing import Any, cast

from schemas.base import EventData
from schemas.outputs import (
    ACTIONS_WITH_AMOUNT,
    Action,
    Alternative,
    DecisionIssued,
    NotificationLogged,
    QuotaMonthlySummary,
    QuotaProgress,
    ShortageEscalated,
    WarningRaised,
)
from schemas.reference import AgreementSigned, ClockTick, InstitutionRegistered, ProductListed
from schemas.supply import (
    ProductionResumed,
    ProductionStopped,
    ShortfallForecast,
    SupplyMonthlyReported,
)
from schemas.trade import (
    DeliveryAccepted,
    DeliveryRejected,
    FundPrepaid,
    OrderCancelled,
    OrderPlaced,
    PaymentMade,
)

__all__ = [
    "ACTIONS_WITH_AMOUNT", "Action", "AgreementSigned", "Alternative", "ClockTick",
    "DecisionIssued", "DeliveryAccepted", "DeliveryRejected", "EVENT_TYPES", "EXAMPLES",
    "EventData", "FundPrepaid", "INPUT_TYPES", "InstitutionRegistered", "NotificationLogged",
    "OUTPUT_TYPES", "OrderCancelled", "OrderPlaced", "PaymentMade", "ProductListed",
    "ProductionResumed", "ProductionStopped", "QuotaMonthlySummary", "QuotaProgress",
    "ShortageEscalated", "ShortfallForecast", "SupplyMonthlyReported", "WarningRaised",
    "example_data",
]

_INPUTS: tuple[type[EventData], ...] = (
    InstitutionRegistered, ProductListed, AgreementSigned, OrderPlaced, OrderCancelled,
    DeliveryAccepted, DeliveryRejected, SupplyMonthlyReported, ProductionStopped,
    ProductionResumed, ShortfallForecast, PaymentMade, FundPrepaid, ClockTick,
)
_OUTPUTS: tuple[type[EventData], ...] = (
    QuotaProgress, WarningRaised, ShortageEscalated, DecisionIssued, NotificationLogged,
    QuotaMonthlySummary,
)

INPUT_TYPES: tuple[str, ...] = tuple(model.TYPE for model in _INPUTS)
OUTPUT_TYPES: tuple[str, ...] = tuple(model.TYPE for model in _OUTPUTS)

EVENT_TYPES: dict[str, type[EventData]] = {model.TYPE: model for model in _INPUTS + _OUTPUTS}


def _example_of(model: type[EventData]) -> dict[str, Any]:
    extra = model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict), f"{model.__name__} has no example"
    examples = extra["examples"]
    assert isinstance(examples, list)
    return cast(dict[str, Any], copy.deepcopy(examples[0]))


# JSON-ready `data` objects (money as strings, dates ISO): documentation and test fixtures.
EXAMPLES: dict[str, dict[str, Any]] = {t: _example_of(m) for t, m in EVENT_TYPES.items()}


def example_data(type: str, **changes: Any) -> dict[str, Any]:
    """A fresh copy of the example `data` of `type`, with fields replaced by `changes`."""
    return {**copy.deepcopy(EXAMPLES[type]), **changes}
