"""The ceiling for Python: a bare aiokafka consumer that reads a topic from offset zero and
decodes every message into the contract's pydantic models (runtime.codec.decode), nothing else.

Run as its own process by bench.run so its CPU time and peak memory are its own; prints one JSON
line: {"events", "seconds", "cpu_seconds", "peak_rss_kb"}.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.codec import decode


async def consume(bootstrap: str, topic: str, count: int, timeout: float) -> dict[str, float]:
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    decoded = 0
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        deadline = started + timeout
        while decoded < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"decoded {decoded} of {count} in {timeout}s")
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batch.values():
                for message in messages:
                    decode(message.value)
                    decoded += 1
        seconds = time.monotonic() - started
    finally:
        await consumer.stop()
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return {"events": decoded, "seconds": seconds, "cpu_seconds": cpu,
            "peak_rss_kb": usage1.ru_maxrss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(consume(args.bootstrap, args.topic, args.count, args.timeout))))


if __name__ == "__main__":
    main()
