"""Read API of the supply service: shortages and escalations with their evidence, each
manufacturer's report history and timeliness, each product's cover.

    GET /v1/supply/shortages
    GET /v1/supply/escalations[?product_code=&level=&rule=]
    GET /v1/supply/manufacturers/{manufacturer_id}/reports
    GET /v1/supply/cover
    GET /v1/supply/products/{product_code}/cover
    GET /v1/supply/gates
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from runtime.shell import LoopService, Reply
from services.supply import rules
from services.supply.demand import add_months, days_in_month, first_day, months_of_stock
from services.supply.evaluate import Evaluator
from services.supply.state import SupplyState

MANUFACTURER = re.compile(r"^M[0-9]{11}$")
# What the state keeps beside a report or incident for replays (state.py), not shown.
INTERNAL_FIELDS = ("event_ids", "stamp", "resumed_stamp", "earlier")


def shown(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in INTERNAL_FIELDS}


def _show(x: Decimal | None) -> str | None:
    return None if x is None else f"{x.quantize(Decimal('0.0001')):f}"


def due_by(month: str, due_day: int | None) -> date | None:
    """Month M's report is due by `due_day` of M+1 (its last day when shorter)."""
    if due_day is None:
        return None
    nxt = add_months(month, 1)
    return first_day(nxt).replace(day=min(due_day, days_in_month(nxt)))


class Views:
    def __init__(self, service: LoopService, state: SupplyState, evaluator: Evaluator) -> None:
        self.state = state
        self.ev = evaluator
        self.policy = service.policy.supply
        for path, handler, doc in (
            ("/v1/supply/shortages", self.shortages, {}),
            ("/v1/supply/escalations", self.escalations,
             {"query": ("product_code", "level", "rule")}),
            ("/v1/supply/manufacturers/{manufacturer_id}/reports", self.manufacturer_reports,
             {"responses": {422: "Not a manufacturer id"}}),
            ("/v1/supply/cover", self.covers, {}),
            ("/v1/supply/products/{product_code}/cover", self.product_cover, {}),
            ("/v1/supply/gates", self.gates, {}),
        ):
            service.route(path, **doc)(handler)

    def _as_of(self) -> str | None:
        tick = self.ev.evaluated.get("tick")
        return tick["as_of"] if tick else None

    def _issued(self, kind: str) -> list[dict[str, Any]]:
        return sorted((v for v in self.ev.issued.values() if v["kind"] == kind),
                      key=lambda v: (v["as_of"], v["data"].get("escalation_id") or ""))

    async def escalations(self, request: Any) -> Any:
        wanted = {k: request.query[k] for k in ("product_code", "level") if k in request.query}
        rule = request.query.get("rule")
        return [{**v["data"], "as_of": v["as_of"]} for v in self._issued("escalation")
                if all(v["data"][k] == x for k, x in wanted.items())
                and (rule is None or v["data"]["evidence"].get("rule") == rule)]

    async def shortages(self, request: Any) -> Any:
        """Open production stops, products with overdue orders, reports under the critical
        cover: each with the escalations it caused."""
        as_of = self._as_of()
        escalations = self._issued("escalation")
        stops = self.state.open_stops(date.fromisoformat(as_of)) if as_of else [
            r for r in self.state.stops() if r["resumed_on"] is None]
        open_stops = [{**shown(r), "escalations": [
            e["data"] for e in escalations
            if e["data"]["evidence"].get("incident_id") == r["incident_id"]
            and e["data"]["evidence"].get("manufacturer_id") == r["manufacturer_id"]]}
            for r in stops]
        unfilled = []
        for key, episode in sorted(self.ev.evaluated.items()):
            if key.startswith("unfilled:"):
                latest = self.ev.issued.get(episode["escalation_id"])
                unfilled.append({"product_code": key.split(":", 1)[1], **episode,
                                 "escalation": latest and latest["data"]})
        with self.state.frozen():
            critical = [self.cover(code) for code in self._reported_products()]
        return {"as_of": as_of, "production_stops": open_stops, "unfilled_orders": unfilled,
                "critical_inventory": [c for c in critical if c["status"] == "critical"]}

    async def manufacturer_reports(self, request: Any, manufacturer_id: str) -> Any:
        if not MANUFACTURER.match(manufacturer_id):
            return Reply(422, {"error": f"{manufacturer_id!r} is not a manufacturer id"})
        reports = self.state.reports_of(manufacturer_id)
        listed = any(l.manufacturer_id == manufacturer_id for l in self.state.listings())
        if not reports and not listed:
            return Reply(404, {"error": f"no reports or listed products for {manufacturer_id}"})
        history = []
        for r in reports:
            due = due_by(r["month"], self.policy.monthly_report_due_day.value)
            received = datetime.fromisoformat(r["received"]).date()
            history.append({**shown(r),
                            "revisions": len(r["event_ids"]),
                            "due_by": due and due.isoformat(),
                            "on_time": None if due is None else received <= due})
        missing = [v["data"] for v in self._issued("warning")
                   if v["data"]["rule"] == rules.MISSING_MONTHLY_REPORT
                   and v["data"]["subject_id"] == manufacturer_id]
        judged = [h for h in history if h["on_time"] is not None]
        return {"manufacturer_id": manufacturer_id, "reports": history, "missing": missing,
                "on_time": sum(1 for h in judged if h["on_time"]), "judged": len(judged),
                "due_day": self.policy.monthly_report_due_day.value,
                "policy_ref": self.policy.monthly_report_due_day.ref or rules.BUREAU_REF}

    def _reported_products(self) -> list[str]:
        return sorted({r["product_code"] for r in self.state.reports.values()})

    def cover(self, product_code: str) -> dict[str, Any]:
        """Months of stock = latest reported inventory / AMC through that report's month."""
        latest = self.state.latest_report(product_code)
        listing = self.state.listing(product_code)
        out: dict[str, Any] = {"product_code": product_code,
                               "generic_name": listing and listing.generic_name,
                               "winning": listing and listing.winning}
        if latest is None:
            return {**out, "status": "unknown", "reason": "no monthly report"}
        consumption = self.state.consumption(product_code, latest["month"])
        cover = months_of_stock(latest["inventory_quantity"], consumption.amc)
        with_reserve = months_of_stock(latest["inventory_quantity"] + latest["reserve_quantity"],
                                       consumption.amc)
        low, critical = (self.policy.low_inventory_cover_months.value,
                         self.policy.critical_cover_months.value)
        status = "unknown"
        if cover is not None:
            status = ("critical" if critical is not None and cover < Decimal(str(critical))
                      else "low" if low is not None and cover < Decimal(str(low)) else "ok")
        return {**out, "month": latest["month"], "manufacturer_id": latest["manufacturer_id"],
                "inventory": latest["inventory_quantity"], "reserve": latest["reserve_quantity"],
                **consumption.metrics(),
                "months_of_stock": _show(cover),
                "months_of_stock_with_reserve": _show(with_reserve),
                "low_below": None if low is None else str(low),
                "critical_below": None if critical is None else str(critical), "status": status}

    async def covers(self, request: Any) -> Any:
        with self.state.frozen():
            return [self.cover(code) for code in self._reported_products()]

    async def product_cover(self, request: Any, product_code: str) -> Any:
        state = self.state
        if state.listing(product_code) is None and state.latest_report(product_code) is None:
            return Reply(404, {"error": f"product {product_code} is neither listed nor reported"})
        return self.cover(product_code)

    async def gates(self, request: Any) -> Any:
        return {"as_of": self._as_of(), "gates": [
            {"generic_name": k.split(":", 1)[1], **v}
            for k, v in sorted(self.ev.evaluated.items()) if k.startswith("gate:")]}
