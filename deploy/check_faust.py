"""Smoke-test faust-streaming against a broker started by deploy/kafka.sh.

Usage:
    python deploy/check_faust.py --bootstrap 127.0.0.1:9092 [--guarantee exactly_once]

Creates a keyed source topic (the broker runs with auto.create.topics.enable=false, so topics
must be created explicitly) and an output topic, starts a faust worker in a subprocess (this
same file, in worker mode) with an agent that counts per key in a changelog-backed table and
emits "key:count", produces 20 records, reads the output with read_committed and checks the
counts, and that faust created its changelog topic compacted. SIGTERM stops the worker.
Prints PASS/FAIL; exit status 0 only on PASS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

WORKER_ENV = "VBP_FAUST_CHECK_WORKER"


def worker_main() -> None:
    import faust

    run_id = os.environ["VBP_FAUST_CHECK_RUN"]
    app = faust.App(
        f"vbp-faust-check-{run_id}",
        broker=f"kafka://{os.environ['VBP_FAUST_CHECK_BOOTSTRAP']}",
        store="memory://",
        processing_guarantee=os.environ["VBP_FAUST_CHECK_GUARANTEE"],
        topic_partitions=2,
        topic_replication_factor=int(os.environ["VBP_FAUST_CHECK_RF"]),
        web_enabled=False,
        datadir=os.environ["VBP_FAUST_CHECK_DATADIR"],
    )
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    source = app.topic(f"vbp-faust-check-{run_id}-in", **raw)
    output = app.topic(f"vbp-faust-check-{run_id}-out", **raw)
    counts = app.Table("counts", default=int, partitions=2)

    @app.agent(source)
    async def count(stream):  # type: ignore[no-untyped-def]
        async for key, _value in stream.items():
            name = key.decode()
            counts[name] += 1
            await output.send(key=key, value=f"{name}:{counts[name]}".encode())

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()


async def driver(bootstrap: str, guarantee: str, rf: int) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    run_id = uuid.uuid4().hex[:8]
    src, out = f"vbp-faust-check-{run_id}-in", f"vbp-faust-check-{run_id}-out"
    changelog = f"vbp-faust-check-{run_id}-counts-changelog"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(src, 2, rf), NewTopic(out, 1, rf)])

    env = dict(os.environ)
    env.update(
        {
            WORKER_ENV: "1",
            "VBP_FAUST_CHECK_RUN": run_id,
            "VBP_FAUST_CHECK_BOOTSTRAP": bootstrap,
            "VBP_FAUST_CHECK_GUARANTEE": guarantee,
            "VBP_FAUST_CHECK_RF": str(rf),
        }
    )
    datadir = tempfile.mkdtemp(prefix="vbp-faust-check-")
    env["VBP_FAUST_CHECK_DATADIR"] = datadir
    t0 = time.monotonic()
    # The worker banner and spinner go to stderr so that stdout carries only the result line.
    worker = subprocess.Popen([sys.executable, __file__], env=env, stdout=sys.stderr.fileno())
    ok, detail = False, ""
    try:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(20):
                await producer.send(src, b"x", key=f"k{i % 4}".encode())
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            out,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            values: list[bytes] = []
            deadline = time.monotonic() + 120
            while len(values) < 20 and time.monotonic() < deadline:
                if worker.poll() is not None:
                    break
                batch = await consumer.getmany(timeout_ms=200)
                values.extend(r.value for rs in batch.values() for r in rs)
        finally:
            await consumer.stop()
        elapsed = time.monotonic() - t0
        final = {v.split(b":")[0]: int(v.split(b":")[1]) for v in values}
        topics = set(await admin.list_topics())
        policy = None
        if changelog in topics:
            resource = ConfigResource(ConfigResourceType.TOPIC, changelog)
            res = await admin.describe_configs([resource])
            for response in res:
                for found in response.resources:
                    for entry in found[4]:
                        if entry[0] == "cleanup.policy":
                            policy = entry[1]
        ok = (
            len(values) == 20
            and final == {f"k{i}".encode(): 5 for i in range(4)}
            and policy == "compact"
        )
        detail = (
            f"{len(values)} outputs in {elapsed:.1f}s from worker start, final counts {final}, "
            f"changelog {changelog} cleanup.policy={policy}"
        )
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                detail += "; worker needed SIGKILL"
        detail += f"; worker exit code {worker.returncode}"
        shutil.rmtree(datadir, ignore_errors=True)
        topics = [t for t in await admin.list_topics() if run_id in t]
        await admin.delete_topics(topics)
        await admin.close()
    print(f"{'PASS' if ok else 'FAIL'} faust {guarantee}: {detail}", flush=True)
    return 0 if ok else 1


def main() -> int:
    if os.environ.get(WORKER_ENV):
        worker_main()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--guarantee", default="at_least_once", choices=["at_least_once", "exactly_once"]
    )
    parser.add_argument("--replication-factor", type=int, default=1)
    args = parser.parse_args()
    return asyncio.run(driver(args.bootstrap, args.guarantee, args.replication_factor))


if __name__ == "__main__":
    sys.exit(main())
