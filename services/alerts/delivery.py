"""The delivery loop: an asyncio task beside the stream processing, which never waits on a
receiver.

Every tick it re-reads the routing file if it changed, asks the planner what is due, and starts
the work as tasks: per receiver, one task sends what is due, one request at a time. A
notification's rows stay claimed in memory from planning until the ledger's handler has applied
the attempt's outcome, so nothing is planned or sent twice by this worker.

Crash safety: the plan (notification id + its alerts) reaches the broker before the first
attempt, every attempt's outcome after it. After a restart, or when this worker takes over a
ledger partition, the loop plans for it only once its task has applied the ledger to the end,
then resends what is still planned under the same notification id. A notification is therefore
sent again only if the worker died between the receiver's answer and the broker's
acknowledgement of the outcome; the receiver recognises it by its X-VBP-Notification-Id.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

import httpx

from runtime.shell import LoopService
from services.alerts import planner, render
from services.alerts.config import Config, RoutesFile
from services.alerts.planner import Batch, Row
from services.alerts.receivers import Message, deliver
from services.alerts.retry import Circuit, backoff, gives_up
from services.alerts.store import Store

log = logging.getLogger(__name__)

APPLY_TIMEOUT = 60.0
MAX_RUN = 100  # notifications sent to one receiver in one go


class Deliverer:
    def __init__(self, service: LoopService, store: Store, routes: RoutesFile, tick: float) -> None:
        self.service, self.store, self.routes, self.tick_seconds = service, store, routes, tick
        self.busy_rows: set[Row] = set()
        self.busy_alerts: set[str] = set()
        self.busy_receivers: set[str] = set()
        self.circuits: dict[str, Circuit] = defaultdict(Circuit)
        self.tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None

    async def run(self) -> None:
        self.client = httpx.AsyncClient(follow_redirects=False)
        try:
            while True:
                try:
                    await self.tick()
                except Exception:  # a bug in one tick must not end delivery
                    log.exception("delivery tick failed")
                await asyncio.sleep(self.tick_seconds)
        finally:
            await self.client.aclose()

    async def tick(self) -> None:
        """Plan for the alerts of the ledger partitions applied to the end here (Store.
        owned_partitions) and start what is due."""
        self.routes.refresh()
        config = self.routes.config
        if config is None:
            return
        now = time.time()
        plan = planner.plan(self.store.working_set(), now, config, self.store.active_silences(now),
                            self.busy_rows, self.busy_alerts, self.store.last_flush)
        for alert_id, row, reason in plan.suppress:
            self._start(self._close(alert_id, row, "suppressed", reason), rows=[(alert_id, row)])
        for alert_id, row, reason in plan.fail:
            self._start(self._close(alert_id, row, "failed", reason), rows=[(alert_id, row)])
        for alert_id, rows, step in plan.add_rows:
            self._start(self._add_rows(alert_id, rows, step), alert=alert_id)
        for receiver, batches in _per_receiver(plan.batches):
            if receiver in self.busy_receivers or not self.circuits[receiver].allows(now):
                continue
            for batch in batches:
                self.store.last_flush[(receiver, batch.group)] = now
            self.busy_receivers.add(receiver)
            rows = [row for batch in batches for row in batch.rows]
            self._start(self._send_all(batches, config), rows=rows, receiver=receiver)

    def _start(self, work: Any, rows: list[Row] | None = None, alert: str | None = None,
               receiver: str | None = None) -> None:
        self.busy_rows.update(rows or [])
        if alert:
            self.busy_alerts.add(alert)

        async def claimed() -> None:
            try:
                await work
            except Exception:
                log.exception("delivery work failed; it is retried on a later tick")
            finally:
                self.busy_rows.difference_update(rows or [])
                self.busy_alerts.discard(alert or "")
                self.busy_receivers.discard(receiver or "")

        task = asyncio.ensure_future(claimed())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _applied(self, futures: list[asyncio.Future[None]]) -> None:
        try:
            await asyncio.wait_for(asyncio.gather(*futures), APPLY_TIMEOUT)
        except TimeoutError:
            log.warning("ledger did not apply %d operations within %ss", len(futures),
                        APPLY_TIMEOUT)

    async def _close(self, alert_id: str, row: str, outcome: str, reason: str) -> None:
        op = {"op": "close", "alert_id": alert_id, "row": row, "outcome": outcome,
              "reason": reason, "at": time.time()}
        await self._applied([await self.store.write(op)])

    async def _add_rows(self, alert_id: str, rows: dict[str, Any], step: int | None) -> None:
        op = {"op": "add_rows", "alert_id": alert_id, "rows": rows, "escalation_step": step,
              "at": time.time()}
        await self._applied([await self.store.write(op)])

    async def _send_all(self, batches: list[Batch], config: Config) -> None:
        """A receiver's due notifications, one after the other (one request at a time per
        receiver); it is free again once the last answer is in, while the outcomes are still
        being applied."""
        pending = []
        try:
            for i, batch in enumerate(batches):
                if i and not self.circuits[batch.receiver].allows(time.time()):
                    break  # the receiver went down mid-flush: the rest waits for the circuit
                pending.append(await self._send(batch, config))
        finally:
            self.busy_receivers.discard(batches[0].receiver)
        await self._applied([future for futures in pending for future in futures])

    async def _send(self, batch: Batch, config: Config) -> list[asyncio.Future[None]]:
        """One attempt of one notification; returns the outcome operations' applied-futures."""
        receiver = config.receiver(batch.receiver)
        assert receiver is not None
        started = time.time()
        circuit = self.circuits[batch.receiver]
        try:
            if batch.new:  # the plan is durable before anything is sent
                await asyncio.gather(*(self.store.write({
                    "op": "planned", "alert_id": alert_id, "row": row,
                    "notification_id": batch.notification_id, "at": started})
                    for alert_id, row in batch.rows))
            assert self.client is not None
            result = await deliver(self.client, receiver, self.message(batch), batch.attempt)
        except BaseException:
            circuit.abort()
            raise
        now = time.time()
        next_at = None
        if result.ok:
            outcome = "sent"
            circuit.success()
        elif not result.retryable:
            outcome = "failed"
            circuit.success()  # it answered: the receiver is alive, the request is wrong
        else:
            circuit.failure(config.delivery, now)
            if gives_up(config.delivery, batch.attempt, batch.first_attempt_at or started, now):
                outcome = "given_up"
            else:
                outcome, next_at = "retrying", now + backoff(config.delivery, batch.attempt)
        log.info("%s to %s attempt %d: %s %s", batch.notification_id, batch.receiver,
                 batch.attempt, outcome, result.error or result.status_code)
        return list(await asyncio.gather(*(self.store.write({
            "op": "attempt", "alert_id": alert_id, "row": row,
            "notification_id": batch.notification_id, "attempt": batch.attempt,
            "outcome": outcome, "status_code": result.status_code, "error": result.error,
            "at": now, "next_at": next_at}) for alert_id, row in batch.rows)))

    def message(self, batch: Batch) -> Message:
        records = [self.store.alerts.get(alert_id) for alert_id, _ in batch.rows]
        alerts = [r["alert"] for r in records if r is not None]
        lookup_institution = self.store.institutions.get
        lookup_product = self.store.products.get
        items = []
        for alert in alerts:
            items.append({
                **{k: alert[k] for k in ("id", "kind", "rule", "severity", "action", "level",
                                         "subject_kind", "subject_id", "region", "period",
                                         "policy_ref", "institution_id", "product_code", "time")},
                "text": "\n".join(render.lines(alert, lookup_institution, lookup_product)),
                "data": alert["data"],
            })
        title = render.summary(alerts, batch.kind)
        text = render.text(alerts, batch.kind, lookup_institution, lookup_product)
        payload = {"notification_id": batch.notification_id, "receiver": batch.receiver,
                   "kind": batch.kind, "group": batch.group, "title": title, "text": text,
                   "alerts": items}
        return Message(batch.notification_id, title, text,
                       render.markdown(alerts, batch.kind, lookup_institution, lookup_product),
                       payload)

    def status(self) -> dict[str, Any]:
        now = time.time()
        return {name: {"state": c.state(now), "failures": c.failures}
                for name, c in sorted(self.circuits.items())}


def _per_receiver(batches: list[Batch]) -> list[tuple[str, list[Batch]]]:
    """The due notifications of each receiver, at most MAX_RUN of them: a receiver gets them in
    one task instead of one per tick, and a group bigger than planner.MAX_BATCH goes out as
    several messages at once rather than one per group_interval."""
    chosen: dict[str, list[Batch]] = defaultdict(list)
    for batch in batches:
        if len(chosen[batch.receiver]) < MAX_RUN:
            chosen[batch.receiver].append(batch)
    return list(chosen.items())
