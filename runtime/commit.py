"""The commit protocol: a batch's outputs, changelog records and input offsets in one transaction.

Per task (one state partition of a service) and per batch:

1. The task has its own transactional producer, id `<app_id>-task-<p>`. Starting it
   (InitProducerId) fences every earlier producer of that id, i.e. a paused or cut-off old
   worker that still believes it owns the task, and aborts that producer's open transaction.
2. Only then is the task's state restored from its changelog (state.py) and are its inputs read
   from the group's committed offsets: nothing the fenced worker did can still appear.
3. The batch's records are handled in timestamp order (timeline.py); outputs and the changed keys
   of the state collect in memory.
4. One transaction: begin; send the outputs and one changelog record per changed key; add the
   next offsets of the input records handled (`send_offsets_to_transaction`, the service's
   group); wait until every send is acknowledged; commit. While it is in flight the task goes
   on handling what the next fetches bring; that goes into the next transaction, begun once
   this one has committed.
5. If anything in 4 fails (a broker gone, a timeout), the transaction is aborted where it still
   can be and the task is closed: it starts again from 1, its state from the changelog and its
   inputs from the last committed offsets, so nothing the failed batch (or what was handled on
   top of it) did is lost or counted twice. Fenced, the task is closed too, but starts again
   only if the group still gives it to this worker after a session's time: another worker
   holds it, and fencing that one back would only pass the task to and fro until the group
   has rebalanced. Readers of the outputs read `read_committed`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import IllegalOperation, ProducerFenced
from aiokafka.partitioner import DefaultPartitioner

log = logging.getLogger(__name__)

# Kafka's default largest message (broker message.max.bytes, 1 MiB + 12); faust's producer
# would refuse anything over 1,000,000 bytes, so a large input could not be dead-lettered.
MAX_MESSAGE_BYTES = 1_048_576
_PARTITIONER = DefaultPartitioner()  # the producer's own, for keys without a partition


@dataclass(slots=True)
class Record:
    """A message to send in a batch's transaction."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    timestamp_ms: int | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class CommitFailed(Exception):
    """The batch's transaction did not commit; the task must start again from its last commit.
    `fenced`: a newer producer of the task's id exists, i.e. another worker has been given the
    task; this one should wait for the group to take it away rather than fence that one back."""

    def __init__(self, message: str, fenced: bool) -> None:
        super().__init__(message)
        self.fenced = fenced


class TaskProducer:
    """The transactional producer of one task."""

    def __init__(self, bootstrap: str, transactional_id: str) -> None:
        self.transactional_id = transactional_id
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, transactional_id=transactional_id,
            enable_idempotence=True, acks="all", linger_ms=5, max_batch_size=1024 * 1024,
            max_request_size=MAX_MESSAGE_BYTES, transaction_timeout_ms=60_000)

    async def start(self) -> None:
        """Step 1: fences the earlier producers of this transactional id."""
        await self._producer.start()

    async def commit(self, records: list[Record], offsets: dict[TopicPartition, int],
                     group_id: str) -> None:
        """Step 4; raises CommitFailed for step 5."""
        sends: list[asyncio.Future[Any]] = []
        try:
            batches = await self._batches(records)
            await self._producer.begin_transaction()
            for (topic, partition), batch in batches:
                sends.append(await self._producer.send_batch(batch, topic, partition=partition))
            if offsets:
                await self._producer.send_offsets_to_transaction(offsets, group_id)
            failed = [r for r in await asyncio.gather(*sends, return_exceptions=True)
                      if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
            await self._producer.commit_transaction()
        except Exception as error:
            log.warning("transaction of %s failed: %r", self.transactional_id, error)
            for sent in sends:  # a send that fails with the rest is part of this failure
                sent.add_done_callback(_retrieved)
            await self._abort()
            fenced = isinstance(error, ProducerFenced | IllegalOperation)  # after a fence
            raise CommitFailed(f"{self.transactional_id}: {error!r}", fenced) from error

    async def _batches(self, records: list[Record]) -> list[tuple[tuple[str, int], Any]]:
        """The records in one batch per topic and partition, more where one fills up, in their
        order: one send and one future per batch rather than per record (a send per record was
        most of the commit's time). Unpartitioned records go where `send` would put them."""
        partitions: dict[str, list[int]] = {}
        open_batches: dict[tuple[str, int], Any] = {}
        batches: list[tuple[tuple[str, int], Any]] = []
        for r in records:
            partition = r.partition
            if partition is None:
                if r.topic not in partitions:
                    partitions[r.topic] = sorted(await self._producer.partitions_for(r.topic))
                partition = _PARTITIONER(r.key, partitions[r.topic], partitions[r.topic])
            tp = (r.topic, partition)
            batch = open_batches.get(tp)
            if batch is None or batch.append(timestamp=r.timestamp_ms, key=r.key, value=r.value,
                                             headers=r.headers) is None:
                if batch is not None:  # full: sent before the one that follows it
                    batches.append((tp, batch))
                batch = open_batches[tp] = self._producer.create_batch()
                # the first record always fits (at most MAX_MESSAGE_BYTES, the batch size)
                batch.append(timestamp=r.timestamp_ms, key=r.key, value=r.value,
                             headers=r.headers)
        return batches + list(open_batches.items())

    async def _abort(self) -> None:
        try:
            await asyncio.wait_for(self._producer.abort_transaction(), 10)
        except Exception as error:  # fenced, or no transaction open: the next producer of the
            # id aborts whatever is left (step 1)
            log.info("abort of %s: %r", self.transactional_id, error)

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self._producer.stop(), 10)
        except Exception as error:
            log.warning("producer %s did not stop cleanly: %r", self.transactional_id, error)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a failed send's error as seen (asyncio logs "never retrieved" otherwise)."""
    if not future.cancelled():
        future.exception()
