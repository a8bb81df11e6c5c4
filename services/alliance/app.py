"""Alliance service: publisher, per-partner pushers, the inbound endpoint and the alliance view.

Configuration: `VBP_ALLIANCE_CONFIG` names the deployment's TOML file (config.py; examples in
deploy/alliance/). Without it the service runs with no partners: it shares nothing, pushes
nothing and refuses every batch as from an unknown sender.
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from runtime.shell import LoopService
from schemas.envelope import CloudEvent
from services.alliance import batch
from services.alliance import config as alliance_config
from services.alliance.inbound import Inbound
from services.alliance.publisher import Publisher
from services.alliance.push import Pusher
from services.alliance.views import PartnerView

log = logging.getLogger(__name__)

CONFIG_ENV = "VBP_ALLIANCE_CONFIG"
RESTART_SECONDS = 2.0


class Alliance:
    def __init__(self, service: LoopService) -> None:
        self.service = service
        own = service.policy.region_code
        path = os.environ.get(CONFIG_ENV)
        if path:
            self.config = alliance_config.load(Path(path), own)
        else:
            log.warning("%s is not set: no alliance partners", CONFIG_ENV)
            self.config = alliance_config.AllianceConfig.empty(own)
        self.publisher = Publisher(service, self.config)
        self.view = PartnerView(service)
        self.inbound = Inbound(service.settings, self.config)
        self.pushers = [Pusher(service.settings, self.config, p)
                        for p in self.config.partners.values()]
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.inbound.start()
        self._tasks = [asyncio.create_task(self._supervise(p)) for p in self.pushers]

    async def stop(self, *args: Any, **kwargs: Any) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.inbound.stop()

    async def _supervise(self, pusher: Pusher) -> None:
        """Keep a partner's loop running: after an error it resumes from its durable cursor."""
        while True:
            try:
                await pusher.run()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the cursor is in Kafka: a restart loses nothing
                log.exception("push loop for %s failed; restarting", pusher.partner.province)
                pusher.status["last_error"] = repr(error)
                await asyncio.sleep(RESTART_SECONDS)

    def partners_status(self) -> dict[str, Any]:
        return {"province": self.config.province, "key_id": self.config.key_id,
                "partners": [p.status for p in self.pushers],
                "inbound": {"accepted_batches_remembered": len(self.inbound.accepted),
                            "counts": dict(self.inbound.counts)},
                "published": self.publisher.counts}


def build(service: LoopService) -> Alliance:
    service.one_task()  # the monthly summaries read every agreement's progress
    alliance = Alliance(service)
    publisher = alliance.publisher

    @service.consume_shared("vbp.escalations")
    async def alliance_escalations(event: CloudEvent, partition: int) -> None:
        await publisher.on_escalation(event)

    @service.consume_shared("vbp.decisions")
    async def alliance_decisions(event: CloudEvent, partition: int) -> None:
        await publisher.on_decision(event)

    @service.on_reference("vbp.ref.products", "vbp.ref.institutions", "vbp.ref.agreements")
    async def alliance_reference(event: CloudEvent, partition: int) -> None:
        await publisher.on_reference(event)

    @service.consume_shared("vbp.supply.reports")
    async def alliance_reports(event: CloudEvent, partition: int) -> None:
        await publisher.on_report(event)

    @service.consume_shared("vbp.quota.progress")
    async def alliance_progress(event: CloudEvent, partition: int) -> None:
        await publisher.on_progress(event)

    @service.on_tick
    async def alliance_tick(tick: CloudEvent, partition: int) -> None:
        await publisher.on_tick(tick, partition)

    @service.on_reference("vbp.alliance.inbound")
    async def alliance_inbound(event: CloudEvent, partition: int) -> None:
        await alliance.view.on_inbound(event)

    @service.route(batch.PATH, "POST", body=batch.SignedBatch, auth=batch.SECURITY, responses={
        202: "Admitted: its events are on vbp.alliance.inbound",
        403: "Unknown sender, a batch speaking for another, or an event not accepted from it",
        409: "This batch id was accepted before: nothing written again",
        413: "Body too large", 503: "Starting, or Kafka unavailable: send it again"})
    async def inbound(request: Any) -> Any:
        """A partner's signed batch of events (docs/alliance-exchange.md)."""
        return await alliance.inbound.handle(request)

    @service.route("/v1/alliance/view", query=("generic_name",))
    async def view(request: Any) -> Any:
        names = {p.province: p.name for p in alliance.config.partners.values()}
        return alliance.view.document(alliance.config.province, names,
                                      request.query.get("generic_name"))

    @service.route("/v1/alliance/partners")
    async def partners(request: Any) -> Any:
        return alliance.partners_status()

    @service.app.task
    async def start_exchange() -> None:
        await alliance.start()

    service.app.on_before_shutdown.connect(alliance.stop)
    return alliance
