"""Prove a Kafka broker works for VBP Monitor with the client stack we use (aiokafka 0.14).

Usage:
    python deploy/check_broker.py --bootstrap 127.0.0.1:9092 [--restart-broker] [--keep]

Prints one PASS/FAIL line per check and exits non-zero if any check fails. Every run uses
fresh topic and group names (suffix from a random run id) and deletes its topics at the end
unless --keep is given. With --restart-broker, the consumer-group check also restarts the broker
(deploy/kafka.sh stop/start on the bootstrap port) between the two consumer generations, so the
committed offsets must survive a broker restart, not only a consumer restart. The consumer side
of the fault tests needs nothing else from the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, NodeNotReadyError, ProducerFenced
from aiokafka.protocol.api import Request

DEPLOY_DIR = Path(__file__).resolve().parent
CHECK_TIMEOUT_S = 90.0

# Which request version aiokafka picked for each API (it takes the highest version it knows
# within the broker's advertised range). Recorded by wrapping Request.prepare.
USED_VERSIONS: dict[str, set[int]] = collections.defaultdict(set)
_original_prepare = Request.prepare


def _recording_prepare(self, versions):  # type: ignore[no-untyped-def]
    struct = _original_prepare(self, versions)
    USED_VERSIONS[type(self).__name__].add(struct.API_VERSION)
    return struct


Request.prepare = _recording_prepare  # type: ignore[method-assign]


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Checker:
    def __init__(
        self, bootstrap: str, restart_broker: bool, replication_factor: int, keep: bool
    ) -> None:
        self.keep = keep
        self.bootstrap = bootstrap
        self.replication_factor = replication_factor
        self.restart_broker = restart_broker
        self.run_id = uuid.uuid4().hex[:8]
        self.admin: AIOKafkaAdminClient | None = None
        self.topics: list[str] = []
        self.results: list[tuple[str, bool, str]] = []

    def name(self, suffix: str) -> str:
        return f"vbp-check-{self.run_id}-{suffix}"

    # -- helpers -------------------------------------------------------------------------

    async def new_admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30000)
        await admin.start()
        return admin

    async def create_topic(
        self, suffix: str, partitions: int, configs: dict[str, str] | None = None
    ) -> str:
        configs = configs or {}
        assert self.admin is not None
        topic = self.name(suffix)
        new_topic = NewTopic(topic, partitions, self.replication_factor, topic_configs=configs)
        deadline = time.monotonic() + 40
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await asyncio.wait_for(self.admin.create_topics([new_topic]), 10)
                break
            except (TimeoutError, NodeNotReadyError) as exc:
                # aiokafka's admin sends CreateTopics to the "controller" named in its cached
                # metadata (in KRaft: some broker) and does not retry: right after a broker
                # died it may pick that one and fail (NodeNotReady) or hang until
                # request_timeout_ms. Fresh client, fresh metadata, try again.
                expect(time.monotonic() < deadline, f"create_topics({topic}): {exc!r}")
                await self.admin.close()
                await asyncio.sleep(1)
                self.admin = await self.new_admin()
        for error in response.topic_errors:
            # (name, error_code, error_message); 36 = already exists (an earlier attempt won)
            ok = error[1] == 0 or (error[1] == 36 and attempt > 1)
            expect(ok, f"create_topics({topic}) failed: {error}")
        self.topics.append(topic)
        await self.wait_topic(topic, partitions)
        return topic

    async def wait_topic(self, topic: str, partitions: int) -> None:
        assert self.admin is not None
        deadline = time.monotonic() + 30
        while True:
            described = await self.admin.describe_topics([topic])
            parts = described[0]["partitions"] if described else []
            if (
                described
                and described[0]["error_code"] == 0
                and len(parts) == partitions
                and all(p["leader"] >= 0 for p in parts)
            ):
                return
            expect(time.monotonic() < deadline, f"topic {topic} has no leaders after 30 s")
            await asyncio.sleep(0.1)

    def producer(self, **kwargs: object) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=self.bootstrap, **kwargs)

    def consumer(self, *topics: str, **kwargs: object) -> AIOKafkaConsumer:
        kwargs.setdefault("auto_offset_reset", "earliest")
        kwargs.setdefault("enable_auto_commit", False)
        return AIOKafkaConsumer(*topics, bootstrap_servers=self.bootstrap, **kwargs)

    async def read_all(
        self,
        topic: str,
        partitions: int,
        isolation_level: str = "read_uncommitted",
        want: int = 0,
    ) -> list[bytes]:
        """Values of a topic from the beginning: until `want` values were read, then whatever
        else arrives in the next 0.5 s (so extra records are caught too).

        commit_transaction() returns once the coordinator has logged the commit; the markers
        that move the LSO are written to the partitions afterwards, so a read_committed reader
        may see a just-committed transaction only a few ms later. Hence no "read to the end
        offsets" here.
        """
        consumer = self.consumer(isolation_level=isolation_level)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            values: list[bytes] = []
            deadline = time.monotonic() + 15
            quiet_until = None
            while True:
                now = time.monotonic()
                if len(values) >= want and quiet_until is None:
                    quiet_until = now + 0.5
                if quiet_until is not None and now >= quiet_until:
                    return values
                expect(now < deadline, f"read {len(values)} of {want} records from {topic}")
                batch = await consumer.getmany(timeout_ms=100)
                for records in batch.values():
                    values.extend(r.value for r in records)
        finally:
            await consumer.stop()

    async def group_offsets(
        self, group: str, expected: dict[int, int], wait_s: float = 10.0
    ) -> tuple[dict[int, int], float]:
        """Committed offsets of a group, polled until they equal `expected` or wait_s passes.

        Transactional offsets become visible only once the coordinator has written the commit
        markers, which happens after EndTxn returned. aiokafka fetches with OffsetFetch v3
        (no KIP-447 require_stable), so a fetch in between silently returns the old offsets.
        """
        assert self.admin is not None
        t0 = time.monotonic()
        while True:
            committed = await self.admin.list_consumer_group_offsets(group)
            got = {tp.partition: m.offset for tp, m in committed.items()}
            if got == expected or time.monotonic() - t0 > wait_s:
                return got, time.monotonic() - t0
            await asyncio.sleep(0.005)

    async def run(self, label: str, check: Callable[[], Awaitable[str]]) -> None:
        t0 = time.monotonic()
        try:
            detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
            ok = True
        except (TimeoutError, CheckFailed, KafkaError, AssertionError) as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - report anything, keep checking
            ok, detail = False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        elapsed = time.monotonic() - t0
        self.results.append((label, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'} {label} ({elapsed:.2f}s): {detail}", flush=True)

    # -- checks --------------------------------------------------------------------------

    async def check_admin_topics(self) -> str:
        plain = await self.create_topic("plain", 3)
        compacted = await self.create_topic(
            "compacted",
            2,
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01"},
        )
        assert self.admin is not None
        responses = await self.admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, compacted)]
        )
        entries = {}
        for response in responses:
            for resource in response.resources:
                expect(resource[0] == 0, f"describe_configs error: {resource}")
                for entry in resource[4]:
                    entries[entry[0]] = entry[1]
        expect(
            entries.get("cleanup.policy") == "compact",
            f"cleanup.policy is {entries.get('cleanup.policy')!r}",
        )
        expect(entries.get("min.cleanable.dirty.ratio") == "0.01", "min.cleanable.dirty.ratio")
        listed = set(await self.admin.list_topics())
        expect({plain, compacted} <= listed, "created topics missing from list_topics")
        # auto.create.topics.enable=false on our broker: metadata for an unknown topic must not
        # create it (informational: another broker may allow it).
        missing = self.name("never-created")
        await self.admin.describe_topics([missing])
        auto_created = missing in set(await self.admin.list_topics())
        if auto_created:
            self.topics.append(missing)
        return (
            f"created {plain} (3p) and {compacted} (cleanup.policy={entries['cleanup.policy']}); "
            f"auto-create on metadata request: {'yes' if auto_created else 'no'}"
        )

    async def check_produce_consume(self) -> str:
        topic = self.name("plain")
        producer = self.producer(acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for i in range(30):
                await producer.send(topic, f"v{i}".encode(), key=f"k{i % 5}".encode())
            await producer.flush()
        finally:
            await producer.stop()
        values = await self.read_all(topic, 3, want=30)
        expect(len(values) == 30, f"read {len(values)} of 30 records")
        expect(sorted(values) == sorted(f"v{i}".encode() for i in range(30)), "values differ")
        # Compacted topic: produce/consume with keys and a tombstone.
        compacted = self.name("compacted")
        producer = self.producer(acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(compacted, b"1", key=b"a")
            await producer.send_and_wait(compacted, b"2", key=b"a")
            await producer.send_and_wait(compacted, None, key=b"a")
        finally:
            await producer.stop()
        got = await self.read_all(compacted, 2, want=3)
        expect(len(got) == 3, f"compacted topic returned {len(got)} records")
        return (
            "30 records over 3 partitions (idempotent producer, acks=all); "
            "3 keyed records on the compacted topic"
        )

    async def _wait_assignment(self, consumers: list[AIOKafkaConsumer], sizes: list[int]) -> None:
        """Drive the consumers until their assignments have the given sizes."""
        deadline = time.monotonic() + 60
        while [len(c.assignment()) for c in consumers] != sizes:
            expect(
                time.monotonic() < deadline,
                f"assignment sizes {[len(c.assignment()) for c in consumers]} != {sizes}",
            )
            await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers))

    async def check_consumer_group(self) -> str:
        topic = await self.create_topic("group", 4)
        group = self.name("group")
        a = self.consumer(topic, group_id=group, client_id="member-a")
        b = self.consumer(topic, group_id=group, client_id="member-b")
        await a.start()
        try:
            await self._wait_assignment([a], [4])
            await b.start()
            try:
                await self._wait_assignment([a, b], [2, 2])
                parts_a = {tp.partition for tp in a.assignment()}
                parts_b = {tp.partition for tp in b.assignment()}
                expect(not parts_a & parts_b, "members share a partition")
                producer = self.producer(acks="all")
                await producer.start()
                try:
                    for i in range(40):
                        await producer.send(topic, f"m{i}".encode(), partition=i % 4)
                    await producer.flush()
                finally:
                    await producer.stop()
                seen: dict[str, list[tuple[int, bytes]]] = {"a": [], "b": []}
                deadline = time.monotonic() + 30
                while len(seen["a"]) + len(seen["b"]) < 40:
                    expect(time.monotonic() < deadline, f"consumed {seen} of 40")
                    batches = await asyncio.gather(
                        a.getmany(timeout_ms=200), b.getmany(timeout_ms=200)
                    )
                    for who, batch in zip(("a", "b"), batches, strict=True):
                        for records in batch.values():
                            seen[who].extend((r.partition, r.value) for r in records)
                expect({p for p, _ in seen["a"]} == parts_a, "member a read foreign partitions")
                expect({p for p, _ in seen["b"]} == parts_b, "member b read foreign partitions")
                expect(len(seen["a"]) == len(seen["b"]) == 20, "uneven split")
                await a.commit()
                await b.commit()
            finally:
                await b.stop()
        finally:
            await a.stop()

        assert self.admin is not None
        committed = await self.admin.list_consumer_group_offsets(group)
        offsets = {tp.partition: meta.offset for tp, meta in committed.items()}
        expect(offsets == {p: 10 for p in range(4)}, f"committed offsets {offsets}")

        restarted = ""
        if self.restart_broker:
            await self.admin.close()
            self.admin = None
            port = self.bootstrap.split(",")[0].rsplit(":", 1)[1]
            t0 = time.monotonic()
            for cmd in ("stop", "start"):
                subprocess.run(
                    ["bash", str(DEPLOY_DIR / "kafka.sh"), cmd, "--port", port],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            restarted = f"; broker restarted in {time.monotonic() - t0:.1f}s"
            self.admin = await self.new_admin()

        # A new generation of the group must resume from the committed offsets.
        producer = self.producer(acks="all")
        await producer.start()
        try:
            for i in range(8):
                await producer.send(topic, f"n{i}".encode(), partition=i % 4)
            await producer.flush()
        finally:
            await producer.stop()
        c = self.consumer(topic, group_id=group, client_id="member-c")
        await c.start()
        try:
            got: list[bytes] = []
            deadline = time.monotonic() + 30
            while len(got) < 8:
                expect(time.monotonic() < deadline, f"after restart consumed {got}")
                batch = await c.getmany(timeout_ms=200)
                for records in batch.values():
                    got.extend(r.value for r in records)
            batch = await c.getmany(timeout_ms=500)
            got.extend(r.value for records in batch.values() for r in records)
            expect(sorted(got) == sorted(f"n{i}".encode() for i in range(8)), f"got {got}")
        finally:
            await c.stop()
        return (
            f"members split partitions {sorted(parts_a)}/{sorted(parts_b)}, 20 records each, "
            f"committed 10/partition; new member resumed with exactly the 8 new records{restarted}"
        )

    async def check_transactions(self) -> str:
        topic = await self.create_topic("txn", 2)
        producer = self.producer(transactional_id=self.name("txn-producer"))
        await producer.start()
        try:
            async with producer.transaction():
                await producer.send(topic, b"c1", partition=0)
                await producer.send(topic, b"c2", partition=1)
            await producer.begin_transaction()
            await producer.send(topic, b"a1", partition=0)
            await producer.send(topic, b"a2", partition=1)
            await producer.flush()
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send(topic, b"c3", partition=0)
        finally:
            await producer.stop()
        committed = sorted(await self.read_all(topic, 2, "read_committed", want=3))
        uncommitted = sorted(await self.read_all(topic, 2, "read_uncommitted", want=5))
        expect(committed == [b"c1", b"c2", b"c3"], f"read_committed saw {committed}")
        expect(
            uncommitted == [b"a1", b"a2", b"c1", b"c2", b"c3"],
            f"read_uncommitted saw {uncommitted}",
        )
        return "read_committed saw c1,c2,c3 only; read_uncommitted also saw aborted a1,a2"

    async def check_send_offsets(self) -> str:
        src = await self.create_topic("tx-in", 2)
        dst = await self.create_topic("tx-out", 1)
        group = self.name("tx-group")
        producer = self.producer(acks="all")
        await producer.start()
        try:
            for i in range(10):
                await producer.send(src, f"e{i}".encode(), partition=i % 2)
            await producer.flush()
        finally:
            await producer.stop()

        consumer = self.consumer(src, group_id=group, isolation_level="read_committed")
        txp = self.producer(transactional_id=self.name("tx-processor"))
        await consumer.start()
        await txp.start()
        assert self.admin is not None
        try:
            # Committed transaction: outputs and input offsets become visible atomically.
            records = []
            deadline = time.monotonic() + 30
            while len(records) < 10:
                expect(time.monotonic() < deadline, f"read {len(records)} of 10 inputs")
                batch = await consumer.getmany(timeout_ms=200)
                records.extend(r for rs in batch.values() for r in rs)
            offsets = {}
            async with txp.transaction():
                for r in records:
                    await txp.send(dst, r.value.upper(), partition=0)
                    offsets[TopicPartition(r.topic, r.partition)] = r.offset + 1
                await txp.send_offsets_to_transaction(offsets, group)
            got, lag = await self.group_offsets(group, {0: 5, 1: 5})
            expect(got == {0: 5, 1: 5}, f"group offsets after commit {got}")

            # Aborted transaction: neither the output nor the offsets may become visible.
            await txp.begin_transaction()
            await txp.send(dst, b"ABORTED", partition=0)
            await txp.send_offsets_to_transaction({TopicPartition(src, 0): 6}, group)
            await txp.abort_transaction()
            await asyncio.sleep(0.5)  # let the abort markers land before looking
            got, _ = await self.group_offsets(group, {0: 5, 1: 5}, wait_s=0)
            expect(got == {0: 5, 1: 5}, f"group offsets after abort {got}")
        finally:
            await txp.stop()
            await consumer.stop()
        out = await self.read_all(dst, 1, "read_committed", want=10)
        expect(
            sorted(out) == sorted(f"E{i}".encode() for i in range(10)),
            f"read_committed output {out}",
        )
        return (
            "consume-transform-produce: committed txn moved group offsets to 5/5 with 10 outputs "
            f"(offsets visible {lag * 1000:.0f} ms after commit_transaction returned); "
            "aborted txn changed neither"
        )

    async def check_fencing(self) -> str:
        topic = self.name("txn")
        tid = self.name("fenced")
        old = self.producer(transactional_id=tid)
        new = self.producer(transactional_id=tid)
        await old.start()
        try:
            async with old.transaction():
                await old.send(topic, b"old-ok", partition=0)
            await new.start()  # InitProducerId bumps the epoch: old is now a zombie
            try:
                try:
                    async with old.transaction():
                        await old.send(topic, b"zombie", partition=0)
                except KafkaError as exc:
                    fenced = type(exc).__name__
                else:
                    raise CheckFailed("zombie producer committed after being fenced")
                async with new.transaction():
                    await new.send(topic, b"new-ok", partition=0)
            finally:
                await new.stop()
        finally:
            with contextlib.suppress(KafkaError):
                await old.stop()
        seen = await self.read_all(topic, 2, "read_committed", want=5)
        expect(b"zombie" not in seen and b"new-ok" in seen, f"read_committed saw {seen}")
        return f"second producer with the same transactional_id fenced the first ({fenced})"

    async def main(self) -> int:
        def on_loop_error(loop: asyncio.AbstractEventLoop, context: dict) -> None:
            # A fenced aiokafka producer leaves its sender's future unretrieved; expected here.
            if isinstance(context.get("exception"), ProducerFenced):
                return
            loop.default_exception_handler(context)

        asyncio.get_running_loop().set_exception_handler(on_loop_error)
        print(
            f"aiokafka {aiokafka.__version__}, bootstrap {self.bootstrap}, "
            f"replication factor {self.replication_factor}, run id {self.run_id}",
            flush=True,
        )
        self.admin = await self.new_admin()
        try:
            checks = [
                ("admin: create topics, compacted config applied", self.check_admin_topics),
                ("produce/consume", self.check_produce_consume),
                ("consumer group: 2 members, offsets survive restart", self.check_consumer_group),
                ("transactions: commit + abort, read_committed", self.check_transactions),
                ("send_offsets_to_transaction", self.check_send_offsets),
                ("transactions: zombie fencing", self.check_fencing),
            ]
            for label, check in checks:
                await self.run(label, check)
        finally:
            if self.admin is not None:
                if self.topics and not self.keep:
                    try:
                        await self.admin.delete_topics(self.topics)
                    except KafkaError as exc:
                        print(f"note: deleting topics failed: {exc}")
                await self.admin.close()
        used = ", ".join(
            f"{k.removesuffix('Request')} v{'/'.join(map(str, sorted(v)))}"
            for k, v in sorted(USED_VERSIONS.items())
        )
        print(f"request versions used by aiokafka: {used}")
        failed = [label for label, ok, _ in self.results if not ok]
        print(f"{len(self.results) - len(failed)}/{len(self.results)} checks passed")
        return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--restart-broker",
        action="store_true",
        help="restart the broker (deploy/kafka.sh) inside the consumer-group check",
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="for the topics created (3 on the deploy/kafka.sh cluster)",
    )
    parser.add_argument("--keep", action="store_true", help="do not delete the topics")
    args = parser.parse_args()
    return asyncio.run(
        Checker(args.bootstrap, args.restart_broker, args.replication_factor, args.keep).main()
    )


if __name__ == "__main__":
    sys.exit(main())
