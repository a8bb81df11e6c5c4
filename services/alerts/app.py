"""Alerts service: the right people learn of each warning, escalation and decision, once.

Topology:
- `alerts_in` (vbp.warnings, vbp.escalations, vbp.decisions): turns each event into an alert,
  routes it with the routing file in force and puts it on the internal ledger, keyed by alert
  id, with the rows owed to each receiver; a decision matching an inhibit rule also puts an
  `inhibit` for each warning in its caused_by.
- `ledger` (internal topic `<app id>-ledger`): applies every operation to the `alerts` table and
  publishes each delivery attempt and outcome to vbp.notifications.
- `silences` (internal topic `<app id>-silences`): the silences created over the API.
- `institutions_in`, `products_in`: reference data, for names in the messages.
- the delivery loop (services.alerts.delivery) and the API (services.alerts.api).

Environment: VBP_ALERTS_ROUTES (routing file), VBP_ALERTS_TOKEN (API token),
VBP_ALERTS_TICK_SECONDS (how often the delivery loop looks for work; default 1).
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import faust

from runtime.service import Service
from schemas.envelope import CloudEvent
from services.alerts import api, routing
from services.alerts.alert import from_event, labels
from services.alerts.config import RoutesFile
from services.alerts.delivery import Deliverer
from services.alerts.store import Store

log = logging.getLogger(__name__)


class Alerts:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.routes = RoutesFile(os.environ.get("VBP_ALERTS_ROUTES"))
        if self.routes.path is None:
            log.warning("VBP_ALERTS_ROUTES is not set: alerts are recorded but routed to nobody")
        elif self.routes.config is None:
            raise SystemExit(f"routing file refused: {self.routes.error}")
        self.store = Store(service)
        self.deliverer = Deliverer(service, self.store, self.routes,
                                   float(os.environ.get("VBP_ALERTS_TICK_SECONDS", "1")))

    async def on_alert(self, event: CloudEvent) -> None:
        alert = from_event(event)
        now = time.time()
        config = self.routes.config
        owed: dict[str, Any] = routing.owed(config, alert, now) if config else {
            "rows": {}, "escalation": None}
        await self.store.forward({"op": "alert", "alert_id": alert["id"], "alert": alert, **owed,
                                  "at": now})
        if alert["kind"] == "decision" and config is not None and any(
                rule.source.matches(labels(alert)) for rule in config.inhibit):
            for warning_id in alert["caused_by"]:
                await self.store.forward({"op": "inhibit", "alert_id": warning_id,
                                          "by": alert["id"], "at": now})

    async def consume_ledger(self, stream: faust.StreamT, apply: Any) -> None:
        """Apply each operation; a bad one is logged and skipped, the stream flows on."""
        async for event in stream.events():
            message = event.message
            try:
                await apply(json.loads(message.value))
            except Exception:
                log.exception("ledger operation at %s[%s]@%s not applied", message.topic,
                              message.partition, message.offset)
            finally:
                self.service.clock.processed(message.topic, message.partition, message.offset)


def build(service: Service) -> Alerts:
    alerts = Alerts(service)
    store = alerts.store
    app_id = service.settings.app_id

    @service.consume("vbp.warnings", "vbp.escalations", "vbp.decisions")
    async def alerts_in(event: CloudEvent) -> None:
        """Every warning, escalation and decision reaches the alerts service once."""
        await alerts.on_alert(event)

    @service.consume("vbp.ref.institutions")
    async def institutions_in(event: CloudEvent) -> None:
        data = event.data.model_dump(mode="json")
        store.institutions[data["institution_id"]] = data

    @service.consume("vbp.ref.products")
    async def products_in(event: CloudEvent) -> None:
        data = event.data.model_dump(mode="json")
        store.products[data["product_code"]] = data

    @service.app.agent(store.ledger_topic, name=f"{app_id}.ledger")
    async def ledger(stream: faust.StreamT) -> None:
        await alerts.consume_ledger(stream, store.apply)

    @service.app.agent(store.silence_topic, name=f"{app_id}.silences")
    async def silences(stream: faust.StreamT) -> None:
        await alerts.consume_ledger(stream, store.apply_silence)

    @service.app.task
    async def deliver() -> None:
        await alerts.deliverer.run()

    api.install(service, store, alerts.deliverer, os.environ.get("VBP_ALERTS_TOKEN"))
    return alerts
