"""A small stream processor on runtime.loop, for the loop's tests against the real broker:
the bench's running total of ordered quantity per institution and product (bench.total), its
progress on `vbp.quota.progress` (coalesced per key and batch), and, on every tick, a warning
per task with the totals the task holds. `python -m tests.loop_app` runs it until SIGTERM
(SIGKILL in the crash tests), configured by VBP_KAFKA_BOOTSTRAP, VBP_TOPIC_PREFIX, VBP_APP_ID
and VBP_WORKER_ID; FAIL_ON names an order id whose handling raises for as long as the file
FAIL_WHILE exists."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from bench.total import count
from runtime.loop import Processor, Rejected
from schemas.envelope import CloudEvent
from schemas.outputs import WarningRaised


def build(processor: Processor) -> None:
    totals = processor.table("totals")
    registered = processor.table("registered")
    fail_on = os.environ.get("FAIL_ON")
    fail_while = Path(os.environ.get("FAIL_WHILE", "/nonexistent"))

    @processor.consume("vbp.orders")
    async def orders(event: CloudEvent) -> None:
        data = event.data
        if data.quantity == 13:
            raise Rejected("13 is refused")
        if data.order_id == fail_on and fail_while.exists():
            raise RuntimeError(f"cannot handle {data.order_id} yet")
        await count(processor, totals, event)

    @processor.consume_shared("vbp.ref.institutions", route=lambda e: e.data.institution_id)
    async def institutions(event: CloudEvent, partition: int) -> None:
        registered[event.data.institution_id] = partition

    @processor.consume_shared("vbp.clock")
    async def tick(event: CloudEvent, partition: int) -> None:
        held = {key: totals[key] for key in sorted(totals)}
        await processor.emit(
            WarningRaised(
                warning_id=f"tick:{event.data.as_of}:{partition}", rule="test.tick",
                severity="info", subject_kind="institution", subject_id=f"task-{partition}",
                metrics={"totals": len(held), "sum": sum(held.values()),
                         "registered": len(list(registered.keys()))},
                policy_ref="test", message=repr(held)[:2000]),
            id=f"tick:{event.data.as_of}:{partition}", subject=f"task-{partition}",
            time=event.time)


def processor_from_env() -> Processor:
    processor = Processor(bootstrap=os.environ["VBP_KAFKA_BOOTSTRAP"],
                          app_id=os.environ["VBP_APP_ID"],
                          topic_prefix=os.environ.get("VBP_TOPIC_PREFIX", ""),
                          region_code="520000", service="loop-test",
                          worker=os.environ.get("VBP_WORKER_ID", "1"),
                          retry_seconds=float(os.environ.get("RETRY_SECONDS", "1")))
    build(processor)
    return processor


async def main() -> None:
    processor = processor_from_env()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(processor.stop()))
    await processor.run()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(main())
