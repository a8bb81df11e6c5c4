"""Input records: one per order, delivery, payment and fund transfer, and their in-memory index.

Every input event becomes exactly one record written to one table key (``kind:institution:id``),
holding the event id that brought it, so a redelivered event after a crash finds its record
and changes nothing. Nothing derived is stored: who paid what is recomputed from the records
(accounts.py), so it cannot drift from them and does not depend on the order in which the
deliveries and payments topics happened to be read.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

from schemas.envelope import CloudEvent
from services.settlement.ledger import Payable, Payment, PrepaymentRelease, money

Record = dict[str, Any]
KINDS = ("order", "delivery", "payment", "transfer")


def key_of(kind: str, institution_id: str, object_id: str) -> str:
    return f"{kind}:{institution_id}:{object_id}"


def record_of(event: CloudEvent) -> tuple[str, Record] | None:
    """The (table key, record) an input event writes; None for events settlement ignores
    (cancellations and refused deliveries owe nothing)."""
    data = event.data.model_dump(mode="json")
    kind, object_id = {
        "vbp.order.placed": ("order", "order_id"),
        "vbp.delivery.accepted": ("delivery", "delivery_id"),
        "vbp.payment.made": ("payment", "payment_id"),
        "vbp.fund.prepaid": ("transfer", "prepayment_id"),
    }.get(event.type, (None, None))
    if kind is None or object_id is None:
        return None
    record = {"kind": kind, "event_id": event.id, **data}
    return key_of(kind, data["institution_id"], data[object_id]), record


def same_fact(old: Record, new: Record) -> bool:
    """The same order, delivery or payment, whichever event id carried it."""
    return {k: v for k, v in old.items() if k != "event_id"} == {
        k: v for k, v in new.items() if k != "event_id"}


def conflict(old: Record, new: Record) -> str | None:
    """Why ``new`` may not replace ``old``: money already recorded is never rewritten (orders
    may be amended, they only name the supplier)."""
    if new["kind"] == "order" or same_fact(old, new):
        return None
    changed = sorted(k for k in new if k != "event_id" and old.get(k) != new.get(k))
    return (f"{new['kind']} already recorded from event {old['event_id']} with other "
            f"{', '.join(changed)}; money facts are not rewritten")


class Index:
    """Records by institution and kind, rebuilt from the table after every recovery."""

    def __init__(self) -> None:
        self._by: dict[str, dict[str, dict[str, Record]]] = defaultdict(
            lambda: {kind: {} for kind in KINDS})

    def clear(self) -> None:
        self._by.clear()

    def add(self, key: str, record: Record) -> str:
        """Returns the record's institution."""
        kind, institution_id, object_id = key.split(":", 2)
        self._by[institution_id][kind][object_id] = record
        return institution_id

    def institutions(self) -> list[str]:
        return sorted(self._by)

    def of(self, institution_id: str, kind: str) -> dict[str, Record]:
        found = self._by.get(institution_id)
        return dict(found[kind]) if found else {}

    def view(self, institution_id: str, kind: str) -> Mapping[str, Record]:
        """`of` without the copy: read-only, and live."""
        found = self._by.get(institution_id)
        return MappingProxyType(found[kind]) if found else MappingProxyType({})


# --------------------------------------------------------------------------- typed views


def supplier_of(delivery: Record, orders: Mapping[str, Record],
                agreements: Iterable[Mapping[str, Any]]) -> str | None:
    """Who is owed for a delivery: the distributor named on its order (配送企业: it delivers
    and invoices), else the manufacturer of the institution's agreement for the product whose
    period holds the acceptance day (a manufacturer may deliver itself, 002 §四(六),
    004 §五(二) 自行配送), else unknown."""
    order = orders.get(delivery["order_id"])
    if order is not None:
        return str(order["distributor_id"])
    accepted = delivery["accepted_on"]
    for agreement in sorted(agreements, key=lambda a: a["agreement_id"]):
        if (agreement["institution_id"] == delivery["institution_id"]
                and agreement["product_code"] == delivery["product_code"]
                and agreement["period_start"] <= accepted <= agreement["period_end"]):
            return str(agreement["manufacturer_id"])
    return None


def payable_of(delivery: Record, supplier_id: str | None) -> Payable:
    return Payable(delivery["delivery_id"], delivery["institution_id"], money(delivery["amount"]),
                   date.fromisoformat(delivery["accepted_on"]), supplier_id)


def payment_of(record: Record) -> Payment:
    return Payment(record["payment_id"], record["institution_id"], record["payee_id"],
                   tuple(record["delivery_ids"]), money(record["amount"]),
                   date.fromisoformat(record["paid_on"]))


def transfer_of(record: Record) -> PrepaymentRelease:
    """A ``vbp.fund.prepaid`` transfer as a ledger entry (it names no account)."""
    return PrepaymentRelease(record["prepayment_id"], record["institution_id"],
                             money(record["amount"]), date.fromisoformat(record["paid_on"]))
