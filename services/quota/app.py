"""Quota service: running totals per agreement, and the quota rules evaluated on clock ticks.

State, in the processing core's changelog-backed tables (runtime/loop.py):
- reference data (`agreements`, `products`, `institutions`), keyed as their compacted topics;
- `orders`: one record per order (ledger.py), the single source of every total;
- `evaluations`: per agreement, the quarters already evaluated, what they produced and the tick
  that decided them, so a late order updates the totals without rewriting a decision already
  issued, and the deciding tick read again after a crash decides the same;
- `institution-state`: per institution, its monthly-settlement suspension and the months whose
  non-winning ratio was evaluated;
- the runtime's `ticks` (LoopService.as_of, the read API's "today").
Totals and the agreement index are derived in memory and rebuilt after every table recovery.
"""

from __future__ import annotations

import copy
import hashlib
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from kernel import ledger
from kernel.findings import output_id
from kernel.periods import Quarter, evaluated_quarters, pace, quarters_of
from runtime.shell import LoopService
from runtime.topics import partition_of
from schemas.envelope import CloudEvent
from schemas.outputs import DecisionIssued, QuotaProgress, WarningRaised
from services.quota import rules, views


class Quota:
    def __init__(self, service: LoopService) -> None:
        self.service = service
        self.policy = service.policy.quota
        self.agreements = service.table("agreements")  # a copy in every partition
        self.products = service.table("products")
        self.institutions = service.table("institutions")
        self.orders = service.table("orders")
        self.evaluations = service.table("evaluations")
        self.institution_state = service.table("institution-state")
        self.totals = ledger.Totals()
        self.by_purchase: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
        service.on_recover(self._rebuild_totals)
        service.on_recover(self._rebuild_agreements)

    # -- derived state ------------------------------------------------------------------------

    async def _rebuild_totals(self) -> None:
        self.totals.clear()
        for record in self.orders.values():
            self.totals.replace(None, record)

    async def _rebuild_agreements(self) -> None:
        self.by_purchase.clear()
        for agreement in self.agreements.values():
            self._index(agreement)

    def _index(self, agreement: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        if old is not None:  # an amendment may change the pair
            self.by_purchase[(old["institution_id"], old["product_code"])].pop(
                old["agreement_id"], None)
        key = (agreement["institution_id"], agreement["product_code"])
        self.by_purchase[key][agreement["agreement_id"]] = agreement

    def counted(
        self, agreement: dict[str, Any], start: date, end: date
    ) -> tuple[int, dict[str, int]]:
        sums = self.totals.sum(agreement["institution_id"], agreement["product_code"], start, end)
        counts = self.policy.counts.value or "ordered"
        return sums[counts], sums

    # -- inputs -------------------------------------------------------------------------------

    async def on_reference(self, event: CloudEvent, partition: int) -> None:
        """One state partition's copy of a reference event (LoopService.on_reference)."""
        data = event.data.model_dump(mode="json")
        if event.type == "vbp.agreement.signed":
            old = self.agreements.get(data["agreement_id"])
            if old == data:
                return  # read again (a replay past the dedupe window): its progress was sent
            self.agreements[data["agreement_id"]] = data
            self._index(data, old)
            if partition == partition_of(data["institution_id"]):
                await self.publish_progress(data, None, event)
        elif event.type == "vbp.product.listed":
            self.products[data["product_code"]] = data
        else:
            self.institutions[data["institution_id"]] = data

    async def on_trade(self, event: CloudEvent) -> None:
        data = event.data
        key = data.order_id
        old = self.orders.get(key)
        record = old or ledger.new_record(data.institution_id)
        if event.type == "vbp.order.placed":
            new = ledger.placed(record, data.product_code, event.time.date(), data.quantity)
        elif event.type == "vbp.order.cancelled":
            new = ledger.cancelled(record)
        elif event.type == "vbp.delivery.accepted":
            new = ledger.delivered(
                record, data.delivery_id, data.product_code, data.quantity, data.accepted_on
            )
        else:
            new = ledger.rejected(record, data.delivery_id)
        if new == old:
            return
        self.orders[key] = new
        self.totals.replace(old, new)
        changed = ledger.changed_days(old, new)
        if new["product_code"] and changed:
            for agreement in list(self.by_purchase.get(
                (new["institution_id"], new["product_code"]), {}
            ).values()):
                await self.publish_progress(agreement, min(changed), event)

    async def publish_progress(
        self, agreement: dict[str, Any], since: date | None, cause: CloudEvent
    ) -> None:
        """vbp.quota.progress for every quarter whose figures a change on day `since` moved (None:
        every quarter): its own and, through the cumulative figures, every later one that has
        begun (by the cause's day or the latest tick). So the latest record per key is the same
        whatever order the orders and deliveries topics were read in (a delivery may be read
        before its order). A quarter not yet begun gets its first record from the tick of its
        first day (on_tick), with the figures of then: sent with every order before, it made
        quota write about twice as many records as it read, none of them news."""
        quarters = quarters_of(agreement)
        begun = cause.time.date()
        latest_tick = self.service.tick_of(partition_of(agreement["institution_id"]))
        if latest_tick is not None and latest_tick > begun:
            begun = latest_tick
        await self._publish(agreement, quarters, [
            q for q in quarters if (since is None or q.end >= since) and q.start <= begun], cause)

    async def _publish(self, agreement: dict[str, Any], quarters: list[Quarter],
                       chosen: list[Quarter], cause: CloudEvent) -> None:
        """The progress of the `chosen` of the agreement's `quarters`. Each record is stamped
        with its cause's time, or with the latest day it counts when that is later (an
        agreement read after its orders): a reader of the progress as of a day (settlement's
        prepayment tranches) must not see purchases of later days."""
        if not chosen:
            return
        totals = self.quarter_totals(agreement, quarters)
        for quarter in chosen:
            time = cause.time
            counted = totals[quarter.index - 1].last_day
            if counted is not None and counted > time.date():
                time = datetime.combine(counted, datetime.min.time(), time.tzinfo)
            progress = self.progress(agreement, quarters, totals, quarter, time.date())
            await self.service.emit(
                progress,
                id=f"progress:{agreement['agreement_id']}:{quarter.label}:{cause.id}",
                subject=agreement["agreement_id"],
                time=time,
                key=f"{agreement['agreement_id']}:{quarter.label}",
                coalesce=f"{agreement['agreement_id']}:{quarter.label}",  # the latest stands
            )

    def quarter_totals(self, agreement: dict[str, Any], quarters: list[Quarter],
                       ) -> list[ledger.PeriodTotals]:
        """The totals of each of the agreement's quarters, in order."""
        return self.totals.by_period(agreement["institution_id"], agreement["product_code"],
                                     [(q.start, q.end) for q in quarters])

    def progress(
        self, agreement: dict[str, Any], quarters: list[Quarter],
        totals: list[ledger.PeriodTotals], quarter: Quarter, as_of: date
    ) -> QuotaProgress:
        """`totals`: quarter_totals(agreement, quarters)."""
        counts = self.policy.counts.value or "ordered"
        sums = totals[quarter.index - 1].sums
        quantity = sums[counts]
        cumulative = sum(t.sums[counts] for t in totals[:quarter.index])
        cumulative_target = sum(q.target for q in quarters if q.index <= quarter.index)
        return QuotaProgress(
            agreement_id=agreement["agreement_id"],
            institution_id=agreement["institution_id"],
            product_code=agreement["product_code"],
            period=quarter.label,
            ordered_quantity=max(sums["ordered"], 0),
            accepted_quantity=max(sums["accepted"], 0),
            target_quantity=quarter.target,
            completion_rate=str(rules.completion_rate(max(quantity, 0), quarter.target)),
            cumulative_quantity=max(cumulative, 0),
            cumulative_target=cumulative_target,
            pace=str(pace(quarter.start, quarter.end, as_of)),
        )

    # -- ticks --------------------------------------------------------------------------------

    async def on_tick(self, tick: CloudEvent, partition: int) -> None:
        as_of: date = tick.data.as_of
        mine = [
            a for a in self.agreements.values() if partition_of(a["institution_id"]) == partition
        ]
        previous = self.service.tick_of(partition)  # the tick before this one (on_tick)
        suspensions: dict[str, list[tuple[str, str, rules.DecisionFinding]]] = defaultdict(list)
        for agreement in sorted(mine, key=lambda a: a["agreement_id"]):
            quarters = quarters_of(agreement)
            await self._publish(agreement, quarters, [  # quarters begun since the last tick
                q for q in quarters if q.start <= as_of and (previous is None
                                                            or q.start > previous)], tick)
            for cause in await self.evaluate_quarters(agreement, as_of, tick):
                suspensions[agreement["institution_id"]].append(cause)
            await self.evaluate_year_end(agreement, as_of, tick)
        for institution_id, causes in sorted(suspensions.items()):
            await self.suspend(institution_id, causes, tick)
        for institution_id in sorted(self._institutions_in(partition)):
            await self.evaluate_catch_up(institution_id, as_of, tick)
            await self.evaluate_non_winning(institution_id, as_of, tick)

    def _institutions_in(self, partition: int) -> set[str]:
        return {i for i in self.totals.institutions() if partition_of(i) == partition} | {
            i for i in self.institution_state if partition_of(i) == partition
        }

    async def evaluate_quarters(
        self, agreement: dict[str, Any], as_of: date, tick: CloudEvent
    ) -> list[tuple[str, str, rules.DecisionFinding]]:
        """quota.quarterly_completion for every quarter newly due; return suspension causes."""
        agreement_id = agreement["agreement_id"]
        stored = self._evaluations(agreement_id)
        state: dict[str, Any] | None = None  # the copy changed, once there is a change
        quarters = quarters_of(agreement)
        causes = []
        for quarter in evaluated_quarters(quarters, as_of, self.policy.grace_days.value):
            decided = stored["quarters"].get(quarter.label)
            if decided is None:
                quantity, _ = self.counted(agreement, quarter.start, quarter.end)
            elif stored.get("decided_on", {}).get(quarter.label) == as_of.isoformat():
                # This tick again, after a crash amid it: the same finding, so that the
                # institution's suspension names the same causes as before the crash.
                quantity = decided["quantity"]
            else:
                continue  # decided already: a late order changes totals, not this decision
            finding = rules.quarterly_completion(
                max(quantity, 0),
                quarter.target,
                self.policy.quarterly_warn_below,
                self.policy.quarterly_suspend_below,
                as_of,
            )
            outcome: dict[str, Any] = {
                "quantity": quantity,
                "target": quarter.target,
                "warning_id": None,
            }
            if finding is not None:
                warning_id = output_id(
                    finding.rule, agreement_id, quarter.label, finding.severity
                )
                outcome["warning_id"] = warning_id
                await self.warn(
                    warning_id,
                    finding,
                    "agreement",
                    agreement_id,
                    quarter.label,
                    tick,
                    {
                        **finding.metrics,
                        "institution_id": agreement["institution_id"],
                        "product_code": agreement["product_code"],
                    },
                )
                if finding.decision is not None:
                    causes.append((agreement_id, warning_id, finding.decision))
            if state is None:
                state = copy.deepcopy(stored)
            state["quarters"][quarter.label] = outcome
            state.setdefault("decided_on", {})[quarter.label] = as_of.isoformat()
            self.evaluations[agreement_id] = state
        return causes

    async def suspend(
        self,
        institution_id: str,
        causes: list[tuple[str, str, rules.DecisionFinding]],
        tick: CloudEvent,
    ) -> None:
        """One suspend_monthly_settlement per institution, naming every agreement behind it."""
        state = copy.deepcopy(self._institution(institution_id))
        suspension = state["suspension"]
        if suspension is not None:  # already suspended: the new causes must catch up too
            suspension["causes"].update({a: w for a, w, _ in causes})
            self.institution_state[institution_id] = state
            return
        decision = causes[0][2]
        period = decision.effective_from.strftime("%Y-%m")
        decision_id = output_id(decision.rule, institution_id, period, decision.action)
        await self.decide(decision_id, decision, institution_id, tick, [w for _, w, _ in causes])
        state["suspension"] = {
            "decision_id": decision_id,
            "effective_from": decision.effective_from.isoformat(),
            "causes": {a: w for a, w, _ in causes},
        }
        self.institution_state[institution_id] = state

    async def evaluate_catch_up(self, institution_id: str, as_of: date, tick: CloudEvent) -> None:
        state = self._institution(institution_id)
        suspension = state["suspension"]
        if suspension is None:
            return
        quantities, targets = {}, {}
        for agreement_id in suspension["causes"]:
            agreement = self.agreements[agreement_id]
            quarters = quarters_of(agreement)
            evaluated = evaluated_quarters(quarters, as_of, self.policy.grace_days.value)
            targets[agreement_id] = sum(q.target for q in evaluated)
            quantities[agreement_id], _ = self.counted(
                agreement, quarters[0].start, as_of - timedelta(days=1)
            )
        decision = rules.catch_up(
            quantities, targets, list(suspension["causes"]), as_of, self.policy.catch_up_resumes
        )
        if decision is None:
            return
        decision_id = output_id(
            decision.rule, institution_id, suspension["effective_from"][:7], decision.action
        )
        await self.decide(
            decision_id,
            decision,
            institution_id,
            tick,
            sorted(suspension["causes"].values()),
            {"suspension_decision_id": suspension["decision_id"]},
        )
        state = {**state, "suspension": None}
        self.institution_state[institution_id] = state

    async def evaluate_year_end(
        self, agreement: dict[str, Any], as_of: date, tick: CloudEvent
    ) -> None:
        period_end = date.fromisoformat(agreement["period_end"])
        if as_of <= period_end:
            return
        agreement_id = agreement["agreement_id"]
        if self._evaluations(agreement_id)["year_end"] is not None:
            return
        state = copy.deepcopy(self._evaluations(agreement_id))
        start = date.fromisoformat(agreement["period_start"])
        cumulative, _ = self.counted(agreement, start, period_end)
        decision = rules.year_end(
            max(cumulative, 0),
            agreement["agreed_quantity"],
            agreement["price"],
            self.policy.year_end_budget_reduction,
            as_of,
        )
        state["year_end"] = {"cumulative": cumulative, "decision_id": None}
        if decision is not None:
            decision_id = output_id(
                decision.rule, agreement_id, str(agreement["cycle_year"]), decision.action
            )
            state["year_end"]["decision_id"] = decision_id
            await self.decide(
                decision_id,
                decision,
                agreement["institution_id"],
                tick,
                [],
                {"agreement_id": agreement_id, "product_code": agreement["product_code"]},
            )
        self.evaluations[agreement_id] = state

    async def evaluate_non_winning(
        self, institution_id: str, as_of: date, tick: CloudEvent
    ) -> None:
        """quota.non_winning_ratio for the month that ended before `as_of`, once per month."""
        month_end = as_of.replace(day=1) - timedelta(days=1)
        month = month_end.strftime("%Y-%m")
        state = self._institution(institution_id)
        if month in state["months"]:
            return
        units: dict[str, dict[bool, Decimal]] = defaultdict(
            lambda: {True: Decimal(0), False: Decimal(0)}
        )
        for product_code in self.totals.products_of(institution_id):
            product = self.products.get(product_code)
            if product is None:
                continue
            ordered = self.totals.sum(
                institution_id, product_code, month_end.replace(day=1), month_end
            )["ordered"]
            units[product["generic_name"]][product["winning"]] += rules.to_reference_units(
                ordered, product["reference_units"]
            )
        for generic_name, by_winning in sorted(units.items()):
            finding = rules.non_winning_ratio(
                by_winning[True], by_winning[False], self.policy.non_winning_max_ratio
            )
            if finding is not None:
                # Ids are ASCII (schemas.types.Identifier): the generic name enters as a digest.
                name_key = hashlib.sha1(generic_name.encode()).hexdigest()[:12]
                warning_id = output_id(finding.rule, institution_id, month, name_key)
                await self.warn(
                    warning_id,
                    finding,
                    "institution",
                    institution_id,
                    month,
                    tick,
                    {**finding.metrics, "generic_name": generic_name},
                )
        self.institution_state[institution_id] = {**state, "months": [*state["months"], month]}

    # A table's value is read as it is and changed as a copy (runtime/state.py: never in place).

    def _evaluations(self, agreement_id: str) -> dict[str, Any]:
        return self.evaluations.get(agreement_id) or {"quarters": {}, "year_end": None}

    def _institution(self, institution_id: str) -> dict[str, Any]:
        return self.institution_state.get(institution_id) or {"suspension": None, "months": []}

    # -- outputs ------------------------------------------------------------------------------

    async def warn(
        self,
        warning_id: str,
        finding: rules.Finding,
        subject_kind: str,
        subject_id: str,
        period: str | None,
        tick: CloudEvent,
        metrics: dict[str, Any],
    ) -> None:
        data = WarningRaised(
            warning_id=warning_id,
            rule=finding.rule,
            severity=finding.severity,
            subject_kind=subject_kind,
            subject_id=subject_id,
            period=period,
            metrics=metrics,
            policy_ref=finding.policy_ref,
            message=finding.message,
        )
        await self.service.emit(
            data,
            id=warning_id,
            subject=subject_id,
            time=tick.time,
        )

    async def decide(
        self,
        decision_id: str,
        decision: rules.DecisionFinding,
        institution_id: str,
        tick: CloudEvent,
        caused_by: list[str],
        extra: dict[str, Any] | None = None,
    ) -> None:
        data = DecisionIssued(
            decision_id=decision_id,
            action=decision.action,
            subject_kind="institution",
            subject_id=institution_id,
            effective_from=decision.effective_from,
            rule=decision.rule,
            policy_ref=decision.policy_ref,
            caused_by=caused_by,
            metrics={**decision.metrics, **(extra or {})},
            amount=None if decision.amount is None else str(decision.amount),
        )
        await self.service.emit(
            data,
            id=decision_id,
            subject=institution_id,
            time=tick.time,
        )


def build(service: LoopService) -> Quota:
    quota = Quota(service)

    @service.on_reference("vbp.ref.agreements", "vbp.ref.products", "vbp.ref.institutions")
    async def reference_in(event: CloudEvent, partition: int) -> None:
        await quota.on_reference(event, partition)

    @service.consume("vbp.orders", "vbp.deliveries")
    async def trade_in(event: CloudEvent) -> None:
        await quota.on_trade(event)

    @service.on_tick
    async def quota_tick(tick: CloudEvent, partition: int) -> None:
        await quota.on_tick(tick, partition)

    views.register(service, quota)

    return quota
