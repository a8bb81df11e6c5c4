"""What a simulation run plays: seed, jurisdiction, year, size, and which faults are on."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# Scenario faults; each can be switched off (`--without NAME`, or `--no-faults` for all).
FAULTS: dict[str, str] = {
    "under_buying": "institutions under 80 % / 70 % of a quarter's task (warnings, suspensions, "
                    "catch-up, year-end budget cuts)",
    "over_buying": "institutions buying well beyond their agreed quantity "
                   "(not an error: 000 §四(三))",
    "non_winning": "institutions buying more non-winning than winning units of a generic name",
    "cancellations": "orders cancelled and placed again with a corrected quantity",
    "late_delivery": "deliveries accepted after the delivery window, and a distributor's week of "
                     "late deliveries in one city",
    "rejected_delivery": "deliveries refused on arrival and delivered again",
    "late_payment": "institutions holding payments past the 30-day deadline (overdue chain)",
    "late_report": "manufacturers' monthly reports sent after the due day",
    "falling_stock": "a manufacturer whose reported stock falls month after month",
    "production_stop": "a winning product's production stop, forecast shortfall and resumption",
    "alliance": "partner provinces' winners of the stopped product on vbp.alliance.inbound",
}


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    policy: str = "guizhou"
    year: int = 2020
    institutions: int = 150
    scale: float = 1.0
    """Order frequency: 2 orders twice as often (about twice the events), 0.5 half as often."""
    faults: frozenset[str] = field(default_factory=lambda: frozenset(FAULTS))
    until: date | None = None
    """Last simulated day played (its closing tick included); None: the whole year."""

    def __post_init__(self) -> None:
        unknown = self.faults - FAULTS.keys()
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        if self.institutions < 10:
            raise ValueError("at least 10 institutions, so every kind is present")
        if not 0.1 <= self.scale <= 20:
            raise ValueError("scale must be between 0.1 and 20")

    def on(self, fault: str) -> bool:
        assert fault in FAULTS, fault
        return fault in self.faults

    @property
    def first_day(self) -> date:
        return date(self.year, 1, 1)

    @property
    def last_day(self) -> date:
        end = date(self.year, 12, 31)
        return min(end, self.until) if self.until else end
