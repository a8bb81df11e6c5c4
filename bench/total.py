"""The processing core's ceiling on the peers' work: `python -m bench.total`, a running total of
ordered quantity per institution and product (an agreement's) on runtime.loop, with state in a
changelog, one progress record per key and batch, and exactly-once transactions. What the
services cost beyond it is their own rules. Configured as the services are (VBP_KAFKA_BOOTSTRAP,
VBP_TOPIC_PREFIX, VBP_APP_ID, VBP_WORKER_ID); logs "Ready" once its tasks run."""
from __future__ import annotations

import asyncio
import logging
import os
import signal

from runtime.loop import Processor
from runtime.task import Table
from schemas.envelope import CloudEvent
from schemas.outputs import QuotaProgress

log = logging.getLogger("bench.total")


async def count(processor: Processor, totals: Table, event: CloudEvent) -> None:
    """Add an order to its institution's and product's total; emit the total as progress."""
    data = event.data
    key = f"{data.institution_id}:{data.product_code}"
    total = totals.get(key, 0) + data.quantity
    totals[key] = total
    await processor.emit(
        QuotaProgress(
            agreement_id=key.replace(":", "-"), institution_id=data.institution_id,
            product_code=data.product_code, period="2020-Q1", ordered_quantity=total,
            accepted_quantity=0, target_quantity=1, completion_rate="1",
            cumulative_quantity=total, cumulative_target=1),
        id=f"progress:{key}:{event.id}", subject=key, time=event.time,
        coalesce=f"progress:{key}")


def build(processor: Processor) -> None:
    totals = processor.table("totals")

    @processor.consume("vbp.orders")
    async def orders(event: CloudEvent) -> None:
        if event.type == "vbp.order.placed":
            await count(processor, totals, event)


async def main() -> None:
    env = os.environ
    processor = Processor(bootstrap=env.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                          app_id=env["VBP_APP_ID"], topic_prefix=env.get("VBP_TOPIC_PREFIX", ""),
                          region_code="520000", service="bench-total",
                          worker=env.get("VBP_WORKER_ID", "1"))
    build(processor)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(processor.stop()))
    running = asyncio.create_task(processor.run())
    while not processor.tasks and not running.done():
        await asyncio.sleep(0.05)
    log.info("Ready: tasks %s", sorted(processor.tasks))
    await running


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(main())
