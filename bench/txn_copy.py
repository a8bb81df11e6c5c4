"""The second ceiling, for services that write messages per input: `python -m bench.txn_copy`,
a bare aiokafka loop that reads the orders in batches (`getmany`, decoded as the baseline does)
and writes BENCH_COPIES (default 1; a fraction is spread evenly) messages per order to a scratch
topic that no service reads, each batch with its input offsets in one transaction: what
exactly-once writes cost with no handler and no state. bench.run runs it again per service with
the service's own writes per input. Configured as the services are (VBP_KAFKA_BOOTSTRAP,
VBP_TOPIC_PREFIX, VBP_APP_ID); prints "Ready" once assigned."""
from __future__ import annotations

import asyncio
import os
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from runtime.codec import decode
from schemas.topics import topic_name

COPIES_TOPIC = "bench.copies"  # beside the contract's topics; bench.run creates it


async def main() -> None:
    env = os.environ
    bootstrap, prefix, group = env["VBP_KAFKA_BOOTSTRAP"], env.get("VBP_TOPIC_PREFIX", ""), \
        env["VBP_APP_ID"]
    copies = float(env.get("BENCH_COPIES", "1"))  # a fraction: one more now and then
    owed = 0.0
    out = prefix + COPIES_TOPIC
    consumer = AIOKafkaConsumer(topic_name("vbp.orders", prefix), bootstrap_servers=bootstrap,
                                group_id=group, enable_auto_commit=False,
                                isolation_level="read_committed", auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{group}-copy",
                                linger_ms=5, max_batch_size=1024 * 1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await consumer.start()
    await producer.start()
    ready = False
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=5000)
            if not ready and consumer.assignment():
                print("Ready", flush=True)
                ready = True
            if not batch:
                continue
            async with producer.transaction():
                sends = []
                for records in batch.values():
                    for record in records:
                        decode(record.value)
                        owed += copies
                        while owed >= 1:
                            sends.append(await producer.send(out, record.value, key=record.key))
                            owed -= 1
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1 for tp, records in batch.items()}, group)
                await asyncio.gather(*sends)
    finally:
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
