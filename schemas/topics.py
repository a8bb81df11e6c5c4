"""The contract's Kafka topics: names, keys, compaction, partitions and the types each carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

    from schemas.envelope import CloudEvent

__all__ = [
    "DEADLETTER_HEADERS", "TOPICS", "TYPE_TOPIC", "Topic", "key_for", "key_of", "topic_name",
]

# Headers of a message in vbp.deadletter, in this order (contract: Envelope).
DEADLETTER_HEADERS = ("vbp-error", "vbp-source-topic", "vbp-source-partition", "vbp-source-offset")


@dataclass(frozen=True)
class Topic:
    """One topic of the contract."""

    name: str
    """Base name; deployments prefix it with VBP_TOPIC_PREFIX (see `topic_name`)."""
    key: str
    """Kafka key: `data` fields joined by ':' (`agreement_id:period`), or `province` (the envelope
    attribute); empty for vbp.deadletter, which keeps the rejected message's own key."""
    compacted: bool
    partitions: int
    types: tuple[str, ...]
    """Event types whose home is this topic; each type has exactly one."""
    direction: Literal["input", "output"]
    """Seen from the system: `input` is written by others, `output` by the services."""
    description: str


# Orders, deliveries and payments share key and partition count, so an institution's records
# meet in the same partition number (co-partitioned) and its settlement state lives in one place.
_ALL = (
    Topic("vbp.ref.institutions", "institution_id", True, 1, ("vbp.institution.registered",),
          "input", "Medical institutions and pharmacies (reference data)."),
    Topic("vbp.ref.products", "product_code", True, 1, ("vbp.product.listed",),
          "input", "Listed products with winning status and price (reference data)."),
    Topic("vbp.ref.agreements", "agreement_id", True, 1, ("vbp.agreement.signed",),
          "input", "Purchase agreements per institution, product and year (reference data)."),
    Topic("vbp.orders", "institution_id", False, 4, ("vbp.order.placed", "vbp.order.cancelled"),
          "input", "Orders placed and cancelled on the provincial platform."),
    Topic("vbp.deliveries", "institution_id", False, 4,
          ("vbp.delivery.accepted", "vbp.delivery.rejected"),
          "input", "Deliveries accepted or refused by institutions."),
    Topic("vbp.payments", "institution_id", False, 4, ("vbp.payment.made", "vbp.fund.prepaid"),
          "input", "Institutions' payments to suppliers and the fund's prepayments."),
    Topic("vbp.supply.reports", "manufacturer_id", False, 4, ("vbp.supply.monthly_reported",),
          "input", "Manufacturers' monthly production, supply and inventory reports."),
    Topic("vbp.supply.incidents", "manufacturer_id", False, 4,
          ("vbp.supply.production_stopped", "vbp.supply.production_resumed",
           "vbp.supply.shortfall_forecast"),
          "input", "Production stops, resumptions and foreseen capacity shortfalls."),
    Topic("vbp.clock", "province", False, 1, ("vbp.clock.tick",),
          "input", "Business-day ticks; every time-based rule is evaluated on them."),
    Topic("vbp.alliance.inbound", "province", False, 1, (),
          "input", "Events received from alliance partners (any registered type, "
          "source /alliance/<prov>)."),
    Topic("vbp.quota.progress", "agreement_id:period", True, 4, ("vbp.quota.progress",),
          "output", "Quota progress per agreement and period; latest value per key."),
    Topic("vbp.quota.summaries", "summary_id", True, 1, ("vbp.quota.monthly_summary",),
          "output", "Monthly quota progress per generic name and city, as shared with alliance "
          "partners (written by the alliance service); latest value per key."),
    Topic("vbp.warnings", "subject_id", False, 4, ("vbp.warning.raised",),
          "output", "Warnings raised by the rules."),
    Topic("vbp.escalations", "product_code", False, 4, ("vbp.shortage.escalated",),
          "output", "Supply shortages escalated along institution -> national."),
    Topic("vbp.decisions", "subject_id", False, 4, ("vbp.decision.issued",),
          "output", "Actions decided by the rules (suspensions, budget cuts, prepayments)."),
    Topic("vbp.notifications", "alert_id", False, 4, ("vbp.notification.logged",),
          "output", "Delivery log of the alerts service: one event per attempt and outcome."),
    Topic("vbp.alliance.outbound", "province", False, 1, (),
          "output", "What this province shares with its alliance partners (any registered type)."),
    Topic("vbp.deadletter", "", False, 4, (),
          "output", "Rejected inputs, unchanged, with headers " + ", ".join(DEADLETTER_HEADERS)
          + "."),
)

TOPICS: dict[str, Topic] = {topic.name: topic for topic in _ALL}

TYPE_TOPIC: dict[str, str] = {t: topic.name for topic in _ALL for t in topic.types}


def topic_name(base: str, prefix: str = "") -> str:
    """The deployed name of contract topic `base` (VBP_TOPIC_PREFIX + base)."""
    if base not in TOPICS:
        raise KeyError(f"{base!r} is not a contract topic")
    return prefix + base


def key_for(type: str, data: BaseModel, *, province: str) -> str:
    """Kafka key of an event of `type` carrying `data`, as its home topic prescribes."""
    topic = TOPICS[TYPE_TOPIC[type]]
    parts = []
    for field in topic.key.split(":"):
        value = province if field == "province" else getattr(data, field)
        parts.append(str(value))
    return ":".join(parts)


def key_of(event: CloudEvent) -> str:
    """Kafka key of `event` on its home topic."""
    return key_for(event.type, event.data, province=event.province)
