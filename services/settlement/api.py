"""Settlement read API: payables, the prepayment ledger, the overdue ranking, the payment standard.

Money is a decimal string everywhere. "as_of" is the last tick the service has seen unless
the caller gives one (``?as_of=YYYY-MM-DD``); statuses follow the contract's time words
(overdue from the first day after the due date).
"""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from runtime.shell import LoopService, Reply
from runtime.topics import partition_of
from services.settlement import accounts, records, rules, standard
from services.settlement.accounts import fmt
from services.settlement.ledger import ZERO

if TYPE_CHECKING:
    from services.settlement.app import Settlement

INSTITUTION = re.compile(r"[HP][0-9]{11}")
MONEY = re.compile(r"(0|[1-9][0-9]{0,15})(\.[0-9]{1,4})?")
STATUSES = ("open", "overdue", "paid")


class BadRequest(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _as_of(settlement: Settlement, query: Any, institution_id: str | None = None) -> date | None:
    """The caller's ?as_of, else the latest tick applied: for one institution, the one its own
    state partition has applied (another partition may be a tick ahead of it)."""
    raw = query.get("as_of")
    if raw is None:
        if institution_id is not None:
            return settlement.service.tick_of(partition_of(institution_id))
        return settlement.service.as_of
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise BadRequest(422, f"as_of must be a date YYYY-MM-DD, got {raw!r}")


def _institution(settlement: Settlement, institution_id: str) -> None:
    if not INSTITUTION.fullmatch(institution_id):
        raise BadRequest(422, f"institution_id must be H or P + 11 digits, got {institution_id!r}")
    known = (institution_id in settlement.index.institutions()
             or settlement.institutions.get(institution_id) is not None
             or settlement.chain.get(institution_id) is not None)
    if not known:
        raise BadRequest(404, f"institution {institution_id} is not known to settlement")


def _money(query: Any, name: str) -> Decimal | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not MONEY.fullmatch(raw):
        raise BadRequest(422, f"{name} must be a decimal string like '0.3200', got {raw!r}")
    return Decimal(raw)


def statement(settlement: Settlement, institution_id: str, as_of: date | None) -> dict[str, Any]:
    """An institution's payables with every payment known applied, and its payments."""
    settled = settlement.settled(institution_id)
    deliveries = settlement.index.of(institution_id, "delivery")
    state = settlement.chain.get(institution_id) or {}
    warned = state.get("warnings", {})
    deadline = settlement.policy.payment_deadline
    rows = []
    for payable in sorted(settled.payables.values(), key=lambda p: (p.accepted_on, p.delivery_id)):
        due = rules.due_date(payable.accepted_on, deadline.value)
        settled_on = settled.settled_on.get(payable.delivery_id)
        kind = accounts.status(payable, due, as_of)
        delivery = deliveries[payable.delivery_id]
        rows.append({
            "delivery_id": payable.delivery_id, "order_id": delivery["order_id"],
            "product_code": delivery["product_code"], "supplier_id": payable.supplier_id,
            "amount": fmt(payable.amount), "paid": fmt(payable.paid),
            "outstanding": fmt(payable.outstanding), "accepted_on": payable.accepted_on.isoformat(),
            "due_date": None if due is None else due.isoformat(), "status": kind,
            "days_outstanding": accounts.days_outstanding(payable, settled_on, as_of),
            "days_overdue": (as_of - due).days if kind == "overdue" and as_of and due else 0,
            "settled_on": None if settled_on is None else settled_on.isoformat(),
            "overdue_warning_id": warned.get(payable.delivery_id, {}).get("warning_id"),
        })
    totals: dict[str, dict[str, Any]] = {s: {"count": 0, "amount": ZERO, "outstanding": ZERO}
                                         for s in STATUSES}
    for row in rows:
        total = totals[row["status"]]
        total["count"] += 1
        total["amount"] += Decimal(row["amount"])
        total["outstanding"] += Decimal(row["outstanding"])
    payments = []
    for record in sorted(settlement.index.of(institution_id, "payment").values(),
                         key=lambda r: (r["paid_on"], r["payment_id"])):
        applied = settled.applied.get(record["payment_id"], ZERO)
        payments.append({
            "payment_id": record["payment_id"], "payee_id": record["payee_id"],
            "paid_on": record["paid_on"], "amount": record["amount"],
            "delivery_ids": record["delivery_ids"], "applied": fmt(applied),
            "unmatched": fmt(Decimal(record["amount"]) - applied),
            "anomalies": [accounts.anomaly_json(a)
                          for a in settled.anomalies.get(record["payment_id"], [])],
        })
    return {
        "institution_id": institution_id, "as_of": None if as_of is None else as_of.isoformat(),
        "policy_ref": deadline.ref,
        "totals": {s: {k: fmt(v) if isinstance(v, Decimal) else v for k, v in t.items()}
                   for s, t in totals.items()},
        "payables": rows, "payments": payments,
        "fund_disbursement": {"suspended": state.get("suspension") is not None,
                              "suspension": state.get("suspension"),
                              "history": state.get("suspensions", [])},
    }


def prepayment_ledger(settlement: Settlement, institution_id: str) -> dict[str, Any]:
    """Releases decided, transfers received (vbp.fund.prepaid), and per account what was
    advanced against what was bought, with the year-end reconciliation once done."""
    state = settlement.chain.get(institution_id) or {}
    releases = sorted(state.get("releases", {}).values(),
                      key=lambda r: (r["released_on"], r["release_id"]))
    transfers = [records.transfer_of(r)
                 for r in settlement.index.of(institution_id, "transfer").values()]
    deliveries = settlement.index.of(institution_id, "delivery").values()
    released: dict[str, Decimal] = defaultdict(Decimal)
    for release in releases:
        released[release["account"]] += Decimal(release["amount"])
    account_rows = []
    for account, amount in sorted(released.items()):
        period = settlement.account_period(institution_id, account)
        actual = None if period is None else accounts.purchase_amount(deliveries, *period)
        account_rows.append({
            "account": account,
            "period_start": None if period is None else period[0].isoformat(),
            "period_end": None if period is None else period[1].isoformat(),
            "released": fmt(amount), "actual_purchases": None if actual is None else fmt(actual),
            "balance": None if actual is None else fmt(amount - actual),
            "reconciliation": state.get("reconciled", {}).get(account),
        })
    total_released = sum(released.values(), ZERO)
    total_transferred = sum((t.amount for t in transfers), ZERO)
    rule = settlement.policy.prepayment
    return {
        "institution_id": institution_id, "institution_kind": settlement.kind_of(institution_id),
        "rule": None if rule.value is None else rule.value.kind, "policy_ref": rule.ref,
        "releases": releases,
        "transfers": [{"prepayment_id": t.release_id, "amount": fmt(t.amount),
                       "paid_on": t.released_on.isoformat()}
                      for t in sorted(transfers, key=lambda t: (t.released_on, t.release_id))],
        "accounts": account_rows,
        "totals": {"released": fmt(total_released), "transferred": fmt(total_transferred),
                   "released_not_transferred": fmt(total_released - total_transferred)},
    }


def ranking(settlement: Settlement, as_of: date | None, limit: int) -> dict[str, Any]:
    summaries = []
    for institution_id in settlement.index.institutions():
        rows = [r for r in statement(settlement, institution_id, as_of)["payables"]
                if r["status"] == "overdue"]
        registered = settlement.institutions.get(institution_id) or {}
        state = settlement.chain.get(institution_id) or {}
        summaries.append({
            "institution_id": institution_id, "name": registered.get("name"),
            "city_code": registered.get("city_code"), "overdue_count": len(rows),
            "overdue_outstanding": fmt(sum((Decimal(r["outstanding"]) for r in rows), ZERO)),
            "max_days_overdue": max((r["days_overdue"] for r in rows), default=0),
            "fund_disbursement_suspended": state.get("suspension") is not None,
        })
    ranked = accounts.overdue_ranking(summaries)
    return {"as_of": None if as_of is None else as_of.isoformat(),
            "policy_ref": settlement.policy.payment_deadline.ref,
            "institutions": ranked[:limit], "total": len(ranked)}


def routes(service: LoopService, settlement: Settlement) -> None:
    def answer(fn: Any) -> Any:
        async def handler(request: Any, **params: Any) -> Any:
            try:
                return fn(request.query, **params)
            except (BadRequest, standard.NoStandard) as error:
                return Reply(error.status, {"error": str(error)})
        return handler

    @answer
    def payables(query: Any, institution_id: str) -> Any:
        _institution(settlement, institution_id)
        body = statement(settlement, institution_id, _as_of(settlement, query, institution_id))
        wanted = query.get("status")
        if wanted is not None:
            if wanted not in STATUSES:
                raise BadRequest(422, f"status must be one of {', '.join(STATUSES)}, "
                                      f"got {wanted!r}")
            body["payables"] = [r for r in body["payables"] if r["status"] == wanted]
        return body

    @answer
    def prepayments(query: Any, institution_id: str) -> Any:
        _institution(settlement, institution_id)
        return prepayment_ledger(settlement, institution_id)

    @answer
    def overdue_ranking(query: Any) -> Any:
        raw = query.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 10000:
            raise BadRequest(422, f"limit must be an integer from 1 to 10000, got {raw!r}")
        return ranking(settlement, _as_of(settlement, query), int(raw))

    @answer
    def payment_standard(query: Any) -> Any:
        code = query.get("product_code")
        if not code:
            raise BadRequest(422, "product_code is required")
        product = settlement.products.get(code)
        if product is None:
            raise BadRequest(404, f"product {code} is not listed")
        raw_quantity = query.get("quantity", "1")
        if not raw_quantity.isdigit() or int(raw_quantity) < 1:
            raise BadRequest(422, f"quantity must be a positive integer, got {raw_quantity!r}")
        return standard.quote(product, list(settlement.products.values()),
                              settlement.policy.payment_standard, _money(query, "price"),
                              int(raw_quantity), _money(query, "non_passed_standard"))

    invalid = {422: "An invalid parameter"}
    service.route("/v1/settlement/institutions/{institution_id}/payables",
                  query=("as_of", "status"), responses=invalid)(payables)
    service.route("/v1/settlement/institutions/{institution_id}/prepayments",
                  responses=invalid)(prepayments)
    service.route("/v1/settlement/overdue-ranking", query=("as_of", "limit"),
                  responses=invalid)(overdue_ranking)
    service.route("/v1/settlement/payment-standard",
                  query=("product_code", "quantity", "price", "non_passed_standard"),
                  responses={**invalid, 404: "The product is not listed"})(payment_standard)
