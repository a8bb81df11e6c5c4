"""Order ledger: one record per order, and the daily totals derived from those records.

Each order, cancellation and delivery changes exactly one record, written to one table key, so
the change and the memory of the event ids behind it reach the changelog together: replaying an
event after a crash leaves the record as it was. Totals are never stored; they are derived from
the records (and rebuilt from them after recovery), so they cannot drift from them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

OrderRecord = dict[str, Any]
"""{"institution_id", "product_code", "day": ISO order date or None until the order arrives,
"quantity": int, "cancelled": bool,
"deliveries": {delivery_id: {"quantity", "on"} | {"rejected"}}}"""


def new_record(institution_id: str, product_code: str | None = None) -> OrderRecord:
    return {
        "institution_id": institution_id,
        "product_code": product_code,
        "day": None,
        "quantity": 0,
        "cancelled": False,
        "deliveries": {},
    }


def placed(record: OrderRecord, product_code: str, day: date, quantity: int) -> OrderRecord:
    return {**record, "product_code": product_code, "day": day.isoformat(), "quantity": quantity}


def cancelled(record: OrderRecord) -> OrderRecord:
    return {**record, "cancelled": True}


def delivered(
    record: OrderRecord, delivery_id: str, product_code: str, quantity: int, accepted_on: date
) -> OrderRecord:
    deliveries = {
        **record["deliveries"],
        delivery_id: {"quantity": quantity, "on": accepted_on.isoformat()},
    }
    return {
        **record,
        "product_code": record["product_code"] or product_code,
        "deliveries": deliveries,
    }


def rejected(record: OrderRecord, delivery_id: str) -> OrderRecord:
    return {**record, "deliveries": {**record["deliveries"], delivery_id: {"rejected": True}}}


@dataclass(frozen=True)
class DayAmounts:
    """What one record adds to one (institution, product, day)."""

    institution_id: str
    product_code: str
    day: date
    ordered: int = 0  # net of cancellations (采购量)
    cancelled: int = 0
    accepted: int = 0  # 入库, counted on the accepted date
    rejected: int = 0  # deliveries refused, counted on the order date


def amounts(record: OrderRecord) -> list[DayAmounts]:
    inst, product = record["institution_id"], record["product_code"]
    if product is None:
        return []
    out = []
    if record["day"] is not None:
        day = date.fromisoformat(record["day"])
        quantity = record["quantity"]
        n_rejected = sum(1 for d in record["deliveries"].values() if d.get("rejected"))
        out.append(
            DayAmounts(
                inst,
                product,
                day,
                ordered=0 if record["cancelled"] else quantity,
                cancelled=quantity if record["cancelled"] else 0,
                rejected=n_rejected,
            )
        )
    for delivery in record["deliveries"].values():
        if not delivery.get("rejected"):
            out.append(
                DayAmounts(
                    inst, product, date.fromisoformat(delivery["on"]), accepted=delivery["quantity"]
                )
            )
    return out


def changed_days(old: OrderRecord | None, new: OrderRecord) -> set[date]:
    """The days whose amounts differ between `old` (None: no record yet) and `new`."""
    before = set(amounts(old)) if old is not None else set()
    return {a.day for a in before.symmetric_difference(amounts(new))}


class Totals:
    """Daily totals per (institution, product), derived from order records."""

    FIELDS = ("ordered", "cancelled", "accepted", "rejected")

    def __init__(self) -> None:
        self._days: dict[tuple[str, str], dict[date, list[int]]] = defaultdict(dict)

    def clear(self) -> None:
        self._days.clear()

    def replace(self, old: OrderRecord | None, new: OrderRecord) -> None:
        """Account for `new` in place of `old` (None for a first record)."""
        if old is not None:
            self._add(old, -1)
        self._add(new, +1)

    def _add(self, record: OrderRecord, sign: int) -> None:
        for a in amounts(record):
            day = self._days[(a.institution_id, a.product_code)].setdefault(a.day, [0, 0, 0, 0])
            day[0] += sign * a.ordered
            day[1] += sign * a.cancelled
            day[2] += sign * a.accepted
            day[3] += sign * a.rejected

    def sum(self, institution_id: str, product_code: str, start: date, end: date) -> dict[str, int]:
        """Totals over the days start..end inclusive."""
        result = [0, 0, 0, 0]
        for day, values in self._days.get((institution_id, product_code), {}).items():
            if start <= day <= end:
                for i, v in enumerate(values):
                    result[i] += v
        return dict(zip(self.FIELDS, result, strict=True))

    def last_day(self, institution_id: str, product_code: str, until: date) -> date | None:
        """The latest day up to `until` with any quantity counted (None: there is none)."""
        days = self._days.get((institution_id, product_code), {})
        return max((d for d, values in days.items() if d <= until and any(values)), default=None)

    def products_of(self, institution_id: str) -> list[str]:
        return sorted(p for (i, p) in self._days if i == institution_id)

    def institutions(self) -> list[str]:
        return sorted({i for (i, _) in self._days})
