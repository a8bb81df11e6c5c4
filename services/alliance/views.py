"""The alliance view: what partners shared, from vbp.alliance.inbound, as one JSON document.

GET /v1/alliance/view[?generic_name=]: per partner its latest monthly progress, its shortage
escalations, trading decisions and winning products (with cover); and per generic name, the
alliance picture: who is short, who can supply, each partner's completion.
GET /v1/alliance/partners: the push cursor and outcome per partner, and the inbound counts.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from runtime.shell import LoopService
from schemas.envelope import CloudEvent

COVER_EXTENSIONS = ("covermonth", "coverinventory", "covermonths")


class PartnerView:
    """Table `alliance-partners`: per partner province, what it shared, latest version of each
    item by its id."""

    def __init__(self, service: LoopService) -> None:
        self.partners = service.table("alliance-partners")

    async def on_inbound(self, event: CloudEvent) -> None:
        state = copy.deepcopy(self.partners.get(event.province)) or {
            "events": 0, "last_event_time": None, "progress": {}, "shortages": {},
            "decisions": {}, "availability": {}}
        data = event.data.model_dump(mode="json")
        if event.type == "vbp.quota.monthly_summary":
            state["progress"][data["summary_id"]] = data
        elif event.type == "vbp.shortage.escalated":
            state["shortages"][data["escalation_id"]] = {**data, "time": event.time.isoformat()}
        elif event.type == "vbp.decision.issued":
            state["decisions"][data["decision_id"]] = data
        elif event.type == "vbp.product.listed":
            if data["winning"]:
                extra = event.model_extra or {}
                cover = {k: extra[k] for k in COVER_EXTENSIONS if k in extra}
                state["availability"][data["product_code"]] = {**data, "cover": cover}
            else:
                state["availability"].pop(data["product_code"], None)
        state["events"] += 1
        time = event.time.isoformat()
        state["last_event_time"] = max(time, state["last_event_time"] or time)
        self.partners[event.province] = state

    def document(self, own: str, names: dict[str, str], generic_name: str | None) -> dict[str, Any]:
        partners, by_name = [], defaultdict(lambda: {"short_in": [], "supplied_by": [],
                                                     "progress": []})
        for province, state in sorted(self.partners.items()):
            months = sorted({s["month"] for s in state["progress"].values()})
            latest = [s for s in state["progress"].values() if months and s["month"] == months[-1]]
            latest.sort(key=lambda s: (s["generic_name"], s["city_code"]))
            shortages = sorted(state["shortages"].values(), key=lambda s: s["time"], reverse=True)
            available = sorted(state["availability"].values(), key=lambda a: a["product_code"])
            decisions = sorted(state["decisions"].values(), key=lambda d: d["decision_id"])
            partners.append({
                "province": province, "name": names.get(province, province),
                "events": state["events"], "last_event_time": state["last_event_time"],
                "progress": {"month": months[-1] if months else None, "summaries": latest},
                "shortages": shortages, "decisions": decisions, "availability": available})
            for s in shortages:
                by_name[s["generic_name"]]["short_in"].append(
                    {"province": province, "product_code": s["product_code"],
                     "level": s["level"], "escalation_id": s["escalation_id"]})
            for a in available:
                by_name[a["generic_name"]]["supplied_by"].append(
                    {"province": province, "product_code": a["product_code"],
                     "manufacturer_id": a["manufacturer_id"], "cover": a["cover"]})
            totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for s in latest:
                totals[s["generic_name"]][0] += s["ordered_quantity"]
                totals[s["generic_name"]][1] += s["target_quantity"]
            for name, (ordered, target) in totals.items():
                by_name[name]["progress"].append({
                    "province": province, "month": months[-1], "ordered_quantity": ordered,
                    "target_quantity": target,
                    "completion_rate": f"{ordered / target:.4f}" if target else None})
        if generic_name is not None:
            partners = [_only(p, generic_name) for p in partners]
            by_name = {k: v for k, v in by_name.items() if k == generic_name}
        return {"province": own, "partners": partners,
                "by_generic_name": dict(sorted(by_name.items()))}


def _only(partner: dict[str, Any], generic_name: str) -> dict[str, Any]:
    keep = dict(partner)
    keep["progress"] = {**partner["progress"], "summaries": [
        s for s in partner["progress"]["summaries"] if s["generic_name"] == generic_name]}
    for key in ("shortages", "availability"):
        keep[key] = [x for x in partner[key] if x["generic_name"] == generic_name]
    return keep
