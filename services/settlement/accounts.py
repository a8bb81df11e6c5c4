"""What each institution owes and has paid, derived from the records (pure, no I/O).

Payments are applied in the order they were made (``paid_on``, then ``payment_id``), not in the
order the worker read them: a payment that names a delivery not yet known takes nothing and
reports it, and pays that delivery once it is known. So the same records always give the same
accounts, live or replayed.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from services.settlement.ledger import ZERO, Payable, Payment, PaymentAnomaly, apply_payment


def fmt(amount: Decimal) -> str:
    """Money as the contract's decimal string, never in exponent form."""
    return format(amount, "f")


@dataclass
class Settled:
    """The payables after the payments, and what each payment did."""

    payables: dict[str, Payable]
    anomalies: dict[str, list[PaymentAnomaly]] = field(default_factory=dict)
    """payment_id -> what in it did not match (only payments with anomalies)."""
    applied: dict[str, Decimal] = field(default_factory=dict)
    """payment_id -> the part of it that paid deliveries."""
    settled_on: dict[str, date] = field(default_factory=dict)
    """delivery_id -> the day of the payment that paid its last yuan."""


def settle(payables: Mapping[str, Payable], payments: Iterable[Payment],
           before: date | None = None) -> Settled:
    """Apply ``payments`` (those paid before ``before`` when given: a tick ``as_of=D`` sees the
    days before D) to ``payables`` in the order they were paid."""
    return _apply(Settled(dict(payables)), payments, before)


def settle_further(settled: Settled, payments: Iterable[Payment]) -> Settled:
    """``settled`` with further ``payments`` applied, each made after every payment it has
    seen: the same as settling them all again. ``settled`` itself is left as it was."""
    return _apply(Settled(dict(settled.payables), dict(settled.anomalies),
                          dict(settled.applied), dict(settled.settled_on)), payments, None)


def _apply(result: Settled, payments: Iterable[Payment], before: date | None) -> Settled:
    for payment in sorted(payments, key=lambda p: (p.paid_on, p.payment_id)):
        if before is not None and payment.paid_on >= before:
            continue
        named = {d: result.payables[d] for d in payment.delivery_ids if d in result.payables}
        updated, anomalies = apply_payment(named, payment)
        applied = ZERO
        for delivery_id, after in updated.items():
            applied += after.paid - named[delivery_id].paid
            if after.settled and not named[delivery_id].settled:
                result.settled_on[delivery_id] = payment.paid_on
        result.payables.update(updated)
        result.applied[payment.payment_id] = applied
        if anomalies:
            result.anomalies[payment.payment_id] = anomalies
    return result


def status(payable: Payable, due: date | None, as_of: date | None) -> str:
    """``paid``, ``overdue`` (on the first day after the due date, contract) or ``open``."""
    if payable.settled:
        return "paid"
    if due is not None and as_of is not None and as_of > due:
        return "overdue"
    return "open"


def days_outstanding(payable: Payable, settled_on: date | None, as_of: date | None) -> int | None:
    """Days from acceptance to full payment, or to ``as_of`` while anything is unpaid."""
    end = settled_on if payable.settled else as_of
    return None if end is None else (end - payable.accepted_on).days


def anomaly_json(anomaly: PaymentAnomaly) -> dict[str, Any]:
    return {"kind": anomaly.kind, "payment_id": anomaly.payment_id,
            "delivery_id": anomaly.delivery_id,
            "amount": None if anomaly.amount is None else fmt(anomaly.amount),
            "message": anomaly.message}


def overdue_ranking(summaries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The province's institutions with overdue payables, most owed first (then the longest
    overdue, then by id), ranked from 1. Each summary carries ``overdue_outstanding`` (str
    yuan) and ``max_days_overdue``; institutions with nothing overdue are left out."""
    rows = [dict(s) for s in summaries if Decimal(s["overdue_outstanding"]) > 0]
    rows.sort(key=lambda s: (-Decimal(s["overdue_outstanding"]), -s["max_days_overdue"],
                             s["institution_id"]))
    return [{"rank": i, **row} for i, row in enumerate(rows, start=1)]


# --------------------------------------------------------------------------- quota progress

ProgressRecord = dict[str, Any]
"""One agreement quarter's readings: {"agreement_id", "period", "readings": {ISO day of the
progress event: cumulative_quantity}}, keyed like vbp.quota.progress (agreement_id:period)."""


def with_progress(record: ProgressRecord | None, agreement_id: str, period: str, day: date,
                  cumulative: int) -> ProgressRecord:
    """Add a ``vbp.quota.progress`` reading; the latest one read for a day replaces the day's
    earlier ones (quota emits them in order on one key per agreement and period)."""
    readings = dict((record or {}).get("readings", {}))
    readings[day.isoformat()] = cumulative
    return {"agreement_id": agreement_id, "period": period, "readings": readings}


def purchased_before(records: Iterable[ProgressRecord], as_of: date) -> int:
    """An agreement's cumulative purchased quantity (quota's 采购量 since period_start) as the
    progress of the days before ``as_of`` reports it: per quarter the reading of the latest such
    day, then the largest over the quarters (a later quarter's cumulative includes the earlier
    ones). Readings dated ``as_of`` or later are ignored, so a replay that happens to read them
    before the tick decides the same."""
    best = 0
    for record in records:
        readings = record["readings"]
        days = [d for d in readings if d < as_of.isoformat()]
        if days:
            best = max(best, readings[max(days)])
    return best


def purchase_amount(deliveries: Iterable[Mapping[str, Any]], start: date, end: date,
                    product_code: str | None = None) -> Decimal:
    """Accepted delivery amounts with ``start <= accepted_on <= end`` (of one product when
    given): the actual purchases a prepayment is reconciled against."""
    total = ZERO
    for d in deliveries:
        if start.isoformat() <= d["accepted_on"] <= end.isoformat() and (
                product_code is None or d["product_code"] == product_code):
            total += Decimal(d["amount"])
    return total
