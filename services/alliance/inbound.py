"""Inbound: POST /v1/alliance/inbound admits a partner's signed batch into vbp.alliance.inbound.

The checks are batch.check's (size, sender, signature, shape, timestamp window, events), then
the replay check against every batch id accepted from that sender. An admitted batch's events are
written to vbp.alliance.inbound (acks=all, idempotent producer), then the record of its id to the
compacted topic `<app id>-accepted-batches` (key `sender:batch_id`), and only then is 202
answered. The ids are read back whole at start before any batch is admitted, and kept for good: a
sender that crashed after our 202 may re-send its batch any time later, and must get 409.

Not a Kafka transaction: a crash between the events and the id makes the sender's retry write
the events again, with the same ids, and consumers drop them as repeated ids (contract: a
repeated id on the same topic is processed once; the processing core remembers ids for the
profile's dedupe window, far longer than a sender's retries).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from runtime.codec import CONTENT_TYPE
from runtime.settings import Settings
from runtime.shell import Reply
from services.alliance import batch
from services.alliance.config import AllianceConfig

log = logging.getLogger(__name__)

SENDER_HEADER = "vbp-alliance-sender"
BATCH_HEADER = "vbp-alliance-batch"
KEY_HEADER = "vbp-alliance-key-id"
RECEIVED_HEADER = "vbp-alliance-received-at"


class Inbound:
    def __init__(self, settings: Settings, config: AllianceConfig) -> None:
        self.settings, self.config = settings, config
        self.topic = settings.topic("vbp.alliance.inbound")
        self.memory_topic = f"{settings.app_id}-accepted-batches"
        self.accepted: dict[str, dict[str, Any]] = {}
        self.counts: Counter[str] = Counter()
        self.ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._producer: AIOKafkaProducer | None = None

    # -- start and stop -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._create_memory_topic()
        await self._load_memory()
        await self._new_producer()
        self.ready.set()
        log.info("inbound ready: %d accepted batch ids remembered", len(self.accepted))

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def _create_memory_topic(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(
                self.memory_topic, num_partitions=1,
                replication_factor=self.settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"})])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()

    async def _load_memory(self) -> None:
        tp = TopicPartition(self.memory_topic, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap,
                                    enable_auto_commit=False, isolation_level="read_committed")
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while await consumer.position(tp) < end:
                for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                    for record in records:
                        if record.key is not None and record.value is not None:
                            self.accepted[record.key.decode()] = json.loads(record.value)
        finally:
            await consumer.stop()

    async def _new_producer(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap, acks="all", enable_idempotence=True)
        await self._producer.start()

    # -- the endpoint -------------------------------------------------------------------------

    async def handle(self, request: Any) -> Reply:
        body = await self._read_body(request)
        if body is None:
            return self._refuse(batch.Refusal(413, "too_large", f"the body exceeds "
                                              f"{self.config.max_body_bytes} bytes"), request)
        try:
            admitted = batch.check(request.headers, body, self.config.partners, datetime.now(UTC),
                                   timedelta(seconds=self.config.timestamp_window_seconds))
        except batch.Refusal as refusal:
            return self._refuse(refusal, request)
        try:
            await asyncio.wait_for(self.ready.wait(), timeout=30)
        except TimeoutError:
            return Reply(503, {"error": "starting",
                               "detail": "the accepted-batch memory is loading"})
        async with self._lock:
            key = f"{admitted.sender}:{admitted.batch_id}"
            earlier = self.accepted.get(key)
            if earlier is not None:
                return self._refuse(batch.Refusal(
                    409, "replayed_batch", f"batch {admitted.batch_id} from {admitted.sender} was "
                    f"accepted at {earlier['accepted_at']}; nothing was written again"), request)
            try:
                record = await self._write(admitted)
            except KafkaError as error:
                log.exception("writing batch %s failed", admitted.batch_id)
                await self._new_producer()
                return Reply(503, {"error": "unavailable", "detail": f"Kafka: {error!r}"})
            self.accepted[key] = record
        self.counts["accepted"] += 1
        log.info("accepted batch %s from %s: %d events", admitted.batch_id, admitted.sender,
                 len(admitted.events))
        return Reply(202, {"status": "accepted", "batch_id": admitted.batch_id,
                           "events": len(admitted.events)})

    async def _read_body(self, request: Any) -> bytes | None:
        """The body, or None past the size limit (checked on Content-Length and while reading)."""
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks, total = [], 0
        while chunk := await request.content.read(64 * 1024):
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _refuse(self, refusal: batch.Refusal, request: Any) -> Reply:
        self.counts[f"refused_{refusal.code}"] += 1
        log.warning("refused a batch from %s: %s", request.headers.get(batch.PROVINCE_HEADER),
                    refusal)
        return Reply(refusal.status, refusal.body())

    async def _write(self, admitted: batch.Admitted) -> dict[str, Any]:
        assert self._producer is not None
        received_at = datetime.now(UTC).isoformat()
        record = {"sender": admitted.sender, "batch_id": admitted.batch_id,
                  "sent_at": admitted.sent_at.isoformat(), "accepted_at": received_at,
                  "events": len(admitted.events), "key_id": admitted.key_id}
        headers = [("content-type", CONTENT_TYPE.encode()),
                   (SENDER_HEADER, admitted.sender.encode()),
                   (BATCH_HEADER, admitted.batch_id.encode()),
                   (KEY_HEADER, admitted.key_id.encode()),
                   (RECEIVED_HEADER, received_at.encode())]
        key = admitted.sender.encode()
        sent = []
        for event in admitted.events:
            value = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            sent.append(await self._producer.send(self.topic, value=value, key=key,
                                                  headers=headers))
        await asyncio.gather(*sent)  # every event acknowledged before the id is remembered
        await self._producer.send_and_wait(
            self.memory_topic, key=f"{admitted.sender}:{admitted.batch_id}".encode(),
            value=json.dumps(record).encode())
        return record
