"""Outbound: read vbp.alliance.outbound, batch, sign and push to each partner, exactly once.

One loop per partner, each a plain aiokafka consumer of its own group
(`<app id>-push-<partner>`) on the topic's single partition, with manual commits: a commit
must wait for the partner's HTTP answer. The committed offset is the
partner's cursor. The loop, for each batch of the events at offsets first..last:

1. commits `first` with metadata `{"pending": [first, last]}`: the batch is fixed before it is
   sent, so a restart re-sends exactly the same events;
2. posts it, re-signed with a fresh `sent_at` at every attempt, until the partner answers 202
   (accepted) or 409 (already accepted: a re-sent batch whose first try got through), retrying
   anything else with exponential backoff up to `push.retry_max_seconds`, forever: a refused
   batch waits for an operator rather than being dropped;
3. commits `last + 1` with empty metadata.

The batch id is derived from sender, partner, first and last offsets and the events' ids
(batch.batch_id), so the batch re-sent at step 2 after a crash between 2 and 3 carries the id the
partner already accepted, and the partner answers 409 instead of admitting it twice.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from runtime.codec import InvalidEvent, decode
from runtime.settings import Settings
from services.alliance import batch
from services.alliance.config import CATEGORY_TYPES, AllianceConfig, Partner

log = logging.getLogger(__name__)

# Fault injection for the tests: exit right after a partner's acknowledgement, before the cursor
# moves, the worst moment for exactly-once delivery.
CRASH_AFTER_ACK = "VBP_ALLIANCE_CRASH_AFTER_ACK"


class Pusher:
    """Delivers this province's outbound events to one partner."""

    def __init__(self, settings: Settings, config: AllianceConfig, partner: Partner) -> None:
        self.settings, self.config, self.partner = settings, config, partner
        self.tp = TopicPartition(settings.topic("vbp.alliance.outbound"), 0)
        self.group = f"{settings.app_id}-push-{partner.province}"
        self.status: dict[str, Any] = {
            "province": partner.province, "name": partner.name, "inbound_url": partner.inbound_url,
            "share": sorted(partner.share), "cursor": None, "pending": None, "end_offset": None,
            "batches_delivered": 0, "events_delivered": 0, "replays_acknowledged": 0,
            "failed_attempts": 0, "last_status": None, "last_error": None,
            "last_delivered_at": None,
        }
        self._buffer: list[ConsumerRecord] = []
        self._consumer: AIOKafkaConsumer | None = None

    # -- the cursor ---------------------------------------------------------------------------

    async def _read_cursor(self) -> tuple[int, tuple[int, int] | None]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap)
        await admin.start()
        try:
            found = await admin.list_consumer_group_offsets(self.group, partitions=[self.tp])
        finally:
            await admin.close()
        committed = found.get(self.tp)
        if committed is None or committed.offset < 0:
            return 0, None
        pending = None
        if committed.metadata:
            first, last = json.loads(committed.metadata)["pending"]
            pending = (int(first), int(last))
        return committed.offset, pending

    async def _commit(self, offset: int, pending: tuple[int, int] | None) -> None:
        assert self._consumer is not None
        metadata = json.dumps({"pending": list(pending)}) if pending else ""
        await self._consumer.commit({self.tp: OffsetAndMetadata(offset, metadata)})
        self.status["cursor"], self.status["pending"] = offset, list(pending) if pending else None

    # -- reading ------------------------------------------------------------------------------

    async def _fetch(self, timeout: float) -> None:
        assert self._consumer is not None
        got = await self._consumer.getmany(self.tp, timeout_ms=int(timeout * 1000), max_records=500)
        self._buffer.extend(got.get(self.tp, []))
        # read_committed: what a reader can reach (the publisher writes in transactions)
        self.status["end_offset"] = self._consumer.last_stable_offset(self.tp)

    async def _read_range(self, first: int, last: int) -> list[ConsumerRecord]:
        assert self._consumer is not None
        self._buffer.clear()
        self._consumer.seek(self.tp, first)
        records: list[ConsumerRecord] = []
        while not records or records[-1].offset < last:
            await self._fetch(1.0)
            records.extend(r for r in self._buffer if first <= r.offset <= last)
            self._buffer.clear()
        return records

    def _shared(self, record: ConsumerRecord) -> dict[str, Any] | None:
        """The event as this partner receives it, or None when not shared with it."""
        try:
            event = decode(record.value)
        except InvalidEvent as error:
            log.warning("outbound offset %s is not an event (%s); not sent", record.offset, error)
            return None
        if CATEGORY_TYPES.get(event.type) not in self.partner.share:
            return None
        return json.loads(record.value)

    async def _next_batch(self) -> list[ConsumerRecord]:
        """Records from the cursor on, up to the size limits, after lingering for more."""
        push = self.config.push
        records: list[ConsumerRecord] = []
        shared = size = 0
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            while self._buffer:
                record = self._buffer[0]
                event_size = len(record.value or b"") + 1
                if self._shared(record) is not None:
                    if shared >= push.max_events or (shared and size + event_size > push.max_bytes):
                        return records
                    shared, size = shared + 1, size + event_size
                records.append(self._buffer.pop(0))
            if records and deadline is None:
                deadline = loop.time() + push.linger_seconds
            remaining = 1.0 if deadline is None else deadline - loop.time()
            if remaining <= 0:
                return records
            await self._fetch(min(remaining, 1.0))
            if not records and not self._buffer:
                # all before the position is delivered: what is left are transaction markers,
                # offsets no reader is handed; the cursor passes them
                position = await self._consumer.position(self.tp)
                if position > (self.status["cursor"] or 0):
                    await self._commit(position, None)

    # -- delivering ---------------------------------------------------------------------------

    async def _deliver(self, client: httpx.AsyncClient, records: list[ConsumerRecord]) -> None:
        first, last = records[0].offset, records[-1].offset
        events = [e for e in (self._shared(r) for r in records) if e is not None]
        if not events:
            await self._commit(last + 1, None)
            return
        await self._commit(first, (first, last))
        bid = batch.batch_id(self.config.province, self.partner.province, first, last,
                             [e["id"] for e in events])
        delay = self.config.push.retry_initial_seconds
        while True:
            outcome = await self._post(client, bid, events)
            if outcome is not None:
                break
            self.status["failed_attempts"] += 1
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.config.push.retry_max_seconds)
        if os.environ.get(CRASH_AFTER_ACK):
            log.warning("%s set: exiting after the partner's acknowledgement of %s",
                        CRASH_AFTER_ACK, bid)
            os._exit(70)
        self.status["batches_delivered"] += 1
        self.status["replays_acknowledged"] += outcome == "replayed"
        self.status["events_delivered"] += len(events) if outcome == "accepted" else 0
        self.status["last_delivered_at"] = datetime.now(UTC).isoformat()
        await self._commit(last + 1, None)

    async def _post(self, client: httpx.AsyncClient, bid: str,
                    events: list[dict[str, Any]]) -> str | None:
        """One attempt: 'accepted', 'replayed' (already accepted), or None to retry."""
        key = self.config.private_key
        assert key is not None
        # sent_at is transport time, the only wall-clock time in the exchange: the receiver
        # compares it with its own clock to refuse stale batches.
        body = batch.encode(bid, self.config.province, datetime.now(UTC), events)
        headers = batch.signed_headers(self.config.province, key, self.config.key_id, body)
        try:
            response = await client.post(self.partner.inbound_url, content=body, headers=headers,
                                         timeout=self.config.push.request_timeout_seconds)
        except httpx.HTTPError as error:
            self.status["last_status"], self.status["last_error"] = None, repr(error)
            log.info("partner %s unreachable for %s: %r", self.partner.province, bid, error)
            return None
        self.status["last_status"] = response.status_code
        if response.status_code == 202:
            self.status["last_error"] = None
            return "accepted"
        if response.status_code == 409:
            self.status["last_error"] = None
            log.info("partner %s had accepted %s already", self.partner.province, bid)
            return "replayed"
        self.status["last_error"] = response.text[:500]
        log.warning("partner %s refused %s: %s %s", self.partner.province, bid,
                    response.status_code, response.text[:500])
        return None

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap, group_id=self.group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level="read_committed")
        await self._consumer.start()
        try:
            self._consumer.assign([self.tp])
            cursor, pending = await self._read_cursor()
            self.status["cursor"] = cursor
            async with httpx.AsyncClient() as client:
                if pending is not None:
                    log.info("partner %s: re-sending pending batch %s", self.partner.province,
                             pending)
                    await self._deliver(client, await self._read_range(*pending))
                    cursor = pending[1] + 1
                self._buffer.clear()
                self._consumer.seek(self.tp, cursor)
                while True:
                    await self._deliver(client, await self._next_batch())
        finally:
            await self._consumer.stop()
