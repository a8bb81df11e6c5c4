"""What this province shares with its partners, as pure functions (docs/alliance-exchange.md).

- escalations: `vbp.shortage.escalated` at `alliance` or `national` level (002 §四(五)/(六):
  what the province cannot solve alone);
- decisions others must know: `suspend_trading` / `restore_trading` (000 §五(一));
- availability: this province's winning products (`vbp.product.listed`, winning) with their
  cover from the manufacturer's latest monthly report, so partners can buy them first when
  their own winner fails (002 §四(六)); a listing that stops winning is shared once more so
  partners drop it;
- progress: one `vbp.quota.monthly_summary` per generic name and city and month (000 §六(一)).

Every shared event is a CloudEvent with source `/alliance/<own province>`, province = own code,
and a deterministic id beginning with `<own province>-`, so a replay shares the same ids.
No patient data exists in these events, and the only price is the published winning price.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from kernel.periods import quarters_of
from schemas.envelope import CloudEvent, new_event
from schemas.outputs import QuotaMonthlySummary

SHARED_LEVELS = frozenset({"alliance", "national"})
SHARED_ACTIONS = frozenset({"suspend_trading", "restore_trading"})


def outbound(own: str, type_: str, data: Any, *, id: str, time: datetime | str,
             subject: str | None, **extensions: str | int | bool) -> CloudEvent:
    """An event as this province shares it."""
    if len(id) > 256:  # CloudEvent id limit; keep it deterministic
        id = f"{id[:200]}-{hashlib.sha256(id.encode()).hexdigest()[:16]}"
    return new_event(type_, data, id=id, source=f"/alliance/{own}", time=time, subject=subject,
                     province=own, **extensions)


def escalation(own: str, event: CloudEvent) -> CloudEvent | None:
    data = event.data.model_dump(mode="json")
    if data["level"] not in SHARED_LEVELS:
        return None
    return outbound(own, event.type, data, id=f"{own}-escalation-{data['escalation_id']}",
                    time=event.time, subject=data["product_code"])


def decision(own: str, event: CloudEvent) -> CloudEvent | None:
    data = event.data.model_dump(mode="json")
    if data["action"] not in SHARED_ACTIONS:
        return None
    return outbound(own, event.type, data, id=f"{own}-decision-{data['decision_id']}",
                    time=event.time, subject=data["subject_id"])


@dataclass(frozen=True)
class Cover:
    """A product's cover from its manufacturer's latest monthly report."""

    report_id: str
    month: str
    inventory: int
    months: str | None  # inventory / supplied in the month, 2 decimals; None when nothing supplied

    def extensions(self) -> dict[str, str | int]:
        ext: dict[str, str | int] = {"covermonth": self.month, "coverinventory": self.inventory}
        if self.months is not None:
            ext["covermonths"] = self.months
        return ext


def cover(report: Mapping[str, Any]) -> Cover:
    supplied = report["supplied_quantity"]
    months = None
    if supplied > 0:
        months = str((Decimal(report["inventory_quantity"]) / supplied).quantize(
            Decimal("0.01"), ROUND_HALF_UP))
    return Cover(report["report_id"], report["month"], report["inventory_quantity"], months)


def availability(own: str, listing: Mapping[str, Any], listing_time: datetime | str,
                 listing_id: str, current: Cover | None, shared_before: bool) -> CloudEvent | None:
    """The listing as shared (winning, or no longer winning after having been shared), with the
    cover as CloudEvent extensions `covermonth`, `coverinventory`, `covermonths`."""
    if not listing["winning"] and not shared_before:
        return None
    basis = f"{listing_id}|{current.report_id if current else ''}"
    digest = hashlib.sha256(basis.encode()).hexdigest()[:16]
    return outbound(own, "vbp.product.listed", dict(listing),
                    id=f"{own}-availability-{listing['product_code']}-{digest}",
                    time=listing_time, subject=listing["product_code"],
                    **(current.extensions() if current and listing["winning"] else {}))


# -- monthly progress ----------------------------------------------------------------------------

def month_to_summarise(as_of: date) -> str:
    """A tick `as_of=D` means every day before D has ended, so the calendar month before D's has
    ended: the first tick of each month summarises the month before (a month that no tick
    follows within the next month is not summarised)."""
    last = as_of.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def summary_id(month: str, city_code: str, generic_name: str) -> str:
    return f"{month}:{city_code}:{hashlib.sha256(generic_name.encode()).hexdigest()[:12]}"


def monthly_summaries(month: str, as_of: date, agreements: Iterable[Mapping[str, Any]],
                      products: Mapping[str, Mapping[str, Any]],
                      institutions: Mapping[str, Mapping[str, Any]],
                      progress: Mapping[str, Mapping[str, Any]]) -> list[QuotaMonthlySummary]:
    """Sum, per generic name and city, each agreement's progress record of the agreement quarter
    holding the month's last day: its cumulative_quantity and cumulative_target. An agreement not
    in force that day, or whose product, institution or record is unknown, is left out."""
    year, mon = (int(x) for x in month.split("-"))
    last_day = (date(year + mon // 12, mon % 12 + 1, 1)) - timedelta(days=1)
    sums: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"agreements": 0, "institutions": set(), "ordered": 0, "target": 0})
    for agreement in agreements:
        product = products.get(agreement["product_code"])
        institution = institutions.get(agreement["institution_id"])
        quarter = next((q for q in quarters_of(agreement) if q.contains(last_day)), None)
        if product is None or institution is None or quarter is None:
            continue
        record = progress.get(f"{agreement['agreement_id']}:{quarter.label}")
        if record is None:
            continue
        entry = sums[(product["generic_name"], institution["city_code"])]
        entry["agreements"] += 1
        entry["institutions"].add(agreement["institution_id"])
        entry["ordered"] += record["cumulative_quantity"]
        entry["target"] += record["cumulative_target"]
    summaries = []
    for (generic_name, city_code), entry in sorted(sums.items()):
        rate = None
        if entry["target"] > 0:
            rate = (Decimal(entry["ordered"]) / entry["target"]).quantize(
                Decimal("0.0001"), ROUND_HALF_UP)
        summaries.append(QuotaMonthlySummary(
            summary_id=summary_id(month, city_code, generic_name), month=month,
            generic_name=generic_name, city_code=city_code, agreements=entry["agreements"],
            institutions=len(entry["institutions"]), ordered_quantity=entry["ordered"],
            target_quantity=entry["target"], completion_rate=rate, as_of=as_of))
    return summaries
