"""Play a simulation onto the broker: reference data at once, then the days at a set pace."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from aiokafka import AIOKafkaProducer

from schemas.envelope import CONTENT_TYPE
from schemas.topics import topic_name
from sim.scenario import Emitted


@dataclass
class Progress:
    day: date | None = None
    """The last simulated day whose events (and closing tick) were sent."""
    sent: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started


async def play(events: Iterable[Emitted], bootstrap: str, prefix: str = "", *,
               days_per_second: float = 5.0,
               on_day: Callable[[Progress], object] | None = None) -> Progress:
    """Send `events` in order (acks=all), pacing the simulated days at `days_per_second`
    (0 or less: as fast as the broker takes them). Returns the counts sent.

    Ordering matters: the services synchronise ticks on broker timestamps, so a tick must be
    stamped after every input of the days before it. One producer sending in order does that.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=256 * 1024, enable_idempotence=True)
    await producer.start()
    progress = Progress()
    headers = [("content-type", CONTENT_TYPE.encode())]
    pending: list[asyncio.Future[object]] = []
    current: date | None = None
    days_played = 0
    try:
        for item in events:
            if item.day != current and item.day is not None:
                if current is not None or pending:
                    await _settle(pending)
                    days_played += 1 if current is not None else 0
                    if current is not None:
                        progress.day = current
                        if on_day:
                            on_day(progress)
                    if days_per_second > 0 and current is not None:
                        ahead = days_played / days_per_second - progress.elapsed
                        if ahead > 0:
                            await asyncio.sleep(ahead)
                current = item.day
            pending.append(await producer.send(
                topic_name(item.topic, prefix), value=item.event.to_json_bytes(),
                key=item.key.encode(), headers=headers))
            progress.sent += 1
            progress.by_type[item.event.type] += 1
            if len(pending) >= 2000:
                await _settle(pending)
        await _settle(pending)
        await producer.flush()
        progress.finished = time.monotonic()
        progress.day = current
        if on_day:
            on_day(progress)
    finally:
        await producer.stop()
    return progress


async def _settle(pending: list[asyncio.Future[object]]) -> None:
    if pending:
        await asyncio.gather(*pending)
        pending.clear()
