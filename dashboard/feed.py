"""Read the view's topics from the beginning, with a plain consumer (no group, no commits)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from dashboard.view import TOPICS, View
from schemas.topics import TOPICS as CONTRACT

log = logging.getLogger(__name__)


class Feed:
    """Keeps a View up to date; `caught_up` once it has read to the end offsets seen at start."""

    def __init__(self, view: View, bootstrap: str, prefix: str = "") -> None:
        self.view = view
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.caught_up = asyncio.Event()
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dashboard-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except (KafkaConnectionError, OSError) as error:
                log.warning("broker %s unreachable (%s), retrying", self.bootstrap, error)
                await asyncio.sleep(2)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", isolation_level="read_committed",
                                    max_partition_fetch_bytes=4 * 1024 * 1024)
        await consumer.start()
        try:
            names = {self.prefix + base: base for base in TOPICS}
            partitions = [TopicPartition(name, p) for name, base in names.items()
                          for p in range(CONTRACT[base].partitions)]
            existing = await consumer.topics()
            missing = sorted(n for n in names if n not in existing)
            if missing:
                log.warning("topics not there yet: %s; retrying", ", ".join(missing))
                await asyncio.sleep(2)
                return
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            remaining = {tp for tp, end in ends.items() if end > 0}
            if not remaining:
                self.caught_up.set()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, messages in batch.items():
                    base = names[tp.topic]
                    for message in messages:
                        try:
                            self.view.apply(base, json.loads(message.value))
                        except (ValueError, KeyError, TypeError) as error:
                            self.errors += 1
                            log.warning("%s[%s]@%s not shown: %r", tp.topic, tp.partition,
                                        message.offset, error)
                for tp in list(remaining):  # the position passes transaction markers too
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
                if not remaining and not self.caught_up.is_set():
                    self.caught_up.set()
                if not batch:
                    await asyncio.sleep(0)
        finally:
            await consumer.stop()
