"""Tick synchronisation: apply a clock tick only after the inputs produced before it.

A tick `as_of=D` says every day before D has ended, so the orders, deliveries and reference data
of those days must be counted before the tick's rules run. Faust reads each topic on its own, and
on a replay from offset zero it would read the small clock topic far ahead of the orders. So a
tick waits, per state partition, until every input partition that feeds that state has been
processed up to the tick's broker timestamp: up to the first record stamped after the tick, or
to the end of the partition when there is none. This is Kafka Streams' timestamp synchronisation,
done here because faust has none; it assumes producers stamp records in the order they send them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from runtime.retry import until_answered

T = TypeVar("T")
ASK_SECONDS = 15.0  # aiokafka retries some lookups without end; give up and ask anew

log = logging.getLogger(__name__)


class Rebalancing(Exception):
    """The group is rebalancing and faust has paused every input: a tick waiting for inputs
    would wait for ever, and faust waits for the tick. The tick is given up and read again
    (Service._process)."""


class InputClock:
    """Tracks what has been processed per input partition, and waits for a tick's inputs."""

    def __init__(self, bootstrap: str, group_id: str, poll_seconds: float = 0.05,
                 paused: Callable[[], bool] = lambda: False) -> None:
        self._paused = paused
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._poll = poll_seconds
        self._processed: dict[TopicPartition, int] = {}  # next offset to process
        # per state partition, in the order declared: input partition -> relayed (see feeds)
        self._feeds: dict[int, dict[TopicPartition, bool]] = defaultdict(dict)
        self._targets: dict[tuple[TopicPartition, int], int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._starting = asyncio.Lock()  # bound to a loop on first use (Python 3.10+)

    def feeds(self, state_partition: int, tp: TopicPartition, relayed: bool = False) -> None:
        """Declare that input partition `tp` feeds the state of `state_partition`.

        `relayed`: `tp` holds copies the service's own relay made of feeds declared before it,
        at the time it relayed them. Once those are processed up to a tick, every copy the tick
        needs is in `tp`, below its end offset of that moment: that is its target."""
        self._feeds[state_partition][tp] = relayed

    def processed(self, topic: str, partition: int, offset: int) -> None:
        tp = TopicPartition(topic, partition)
        if offset + 1 > self._processed.get(tp, -1):
            self._processed[tp] = offset + 1

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Partitions this worker no longer owns: their positions come from the commits."""
        for tp in tps:
            self._processed.pop(tp, None)

    async def wait_for(self, state_partition: int, timestamp_ms: int) -> None:
        """Return once every feed of `state_partition` is processed up to `timestamp_ms`."""
        polls_per_log = max(1, int(30 / self._poll))
        for tp, relayed in self._feeds[state_partition].items():  # in order: see feeds
            for polls in itertools.count(1):
                if await self._reached(tp, timestamp_ms, relayed):
                    break
                if self._paused():
                    raise Rebalancing(f"tick at {timestamp_ms} given up waiting for {tp}")
                if polls % polls_per_log == 0:
                    log.info("tick at %s still waits for %s", timestamp_ms, tp)
                await asyncio.sleep(self._poll)

    async def _reached(self, tp: TopicPartition, timestamp_ms: int, relayed: bool) -> bool:
        target = self._targets.get((tp, timestamp_ms))
        if target is None:
            target = await self._target(tp, None if relayed else timestamp_ms)
            self._targets[(tp, timestamp_ms)] = target
        if target == 0:
            return True
        position = self._processed.get(tp)
        if position is None:
            position = await self.committed(tp) or 0
            if position >= target:
                self._processed[tp] = position
        return position >= target

    async def _target(self, tp: TopicPartition, timestamp_ms: int | None) -> int:
        """The offset of the first record stamped after `timestamp_ms` (None: the end)."""
        async def look_up(consumer: AIOKafkaConsumer) -> int:
            if timestamp_ms is not None:
                found = await consumer.offsets_for_times({tp: timestamp_ms + 1})
                if found.get(tp) is not None:
                    return found[tp].offset
            return (await consumer.end_offsets([tp]))[tp]

        return await self._asking(look_up)

    async def committed(self, tp: TopicPartition) -> int | None:
        """The service group's committed offset on `tp` (None: nothing committed)."""
        return await self._asking(lambda consumer: consumer.committed(tp))

    async def first_record(self, tp: TopicPartition, offset: int,
                           isolation_level: str = "read_uncommitted") -> int | None:
        """The offset of the first record at or after `offset` a consumer is handed (None: none
        came within a few seconds). A transaction marker occupies an offset but is never
        handed over."""
        async def look(_: AIOKafkaConsumer) -> int | None:
            reader = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None,
                                      enable_auto_commit=False, isolation_level=isolation_level)
            await reader.start()
            try:
                reader.assign([tp])
                reader.seek(tp, offset)
                records = (await reader.getmany(tp, timeout_ms=5000, max_records=1)).get(tp)
                return records[0].offset if records else None
            finally:
                await reader.stop()

        return await self._asking(look)

    async def _asking(self, question: Callable[[AIOKafkaConsumer], Awaitable[T]]) -> T:
        """The broker's answer, asked again until it gives one."""
        async def ask() -> T:
            return await asyncio.wait_for(question(await self._client()), ASK_SECONDS)

        async def after(error: BaseException) -> None:
            if isinstance(error, TimeoutError):  # a client stuck on a coordinator: anew
                await self.close()

        return await until_answered(ask, "tick clock", errors=(KafkaError, TimeoutError),
                                    after_error=after)

    async def _client(self) -> AIOKafkaConsumer:
        async with self._starting:  # agents ask at once when the worker starts: one client
            if self._consumer is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap,
                    group_id=self._group_id,
                    enable_auto_commit=False,
                    isolation_level="read_committed",
                )
                try:
                    await consumer.start()
                except BaseException:
                    await consumer.stop()
                    raise
                self._consumer = consumer
            return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
