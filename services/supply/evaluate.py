"""The supply rules evaluated on clock ticks, and their outputs.

Every rule here is product-wide (demand across institutions, stock across manufacturers), so
the service runs in one task, which handles a tick after every input stamped before it
(runtime/timeline.py). Its memory lives in two
tables written only there:
- ``issued``: output id -> the output as emitted (the read API's evidence, and the guard that
  an output, once emitted, is never emitted again nor rewritten);
- ``evaluated``: what the rules must remember between ticks: the highest level a shortage
  episode has reached, the months already checked for low inventory, the products a gate has
  suspended, the last tick.
An output and its record in ``issued`` are committed in one transaction with the tick's offset.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date

from runtime.shell import LoopService
from schemas.base import EventData
from schemas.envelope import CloudEvent
from schemas.outputs import Alternative, DecisionIssued, ShortageEscalated, WarningRaised
from services.supply import rules
from services.supply.state import SupplyState


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def rank(level: str) -> int:
    return rules.LEVELS.index(level)  # type: ignore[arg-type]


class Evaluator:
    def __init__(self, service: LoopService, state: SupplyState) -> None:
        self.service = service
        self.state = state
        self.policy = service.policy.supply
        self.region = service.policy.region_code
        self.issued = service.table("issued")
        self.evaluated = service.table("evaluated")

    async def on_tick(self, tick: CloudEvent, partition: int) -> None:
        horizon = self.service.input_time()
        as_of: date = tick.data.as_of
        with self.state.frozen(horizon):
            await self.production_stops(as_of, tick)
            await self.unfilled_orders(as_of, tick)
            await self.low_inventory(tick)
            await self.missing_reports(as_of, tick)
            await self.shortfall_forecasts(tick)
            await self.consistency_gates(as_of, tick)
            await self.distributor_limits(tick)
        self.evaluated["tick"] = {"as_of": as_of.isoformat()}

    # -- escalations ------------------------------------------------------------------------

    def _widen(self, e: rules.Escalation, episode: str, as_of: date,
               beyond: bool = True) -> rules.Escalation:
        """`e` with its alternatives, and past the province when its supply cannot cover."""
        listing = self.state.listing(e.product_code)
        assert listing is not None
        through = self.state.month_before(as_of)
        others = self.state.other_winners(listing, through, as_of)
        alliance = self.state.alliance_winners()
        if not beyond:
            return replace(e, alternatives=rules.alternatives_for(
                e.product_code, e.generic_name, e.region_code, others, alliance))
        return rules.beyond_the_province(
            e, episode, others, self.state.consumption(e.product_code, through).amc,
            self.policy.low_inventory_cover_months, alliance)

    async def _climb(self, key: str, e: rules.Escalation, tick: CloudEvent) -> None:
        """Emit `e` unless its episode (`key`) already reached a higher level."""
        episode = self.evaluated.get(key)
        if episode is not None and rank(e.level) < rank(episode["level"]):
            return
        await self.escalate(e, tick)
        if episode is None or rank(e.level) > rank(episode["level"]):
            self.evaluated[key] = {"level": e.level, "since": tick.data.as_of.isoformat(),
                                   "escalation_id": e.id}

    async def production_stops(self, as_of: date, tick: CloudEvent) -> None:
        """supply.production_stop: each open stop of a winning product, at least province."""
        through = self.state.month_before(as_of)
        for stop in self.state.open_stops(as_of):
            listing = self.state.listing(stop["product_code"])
            if listing is None:
                continue  # not listed yet: winning or not is unknown
            e = rules.production_stop(
                listing, stop["incident_id"], date.fromisoformat(stop["stopped_on"]), self.region,
                self.policy.production_stop_min_level, self.policy.low_inventory_cover_months,
                self.state.consumption(listing.product_code, through).amc,
                self.state.other_winners(listing, through, as_of), self.state.alliance_winners(),
                _day(stop["expected_resume_on"]))
            if e is not None:
                await self._climb(f"stop:{stop['manufacturer_id']}:{stop['incident_id']}", e, tick)

    async def unfilled_orders(self, as_of: date, tick: CloudEvent) -> None:
        """supply.unfilled_orders: institution -> city -> province, then beyond when the
        province's own supply cannot cover; an episode ends when no order is overdue."""
        names = {l.product_code: l.generic_name for l in self.state.listings()}
        found = rules.unfilled_orders(self.state.open_orders(), as_of,
                                      self.policy.delivery_window_days, self.region, names)
        month = as_of.isoformat()[:7]
        for e in found:
            await self._climb(f"unfilled:{e.product_code}", self._widen(e, month, as_of), tick)
        short = {e.product_code for e in found}
        for key in [k for k in self.evaluated.keys() if k.startswith("unfilled:")]:
            if key.split(":", 1)[1] not in short:
                del self.evaluated[key]

    async def low_inventory(self, tick: CloudEvent) -> None:
        """supply.low_inventory on each monthly report, against the AMC through its month."""
        for report in self.state.reports_of():
            key = f"lowinv:{report['manufacturer_id']}:{report['product_code']}:{report['month']}"
            listing = self.state.listing(report["product_code"])
            if key in self.evaluated or listing is None:
                continue
            w = rules.low_inventory(
                listing, report["month"], report["inventory_quantity"], report["reserve_quantity"],
                self.state.consumption(listing.product_code, report["month"]),
                self.policy.low_inventory_cover_months, self.policy.critical_cover_months,
                self.region)
            if w is not None:
                await self.warn(w, tick)
                if w.escalation is not None:
                    # Stock is low, not gone: the province acts, hospitals see the alternatives.
                    e = self._widen(w.escalation, report["month"], tick.data.as_of, beyond=False)
                    await self._climb(f"lowinv-episode:{listing.product_code}:{report['month']}",
                                      e, tick)
            self.evaluated[key] = {"severity": w.severity if w else None,
                                   "report": report["event_id"]}

    # -- warnings ---------------------------------------------------------------------------

    async def missing_reports(self, as_of: date, tick: CloudEvent) -> None:
        """supply.missing_monthly_report for each winning product under agreement."""
        for listing in self.state.listings():
            first = self.state.first_month(listing.product_code)
            if not listing.winning or first is None:
                continue
            months = self.state.reported_months(listing.manufacturer_id, listing.product_code)
            w = rules.missing_monthly_report(
                listing.manufacturer_id, listing.product_code, months, as_of,
                self.policy.monthly_report_required, self.policy.monthly_report_due_day, first)
            if w is not None:
                await self.warn(w, tick)

    async def shortfall_forecasts(self, tick: CloudEvent) -> None:
        for r in self.state.forecasts():
            w = rules.shortfall_forecast(
                r["manufacturer_id"], r["product_code"], r["month"], r["expected_capacity"],
                r["committed_quantity"], self.policy.capacity_shortfall_advance_report,
                (self.policy.production_stop_min_level,))
            if w is not None:
                await self.warn(w, tick)

    async def distributor_limits(self, tick: CloudEvent) -> None:
        """supply.distributor_limit per agreement, and per winner (manufacturer and product)
        over its agreements of a year."""
        limit = self.policy.distributor_limit
        if limit.value is None:
            return
        per_winner: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for a in sorted(self.state.agreements.values(), key=lambda a: a["agreement_id"]):
            year = a["period_start"][:4]
            per_winner[(a["manufacturer_id"], a["product_code"], year)].update(a["distributor_ids"])
            w = rules.distributor_limit("agreement", a["agreement_id"], a["distributor_ids"],
                                        limit, period=year)
            if w is not None:
                await self.warn(w, tick)
        for (manufacturer, product, year), named in sorted(per_winner.items()):
            w = rules.distributor_limit("manufacturer", manufacturer, named, limit,
                                        period=year, product_code=product)
            if w is not None:
                await self.warn(w, tick)

    # -- decisions --------------------------------------------------------------------------

    async def consistency_gates(self, as_of: date, tick: CloudEvent) -> None:
        """supply.consistency_gate per generic name; supply is assured while no winner of the
        name is stopped or short at province level or above."""
        gate = self.policy.consistency_gate
        if gate.value is None:
            return
        listings = self.state.listings()
        stopped = {r["product_code"] for r in self.state.open_stops(as_of)}
        short = {k.split(":", 1)[1] for k, v in self.evaluated.items()
                 if k.startswith("unfilled:") and rank(v["level"]) >= rank("province")}
        for name in sorted({l.generic_name for l in listings}):
            winners = {l.product_code for l in listings if l.generic_name == name and l.winning}
            key = f"gate:{name}"
            before = self.evaluated.get(key) or {"suspended": []}
            out = rules.consistency_gate(name, listings, set(before["suspended"]), gate, as_of,
                                         supply_assured=not winners & (stopped | short))
            suspended = set(before["suspended"])
            for d in out.decisions:
                await self.decide(d, tick)
                if d.action == "suspend_trading":
                    suspended.add(d.subject_id)
                else:
                    suspended.discard(d.subject_id)
            for w in out.warnings:
                await self.warn(w, tick)
            after = {"suspended": sorted(suspended), "holds": out.holds, "passed": out.passed,
                     "condition": f"{gate.value.comparison} {gate.value.passed_count}",
                     "counts": gate.value.counts}
            if after != {k: before.get(k) for k in after}:
                self.evaluated[key] = {**after, "as_of": as_of.isoformat()}

    # -- outputs ----------------------------------------------------------------------------

    async def _emit(self, kind: str, output_id: str, data: EventData, subject: str,
                    tick: CloudEvent) -> None:
        if output_id in self.issued:
            return
        await self.service.emit(data, id=output_id, subject=subject, time=tick.time)
        self.issued[output_id] = {"kind": kind, "as_of": tick.data.as_of.isoformat(),
                                  "data": data.model_dump(mode="json")}

    async def warn(self, w: rules.SupplyWarning, tick: CloudEvent) -> None:
        data = WarningRaised(
            warning_id=w.id, rule=w.rule, severity=w.severity, subject_kind=w.subject_kind,
            subject_id=w.subject_id, period=w.period, metrics=dict(w.metrics),
            policy_ref=w.policy_ref, message=w.message)
        await self._emit("warning", w.id, data,
                         w.subject_id, tick)

    async def escalate(self, e: rules.Escalation, tick: CloudEvent) -> None:
        data = ShortageEscalated(
            escalation_id=e.id, product_code=e.product_code, generic_name=e.generic_name,
            region_code=e.region_code, level=e.level, reason=e.reason,
            evidence={**e.evidence, "rule": e.rule, "policy_ref": e.policy_ref},
            alternatives=[Alternative(province=a.province, product_code=a.product_code,
                                      manufacturer_id=a.manufacturer_id) for a in e.alternatives])
        await self._emit("escalation", e.id, data,
                         e.product_code, tick)

    async def decide(self, d: rules.Decision, tick: CloudEvent) -> None:
        data = DecisionIssued(
            decision_id=d.id, action=d.action, subject_kind=d.subject_kind,
            subject_id=d.subject_id, effective_from=d.effective_from, rule=d.rule,
            policy_ref=d.policy_ref, caused_by=list(d.caused_by), metrics=dict(d.metrics),
            amount=None)
        await self._emit("decision", d.id, data,
                         d.subject_id, tick)
