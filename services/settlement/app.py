"""Settlement service: payables, payments, the overdue chain and prepayments, on clock ticks.

State, in the processing core's changelog-backed tables:
- reference data (`agreements`, `institutions`, `products`), keyed as their compacted topics;
- `records`: one record per order, accepted delivery, payment and fund transfer of an
  institution (records.py), written once by the one handler that reads vbp.orders,
  vbp.deliveries and vbp.payments (co-partitioned by institution);
- `progress`: quota's vbp.quota.progress readings per agreement quarter (Xi'an's second
  tranche and Yunnan's continued prepayment need the purchased quantity);
- `chain`: per institution, what the ticks have issued: overdue warnings with their day, the
  fund-disbursement suspension, unmatched payments reported, prepayment releases (the ledger)
  and reconciled accounts. A decision already issued is never rewritten;
- the runtime's `ticks` (LoopService.as_of, the read API's "as of").
Who paid what is derived from the records (accounts.py) on each tick and each read, and the
indexes by institution are rebuilt after every table recovery.

Supplier of a delivery: its order's distributor, else the agreement's manufacturer
(records.supplier_of). Guizhou's prepayment basis (last year's average monthly disbursement)
comes from the bureau on vbp.ref.institutions (fields disbursement_year and
avg_monthly_disbursement, our extension).
"""
from __future__ import annotations

import copy
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from policies.workdays import WorkdayCalendar
from runtime.loop import Rejected
from runtime.shell import LoopService
from runtime.topics import partition_of
from schemas.envelope import CloudEvent
from schemas.outputs import DecisionIssued, WarningRaised
from services.settlement import accounts, notices, records, rules
from services.settlement.ledger import Payable, Payment, PrepaymentRelease, reconcile_prepayments

YEARLY = "share_of_prior_year_monthly_disbursement"


def new_state() -> dict[str, Any]:
    return {"warnings": {}, "suspension": None, "suspensions": [], "reported": [],
            "releases": {}, "reconciled": {}}


class Settlement:
    def __init__(self, service: LoopService) -> None:
        self.service = service
        self.policy = service.policy.settlement
        self.calendar = WorkdayCalendar()
        self.agreements = service.table("agreements")  # a copy in every partition
        self.institutions = service.table("institutions")
        self.products = service.table("products")
        self.records = service.table("records")
        self.progress = service.table("progress")
        self.chain = service.table("chain")
        self.announced = service.table("calendar")  # year -> calendar.arrangement_missing sent
        self.index = records.Index()
        self.agreements_of: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.progress_of: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._settlements: dict[str, _Settlements] = {}  # institution -> settled()'s last
        service.on_recover(self._rebuild_records)
        service.on_recover(self._rebuild_agreements)
        service.on_recover(self._rebuild_progress)

    # -- derived state ------------------------------------------------------------------------

    async def _rebuild_records(self) -> None:
        self.index.clear()
        self._settlements.clear()
        for key, record in self.records.items():
            self.index.add(key, record)

    async def _rebuild_agreements(self) -> None:
        self.agreements_of.clear()
        self._settlements.clear()
        for agreement in self.agreements.values():
            self._index_agreement(agreement)

    async def _rebuild_progress(self) -> None:
        self.progress_of.clear()
        for key, record in self.progress.items():
            self.progress_of[record["agreement_id"]][key] = record

    def _index_agreement(self, agreement: dict[str, Any],
                         old: dict[str, Any] | None = None) -> None:
        if old is not None:  # an amendment may move it
            self.agreements_of[old["institution_id"]].pop(old["agreement_id"], None)
            self._settlements.pop(old["institution_id"], None)
        self.agreements_of[agreement["institution_id"]][agreement["agreement_id"]] = agreement
        self._settlements.pop(agreement["institution_id"], None)

    def kind_of(self, institution_id: str) -> str | None:
        registered = self.institutions.get(institution_id)
        if registered is not None:
            return str(registered["kind"])
        return "pharmacy" if institution_id.startswith("P") else None  # contract: P = pharmacy

    def settled(self, institution_id: str, before: date | None = None) -> accounts.Settled:
        """The institution's payables with the payments made before ``before`` applied. Its
        payables and payments are kept up to date record by record (`_keep`), and the last
        answer goes on with the payments made since: each tick asks it of every institution,
        and rebuilding an active institution's whole year every day made a year's ticks
        quadratic (seen: three quarters of settlement's time in the 2,000-institution year)."""
        kept = self._settlements.get(institution_id)
        if kept is None:
            orders = self.index.view(institution_id, "order")
            agreements = list(self.agreements_of.get(institution_id, {}).values())
            payables = {
                delivery_id: records.payable_of(
                    delivery, records.supplier_of(delivery, orders, agreements))
                for delivery_id, delivery in self.index.view(institution_id, "delivery").items()}
            payments = sorted((records.payment_of(p)
                               for p in self.index.view(institution_id, "payment").values()),
                              key=_paid_order)
            kept = self._settlements[institution_id] = _Settlements(payables, payments)
        paid = len(kept.payments) if before is None else bisect_left(
            kept.payments, before, key=lambda p: p.paid_on)
        if kept.result is None or kept.result[0] > paid:
            kept.result = paid, accounts.settle(kept.payables, kept.payments[:paid])
        elif kept.result[0] < paid:
            kept.result = paid, accounts.settle_further(kept.result[1],
                                                        kept.payments[kept.result[0]:paid])
        return kept.result[1]

    def _keep(self, institution_id: str, kind: str, record: records.Record) -> None:
        """A new record in the institution's kept payables and payments (settled)."""
        kept = self._settlements.get(institution_id)
        if kept is None:
            return
        if kind == "delivery":
            deliveries = [record]
        elif kind == "order":  # it may name the supplier of deliveries read before it
            deliveries = [d for d in self.index.view(institution_id, "delivery").values()
                          if d["order_id"] == record["order_id"]]
        elif kind == "payment":
            payment = records.payment_of(record)
            at = bisect_left(kept.payments, _paid_order(payment), key=_paid_order)
            kept.payments.insert(at, payment)
            if kept.result is not None and at < kept.result[0]:  # paid before the last answer
                kept.result = None
            return
        else:
            return
        agreements = list(self.agreements_of.get(institution_id, {}).values())
        orders = self.index.view(institution_id, "order")
        for delivery in deliveries:
            delivery_id = delivery["delivery_id"]
            payable = records.payable_of(delivery, records.supplier_of(delivery, orders,
                                                                        agreements))
            new = delivery_id not in kept.payables
            kept.payables[delivery_id] = payable
            if kept.result is None:
                continue
            applied, settled = kept.result
            if new and not any(delivery_id in p.delivery_ids for p in kept.payments[:applied]):
                settled.payables[delivery_id] = payable  # no payment it has seen names it
            else:
                kept.result = None

    # -- inputs -------------------------------------------------------------------------------

    async def on_reference(self, event: CloudEvent) -> None:
        """One state partition's copy of a reference event (LoopService.on_reference)."""
        data = event.data.model_dump(mode="json")
        if event.type == "vbp.agreement.signed":
            old = self.agreements.get(data["agreement_id"])
            self.agreements[data["agreement_id"]] = data
            self._index_agreement(data, old)
        elif event.type == "vbp.product.listed":
            self.products[data["product_code"]] = data
        else:
            self.institutions[data["institution_id"]] = data

    async def on_money(self, event: CloudEvent) -> None:
        """One record per order, delivery, payment or transfer; a resent one changes nothing."""
        found = records.record_of(event)
        if found is None:
            return
        key, record = found
        old = self.records.get(key)
        if old is not None:
            reason = records.conflict(old, record)
            if reason is not None:
                raise Rejected(reason)
            if records.same_fact(old, record):
                return
        self.records[key] = record
        institution_id = self.index.add(key, record)
        if old is None:
            self._keep(institution_id, key.split(":", 1)[0], record)
        else:  # a fact completed: rebuilt on the next question
            self._settlements.pop(institution_id, None)

    async def on_progress(self, event: CloudEvent) -> None:
        data = event.data
        key = f"{data.agreement_id}:{data.period}"
        record = accounts.with_progress(self.progress.get(key), data.agreement_id, data.period,
                                        event.time.date(), data.cumulative_quantity)
        self.progress[key] = record
        self.progress_of[data.agreement_id][key] = record

    # -- ticks --------------------------------------------------------------------------------

    async def on_tick(self, tick: CloudEvent, partition: int) -> None:
        as_of: date = tick.data.as_of
        self.calendar.refresh()  # a holiday arrangement published since counts from this tick
        if partition == 0:  # one partition speaks for the jurisdiction
            await self.announce_calendar(as_of, tick)
        for institution_id in self._institutions_in(partition):
            await self.evaluate(institution_id, as_of, tick)

    def _institutions_in(self, partition: int) -> list[str]:
        candidates = set(self.index.institutions()) | set(self.chain.keys())
        candidates |= {i for i, found in self.agreements_of.items() if found}
        candidates |= {i for i, r in self.institutions.items()
                       if r.get("avg_monthly_disbursement") is not None}
        return sorted(i for i in candidates if partition_of(i) == partition)

    async def announce_calendar(self, as_of: date, tick: CloudEvent) -> None:
        """calendar.arrangement_missing, once per year, where working days are counted."""
        counts = self.policy.overdue_suspend_after_working_days.value is not None
        missing = rules.arrangement_missing(
            self.calendar, as_of, self.service.policy.region_code,
            self.policy.holiday_arrangement_warn_days, counts,
            announced=[int(year) for year in self.announced])
        for year, data in missing:
            await self.warn(data, tick)
            self.announced[str(year)] = data["warning_id"]

    async def evaluate(self, institution_id: str, as_of: date, tick: CloudEvent) -> None:
        old = self.chain.get(institution_id)
        state = copy.deepcopy(old) if old is not None else new_state()
        settled = self.settled(institution_id, before=as_of)
        await self.overdue(institution_id, settled, state, as_of, tick)
        await self.unmatched(institution_id, settled, state, tick)
        await self.prepay(institution_id, state, as_of, tick)
        await self.reconcile(institution_id, state, as_of, tick)
        if state != (old or new_state()):
            self.chain[institution_id] = state

    async def overdue(self, institution_id: str, settled: accounts.Settled,
                      state: dict[str, Any], as_of: date, tick: CloudEvent) -> None:
        """settlement.payment_overdue once per delivery, then settlement.overdue_after_warning."""
        payables = settled.payables
        for payable in sorted(payables.values(), key=lambda p: (p.accepted_on, p.delivery_id)):
            if payable.delivery_id in state["warnings"]:
                continue
            warning = rules.payment_overdue(payable, as_of, self.policy.payment_deadline)
            if warning is not None:
                await self.warn(warning.data(), tick)
                state["warnings"][payable.delivery_id] = {
                    "warning_id": warning.warning_id, "raised_on": as_of.isoformat()}
        suspension = suspension_of(state["suspension"], institution_id)
        causes = set(suspension.causes) if suspension else set()
        live = [warning_of(institution_id, d, w) for d, w in sorted(state["warnings"].items())
                if d in causes or not payables[d].settled]
        step = rules.overdue_after_warning(
            institution_id, live, payables, as_of,
            self.policy.overdue_suspend_after_working_days, self.calendar, suspension)
        if step.decision is not None:
            data = step.decision.data()
            # For the auditor: the day each cause was warned, counted from on the profile's
            # working-day calendar (holidays and make-up workdays).
            data["metrics"]["warned_on"] = {
                d: state["warnings"][d]["raised_on"] for d in data["metrics"]["delivery_ids"]}
            data["metrics"]["calendar"] = self.service.policy.calendar
            await self.decide(data, tick)
            if step.decision.action == "resume_fund_disbursement":
                state["suspensions"].append({**state["suspension"],
                                             "resumed_by": step.decision.decision_id,
                                             "resumed_on": as_of.isoformat()})
        state["suspension"] = None if step.suspension is None else {
            "decision_id": step.suspension.decision_id,
            "effective_from": step.suspension.effective_from.isoformat(),
            "causes": dict(step.suspension.causes)}

    async def unmatched(self, institution_id: str, settled: accounts.Settled,
                        state: dict[str, Any], tick: CloudEvent) -> None:
        """settlement.payment_unmatched, once per payment, on the first tick that sees it."""
        payments = self.index.of(institution_id, "payment")
        for payment_id, anomalies in sorted(settled.anomalies.items()):
            if payment_id in state["reported"]:
                continue
            notice = notices.payment_unmatched(
                records.payment_of(payments[payment_id]), anomalies,
                settled.applied[payment_id], self.policy.payment_deadline)
            if notice is not None:
                await self.warn(notice.data(), tick)
                state["reported"].append(payment_id)

    async def prepay(self, institution_id: str, state: dict[str, Any], as_of: date,
                     tick: CloudEvent) -> None:
        """settlement.prepayment: release_prepayment decisions into the institution's ledger."""
        ledger = [release_of(r, institution_id) for r in state["releases"].values()]
        for basis in self.prepayment_bases(institution_id, as_of):
            for decision in rules.prepayment(basis, as_of, self.policy.prepayment,
                                             self.policy.prepayment_excluded_kinds, ledger):
                await self.decide(decision.data(), tick)
                release = rules.release_of(decision)
                ledger.append(release)
                state["releases"][release.release_id] = {
                    "release_id": release.release_id, "amount": accounts.fmt(release.amount),
                    "released_on": release.released_on.isoformat(), "account": release.account,
                    "label": release.label}

    def prepayment_bases(self, institution_id: str,
                         as_of: date) -> list[rules.AgreementBasis | rules.DisbursementBasis]:
        rule = self.policy.prepayment.value
        if rule is None:
            return []
        kind = self.kind_of(institution_id)
        if kind is None:
            if self.policy.prepayment_excluded_kinds.value:
                return []  # its kind may exclude it: wait until the institution is registered
            kind = "unregistered"
        if rule.kind == YEARLY:
            registered = self.institutions.get(institution_id) or {}
            if registered.get("avg_monthly_disbursement") is None:
                return []
            year = registered["disbursement_year"] + 1  # last year's figure funds this year
            if as_of.year != year:
                return []  # an account is released in its own year only
            return [rules.DisbursementBasis(institution_id, kind, year,
                                            Decimal(registered["avg_monthly_disbursement"]))]
        bases = []
        for agreement_id, agreement in sorted(self.agreements_of.get(institution_id, {}).items()):
            if as_of > date.fromisoformat(agreement["period_end"]):
                continue  # ended: reconciled, not prepaid
            purchased = accounts.purchased_before(
                self.progress_of.get(agreement_id, {}).values(), as_of)
            bases.append(rules.AgreementBasis(
                agreement_id, institution_id, kind, date.fromisoformat(agreement["period_start"]),
                agreement["agreed_quantity"], Decimal(agreement["price"]), purchased))
        return bases

    def account_period(self, institution_id: str,
                       account: str) -> tuple[date, date, str | None] | None:
        """(start, end, product_code) of a prepayment account: an agreement, or a year."""
        agreement = self.agreements.get(account)
        if agreement is not None:
            return (date.fromisoformat(agreement["period_start"]),
                    date.fromisoformat(agreement["period_end"]), agreement["product_code"])
        if account.isdigit():
            return date(int(account), 1, 1), date(int(account), 12, 31), None
        return None

    async def reconcile(self, institution_id: str, state: dict[str, Any], as_of: date,
                        tick: CloudEvent) -> None:
        """settlement.prepayment_reconciliation on the first tick after an account's period."""
        by_account: dict[str, list[PrepaymentRelease]] = defaultdict(list)
        for release in state["releases"].values():
            by_account[release["account"]].append(release_of(release, institution_id))
        deliveries = self.index.of(institution_id, "delivery").values()
        for account, releases in sorted(by_account.items()):
            period = self.account_period(institution_id, account)
            if account in state["reconciled"] or period is None or as_of <= period[1]:
                continue
            start, end, product_code = period
            actual = accounts.purchase_amount(deliveries, start, end, product_code)
            [position] = reconcile_prepayments(releases, {institution_id: actual})
            notice = notices.prepayment_reconciliation(position, account, start, end,
                                                       self.policy.prepayment)
            if notice is None:
                continue
            await self.warn(notice.data(), tick)
            state["reconciled"][account] = dict(notice.metrics)

    # -- outputs ------------------------------------------------------------------------------

    async def warn(self, data: dict[str, Any], tick: CloudEvent) -> None:
        warning = WarningRaised.model_validate(data)
        await self.service.emit(warning,
                                id=warning.warning_id, subject=warning.subject_id, time=tick.time)

    async def decide(self, data: dict[str, Any], tick: CloudEvent) -> None:
        decision = DecisionIssued.model_validate(data)
        await self.service.emit(decision,
                                id=decision.decision_id, subject=decision.subject_id,
                                time=tick.time)


def suspension_of(stored: dict[str, Any] | None,
                  institution_id: str) -> rules.FundSuspension | None:
    if stored is None:
        return None
    return rules.FundSuspension(stored["decision_id"], institution_id,
                                date.fromisoformat(stored["effective_from"]),
                                dict(stored["causes"]))


def warning_of(institution_id: str, delivery_id: str,
               stored: dict[str, str]) -> rules.SettlementWarning:
    """An issued overdue warning as the chain reads it (id, delivery and day; its figures were
    those of the day it was raised and are not needed again)."""
    return rules.SettlementWarning(
        warning_id=stored["warning_id"], rule=rules.PAYMENT_OVERDUE, policy_ref="",
        subject_id=institution_id, metrics={}, message="", delivery_id=delivery_id,
        raised_on=date.fromisoformat(stored["raised_on"]))


def release_of(stored: dict[str, Any], institution_id: str) -> PrepaymentRelease:
    return PrepaymentRelease(stored["release_id"], institution_id, Decimal(stored["amount"]),
                             date.fromisoformat(stored["released_on"]), stored["account"],
                             stored["label"])


def _paid_order(payment: Payment) -> tuple[date, str]:
    return payment.paid_on, payment.payment_id


@dataclass
class _Settlements:
    """An institution's payables and its payments in the order they were paid, kept record by
    record (Settlement._keep); `result`: how many of them the last answer applied, and that
    answer (Settlement.settled goes on from it)."""

    payables: dict[str, Payable]
    payments: list[Payment]
    result: tuple[int, accounts.Settled] | None = None


def build(service: LoopService) -> Settlement:
    settlement = Settlement(service)

    @service.on_reference("vbp.ref.agreements", "vbp.ref.products", "vbp.ref.institutions")
    async def reference_in(event: CloudEvent, partition: int) -> None:
        await settlement.on_reference(event)

    @service.consume("vbp.orders", "vbp.deliveries", "vbp.payments")
    async def money_in(event: CloudEvent) -> None:
        """Accepted deliveries become payables; payments and prepayments settle them."""
        await settlement.on_money(event)

    # keyed by agreement and period: every worker reads all of it, each institution's task
    # handles its own
    @service.consume_shared("vbp.quota.progress", route=lambda e: e.data.institution_id)
    async def progress_in(event: CloudEvent, partition: int) -> None:
        await settlement.on_progress(event)

    @service.on_tick
    async def settlement_tick(tick: CloudEvent, partition: int) -> None:
        """Due dates and working-day counts are evaluated on ticks."""
        await settlement.on_tick(tick, partition)

    from services.settlement.api import routes
    routes(service, settlement)
    return settlement
