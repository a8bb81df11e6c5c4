"""Alerts service: the right people learn of each warning, escalation and decision, once.

Topology, on the processing core (each handler's writes and outputs in its input's transaction):
- `alerts_in` (vbp.warnings, vbp.escalations, vbp.decisions): turns each event into an alert,
  routes it with the routing file in force and puts it on the internal ledger, keyed by alert
  id, with the rows owed to each receiver; a decision matching an inhibit rule also puts an
  `inhibit` for each warning in its caused_by.
- `ledger` (internal topic `<app id>-ledger`): applies every operation to the `alerts` table and
  publishes each delivery attempt and outcome to vbp.notifications.
- `silences` (internal topic `<app id>-silences`, read in every task): the silences created
  over the API.
- `reference_in`: reference data, for names in the messages.
- the delivery loop (services.alerts.delivery) and the API (services.alerts.api).

Environment: VBP_ALERTS_ROUTES (routing file), VBP_ALERTS_TOKEN (API token),
VBP_ALERTS_TICK_SECONDS (how often the delivery loop looks for work; default 1).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from runtime.shell import LoopService
from schemas.envelope import CloudEvent
from services.alerts import api, routing
from services.alerts.alert import from_event, labels
from services.alerts.config import RoutesFile
from services.alerts.delivery import Deliverer
from services.alerts.store import LEDGER, PARTITIONS, SILENCES, Store

log = logging.getLogger(__name__)


class Alerts:
    def __init__(self, service: LoopService) -> None:
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
        self.store.forward({"op": "alert", "alert_id": alert["id"], "alert": alert, **owed,
                            "at": now})
        if alert["kind"] == "decision" and config is not None and any(
                rule.source.matches(labels(alert)) for rule in config.inhibit):
            for warning_id in alert["caused_by"]:
                self.store.forward({"op": "inhibit", "alert_id": warning_id,
                                    "by": alert["id"], "at": now})


def build(service: LoopService) -> Alerts:
    alerts = Alerts(service)
    store = alerts.store

    @service.consume("vbp.warnings", "vbp.escalations", "vbp.decisions")
    async def alerts_in(event: CloudEvent) -> None:
        """Every warning, escalation and decision reaches the alerts service once."""
        await alerts.on_alert(event)

    @service.on_reference("vbp.ref.institutions", "vbp.ref.products")
    async def reference_in(event: CloudEvent, partition: int) -> None:
        data = event.data.model_dump(mode="json")
        if event.type == "vbp.product.listed":
            store.products[data["product_code"]] = data
        else:
            store.institutions[data["institution_id"]] = data

    @service.consume_internal(LEDGER, PARTITIONS)
    async def ledger(op: dict[str, Any]) -> None:
        await store.apply(op)

    @service.consume_internal(SILENCES, 1)
    async def silences(op: dict[str, Any], partition: int) -> None:
        await store.apply_silence(op)

    @service.app.task
    async def deliver() -> None:
        await alerts.deliverer.run()

    api.install(service, store, alerts.deliverer, os.environ.get("VBP_ALERTS_TOKEN"))
    return alerts
