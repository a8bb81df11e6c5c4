"""Fault scenario "bad input": hostile messages mixed into a valid simulated stream.

The simulator's first weeks go to the input topics with `hostile` generated bad messages
(faults/hostile.py) interleaved on the same topics, while quota, supply and settlement run.
Once the services have caught up: every hostile message is in vbp.deadletter, unchanged, with a
reason and its source topic, partition and offset, once for each service that reads its topic;
nothing else is; each service's /health counts every valid message it read as processed (or a
repeat) and every hostile one as dead-lettered; no worker restarted.

    .venv/bin/python -m faults.bad_input [--hostile 10000]   # against VBP_KAFKA_BOOTSTRAP
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

from aiokafka import AIOKafkaProducer

from faults.hostile import Hostile, generate
from faults.pipeline import Deployment
from faults.report import Outcome
from runtime.codec import CONTENT_TYPE
from sim.config import SimConfig
from sim.scenario import Emitted, Scenario
from tests.harness import Record, ServiceProcess, read_to_end

_REFERENCE = {"vbp.ref.institutions", "vbp.ref.products", "vbp.ref.agreements"}
# What each service reads (README, "What runs"); a hostile message on a topic is dead-lettered
# once by every service reading it.
CONSUMES: dict[str, set[str]] = {
    "quota": _REFERENCE | {"vbp.orders", "vbp.deliveries", "vbp.clock"},
    "supply": _REFERENCE | {"vbp.orders", "vbp.deliveries", "vbp.clock", "vbp.supply.reports",
                            "vbp.supply.incidents", "vbp.alliance.inbound"},
    "settlement": _REFERENCE | {"vbp.orders", "vbp.deliveries", "vbp.payments", "vbp.clock",
                                "vbp.quota.progress"},
}
SHOWN_PER_KIND = 20  # differences listed per kind; the rest are counted


class Differences:
    """Mismatches in words, at most SHOWN_PER_KIND of each kind, then a count of the rest."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.kinds: Counter[str] = Counter()

    def add(self, kind: str, text: str) -> None:
        self.kinds[kind] += 1
        if self.kinds[kind] <= SHOWN_PER_KIND:
            self.lines.append(f"{kind}: {text}")

    def all(self) -> list[str]:
        more = [f"{kind}: {n - SHOWN_PER_KIND} more" for kind, n in self.kinds.items()
                if n > SHOWN_PER_KIND]
        return self.lines + more


def valid_stream(institutions: int, until: date, seed: int = 1) -> list[Emitted]:
    return list(Scenario(SimConfig(seed=seed, institutions=institutions, until=until)).events())


def interleave(valid: list[Emitted], hostile: list[Hostile],
               seed: int) -> list[Emitted | Hostile]:
    """The valid stream in its order, each hostile message at a seeded random place in it."""
    rng = random.Random(seed)
    places = sorted(rng.randrange(len(valid) + 1) for _ in hostile)
    mixed: list[Emitted | Hostile] = []
    next_hostile = 0
    for index in range(len(valid) + 1):
        while next_hostile < len(hostile) and places[next_hostile] == index:
            mixed.append(hostile[next_hostile])
            next_hostile += 1
        if index < len(valid):
            mixed.append(valid[index])
    return mixed


async def produce(bootstrap: str, prefix: str, mixed: list[Emitted | Hostile],
                  ) -> dict[tuple[str, int, int], Hostile]:
    """Send in order; a day's valid events are on the broker before the next day's tick (the
    services order ticks by broker time, as sim.player does). Returns the hostile messages by
    (topic, partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=256 * 1024, enable_idempotence=True,
                                max_request_size=1_048_576)
    await producer.start()
    headers = [("content-type", CONTENT_TYPE.encode())]
    sent: list[tuple[Hostile, asyncio.Future]] = []
    pending: list[asyncio.Future] = []
    day: date | None = None
    try:
        for item in mixed:
            if isinstance(item, Hostile):
                future = await producer.send(prefix + item.topic, value=item.value,
                                             key=item.key.encode() if item.key else None,
                                             headers=headers)
                sent.append((item, future))
            else:
                if item.day != day and item.day is not None:
                    await asyncio.gather(*pending)
                    pending.clear()
                    day = item.day
                future = await producer.send(prefix + item.topic,
                                             value=item.event.to_json_bytes(),
                                             key=item.key.encode(), headers=headers)
            pending.append(future)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    placed = {}
    for message, future in sent:
        meta = future.result()
        placed[(message.topic, meta.partition, meta.offset)] = message
    return placed


async def end_count(bootstrap: str, topic: str) -> int:
    """The records on `topic` (quota writes in transactions: its end offsets count markers)."""
    return len(await read_to_end(bootstrap, topic))


def _total(counts: dict[str, int]) -> int:
    return counts["processed"] + counts["duplicates"] + counts["deadlettered"]


async def caught_up(d: Deployment, expected: dict[str, int], timeout: float,
                    ) -> tuple[bool, dict[str, dict[str, int]]]:
    """Wait until every group has committed all its input and each /health has counted
    `expected[service]` messages (settlement's count grows with quota's progress output), twice
    in a row; returns whether they did and the last counts (without a service that exited)."""
    deadline = time.monotonic() + timeout
    settled = 0
    counts: dict[str, dict[str, int]] = {}
    while settled < 2 and time.monotonic() < deadline:
        await asyncio.sleep(2)
        progress = await end_count(d.bootstrap, d.prefix + "vbp.quota.progress")
        counts = {}
        done = True
        for name, worker in d.workers.items():
            if worker.process is None or worker.process.poll() is not None:
                return False, counts
            counts[name] = (await asyncio.to_thread(worker.health))["counts"]
            want = expected[name] + (progress if name == "settlement" else 0)
            done = done and _total(counts[name]) >= want
        settled = settled + 1 if done and await d.lag() == 0 else 0
    return settled >= 2, counts


async def scenario(bootstrap: str, workdir: Path, hostile: int = 10_000, *, seed: int = 1,
                   institutions: int = 150, until: date = date(2020, 2, 29)) -> list[Outcome]:
    outcome, _ = await run(bootstrap, workdir, hostile, seed=seed, institutions=institutions,
                           until=until)
    return [outcome]


def readers(topic: str) -> int:
    """How many of the services read `topic`: how often a bad message on it is dead-lettered."""
    return sum(1 for topics in CONSUMES.values() if topic in topics)


async def run(bootstrap: str, workdir: Path, hostile: int, *, seed: int, institutions: int,
              until: date) -> tuple[Outcome, int]:
    """The scenario's outcome and the number of dead letters found."""
    started = time.monotonic()
    dead: list[Record] = []
    d = Deployment(bootstrap, workdir, tuple(CONSUMES))
    await d.create_topics()
    valid = valid_stream(institutions, until, seed)
    bad = generate(hostile, seed)
    mixed = interleave(valid, bad, seed)
    workers = d.workers
    differences = Differences()
    try:
        _, placed = await asyncio.gather(
            asyncio.gather(*(asyncio.to_thread(w.start, 180.0) for w in workers.values())),
            produce(bootstrap, d.prefix, mixed),
        )
        valid_on = Counter(e.topic for e in valid)
        hostile_in = {name: sum(1 for m in bad if m.topic in topics)
                      for name, topics in CONSUMES.items()}
        valid_in = {name: sum(valid_on[t] for t in topics) for name, topics in CONSUMES.items()}
        expected = {name: valid_in[name] + hostile_in[name] for name in CONSUMES}
        wait = 180 + (len(valid) + hostile) / 20
        done, counts = await caught_up(d, expected, timeout=wait)
        if not done:
            differences.add("stall", f"not caught up within {wait:.0f}s: lag {await d.lag()}, "
                                     f"counts {counts}, expected {expected}")
        progress = await end_count(bootstrap, d.prefix + "vbp.quota.progress")
        valid_in["settlement"] += progress
        _check_workers(workers, counts, valid_in, hostile_in, differences)
        dead = await read_to_end(bootstrap, d.prefix + "vbp.deadletter")
        _check_dead_letters(dead, placed, differences)
    finally:
        for worker in workers.values():
            if worker.process is not None and worker.process.poll() is None:
                try:
                    await asyncio.to_thread(worker.stop)
                except Exception as error:  # noqa: BLE001 - a stuck stop must not hide results
                    differences.add("stop", f"{worker.name}: {error!r}")
    kinds = len({m.fault for m in bad})
    outcome = Outcome(
        scenario="bad input",
        faults=f"hostile messages of {kinds} kinds among valid traffic",
        injected=len(bad),
        events_checked=len(bad) + len(valid),
        differences=differences.all(),
        seconds=time.monotonic() - started,
    )
    return outcome, len(dead)


def _check_workers(workers: dict[str, ServiceProcess], counts: dict[str, dict[str, int]],
                   valid_in: dict[str, int], hostile_in: dict[str, int],
                   differences: Differences) -> None:
    for name, worker in workers.items():
        assert worker.process is not None
        if worker.process.poll() is not None:
            differences.add("restart", f"{name} exited with {worker.process.returncode}")
            continue
        log = worker.log()
        starts = log.count("[^Worker]: Ready")
        if starts != 1:
            differences.add("restart", f"{name}'s log shows {starts} worker starts")
        crashes = log.count("Restarting dead")  # faust's supervisor restarting a crashed agent
        if crashes:
            differences.add("restart", f"{name}'s log shows {crashes} agent restarts")
        got = counts.get(name)
        if got is None:
            differences.add("stall", f"{name} did not answer /health")
            continue
        if got["deadlettered"] != hostile_in[name]:
            differences.add("count", f"{name} dead-lettered {got['deadlettered']} messages, "
                                     f"{hostile_in[name]} hostile ones on its topics")
        if got["processed"] + got["duplicates"] != valid_in[name]:
            differences.add("count", f"{name} processed {got['processed']} (+{got['duplicates']}"
                                     f" repeats) of {valid_in[name]} valid messages")


def _check_dead_letters(dead: list[Record], placed: dict[tuple[str, int, int], Hostile],
                        differences: Differences) -> None:
    copies: Counter[tuple[str, int, int]] = Counter()
    for record in dead:
        headers = record.headers
        try:
            source = (headers["vbp-source-topic"], int(headers["vbp-source-partition"]),
                      int(headers["vbp-source-offset"]))
        except (KeyError, ValueError):
            differences.add("headers", f"dead letter {record.partition}@{record.offset} has "
                                       f"headers {sorted(headers)}")
            continue
        reason = headers.get("vbp-error", "")
        where = f"{source[0]}[{source[1]}]@{source[2]}"
        message = placed.get(source)
        if message is None:
            differences.add("valid dead-lettered", f"{where}: {reason[:200]}")
            continue
        copies[source] += 1
        about = f"{where} ({message.fault}: {message.detail[:80]})"
        if not reason.strip():
            differences.add("no reason", about)
        elif reason.startswith("internal error"):
            differences.add("handler failed", f"{about}: {reason[:200]}")
        if record.value != message.value:
            differences.add("changed", f"{about}: dead letter value differs from the message")
        if record.key != (message.key.encode() if message.key else None):
            differences.add("changed", f"{about}: dead letter key {record.key!r}")
    for source, message in placed.items():
        expected = readers(message.topic)
        if copies[source] != expected:
            differences.add("missing" if copies[source] < expected else "repeated",
                            f"{source[0]}[{source[1]}]@{source[2]} ({message.fault}: "
                            f"{message.detail[:80]}) dead-lettered {copies[source]} times, "
                            f"read by {expected} services")


def main() -> None:
    import argparse
    import os

    from faults.report import table

    parser = argparse.ArgumentParser(prog="python -m faults.bad_input", description=__doc__)
    parser.add_argument("--hostile", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    bootstrap = os.environ.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    with tempfile.TemporaryDirectory(prefix="vbp-bad-input-") as workdir:
        outcomes = asyncio.run(scenario(bootstrap, Path(workdir), args.hostile, seed=args.seed))
    print(table(outcomes))
    for outcome in outcomes:
        for line in outcome.differences:
            print("-", line)


if __name__ == "__main__":
    main()
