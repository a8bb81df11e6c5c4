"""Create the contract's topics on the broker, as the registry in schemas.topics declares them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import lru_cache

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from schemas.topics import TOPICS

log = logging.getLogger(__name__)

# Stateful input topics share this partition count so their state is co-partitioned.
STATE_PARTITIONS = TOPICS["vbp.orders"].partitions


@lru_cache(maxsize=1 << 17)
def partition_of(key: str, partitions: int = STATE_PARTITIONS) -> int:
    """The partition Kafka's default partitioner gives a record keyed `key`: for an institution
    id, the state partition its records live in. Remembered: each tick asks it of every
    agreement and institution, and murmur2 in Python costs 1.7 us a key (quota's year: 14,000
    agreements x 4 partitions x 365 ticks)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


async def ensure_topics(
    bootstrap: str,
    prefix: str = "",
    *,
    replication: int = 1,
    internal: dict[str, int] | None = None,
    changelogs: dict[str, int] | None = None,
    attempts: int = 30,
) -> list[str]:
    """Create every missing contract topic, and the `internal` topics and compacted table
    `changelogs` (full name: partitions) of a service; return the names created. Waits for the
    broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="vbp-topics")
    for attempt in range(attempts):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if attempt == attempts - 1:
                raise
            log.warning("broker %s not answering yet, retrying", bootstrap)
            await asyncio.sleep(1)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                prefix + topic.name,
                num_partitions=topic.partitions,
                replication_factor=replication,
                topic_configs={"cleanup.policy": "compact"} if topic.compacted else {},
            )
            for topic in TOPICS.values()
            if prefix + topic.name not in existing
        ] + [
            NewTopic(name, num_partitions=partitions, replication_factor=replication)
            for name, partitions in (internal or {}).items()
            if name not in existing
        ] + [
            NewTopic(name, num_partitions=partitions, replication_factor=replication,
                     topic_configs={"cleanup.policy": "compact"})
            for name, partitions in (changelogs or {}).items()
            if name not in existing
        ]
        for new in wanted:  # one by one: a concurrent creator must not fail the others
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([new])
        return [new.name for new in wanted]
    finally:
        await admin.close()


def main() -> None:
    from runtime.settings import Settings

    settings = Settings.from_env("quota")  # any service: the topic settings are shared
    created = asyncio.run(
        ensure_topics(
            settings.bootstrap, settings.topic_prefix, replication=settings.replication_factor
        )
    )
    print(f"created {len(created)} topics" + (": " + ", ".join(created) if created else ""))


if __name__ == "__main__":
    main()
