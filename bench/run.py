"""`python -m bench`: load the orders topic, then measure how fast it is consumed from offset zero.

1. A broker: --bootstrap, or the project's own (`deploy/kafka.sh start --port 29492`, stopped
   after).
2. The contract's topics under a fresh prefix (runtime.topics.ensure_topics).
3. The load, not timed: the simulator's registry (sim.scenario.Scenario, seed 1, Guizhou, 150
   institutions) sends its reference data (institutions, products, agreements) and then
   --orders `vbp.order.placed` events over the year's agreements (round robin, quantities in
   whole packs, days spread over the year), acks=all, batched.
4. Baselines: bench.baseline in its own process, a bare aiokafka consumer (no group, every
   partition assigned, from the beginning) decoding each order with runtime.codec.decode; then
   Kafka's own ConsumerPerformance on the orders and ProducerPerformance writing as many of the
   same messages (bench.kafka_tools).
5. Ceilings and services, each started as a module after the load is on the topic: faust with a
   decode-only agent (bench.bare_faust), the runtime with a no-op handler (bench.noop), then
   each of --services (quota, supply, settlement: `python -m services.<name>`), again per
   --variant and with each --workers count above 1 (scale-out: workers in one group,
   VBP_WORKER_ID 1..N; supply, one worker by design, is not scaled out) and, with --before,
   as it was at an earlier git revision (a worktree of it). Timed
   from the spawn until the group's committed offsets on vbp.orders reach the end offsets,
   and for settlement also on vbp.quota.progress, which the quota rows before it wrote: its
   events are the records of both (polled every 0.5 s; faust commits every few seconds, so
   short runs overstate the time); the rate (sustained) counts from the worker's "Ready" in
   its log, the startup before it is a column of its own.
   CPU from /proc/<pid>/stat, peak RSS from VmHWM, read when it has caught up, summed over
   the workers.
6. End to end: quota, caught up, gets the tick that ends the agreements' first quarter, timed
   from its send to each quarterly-completion warning it causes (warnings come from ticks, not
   from orders); then new orders at each fixed rate (--rates) for --rate-seconds, latency from
   each order's send to the production of the first vbp.quota.progress naming it,
   p50/p95/p99, up to the first rate not kept up with.
7. Memory (--agreements): quota with N agreements and no orders (memory_rows).
8. Province-years (--years, --institutions): the simulated year, orders, deliveries, payments
   and ticks, through every service at once (bench.year).
9. A table on stdout and a Markdown report in --results (default bench/results/).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bench.kafka_tools import consumer_perf, producer_perf
from bench.procfs import cpu_seconds, peak_rss_kb
from bench.txn_copy import COPIES_TOPIC
from bench.year import POLL_SECONDS, Year, replay, year_table
from deploy import broker
from runtime.codec import CONTENT_TYPE
from runtime.topics import ensure_topics
from schemas.envelope import CloudEvent, new_event
from schemas.topics import TOPICS, key_of, topic_name
from tests.harness import free_port

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BENCH_PORT = 29492
ORDERS = "vbp.orders"
KAFKA_PERF_TOPIC = "bench.kafka-perf"  # ProducerPerformance's, beside the contract's topics


@dataclass
class Row:
    name: str
    events: int
    seconds: float
    cpu_seconds: float
    peak_rss_kb: int
    startup_seconds: float | None = None
    profile: list[tuple[str, float, float]] | None = None  # (frame, inclusive %, self %)
    latency: list[Latency] | None = None  # end to end at fixed rates, after the catch-up
    tick: TickLatency | None = None  # a quarter's end to its warnings, after the catch-up
    written: int | None = None  # offsets its workers added to other topics while catching up
    copies_of: str | None = None  # a copy ceiling: the row whose writes per input it copies

    @property
    def rate(self) -> float:
        """Sustained: events per second from the worker's ready (after startup) to caught up."""
        reading = self.seconds - (self.startup_seconds or 0.0)
        return self.events / reading if reading > 0 else 0.0

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_seconds * 1000 / self.events if self.events else 0.0


# -- broker --------------------------------------------------------------------------------------

# -- load ----------------------------------------------------------------------------------------

def load_events(orders: int, seed: int = 1):
    """(topic, key, value) of the reference data and then `orders` order events."""
    scenario = _scenario(seed)
    for item in scenario.reference():
        yield item.topic, item.key, item.event.to_json_bytes()
    yield from order_events(scenario, orders, "bench-ord", random.Random(f"{seed}:bench-orders"))


def _scenario(seed: int):
    from sim.config import SimConfig
    from sim.scenario import Scenario

    return Scenario(SimConfig(seed=seed, faults=frozenset()))


def _order_id(id_prefix: str, n: int) -> str:
    return f"{id_prefix}-{n:08d}"


def order_events(scenario, orders: int, id_prefix: str, rng: random.Random):
    """(topic, key, value) of `orders` vbp.order.placed over the year's agreements (round robin,
    quantities in whole packs, days spread over the year), ids `<id_prefix>-<n>`."""
    from sim.scenario import _money, _time

    agreements = scenario.registry.agreements
    first, days = scenario.first, (scenario.last - scenario.first).days + 1
    per_day: dict[int, int] = {}
    for n in range(orders):
        a = agreements[n % len(agreements)]
        day_index = n * days // orders
        day = first + timedelta(days=day_index)
        per_day[day_index] = seq = per_day.get(day_index, 0) + 1
        pack = a.product.generic.pack
        order_id = _order_id(id_prefix, n)
        event = new_event("vbp.order.placed", {
            "order_id": order_id, "institution_id": a.institution.institution_id,
            "product_code": a.product.code, "quantity": pack * rng.randint(1, 40),
            "unit_price": _money(a.product.offer.price),
            "distributor_id": a.distributor_ids[0],
        }, id=order_id, source=scenario.platform, time=_time(day, 8 + seq % 10, seq % 1800),
            province=scenario.province)
        key = key_of(event)
        event = event.model_copy(update={"subject": key})
        yield ORDERS, key, event.to_json_bytes()


def agreement_events(scenario, count: int):
    """(topic, key, value) of the scenario's institutions and products, then `count` agreements
    made from its own: each of its products agreed in turn by synthetic institutions
    (H9..., count / products of them), so the codes, prices and periods are the registry's."""
    templates: dict[str, CloudEvent] = {}
    for item in scenario.reference():
        if item.event.type == "vbp.agreement.signed":
            templates.setdefault(item.event.data.product_code, item.event)
        else:
            yield item.topic, item.key, item.event.to_json_bytes()
    products = sorted(templates)
    for n in range(count):
        template = templates[products[n % len(products)]]
        data = {**template.data.model_dump(mode="json"),
                "agreement_id": f"AGR-BENCH-{n:07d}",
                "institution_id": f"H9{n // len(products):010d}"}
        event = new_event("vbp.agreement.signed", data, id=f"agr-bench-{n}",
                          source=template.source, time=template.time,
                          province=template.province)
        key = key_of(event)
        yield "vbp.ref.agreements", key, event.model_copy(update={"subject": key}).to_json_bytes()


async def produce(bootstrap: str, prefix: str, items) -> int:
    """Send (topic, key, value) items under `prefix`; how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, enable_idempotence=True)
    await producer.start()
    headers = [("content-type", CONTENT_TYPE.encode())]
    pending = []
    sent = 0
    try:
        for topic, key, value in items:
            pending.append(await producer.send(topic_name(topic, prefix), value=value,
                                               key=key.encode(), headers=headers))
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


# -- measurements --------------------------------------------------------------------------------

def run_baseline(bootstrap: str, prefix: str, orders: int, timeout: float) -> Row:
    done = subprocess.run(
        [sys.executable, "-m", "bench.baseline", "--bootstrap", bootstrap,
         "--topic", topic_name(ORDERS, prefix), "--count", str(orders),
         "--timeout", str(timeout)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout + 60)
    if done.returncode != 0:
        raise RuntimeError(f"baseline failed:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Row("bare aiokafka + decode", int(figures["events"]), figures["seconds"],
               figures["cpu_seconds"], int(figures["peak_rss_kb"]))


async def _lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str,
               partitions: list[TopicPartition],
               ends: dict[TopicPartition, int] | None = None) -> int:
    """The group's lag behind `ends` (default: the end offsets); never below zero per
    partition, since a group may commit past the transaction markers after a last record."""
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    except KafkaError:  # no coordinator yet (a fresh broker creates __consumer_offsets lazily)
        return -1
    ends = ends or await consumer.end_offsets(partitions)
    return sum(max(0, ends[tp] - (committed[tp].offset if tp in committed
                                  and committed[tp].offset >= 0 else 0)) for tp in partitions)


async def _records_on(bootstrap: str, partitions: list[TopicPartition]
                      ) -> tuple[int, dict[TopicPartition, int]]:
    """How many records `partitions` hold and, per partition, the offset after its last one:
    a topic written in transactions ends in a marker, which no consumer is handed and not every
    group commits past (faust's does not)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        after_last = {tp: 0 for tp in partitions}
        count = 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for tp, messages in (await consumer.getmany(timeout_ms=1000,
                                                        max_records=10_000)).items():
                count += len(messages)
                after_last[tp] = messages[-1].offset + 1
        return count, after_last
    finally:
        await consumer.stop()


async def _behind(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str,
                  partitions: list[TopicPartition], health_urls: list[str],
                  ends: dict[TopicPartition, int] | None = None) -> int:
    """What the run has not handled yet (-1: not known): the group's lag, and for a worker with
    a /health (a service, the runtime's ceiling) only on the inputs its group reads, plus what
    its tasks have not handled of the inputs they read whole (`shared_behind`, the processing
    core's: supply reads the orders that way)."""
    group_topics: set[str] | None = None
    shared = 0
    for url in health_urls:
        try:
            health = httpx.get(f"{url}/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return -1
        if health.get("shared_behind", 0) < 0:
            return -1
        shared += health.get("shared_behind", 0)
        group_topics = (group_topics or set()) | set(health.get("inputs", []))
    if group_topics is not None:
        partitions = [tp for tp in partitions if tp.topic in group_topics]
    lag = await _lag(admin, consumer, group, partitions, ends) if partitions else 0
    return -1 if lag < 0 else lag + shared


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in f"-{label}") if label else ""


def _variant(text: str) -> tuple[str, dict[str, str]]:
    """`LABEL:VAR=VALUE[,VAR=VALUE...]` (--variant)."""
    label, _, assignments = text.partition(":")
    env = dict(a.split("=", 1) for a in assignments.split(",") if "=" in a)
    if not label or not env:
        raise argparse.ArgumentTypeError(f"expected LABEL:VAR=VALUE, got {text!r}")
    return label, env


OWN_CODE = ("services/", "runtime/", "schemas/", "policies/")


def hottest(folded: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """From py-spy's raw output (one `frame;...;frame count` line per distinct stack of a busy
    thread): the `top` frames by share of samples as the innermost frame (self), then the `top`
    frames of the project's own code by share of samples with them on the stack (inclusive);
    each as (frame, inclusive %, self %)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
    if not total:
        return []
    by_self = sorted(own, key=lambda f: -own[f])[:top]
    ours = [f for f in sorted(inclusive, key=lambda f: -inclusive[f])
            if any(part in f for part in OWN_CODE) and ".venv" not in f and f not in by_self]
    return [(f, 100 * inclusive[f] / total, 100 * own.get(f, 0) / total)
            for f in by_self + ours[:top]]


# What bench.run measures as a service: its name (group, web port variable), row name and module.
SERVICES = {"quota": ("service quota", "services.quota"),
            "supply": ("service supply", "services.supply"),
            "settlement": ("service settlement", "services.settlement")}
SINGLE_WORKER = {"supply"}  # its rules read every partition in one worker (services/supply)
# what a service reads besides the orders: settlement, quota's progress (the quota rows' before it)
ALSO_READS = {"settlement": ["vbp.quota.progress"]}
LATENCY_OF = "quota"  # latency_at times the orders' progress updates, which quota sends
# the progress subject of an order where outputs are coalesced per key and batch (latency_at)
LATENCY_SUBJECT: dict[str, Callable[[dict], str]] = {
    "total": lambda order: f"{order['institution_id']}:{order['product_code']}"}
CEILINGS = {"bare_faust": ("bare faust agent + decode", "bench.bare_faust"),
            "noop": ("runtime, no-op handler", "bench.noop"),
            "txn_copy": ("bare aiokafka + decode, writing in transactions", "bench.txn_copy"),
            "quix": ("quix-streams: running total, state, exactly-once", "bench.quix_total"),
            # after its peer: the orders its latency run sends are read by every row after it
            "total": ("runtime core: running total, state, exactly-once", "bench.total")}
# Peers run from a venv of their own, so that their dependencies never meet the project's.
PEERS = {"quix": ("quixstreams==3.28.1",)}
PEERS_VENV = REPO / ".cache" / "peers"


def peer_python(name: str) -> str:
    """The interpreter that runs ceiling `name`: the project's, or the peers' venv (made and
    filled here on first use)."""
    if name not in PEERS:
        return sys.executable
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *PEERS[name]], check=True)
    return str(python)


async def run_service(name: str, bootstrap: str, prefix: str, workdir: Path, timeout: float,
                      profile: Path | None = None,
                      variant: tuple[str, dict[str, str]] = ("", {}),
                      rates: list[int] | None = None, rate_seconds: float = 20.0,
                      workers: int = 1, until: tuple[list[tuple[str, int]], int] | None = None,
                      code: Path = REPO) -> Row:
    """`profile`: sample the (first) worker with py-spy into this file. `variant`: a label and
    the environment that sets it apart (--variant), e.g. a setting before a change. `rates`:
    once caught up, measure end-to-end latency at each of these input rates, up to the first it
    does not keep up with. `workers`: processes in the service's group, each with its own
    VBP_WORKER_ID; their CPU and peak RSS are summed. `until`: the (topic, partitions) whose
    committed offsets must reach their ends and the number of events the row counts (default:
    the orders topic and ALSO_READS, every record on them). `code`: the checkout whose modules run
    (--before)."""
    label, variant_env = variant
    title, module = {**SERVICES, **CEILINGS}[name]
    if workers > 1:
        label = ", ".join(filter(None, [label, f"{workers} workers"]))
    row_name = title + (f" ({label})" if label else "")
    run_id = f"{name}{_slug(label)}"  # its group, log and state apart from other variants
    group = f"{prefix}vbp-{run_id}"
    topics, events = until or ([(topic_name(topic, prefix), TOPICS[topic].partitions)
                                for topic in [ORDERS, *ALSO_READS.get(name, [])]], 0)
    partitions = [TopicPartition(topic, p) for topic, count in topics for p in range(count)]
    ends = None
    if until is None:  # every record on its inputs, those of an earlier end-to-end run included
        events, ends = await _records_on(bootstrap, partitions)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    logs = [workdir / f"{run_id}-{n}.log" for n in range(1, workers + 1)]
    ports = [free_port() for _ in logs]
    health_urls = [f"http://127.0.0.1:{port}" for port in ports] \
        if name in SERVICES or name == "noop" else []
    processes: list[subprocess.Popen[bytes]] = []
    inputs = {topic for topic, _ in topics}
    written_before = await _written(consumer, prefix, inputs)
    try:
        started = time.monotonic()
        for n, (log_path, port) in enumerate(zip(logs, ports, strict=True), start=1):
            env = {**os.environ, "VBP_KAFKA_BOOTSTRAP": bootstrap, "VBP_TOPIC_PREFIX": prefix,
                   f"VBP_{name.upper()}_WEB_PORT": str(port),
                   "VBP_DATA_DIR": str(workdir / f"{run_id}-{n}-state"),
                   # each run is a group of its own, read from offset zero
                   "VBP_APP_ID": group, "VBP_WORKER_ID": str(n), **variant_env}
            with open(log_path, "ab") as log:
                processes.append(subprocess.Popen([peer_python(name), "-m", module], cwd=code,
                                                  env=env, stdout=log, stderr=subprocess.STDOUT))
        if profile is not None:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record",
                                    "--pid", str(processes[0].pid), "--rate", "100",
                                    "--function", "--nonblocking", "--format", "raw",
                                    "--output", str(profile)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready_at = None
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for process, log_path in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited {process.returncode}:\n"
                                       f"{log_path.read_text(errors='replace')[-4000:]}")
            if ready_at is None and all("Ready" in log_path.read_text(errors="replace")
                                        for log_path in logs):
                ready_at = now
            if ready_at is not None and await _behind(admin, consumer, group, partitions,
                                                      health_urls, ends) == 0:
                break
            if now - started > timeout:
                raise TimeoutError(f"{name} not caught up after {timeout}s; logs {logs}")
        seconds = time.monotonic() - started
        cpu = sum(cpu_seconds(p.pid) for p in processes)
        peak = sum(peak_rss_kb(p.pid) for p in processes)
        written = await _written(consumer, prefix, inputs) - written_before
        hot = None
        if profile is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on the way out
            spy.wait(60)
            hot = hottest(profile)
        tick = None
        if rates is not None and name in SERVICES:  # before the rates, which may leave it behind
            tick = await tick_to_warnings(bootstrap, prefix, wait=max(60.0, rate_seconds))
            print(f"bench: {row_name}, tick {tick.as_of} to its {tick.warnings:,} warnings: "
                  f"first {tick.first:.0f} ms, last {tick.last:.0f} ms", flush=True)
        latencies = []
        for rate in rates or []:
            latencies.append(await latency_at(bootstrap, prefix, rate, rate_seconds,
                                              wait=max(10.0, rate_seconds),
                                              subject_of=LATENCY_SUBJECT.get(name), name=name))
            print(f"bench: {row_name} at {rate:,} orders/s: p99 {latencies[-1].p99:.0f} ms",
                  flush=True)
            if not latencies[-1].kept_up:
                break
        return Row(row_name, events, seconds, cpu, peak,
                   (ready_at - started) if ready_at else None, hot, latencies or None, tick,
                   written)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        await consumer.stop()
        await admin.close()


async def _written(consumer: AIOKafkaConsumer, prefix: str, inputs: set[str]) -> int:
    """The sum of the end offsets of every topic under `prefix` but `inputs`: what a row writes
    (outputs, changelogs, dead letters, and a transaction marker per partition and commit) is
    its difference across the row."""
    cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 (the row's new topics)
    tps = [TopicPartition(topic, p) for topic in cluster.topics()
           if topic.startswith(prefix) and topic not in inputs
           for p in cluster.partitions_for_topic(topic) or ()]
    return sum((await consumer.end_offsets(tps)).values()) if tps else 0


async def copy_ceiling(row: Row, bootstrap: str, prefix: str, workdir: Path,
                       timeout: float) -> Row:
    """bench.txn_copy writing as many messages per input as `row`'s service did (its writes
    over its events), in transactions of the same batch size: the second ceiling of a service
    that writes more than one message per input."""
    per_input = (row.written or 0) / row.events
    copy = await run_service("txn_copy", bootstrap, prefix, workdir, timeout, variant=(
        f"{per_input:.2f} messages per input, as {row.name}",
        {"BENCH_COPIES": f"{per_input:.4f}"}))
    copy.copies_of = row.name
    return copy


# -- end to end ----------------------------------------------------------------------------------

@dataclass
class Latency:
    """One fixed input rate: orders sent, orders whose first progress update came, and the
    time from an order's send to that update's production, in ms."""

    rate: int
    sent: int
    seconds: float
    answered: int
    p50: float
    p95: float
    p99: float

    @property
    def kept_up(self) -> bool:
        return self.answered == self.sent and self.reached >= 0.95 * self.rate

    @property
    def reached(self) -> float:
        """The input rate achieved, orders/s."""
        return self.sent / self.seconds if self.seconds else 0.0


def _percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


async def _reader_at_end(bootstrap: str, prefix: str, base: str) -> AIOKafkaConsumer:
    """A started consumer (no group) on every partition of contract topic `base`, at its end."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              enable_auto_commit=False, fetch_max_wait_ms=10,
                              isolation_level="read_committed")
    await reader.start()
    partitions = [TopicPartition(topic_name(base, prefix), p)
                  for p in range(TOPICS[base].partitions)]
    reader.assign(partitions)
    await reader.seek_to_end(*partitions)
    return reader


async def latency_at(bootstrap: str, prefix: str, rate: int, seconds: float,
                     wait: float, subject_of: Callable[[dict], str] | None = None,
                     name: str = "quota") -> Latency:
    """Send orders at `rate` per second for `seconds` while reading vbp.quota.progress from its
    end, read_committed; an order's latency runs from its send to the arrival of the first
    committed progress update that counts it: the one naming it, or, where `subject_of` maps an
    order to its progress record's subject (outputs coalesced per key and batch, bench.total),
    the first of its subject naming it or an order of the subject sent after it."""
    reader = await _reader_at_end(bootstrap, prefix, "vbp.quota.progress")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    sent_at: dict[str, float] = {}
    latency: dict[str, float] = {}
    waiting: dict[str, list[str]] = {}  # subject -> its orders not yet answered, in send order
    subject_by_order: dict[str, str] = {}
    reading: asyncio.Future[None] | None = None
    id_prefix = f"bench-lat-{name}-{rate}"  # apart from another row's, which a replay reads

    async def read() -> None:
        while True:
            for records in (await reader.getmany(timeout_ms=100)).values():
                now = time.time()
                for record in records:
                    event = json.loads(record.value)
                    cause = event["id"].rsplit(":", 1)[-1]
                    if cause not in sent_at or cause in latency:
                        continue
                    answered = [cause]
                    if subject_of is not None:
                        queue = waiting[subject_by_order[cause]]
                        answered = queue[:queue.index(cause) + 1]
                        del queue[:len(answered)]
                    for order_id in answered:
                        latency[order_id] = now - sent_at[order_id]

    try:
        reading = asyncio.ensure_future(read())
        orders = order_events(_scenario(1), int(rate * seconds), id_prefix,
                              random.Random(f"latency:{rate}"))
        headers = [("content-type", CONTENT_TYPE.encode())]
        started = time.monotonic()
        for n, (topic, key, value) in enumerate(orders):
            due = started + n / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            order_id = _order_id(id_prefix, n)
            if subject_of is not None:
                subject = subject_of(json.loads(value)["data"])
                subject_by_order[order_id] = subject
                waiting.setdefault(subject, []).append(order_id)
            sent_at[order_id] = time.time()
            await producer.send(topic_name(topic, prefix), value=value, key=key.encode(),
                                headers=headers)
        await producer.flush()
        took = time.monotonic() - started
        deadline = time.monotonic() + wait
        while len(latency) < len(sent_at) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        ms = [1000 * v for v in latency.values()]
        return Latency(rate, len(sent_at), took, len(latency), _percentile(ms, 50),
                       _percentile(ms, 95), _percentile(ms, 99))
    finally:
        if reading is not None:
            reading.cancel()
        await producer.stop()
        await reader.stop()


@dataclass
class TickLatency:
    """A quarter's end: from the tick's send to the production of each quarterly-completion
    warning it causes, in ms."""

    as_of: str
    warnings: int
    first: float
    p50: float
    last: float


async def tick_to_warnings(bootstrap: str, prefix: str, wait: float,
                           quiet: float = 5.0) -> TickLatency:
    """Send the tick of the day after the load's agreements end their first quarter (every
    warning in quota is a time-based rule, evaluated on ticks: an order causes none by itself)
    and time each `quota.quarterly_completion` warning it causes, until none came for `quiet`
    seconds."""
    from kernel.periods import agreement_quarters
    from services.quota.rules import QUARTERLY_COMPLETION

    scenario = _scenario(1)
    agreement = scenario.registry.agreements[0]
    first_quarter = agreement_quarters(agreement.period_start, agreement.period_end,
                                       agreement.agreed_quantity, scenario.year)[0]
    tick = scenario.tick(first_quarter.end + timedelta(days=1))
    reader = await _reader_at_end(bootstrap, prefix, "vbp.warnings")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        sent_at = time.time()
        await producer.send_and_wait(topic_name(tick.topic, prefix), tick.event.to_json_bytes(),
                                     key=tick.key.encode(),
                                     headers=[("content-type", CONTENT_TYPE.encode())])
        latencies: list[float] = []
        deadline = time.monotonic() + wait
        last_came = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_came < quiet:
            for records in (await reader.getmany(timeout_ms=100)).values():
                for record in records:
                    if json.loads(record.value)["data"]["rule"] == QUARTERLY_COMPLETION:
                        latencies.append(1000 * (record.timestamp / 1000 - sent_at))
                        last_came = time.monotonic()
        return TickLatency(tick.event.data.as_of.isoformat(), len(latencies),
                           min(latencies, default=math.nan), _percentile(latencies, 50),
                           max(latencies, default=math.nan))
    finally:
        await producer.stop()
        await reader.stop()


def latency_table(rows: list[Latency]) -> str:
    lines = ["| orders/s asked | sent | seconds | answered | p50 ms | p95 ms | p99 ms | kept up |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r.rate:,} | {r.sent:,} | {r.seconds:.1f} | {r.answered:,} | "
                     f"{r.p50:.0f} | {r.p95:.0f} | {r.p99:.0f} | {'yes' if r.kept_up else 'no'} |")
    return "\n".join(lines)


# -- report --------------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    kafka = subprocess.run(["grep", "-m1", "PINNED_KAFKA_VERSION=", str(REPO / "deploy/kafka.sh")],
                           capture_output=True, text=True).stdout.split("=")[-1].strip().strip('"')

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "absent"

    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "cpu": cpu_model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka (broker)": kafka or "unknown",
        "aiokafka": version("aiokafka"),
        "faust-streaming": version("faust-streaming"),
        "pydantic": version("pydantic"),
    }


def table(rows: list[Row], baseline: Row) -> str:
    head = ("| measured | events | seconds | events/s sustained | ratio to baseline "
            "| CPU s / 1,000 events "
            "| peak RSS MiB | startup s |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r.rate / baseline.rate if baseline.rate else 0.0
        startup = f"{r.startup_seconds:.1f}" if r.startup_seconds is not None else "-"
        lines.append(f"| {r.name} | {r.events:,} | {r.seconds:.1f} | {r.rate:,.0f} | "
                     f"{ratio:.3f} | {r.cpu_per_1000:.3f} | {r.peak_rss_kb / 1024:.0f} | "
                     f"{startup} |")
    return "\n".join(lines)


def writes_table(rows: list[Row], baseline: Row) -> str:
    """Per service that writes, its copy ceiling (copy_ceiling) and its rate against the lower
    of the two ceilings: the baseline's and the copy's."""
    copies = {r.copies_of: r for r in rows if r.copies_of}
    lines = ["| service | events | offsets written | per input | copy ceiling events/s "
             "| lower ceiling events/s | service / lower ceiling |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        copy = copies.get(r.name)
        if copy is None or r.written is None:
            continue
        lower = min(baseline.rate, copy.rate)
        lines.append(f"| {r.name} | {r.events:,} | {r.written:,} | {r.written / r.events:.2f} "
                     f"| {copy.rate:,.0f} | {lower:,.0f} | "
                     f"{r.rate / lower if lower else 0.0:.3f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def writes_section(rows: list[Row], baseline: Row) -> list[str]:
    found = writes_table(rows, baseline)
    return ["## Writes per input: the second ceiling", "",
            "A service that writes more than one message per input is held to a second "
            "ceiling too: bench.txn_copy writing as many messages per input as the service "
            "did (the offsets it added to every other topic under the prefix while catching "
            "up, outputs, changelogs and transaction markers, over the events it read), in "
            "transactions of the same batch size. The goal: at least 0.5 of the lower of the "
            "two ceilings.", "", found, ""] if found else []


def row_sections(rows: list[Row]) -> list[str]:
    """Per row, its end-to-end latencies (bench --rates) and its hottest frames (--profile)."""
    lines: list[str] = []
    for r in rows:
        if r.latency:
            lines += [f"## End to end: {r.name}", "",
                      "Caught up, the service gets orders at a fixed rate; latency from an "
                      "order's send to the production of the first progress update it causes. "
                      "Stops at the first rate it does not keep up with (not every order "
                      "answered within the wait, or the rate not reached).", "",
                      latency_table(r.latency), ""]
        if r.tick:
            lines += [f"## A quarter's end to its warnings: {r.name}", "",
                      "Caught up, the service gets the tick of the day after the agreements' "
                      "first quarter (every warning is a time-based rule, evaluated on ticks); "
                      "time from its send to the production of each `quota.quarterly_completion` "
                      "warning it causes.", "",
                      "| tick as_of | warnings | first ms | p50 ms | last ms |",
                      "|---|---:|---:|---:|---:|",
                      f"| {r.tick.as_of} | {r.tick.warnings:,} | {r.tick.first:.0f} | "
                      f"{r.tick.p50:.0f} | {r.tick.last:.0f} |", ""]
        if r.profile:
            lines += [f"## Profile: {r.name}", "",
                      "py-spy, 100 samples/s of every busy thread, by function: the functions "
                      "most often innermost (self), then the project's own most often on the "
                      "stack (inclusive). All stacks: the `.folded` file beside this report.",
                      "",
                      "| frame | inclusive % | self % |", "|---|---:|---:|",
                      *[f"| `{f}` | {inc:.1f} | {own:.1f} |" for f, inc, own in r.profile], ""]
    return lines


def report(rows: list[Row], baseline: Row, args: argparse.Namespace, prefix: str,
           produced: int, produce_seconds: float, stamp: str, memory: list[Row],
           years: list[Year], unfinished: list[tuple[str, str]]) -> str:
    info = machine()
    unfinished_section = ["## Rows that did not finish", "",
                          *[f"- {row}: {why}" for row, why in unfinished], ""] \
        if unfinished else []
    memory_section = ["## Memory against agreements", "",
                      "Quota alone with only reference data: the simulator's institutions and "
                      "products and N agreements made from its own (synthetic institutions), "
                      "each on a topic prefix of its own, read until its group has committed "
                      "them and its relay's copy of each for every state partition (so the "
                      "seconds cover N x (1 + partitions) messages). Peak RSS when done.", "",
                      memory_table(memory), ""] if memory else []
    year_section = ["## Province-years replayed", "",
                    "The simulator's Guizhou year (its registry's 53 products, every business "
                    "fault on: orders, deliveries, payments, reports, ticks; 150 institutions at "
                    "scale 1 is what the run command plays) loaded under a prefix of its own; "
                    "quota, supply, settlement and alerts (notifying a webhook) started together "
                    "and timed from their spawn until every group has committed everything it "
                    f"reads, their own outputs included (lag polled every {POLL_SECONDS:g} s).",
                    "", year_table(years), ""] if years else []
    return "\n".join([
        f"# VBP Monitor bench, {stamp}",
        "",
        f"Load: {args.orders:,} `vbp.order.placed` on `vbp.orders` ({TOPICS[ORDERS].partitions} "
        f"partitions) after the simulator's reference data, {produced:,} messages in all, "
        f"produced in {produce_seconds:.1f} s (not measured); topic prefix `{prefix}`; "
        f"broker {'given: ' + args.bootstrap if args.bootstrap else 'the project one'}.",
        "",
        "Each row runs from offset zero until every order is read (the rows after quota's "
        "end-to-end run also read the orders it sent: the events column counts them). "
        "The baseline (ratio 1) "
        "decodes them with `runtime.codec.decode` in a bare aiokafka consumer. Kafka's "
        "ConsumerPerformance reads the same orders (its fetch time), its ProducerPerformance "
        "writes as many of the same messages (acks=all): the broker's limit here. A faust "
        "worker whose agent only decodes, and a runtime service whose handler does nothing, "
        "are the ceilings of faust and of the runtime. A service (or ceiling) is timed from "
        "its spawn until its group's committed offsets reach the end offsets (seconds; "
        "faust's commit interval included); its events/s are sustained, from its worker's "
        "ready (after the startup column) to caught up; with N workers, their CPU and peak "
        "RSS are summed.",
        "",
        table(rows, baseline),
        "",
        *unfinished_section,
        *writes_section(rows, baseline),
        *row_sections(rows),
        *memory_section,
        *year_section,
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "```json",
        json.dumps({"orders": args.orders, "rows": [
            {"name": r.name, "events": r.events, "seconds": round(r.seconds, 3),
             "events_per_s": round(r.rate, 1), "cpu_s_per_1000": round(r.cpu_per_1000, 4),
             "peak_rss_kb": r.peak_rss_kb, "startup_s": r.startup_seconds,
             "written": r.written, "copies_of": r.copies_of,
             "latency": [{"rate": x.rate, "sent": x.sent, "answered": x.answered,
                          "p50_ms": round(x.p50, 1), "p95_ms": round(x.p95, 1),
                          "p99_ms": round(x.p99, 1), "kept_up": x.kept_up}
                         for x in r.latency or []],
             "tick": r.tick and {"as_of": r.tick.as_of, "warnings": r.tick.warnings,
                                 "first_ms": round(r.tick.first, 1),
                                 "p50_ms": round(r.tick.p50, 1),
                                 "last_ms": round(r.tick.last, 1)}} for r in rows],
            "unfinished": [{"row": row, "why": why} for row, why in unfinished],
            "memory": [{"agreements": r.events, "seconds": round(r.seconds, 3),
                        "peak_rss_kb": r.peak_rss_kb} for r in memory],
            "years": [{"scale": y.scale, "institutions": y.institutions, "events": y.events,
                       "orders": y.orders, "seconds": round(y.seconds, 3),
                       "startup_s": round(y.startup_seconds, 3), "decisions": y.decisions,
                       "cpu_s": round(y.cpu_seconds, 2), "peak_rss_kb": y.peak_rss_kb,
                       "by_service": {name: {"cpu_s": round(cpu, 2), "peak_rss_kb": peak}
                                      for name, (cpu, peak) in y.by_service.items()}}
                      for y in years],
            "machine": info}, indent=1, ensure_ascii=False),
        "```",
        "",
    ])


async def memory_rows(bootstrap: str, counts: list[int], workdir: Path,
                      timeout: float) -> list[Row]:
    """Quota's peak memory with `counts` agreements each: a topic prefix of its own per count,
    the agreements (agreement_events) read until every task has handled them."""
    rows = []
    for count in counts:
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        await ensure_topics(bootstrap, prefix)
        await produce(bootstrap, prefix, agreement_events(_scenario(1), count))
        label = f"{count:,} agreements"
        rows.append(await run_service(
            "quota", bootstrap, prefix, workdir, timeout, variant=(label, {}),
            until=([(topic_name("vbp.ref.agreements", prefix),
                     TOPICS["vbp.ref.agreements"].partitions)], count)))
        print(f"bench: {rows[-1].name} peak RSS {rows[-1].peak_rss_kb / 1024:,.0f} MiB",
              flush=True)
    return rows


def memory_table(rows: list[Row]) -> str:
    """Peak RSS per agreement count, and per agreement beyond the smallest count."""
    lines = ["| agreements | seconds | peak RSS MiB | KiB per further agreement |",
             "|---:|---:|---:|---:|"]
    first = rows[0]
    for r in rows:
        further = ((r.peak_rss_kb - first.peak_rss_kb) / (r.events - first.events)
                   if r.events > first.events else None)
        lines.append(f"| {r.events:,} | {r.seconds:.1f} | {r.peak_rss_kb / 1024:,.0f} | "
                     f"{'-' if further is None else f'{further:.2f}'} |")
    return "\n".join(lines)


async def kafka_rows(bootstrap: str, prefix: str, orders: int) -> list[Row]:
    """Kafka's perf tools: its consumer reading the loaded orders, its producer writing as many
    of the same messages to a topic of their own (KAFKA_PERF_TOPIC, acks=all)."""
    scratch = prefix + KAFKA_PERF_TOPIC
    payloads = [value for _, _, value in order_events(_scenario(1), 1000, "bench-perf",
                                                      random.Random("kafka-perf"))]
    rows = []
    for name, figures in (
            ("Kafka ConsumerPerformance", consumer_perf(bootstrap, topic_name(ORDERS, prefix),
                                                        orders, f"{prefix}kafka-perf")),
            ("Kafka ProducerPerformance (acks=all)",
             producer_perf(bootstrap, scratch, orders, payloads))):
        rows.append(Row(name, int(figures["events"]), figures["seconds"],
                        figures["cpu_seconds"], int(figures["peak_rss_kb"])))
        print(f"bench: {name} {rows[-1].rate:,.0f} events/s", flush=True)
    return rows


async def bench(args: argparse.Namespace, bootstrap: str) -> Path:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(prefix + scratch, TOPICS[ORDERS].partitions, 1)
                                   for scratch in (KAFKA_PERF_TOPIC, COPIES_TOPIC)])
    finally:
        await admin.close()
    print(f"bench: topics under {prefix} on {bootstrap}; producing {args.orders:,} orders",
          flush=True)
    t0 = time.monotonic()
    produced = await produce(bootstrap, prefix, load_events(args.orders))
    produce_seconds = time.monotonic() - t0
    print(f"bench: {produced:,} messages produced in {produce_seconds:.1f} s", flush=True)
    baseline = run_baseline(bootstrap, prefix, args.orders, args.timeout)
    print(f"bench: baseline {baseline.rate:,.0f} events/s", flush=True)
    rows = [baseline, *await kafka_rows(bootstrap, prefix, args.orders)]
    workdir = Path(tempfile.mkdtemp(prefix="vbp-bench-"))
    before = workdir / "before" if args.before else None
    if before is not None:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before),
                        args.before], check=True, capture_output=True)
    unfinished: list[tuple[str, str]] = []  # (row, why)
    try:
        for name in args.ceilings:
            rows.append(await run_service(
                name, bootstrap, prefix, workdir, args.timeout,
                rates=args.rates if name in LATENCY_SUBJECT else None,
                rate_seconds=args.rate_seconds,
                variant=("1 message per input", {}) if name == "txn_copy" else ("", {})))
            print(f"bench: {rows[-1].name} {rows[-1].rate:,.0f} events/s", flush=True)
        for name in args.services:
            runs = [(variant, 1, REPO) for variant in [("", {}), *args.variant]]
            if before is not None:
                runs.append(((f"before: {args.before}", {}), 1, before))
            runs += [(("", {}), n, REPO) for n in args.workers
                     if n > 1 and name not in SINGLE_WORKER]
            for variant, workers, code in runs:
                first = not variant[0] and workers == 1
                profile = (workdir / f"{name}{_slug(variant[0])}.folded"
                           if args.profile and workers == 1 else None)
                try:
                    row = await run_service(name, bootstrap, prefix, workdir, args.timeout,
                                            profile, variant,
                                            args.rates if first and name == LATENCY_OF
                                            else None, args.rate_seconds, workers, code=code)
                except (TimeoutError, RuntimeError) as error:
                    if first:  # the service as it is now: its figures are the point of the run
                        raise
                    # an earlier revision that cannot finish (seen: settlement on faust stops
                    # committing quota's progress, a topic written in transactions) is a finding
                    label = ", ".join(filter(None, [variant[0], f"{workers} workers"
                                                    if workers > 1 else ""]))
                    unfinished.append((f"{SERVICES[name][0]} ({label})",
                                       str(error).splitlines()[0]))
                    print(f"bench: {unfinished[-1][0]} did not finish: {unfinished[-1][1]}",
                          flush=True)
                    continue
                print(f"bench: {row.name} {row.rate:,.0f} events/s", flush=True)
                rows.append(row)
                if first and "txn_copy" in args.ceilings and row.written:
                    rows.append(await copy_ceiling(row, bootstrap, prefix, workdir,
                                                   args.timeout))
                    print(f"bench: {rows[-1].name} {rows[-1].rate:,.0f} events/s", flush=True)
        memory = await memory_rows(bootstrap, sorted(args.agreements), workdir, args.timeout)
        years = []
        for scale in args.years:
            years.append(await replay(bootstrap, scale, workdir, args.timeout,
                                      args.institutions))
            print(f"bench: province-year of {args.institutions:,} institutions at scale "
                  f"{scale:g}: {years[-1].events:,} events in "
                  f"{years[-1].seconds:.1f} s", flush=True)
    except BaseException:
        print(f"bench: service logs kept in {workdir}", file=sys.stderr)
        raise
    finally:
        if before is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before)],
                           check=False, capture_output=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    args.results.mkdir(parents=True, exist_ok=True)
    for folded in workdir.glob("*.folded"):  # for flame graph tools (speedscope, inferno)
        shutil.copy(folded, args.results / f"{stamp}-{folded.name}")
    shutil.rmtree(workdir, ignore_errors=True)
    text = report(rows, baseline, args, prefix, produced, produce_seconds, stamp, memory,
                  years, unfinished)
    path = args.results / f"{stamp}.md"
    path.write_text(text, encoding="utf-8")
    print()
    print(table(rows, baseline))
    if writes := writes_table(rows, baseline):
        print(f"\nwrites per input, and the service against the lower ceiling:\n{writes}")
    for r in rows:
        if r.latency:
            print(f"\n{r.name}, end to end:\n{latency_table(r.latency)}")
    if memory:
        print(f"\nquota, memory against agreements:\n{memory_table(memory)}")
    if years:
        print(f"\nprovince-years replayed:\n{year_table(years)}")
    print(f"\nbench: written {path}")
    return path


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000, help="orders to load (200,000)")
    parser.add_argument("--bootstrap", help="use this broker; default: start the project's on "
                                            f"port {BENCH_PORT} and stop it after")
    parser.add_argument("--results", type=Path, default=RESULTS, help="report directory")
    parser.add_argument("--ceilings", nargs="+", default=list(CEILINGS), choices=list(CEILINGS),
                        help="ceilings and peers to measure (all; quix installs quixstreams "
                             "into .cache/peers on first use)")
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=sorted(SERVICES),
                        help="services to measure on the orders (quota supply settlement); "
                             "end-to-end latency is quota's")
    parser.add_argument("--variant", type=_variant, action="append", default=[],
                        metavar="LABEL:VAR=VALUE[,VAR=VALUE]",
                        help="measure each service again with these environment variables "
                             "(e.g. 'exactly once:VBP_PROCESSING_GUARANTEE=exactly_once')")
    parser.add_argument("--before", metavar="REV",
                        help="measure each service again as it was at this git revision (a "
                             "worktree of it, same broker and load): a change's before and "
                             "after in one run")
    parser.add_argument("--rates", type=lambda t: [int(r) for r in t.split(",")],
                        default=[200, 1000, 5000],
                        help="end-to-end latency at these orders/s once caught up (200,1000,5000)")
    parser.add_argument("--rate-seconds", type=float, default=20.0,
                        help="how long each rate is held (20)")
    parser.add_argument("--workers", type=lambda t: [int(n) for n in t.split(",")],
                        default=[1, 2],
                        help="scale-out: measure each service again with this many workers in "
                             "its group (1,2)")
    parser.add_argument("--agreements", type=lambda t: [int(n) for n in t.split(",") if n],
                        default=[10_000, 100_000],
                        help="quota's memory with this many agreements each (10000,100000; "
                             "'' for none)")
    parser.add_argument("--years", type=lambda t: [float(n) for n in t.split(",") if n],
                        default=[1.0],
                        help="replay the simulated province-year at these order scales through "
                             "every service (1: the run command's year; '' for none)")
    parser.add_argument("--institutions", type=int, default=150,
                        help="institutions in the replayed years' registry (150, the run "
                             "command's; 2000 with scale 1 is about 140,000 orders)")
    parser.add_argument("--profile", action="store_true",
                        help="sample each service with py-spy and report its hottest frames")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds each measurement may take")
    args = parser.parse_args(argv)
    if args.orders < 1:
        parser.error("--orders must be positive")
    if args.bootstrap:
        return asyncio.run(bench(args, args.bootstrap))
    broker.single("start", BENCH_PORT)
    bootstrap = f"127.0.0.1:{BENCH_PORT}"
    try:
        return asyncio.run(bench(args, bootstrap))
    finally:
        broker.single("stop", BENCH_PORT)
