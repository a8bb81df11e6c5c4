"""The alerts service's durable state and the one way to change it.

Tables (the processing core's, changelog-backed): `alerts` (alert id -> ledger record),
`silences`, and the reference data that names institutions and products in messages. Every
change to `alerts` is an operation written to the internal ledger topic, keyed by alert id, and
applied by its handler: the API and the delivery loop, which run outside any stream, never
write a table themselves. Keyed by alert id, the ledger topic and vbp.notifications are
co-partitioned, and each alert's record lives in the task of its ledger partition.

Derived in memory and rebuilt on every table recovery: the alerts that still need work, and
when each (receiver, group) last got a message.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from aiokafka import AIOKafkaProducer

from runtime.shell import LoopService
from runtime.topics import partition_of
from schemas.outputs import NotificationLogged
from services.alerts import ledger

log = logging.getLogger(__name__)

PARTITIONS = 4  # vbp.warnings / escalations / decisions / notifications, and the ledger
LEDGER = "ledger"  # internal topics <app id>-ledger (PARTITIONS) and -silences (1)
SILENCES = "silences"
BEIJING = timezone(timedelta(hours=8))


def _json(op: dict[str, Any]) -> bytes:
    return json.dumps(op, ensure_ascii=False).encode()


def stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, BEIJING)


class Store:
    def __init__(self, service: LoopService) -> None:
        self.service = service
        self.alerts = service.table("alerts")
        self.silences = service.table("silences")
        self.institutions = service.table("institutions")
        self.products = service.table("products")
        self.ledger_topic = service.internal(LEDGER)
        self.silence_topic = service.internal(SILENCES)
        self.active: set[str] = set()
        self.last_flush: dict[tuple[str, str], float] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._producer: AIOKafkaProducer | None = None
        service.on_recover(self._rebuild)
        service.app.on_before_shutdown.connect(self._close)


    # -- derived state ------------------------------------------------------------------------

    async def _rebuild(self) -> None:
        self.active.clear()
        self.last_flush.clear()
        for record in self.alerts.values():
            self._index(record)

    def _index(self, record: dict[str, Any]) -> None:
        if ledger.has_work(record):
            self.active.add(record["id"])
        else:
            self.active.discard(record["id"])
        for row in record["rows"].values():
            if row["attempts"] and row["first_attempt_at"]:
                key = (row["receiver"], row["group"])
                self.last_flush[key] = max(self.last_flush.get(key, 0.0), row["first_attempt_at"])

    def owned_partitions(self) -> set[int]:
        """Ledger partitions this worker runs and has applied to the end since it took them: a
        partition taken over from another worker is planned for once what that worker wrote
        to its ledger is applied here."""
        return self.service.caught_up()

    def working_set(self) -> list[dict[str, Any]]:
        """Records of the alerts with work left, in the partitions this worker owns."""
        mine = self.owned_partitions()
        records = (self.alerts.get(alert_id) for alert_id in sorted(self.active)
                   if partition_of(alert_id, PARTITIONS) in mine)
        return [r for r in records if r is not None]

    def active_silences(self, now: float) -> list[dict[str, Any]]:
        return [s for s in self.silences.values() if s["starts_at"] <= now < s["ends_at"]]

    # -- writing: operations onto the ledger --------------------------------------------------

    async def write(self, op: dict[str, Any]) -> asyncio.Future[None]:
        """Put `op` on the ledger (from outside a handler: the API, the delivery loop) and
        return once the broker has it. The future resolves when the ledger's handler (on this
        worker) has applied it."""
        applied = self._waiter(op)
        await self._send(self.ledger_topic, op["alert_id"], op)
        return applied

    def forward(self, op: dict[str, Any]) -> None:
        """Put `op` on the ledger from inside a handler: in its transaction."""
        self.service.emit_internal(LEDGER, op["alert_id"], op)

    async def write_silence(self, op: dict[str, Any]) -> asyncio.Future[None]:
        applied = self._waiter(op)
        await self._send(self.silence_topic, op["id"], op)
        return applied

    async def _send(self, topic: str, key: str, op: dict[str, Any]) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.service.settings.bootstrap,
                                              acks="all", enable_idempotence=True)
            await self._producer.start()
        await self._producer.send_and_wait(topic, _json(op), key=key.encode())

    async def _close(self, *args: Any, **kwargs: Any) -> None:
        if self._producer is not None:
            await self._producer.stop()

    def _waiter(self, op: dict[str, Any]) -> asyncio.Future[None]:
        op_id = op.setdefault("op_id", uuid.uuid4().hex)
        applied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[op_id] = applied
        applied.add_done_callback(lambda _: self._waiters.pop(op_id, None))
        return applied

    # -- applying (inside the ledger's and the silences' handlers) ----------------------------

    async def apply(self, op: dict[str, Any]) -> None:
        alert_id = op["alert_id"]
        new, logs = ledger.apply(self.alerts.get(alert_id), op)
        if new is not None:
            self.alerts[alert_id] = new
            self._index(new)
        for entry in logs:  # every attempt is logged, a replayed one under the same id
            await self._log(entry)
        self._done(op)

    async def apply_silence(self, op: dict[str, Any]) -> None:
        silence = self.silences.get(op["id"])
        if op["op"] == "silence" and silence is None:
            self.silences[op["id"]] = op["silence"]
        elif op["op"] == "expire" and silence is not None and silence["ends_at"] > op["at"]:
            self.silences[op["id"]] = {**silence, "ends_at": op["at"], "expired_by": op.get("by")}
        self._done(op)

    def _done(self, op: dict[str, Any]) -> None:
        waiter = self._waiters.get(op.get("op_id", ""))
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _log(self, entry: dict[str, Any]) -> None:
        data = NotificationLogged(
            alert_id=entry["alert_id"], attempt=entry["attempt"], receiver=entry["receiver"],
            outcome=entry["outcome"], status_code=entry["status_code"],
            error=(entry["error"] or None) and entry["error"][:4000], at=stamp(entry["at"]))
        await self.service.emit(data,
                                id=entry["event_id"], subject=entry["alert_id"],
                                time=stamp(entry["at"]), key=entry["alert_id"])
