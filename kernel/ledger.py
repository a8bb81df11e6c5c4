"""Order ledger: one record per order, and the daily totals derived from those records.

Each order, cancellation and delivery changes exactly one record, written to one table key, so
the change and the memory of the event ids behind it reach the changelog together: replaying an
event after a crash leaves the record as it was. Totals are never stored; they are derived from
the records (and rebuilt from them after recovery), so they cannot drift from them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
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


@dataclass(frozen=True)
class PeriodTotals:
    sums: dict[str, int]  # Totals.FIELDS -> quantity within the period
    last_day: date | None  # the latest day up to the period's end with any quantity counted


class Totals:
    """Daily totals per (institution, product), derived from order records."""

    FIELDS = ("ordered", "cancelled", "accepted", "rejected")

    def __init__(self) -> None:
        self._days: dict[tuple[str, str], dict[date, list[int]]] = defaultdict(dict)
        # per (institution, product) and set of periods asked for (by_period): the periods'
        # totals, kept up to date as days change, since every order asks them again
        self._periods: dict[tuple[str, str], dict[tuple[tuple[date, date], ...], _Periods]] = \
            defaultdict(dict)

    def clear(self) -> None:
        self._days.clear()
        self._periods.clear()

    def replace(self, old: OrderRecord | None, new: OrderRecord) -> None:
        """Account for `new` in place of `old` (None for a first record)."""
        if old is not None:
            self._add(old, -1)
        self._add(new, +1)

    def _add(self, record: OrderRecord, sign: int) -> None:
        for a in amounts(record):
            pair = (a.institution_id, a.product_code)
            day = self._days[pair].setdefault(a.day, [0, 0, 0, 0])
            change = (sign * a.ordered, sign * a.cancelled, sign * a.accepted, sign * a.rejected)
            for k, v in enumerate(change):
                day[k] += v
            kept = self._periods.get(pair)
            for periods, totals in list((kept or {}).items()):
                if not totals.add(a.day, change, any(day)):
                    del kept[periods]  # type: ignore[union-attr]

    def sum(self, institution_id: str, product_code: str, start: date, end: date) -> dict[str, int]:
        """Totals over the days start..end inclusive."""
        result = [0, 0, 0, 0]
        for day, values in self._days.get((institution_id, product_code), {}).items():
            if start <= day <= end:
                for i, v in enumerate(values):
                    result[i] += v
        return dict(zip(self.FIELDS, result, strict=True))

    def by_period(self, institution_id: str, product_code: str,
                  periods: Sequence[tuple[date, date]]) -> list[PeriodTotals]:
        """For each of `periods` (contiguous, in order; first and last day inclusive): its
        totals, and the latest day up to its end with any quantity counted. Every order asks
        this for its agreement's quarters, so the answer is kept and changed with the days."""
        pair, key = (institution_id, product_code), tuple(periods)
        totals = self._periods[pair].get(key)
        if totals is None:
            totals = self._periods[pair][key] = _Periods(key, self._days.get(pair, {}))
        result, last = [], None
        for sums, day in zip(totals.sums, totals.latest, strict=True):
            last = day if last is None or (day is not None and day > last) else last
            result.append(PeriodTotals(dict(zip(self.FIELDS, sums, strict=True)), last))
        return result

    def products_of(self, institution_id: str) -> list[str]:
        return sorted(p for (i, p) in self._days if i == institution_id)

    def institutions(self) -> list[str]:
        return sorted({i for (i, _) in self._days})


class _Periods:
    """The totals of contiguous periods over one (institution, product)'s days: per period its
    sums and its latest day with any quantity (not yet carried over from earlier periods)."""

    def __init__(self, periods: tuple[tuple[date, date], ...],
                 days: dict[date, list[int]]) -> None:
        self.periods = periods
        self.ends = [end for _, end in periods]
        self.sums = [[0, 0, 0, 0] for _ in periods]
        self.latest: list[date | None] = [None] * len(periods)
        for day, values in days.items():
            self.add(day, values, any(values))

    def add(self, day: date, change: Sequence[int], counted: bool) -> bool:
        """Account for `change` on `day`, whose values now are `counted` (any non-zero). False
        when the period's latest day can no longer be known without the days (its values went
        to zero): the caller starts again from the days."""
        i = bisect_left(self.ends, day)  # the first period that ends on or after `day`
        if i == len(self.ends):
            return True
        if day >= self.periods[i][0]:
            sums = self.sums[i]
            for k, v in enumerate(change):
                sums[k] += v
        latest = self.latest[i]
        if counted:
            if latest is None or day > latest:
                self.latest[i] = day
        elif day == latest:
            return False
        return True
