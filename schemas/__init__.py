"""The event contract as code (docs/contract.md): envelope, event models, topics.

The policy-profile model is imported on its own: `from schemas.policy import ...`.
"""

from schemas.base import EventData
from schemas.envelope import CONTENT_TYPE, CloudEvent, example_event, new_event
from schemas.events import (
    ACTIONS_WITH_AMOUNT,
    EVENT_TYPES,
    EXAMPLES,
    INPUT_TYPES,
    OUTPUT_TYPES,
    Action,
    AgreementSigned,
    Alternative,
    ClockTick,
    DecisionIssued,
    DeliveryAccepted,
    DeliveryRejected,
    FundPrepaid,
    InstitutionRegistered,
    NotificationLogged,
    OrderCancelled,
    OrderPlaced,
    PaymentMade,
    ProductionResumed,
    ProductionStopped,
    ProductListed,
    QuotaMonthlySummary,
    QuotaProgress,
    ShortageEscalated,
    ShortfallForecast,
    SupplyMonthlyReported,
    WarningRaised,
    example_data,
)
from schemas.topics import (
    DEADLETTER_HEADERS,
    TOPICS,
    TYPE_TOPIC,
    Topic,
    key_for,
    key_of,
    topic_name,
)

__all__ = [
    "ACTIONS_WITH_AMOUNT", "CONTENT_TYPE", "DEADLETTER_HEADERS", "EVENT_TYPES", "EXAMPLES",
    "INPUT_TYPES", "OUTPUT_TYPES", "TOPICS", "TYPE_TOPIC", "Action", "AgreementSigned",
    "Alternative", "ClockTick", "CloudEvent", "DecisionIssued", "DeliveryAccepted",
    "DeliveryRejected", "EventData", "FundPrepaid", "InstitutionRegistered", "NotificationLogged",
    "OrderCancelled", "OrderPlaced", "PaymentMade", "ProductListed", "ProductionResumed",
    "ProductionStopped", "QuotaMonthlySummary", "QuotaProgress", "ShortageEscalated",
    "ShortfallForecast", "SupplyMonthlyReported", "Topic", "WarningRaised", "example_data", "example_event",
    "key_for", "key_of", "new_event", "topic_name",
]
