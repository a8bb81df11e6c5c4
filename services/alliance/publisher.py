"""The publisher: this province's outputs that partners need, onto vbp.alliance.outbound.

Writes only the categories some partner is configured to receive (each pusher then filters
for its own partner), in the transaction of the input that caused it. State, in the processing
core's changelog-backed tables:
- `alliance-products`, `-institutions`, `-agreements`: reference data, and per product whether
  it was shared as a winner (a listing that stops winning is then shared once more);
- `alliance-covers`: per product, the cover of its latest monthly report;
- `alliance-progress`: the latest vbp.quota.progress per agreement:period;
- `alliance-summarised`: months already summarised.
The alliance service runs in one task (LoopService.one_task): the summaries read the progress
of every agreement.
"""
from __future__ import annotations

import logging
from typing import Any

from runtime.shell import LoopService
from schemas.envelope import CloudEvent
from services.alliance import share
from services.alliance.config import AllianceConfig

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, service: LoopService, config: AllianceConfig) -> None:
        self.service, self.config = service, config
        self.own = config.province
        self.products = service.table("alliance-products")
        self.institutions = service.table("alliance-institutions")
        self.agreements = service.table("alliance-agreements")
        self.covers = service.table("alliance-covers")
        self.progress = service.table("alliance-progress")
        self.summarised = service.table("alliance-summarised")
        self.counts = {"shared": 0}

    async def send(self, event: CloudEvent | None) -> None:
        if event is None:
            return
        self.service.emit_event("vbp.alliance.outbound", event, key=self.own)
        self.counts["shared"] += 1

    # -- escalations and decisions ------------------------------------------------------------

    async def on_escalation(self, event: CloudEvent) -> None:
        if self.config.shares("escalations"):
            await self.send(share.escalation(self.own, event))

    async def on_decision(self, event: CloudEvent) -> None:
        if self.config.shares("decisions"):
            await self.send(share.decision(self.own, event))

    # -- availability -------------------------------------------------------------------------

    async def on_reference(self, event: CloudEvent) -> None:
        data = event.data.model_dump(mode="json")
        if event.type == "vbp.institution.registered":
            self.institutions[data["institution_id"]] = data
        elif event.type == "vbp.agreement.signed":
            self.agreements[data["agreement_id"]] = data
        elif event.type == "vbp.product.listed":
            code = data["product_code"]
            before = self.products.get(code) or {"shared": False}
            winner = data["winning"] and self.config.shares("availability")
            record = {"data": data, "id": event.id, "time": event.time.isoformat(),
                      "shared": before["shared"] or winner}
            self.products[code] = record
            if self.config.shares("availability"):
                await self.send(self._availability(record, before["shared"]))

    async def on_report(self, event: CloudEvent) -> None:
        if event.type != "vbp.supply.monthly_reported":
            return
        data = event.data.model_dump(mode="json")
        code = data["product_code"]
        latest = self.covers.get(code)
        if latest is not None and latest["month"] > data["month"]:
            return  # a late report of an earlier month does not replace the cover
        self.covers[code] = data
        record = self.products.get(code)
        if record is not None and record["data"]["winning"] and self.config.shares("availability"):
            await self.send(self._availability(record, True))

    def _availability(self, record: dict[str, Any], shared_before: bool) -> CloudEvent | None:
        report = self.covers.get(record["data"]["product_code"])
        return share.availability(self.own, record["data"], record["time"], record["id"],
                                  share.cover(report) if report else None, shared_before)

    # -- monthly progress ---------------------------------------------------------------------

    async def on_progress(self, event: CloudEvent) -> None:
        data = event.data.model_dump(mode="json")
        self.progress[f"{data['agreement_id']}:{data['period']}"] = data

    async def on_tick(self, tick: CloudEvent, partition: int) -> None:
        if not self.config.shares("progress"):
            return
        month = share.month_to_summarise(tick.data.as_of)
        if self.summarised.get(month):
            return
        summaries = share.monthly_summaries(
            month, tick.data.as_of, list(self.agreements.values()),
            {code: record["data"] for code, record in self.products.items()},
            dict(self.institutions.items()), dict(self.progress.items()))
        for summary in summaries:
            await self.service.emit(summary, id=f"summary:{summary.summary_id}",
                                    subject=summary.summary_id, time=tick.time)
            await self.send(share.outbound(
                self.own, summary.TYPE, summary, id=f"{self.own}-progress-{summary.summary_id}",
                time=tick.time, subject=summary.summary_id))
        self.summarised[month] = True
        log.info("summarised %s: %d generic name x city records", month, len(summaries))

