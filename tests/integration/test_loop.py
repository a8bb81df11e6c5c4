"""The processing loop (runtime/loop.py) against the real broker: timestamp order across topics,
one handling per event id, dead letters in the batch's transaction, a stopped task that resumes
once mended, restore, a fenced producer, and SIGKILLed workers that lose and double nothing."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from runtime.commit import Record, TaskProducer
from runtime.loop import Processor
from runtime.topics import partition_of
from schemas.envelope import CloudEvent
from schemas.topics import TOPICS
from tests.events import event, tick
from tests.harness import REPO, eventually, read, read_to_end
from tests.loop_app import build

pytestmark = pytest.mark.integration

# two institutions in each of the 4 state partitions
INSTITUTIONS = sorted((f"H5201020{n:04d}" for n in range(1, 60)), key=partition_of)
BY_PARTITION = {p: [i for i in INSTITUTIONS if partition_of(i) == p][:2] for p in range(4)}
PRODUCT = "XC10AAA081A001010100328"


def order(n: int, institution: str, quantity: int, event_id: str | None = None
          ) -> tuple[str, bytes]:
    return event("vbp.order.placed", event_id or f"ev-{n}", "2020-01-05", order_id=f"ord-{n}",
                 institution_id=institution, product_code=PRODUCT, quantity=quantity)


async def send_at(bootstrap: str, topic: str, items: list[tuple[str | None, bytes]],
                  timestamp_ms: int) -> None:
    """Produce with an explicit record timestamp (the loop orders inputs by it)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key.encode() if key else None,
                                    timestamp_ms=timestamp_ms) for key, value in items]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def processor(bootstrap: str, prefix: str, app: str = "loop", **options: Any) -> Processor:
    p = Processor(bootstrap=bootstrap, app_id=prefix + app, topic_prefix=prefix,
                  region_code="520000", service="loop-test", **options)
    build(p)
    return p


async def data(bootstrap: str, topic: str, until: Any, timeout: float = 60) -> list[dict]:
    records = await read(bootstrap, topic, timeout=timeout,
                         until=lambda rs: until([r.json()["data"] for r in rs]))
    return [r.json()["data"] for r in records]


def latest_totals(progress: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in progress:
        out[p["agreement_id"]] = p["ordered_quantity"]
    return out


async def test_inputs_in_timestamp_order_once_with_dead_letters(
        kafka_bootstrap: str, topic_prefix: str) -> None:
    """The 01-10 tick was written first but is stamped after the first orders: each task
    counts them before the tick's rule runs, and not the orders stamped after it. A repeated
    event id counts once; invalid JSON and a refused order go to the dead-letter topic."""
    p, t0 = topic_prefix, int(time.time() * 1000) - 60_000
    await send_at(kafka_bootstrap, p + "vbp.clock", [tick("2020-01-10")], t0 + 10_000)
    await send_at(kafka_bootstrap, p + "vbp.ref.institutions", [
        event("vbp.institution.registered", f"reg-{i}", "2019-12-01", institution_id=i)
        for i in INSTITUTIONS[:8]], t0)
    early = [order(n, BY_PARTITION[n % 4][n // 4 % 2], 20 + n) for n in range(16)]
    await send_at(kafka_bootstrap, p + "vbp.orders", early, t0 + 1_000)
    await send_at(kafka_bootstrap, p + "vbp.orders", [
        order(3, BY_PARTITION[3][1], 13, event_id="ev-3"),  # a repeat: ignored
        (BY_PARTITION[0][0], b"{not json"),
        order(99, BY_PARTITION[1][0], 13)], t0 + 2_000)  # Rejected by the handler
    late = [order(n, BY_PARTITION[n % 4][0], 100) for n in range(16, 24)]
    await send_at(kafka_bootstrap, p + "vbp.orders", late, t0 + 15_000)
    await send_at(kafka_bootstrap, p + "vbp.clock", [tick("2020-01-20")], t0 + 20_000)

    loop = processor(kafka_bootstrap, p)
    running = asyncio.create_task(loop.run())
    try:
        warnings = await data(kafka_bootstrap, p + "vbp.warnings", lambda ws: len(ws) >= 8)
        by_tick = {(w["warning_id"].split(":")[1], w["subject_id"]): w["metrics"]
                   for w in warnings}
        for part in range(4):
            mine = [n for n in range(16) if n % 4 == part]
            first = by_tick[("2020-01-10", f"task-{part}")]
            assert first["sum"] == sum(20 + n for n in mine), (part, first)
            assert first["registered"] == sum(
                partition_of(i) == part for i in INSTITUTIONS[:8])
            second = by_tick[("2020-01-20", f"task-{part}")]
            assert second["sum"] == first["sum"] + 100 * sum(
                1 for n in range(16, 24) if n % 4 == part)
        dead = await read_to_end(kafka_bootstrap, p + "vbp.deadletter")
        reasons = sorted(r.headers["vbp-error"] for r in dead)
        assert len(dead) == 2 and "13 is refused" in reasons[0], reasons
        assert all(r.headers["vbp-source-topic"] == "vbp.orders" for r in dead)
        progress = await data(kafka_bootstrap, p + "vbp.quota.progress",
                              lambda ps: len(latest_totals(ps)) == 8)
        assert len(progress) <= 24  # one per order at most; fewer where a batch coalesced
        assert loop.health()["duplicates"] == 1 and loop.health()["status"] == "ok"
    finally:
        await loop.stop()
        await running


async def test_event_ids_are_remembered_for_the_window_only(
        kafka_bootstrap: str, topic_prefix: str) -> None:
    """Ids of the last `dedupe_days` of event time are kept: a repeat within them counts once;
    one older is forgotten, and only a business key (which the services' records carry) could
    catch it. Memory stays bounded however long the stream."""
    p, inst = topic_prefix, BY_PARTITION[2][0]
    key = f"{inst}-{PRODUCT}"
    loop = processor(kafka_bootstrap, p, dedupe_days=2)
    running = asyncio.create_task(loop.run())
    now = int(time.time() * 1000)

    def on(day: str, n: int) -> tuple[str, bytes]:
        return event("vbp.order.placed", f"ev-{n}", day, order_id=f"ord-{n}",
                     institution_id=inst, product_code=PRODUCT, quantity=1)

    try:
        await send_at(kafka_bootstrap, p + "vbp.orders",
                      [on("2020-01-01", 1), on("2020-01-02", 2), on("2020-01-02", 1)], now)
        await data(kafka_bootstrap, p + "vbp.quota.progress",
                   lambda ps: latest_totals(ps).get(key) == 2)
        await send_at(kafka_bootstrap, p + "vbp.orders", [on("2020-01-09", 3)], now + 1)
        await data(kafka_bootstrap, p + "vbp.quota.progress",
                   lambda ps: latest_totals(ps).get(key) == 3)
        await send_at(kafka_bootstrap, p + "vbp.orders", [on("2020-01-01", 1)], now + 2)
        progress = await data(kafka_bootstrap, p + "vbp.quota.progress",
                              lambda ps: latest_totals(ps).get(key) == 4)
        assert latest_totals(progress)[key] == 4  # ev-1 again, 8 days on: not remembered
        assert loop.health()["duplicates"] == 1
        task = loop.tasks[partition_of(inst)]
        assert sorted(task.seen.day_of.values()) == [date(2020, 1, 1).toordinal(),
                                                          date(2020, 1, 9).toordinal()]
    finally:
        await loop.stop()
        await running


async def test_a_failing_event_stops_its_task_until_mended(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid event the handler fails on is not dead-lettered: its task stops there and says
    so, the other tasks go on, and once the cause is gone the task resumes from that event."""
    blocker = tmp_path / "broken"
    blocker.write_text("x")
    monkeypatch.setenv("FAIL_ON", "ord-5")
    monkeypatch.setenv("FAIL_WHILE", str(blocker))
    p = topic_prefix
    stuck = BY_PARTITION[1][0]
    await send_at(kafka_bootstrap, p + "vbp.orders",  # ord-1 and ord-5 are `stuck`'s
                  [order(n, BY_PARTITION[n % 4][0], 1) for n in range(8)],
                  int(time.time() * 1000))
    loop = processor(kafka_bootstrap, p, retry_seconds=0.5)
    running = asyncio.create_task(loop.run())
    try:
        failed = await eventually(lambda: loop.health()["failed"], "a task stopped")
        assert list(failed) == [str(partition_of(stuck))]
        assert "ord-5" in failed[str(partition_of(stuck))]["error"]
        progress = await data(kafka_bootstrap, p + "vbp.quota.progress",
                              lambda ps: sorted(latest_totals(ps).values()) == [1, 2, 2, 2])
        assert latest_totals(progress)[f"{stuck}-{PRODUCT}"] == 1  # ord-1, not ord-5
        blocker.unlink()
        progress = await data(kafka_bootstrap, p + "vbp.quota.progress",
                              lambda ps: sorted(latest_totals(ps).values()) == [2, 2, 2, 2])
        assert sorted(latest_totals(progress).values()) == [2, 2, 2, 2]
        assert loop.health()["failed"] == {}
        assert await read_to_end(kafka_bootstrap, p + "vbp.deadletter") == []
    finally:
        await loop.stop()
        await running


async def send_in_transactions(bootstrap: str, topic: str,
                               batches: list[list[tuple[str, bytes]]]) -> None:
    """One transaction per batch, as a processor writes its outputs: each leaves a marker."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-writer")
    await producer.start()
    try:
        for batch in batches:
            async with producer.transaction():
                for key, value in batch:
                    await producer.send(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def test_inputs_written_in_transactions_and_a_shared_topic_of_four_partitions(
        kafka_bootstrap: str, topic_prefix: str) -> None:
    """Another processor's outputs hold transaction markers, which no consumer is handed: the
    offsets committed and the cursors kept pass them, so a group that has handled everything
    has no lag. A topic of four partitions keyed otherwise than the state (vbp.decisions, by
    decision here) read shared and routed by institution reaches the institution's task only;
    an event of a type its topic does not carry is
    dead-lettered once, not once per task."""
    p = topic_prefix
    institutions = [BY_PARTITION[part][0] for part in range(4)]
    await send_in_transactions(kafka_bootstrap, p + "vbp.orders", [
        [order(n, institutions[n % 4], 1)] for n in range(8)])
    decisions = [event("vbp.decision.issued", f"dec-{n}", "2020-01-05", decision_id=f"D-{n}",
                       subject_id=institutions[n % 4]) for n in range(12)]
    await send_in_transactions(kafka_bootstrap, p + "vbp.decisions", [
        [(f"D-{n}", value)] for n, (_, value) in enumerate(decisions)])
    await send_at(kafka_bootstrap, p + "vbp.ref.institutions", [
        order(100, institutions[0], 1)], int(time.time() * 1000))
    loop = processor(kafka_bootstrap, p)
    reached = loop.table("progress-reached")

    @loop.consume_shared("vbp.decisions", route=lambda e: e.data.subject_id)
    async def decided(event: CloudEvent, partition: int) -> None:
        reached[event.data.decision_id] = partition

    running = asyncio.create_task(loop.run())
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        orders = [TopicPartition(p + "vbp.orders", part) for part in range(4)]
        shared = [TopicPartition(p + "vbp.decisions", part) for part in range(4)]
        reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
        await reader.start()
        ends = await reader.end_offsets(orders + shared)
        await reader.stop()

        async def caught_up() -> bool:
            committed = await admin.list_consumer_group_offsets(p + "loop", partitions=orders)
            cursors = [t.cursors[tp].offset for t in loop.tasks.values() for tp in shared]
            return len(loop.tasks) == 4 and all(
                tp in committed and committed[tp].offset == ends[tp] for tp in orders
            ) and cursors == [ends[tp] for _ in range(4) for tp in shared]

        await eventually(caught_up, "offsets committed past the transaction markers")
        assert all(ends[tp] == 4 for tp in orders)  # 2 orders and 2 markers each
        assert dict(reached.items()) == {
            f"D-{n}": partition_of(institutions[n % 4]) for n in range(12)}
        assert len(reached) == 12  # each in one task only
        dead = await read_to_end(kafka_bootstrap, p + "vbp.deadletter")
        assert [r.headers["vbp-source-topic"] for r in dead] == ["vbp.ref.institutions"]
        assert "not carried on this topic" in dead[0].headers["vbp-error"]
        assert loop.health()["deadlettered"] == 1
    finally:
        await admin.close()
        await loop.stop()
        await running


async def test_restart_restores_state_and_a_fenced_producer_commits_nothing(
        kafka_bootstrap: str, topic_prefix: str) -> None:
    """A second worker takes the state from the changelogs, and does not read the shared topics
    again. A producer that took over a task's transactional id fences the worker's: its next
    transaction fails, the task starts again from its last commit, and nothing doubles."""
    p = topic_prefix
    first = [order(n, BY_PARTITION[0][0], 5) for n in range(10)]
    await send_at(kafka_bootstrap, p + "vbp.orders", first, int(time.time() * 1000))
    key = f"{BY_PARTITION[0][0]}-{PRODUCT}"
    loop = processor(kafka_bootstrap, p)
    running = asyncio.create_task(loop.run())
    await data(kafka_bootstrap, p + "vbp.quota.progress",
               lambda ps: latest_totals(ps).get(key) == 50)
    await loop.stop()
    await running

    again = processor(kafka_bootstrap, p)
    running = asyncio.create_task(again.run())
    try:
        await eventually(lambda: 0 in again.tasks, "task 0 restored")
        intruder = TaskProducer(kafka_bootstrap, f"{p}loop-task-0")
        await intruder.start()  # fences the worker's producer of task 0
        await send_at(kafka_bootstrap, p + "vbp.orders",
                      [order(n, BY_PARTITION[0][0], 5) for n in range(10, 14)],
                      int(time.time() * 1000))
        progress = await data(kafka_bootstrap, p + "vbp.quota.progress",
                              lambda ps: latest_totals(ps).get(key) == 70)
        assert max(r["ordered_quantity"] for r in progress) == 70
        assert again.counts["aborted"] >= 1
        await intruder.stop()
    finally:
        await again.stop()
        await running


async def test_a_commit_sends_its_records_in_batches_where_send_would_put_them(
        kafka_bootstrap: str, topic_prefix: str) -> None:
    """TaskProducer.commit builds one batch per partition: keyed records land in the partition
    Kafka's default partitioner gives their key, each partition's in the order given, and
    records too many for one batch (1 MiB) go in several, all in the one transaction."""
    topic = topic_prefix + "vbp.warnings"
    keyed = [Record(topic, f"H{n:05d}".encode(), f"keyed {n}".encode(), timestamp_ms=1000 + n)
             for n in range(40)]
    big = [Record(topic, b"big", bytes([65 + n]) * 400_000, partition=2) for n in range(4)]
    producer = TaskProducer(kafka_bootstrap, f"{topic_prefix}batches")
    await producer.start()
    try:
        await producer.commit([*keyed[:20], *big, *keyed[20:]], {}, f"{topic_prefix}group")
    finally:
        await producer.stop()
    records = await read(kafka_bootstrap, topic, until=lambda rs: len(rs) == 44)
    assert len(records) == 44
    partitions = TOPICS["vbp.warnings"].partitions
    got = {r.value: r for r in records}
    for sent in keyed:
        assert got[sent.value].partition == partition_of(sent.key.decode(), partitions)
    for partition in range(partitions):
        in_order = [r.value for r in sorted(records, key=lambda r: r.offset)
                    if r.partition == partition]
        assert in_order == [r.value for r in [*keyed[:20], *big, *keyed[20:]]
                            if got[r.value].partition == partition]
    assert [got[r.value].partition for r in big] == [2] * 4


def spawn(bootstrap: str, prefix: str, log: Path, worker: str = "1") -> subprocess.Popen[bytes]:
    env = {"VBP_KAFKA_BOOTSTRAP": bootstrap, "VBP_TOPIC_PREFIX": prefix,
           "VBP_APP_ID": prefix + "crash", "VBP_WORKER_ID": worker, "PATH": "/usr/bin:/bin"}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tests.loop_app"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def orders_round(start: int, count: int, expected: dict[str, int]) -> list[tuple[str, bytes]]:
    batch = []
    for n in range(start, start + count):
        inst = INSTITUTIONS[n % 8]
        batch.append(order(n, inst, 1 + n % 7))
        expected[f"{inst}-{PRODUCT}"] = expected.get(f"{inst}-{PRODUCT}", 0) + 1 + n % 7
    return batch


def highest(progress: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in progress:
        out[r["agreement_id"]] = max(out.get(r["agreement_id"], 0), r["ordered_quantity"])
    return out


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


async def test_a_paused_worker_is_fenced_when_it_wakes(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """The zombie: a worker paused (SIGSTOP) past its session while another takes its tasks,
    then resumed, finds its producers fenced: what it handled meanwhile is never committed,
    and nothing is lost or doubled."""
    p, expected = topic_prefix, {}
    zombie = spawn(kafka_bootstrap, p, tmp_path / "zombie.log", worker="1")
    heir = None
    try:
        await send_at(kafka_bootstrap, p + "vbp.orders", orders_round(0, 400, expected),
                      int(time.time() * 1000))
        await data(kafka_bootstrap, p + "vbp.quota.progress",
                   lambda ps: latest_totals(ps) == expected)
        zombie.send_signal(signal.SIGSTOP)
        await send_at(kafka_bootstrap, p + "vbp.orders", orders_round(400, 400, expected),
                      int(time.time() * 1000))
        heir = spawn(kafka_bootstrap, p, tmp_path / "heir.log", worker="2")
        await data(kafka_bootstrap, p + "vbp.quota.progress",
                   lambda ps: latest_totals(ps) == expected, timeout=90)
        zombie.send_signal(signal.SIGCONT)
        await send_at(kafka_bootstrap, p + "vbp.orders", orders_round(800, 400, expected),
                      int(time.time() * 1000))
        progress = await data(kafka_bootstrap, p + "vbp.quota.progress",
                              lambda ps: latest_totals(ps) == expected, timeout=90)
        logs = (tmp_path / "zombie.log").read_text() + (tmp_path / "heir.log").read_text()
        assert latest_totals(progress) == expected, logs[-3000:]
        assert highest(progress) == expected, logs[-3000:]
    finally:
        zombie.send_signal(signal.SIGCONT)
        stop(zombie)
        if heir is not None:
            stop(heir)


async def test_sigkilled_workers_lose_and_double_nothing(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """3,000 orders over 8 keys while the worker is SIGKILLed three times: the totals the last
    worker publishes are exact, and no committed progress ever exceeded them."""
    p, log = topic_prefix, tmp_path / "worker.log"
    expected: dict[str, int] = {}
    worker = spawn(kafka_bootstrap, p, log)
    try:
        for round_ in range(4):
            await send_at(kafka_bootstrap, p + "vbp.orders",
                          orders_round(round_ * 750, 750, expected), int(time.time() * 1000))
            if round_ < 3:
                await asyncio.sleep(1.5 + round_)
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                worker = spawn(kafka_bootstrap, p, log)
        progress = await data(kafka_bootstrap, p + "vbp.quota.progress",
                              lambda ps: latest_totals(ps) == expected, timeout=120)
        assert latest_totals(progress) == expected, log.read_text()[-3000:]
        assert highest(progress) == expected  # nothing counted twice, even for a moment
    finally:
        stop(worker)
