"""Which topics each service reads and writes: the one place its stream declarations are checked
against (`runtime/shell.py` refuses a handler or an output not declared here) and the AsyncAPI
document's operations come from (`schemas/asyncapi.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.topics import TOPICS

__all__ = ["SERVICES", "ServiceStreams"]

DEADLETTER = "vbp.deadletter"
_REFERENCE = ("vbp.ref.institutions", "vbp.ref.products", "vbp.ref.agreements")


@dataclass(frozen=True)
class ServiceStreams:
    name: str
    consumes: tuple[str, ...]
    """Topic base names its handlers read."""
    emits: tuple[str, ...]
    """Topic base names it writes, from its handlers or (`intake`) from its HTTP intake; and
    every service writes vbp.deadletter (what it cannot decode or validate)."""
    intake: tuple[str, ...] = ()
    """Of `emits`, the topics its HTTP intake writes: events from outside, validated and put on
    the topic as they came (manufacturers' reports, partners' batches)."""

    def __post_init__(self) -> None:
        unknown = {*self.consumes, *self.emits, DEADLETTER} - TOPICS.keys()
        if unknown or not set(self.intake) <= set(self.emits):
            raise ValueError(f"{self.name}: topics not in the contract or intake not emitted: "
                             f"{sorted(unknown)} {self.intake}")


SERVICES: dict[str, ServiceStreams] = {s.name: s for s in (
    ServiceStreams("quota", (*_REFERENCE, "vbp.orders", "vbp.deliveries", "vbp.clock"),
                   ("vbp.quota.progress", "vbp.warnings", "vbp.decisions")),
    ServiceStreams("supply", (*_REFERENCE, "vbp.supply.reports", "vbp.supply.incidents",
                              "vbp.orders", "vbp.deliveries", "vbp.alliance.inbound",
                              "vbp.clock"),
                   ("vbp.supply.reports", "vbp.supply.incidents", "vbp.warnings",
                    "vbp.escalations", "vbp.decisions"),
                   intake=("vbp.supply.reports", "vbp.supply.incidents")),
    ServiceStreams("settlement", (*_REFERENCE, "vbp.orders", "vbp.deliveries", "vbp.payments",
                                  "vbp.quota.progress", "vbp.clock"),
                   ("vbp.warnings", "vbp.decisions")),
    ServiceStreams("alerts", ("vbp.ref.institutions", "vbp.ref.products", "vbp.warnings",
                              "vbp.escalations", "vbp.decisions"),
                   ("vbp.notifications",)),
    ServiceStreams("alliance", (*_REFERENCE, "vbp.escalations", "vbp.decisions",
                                "vbp.supply.reports", "vbp.quota.progress",
                                "vbp.alliance.inbound", "vbp.clock"),
                   ("vbp.alliance.outbound", "vbp.quota.summaries", "vbp.alliance.inbound"),
                   intake=("vbp.alliance.inbound",)),
)}
