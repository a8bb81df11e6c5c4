"""The faulted runs. Each loads the same input as the reference run under a prefix of its own,
breaks something while the services work through it, waits until they have caught up, and
returns an Outcome with every difference from the reference snapshot."""
from __future__ import annotations

import asyncio
import random
import re
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy import broker
from faults.pipeline import RULE_SERVICES, SERVICES, Deployment, Snapshot, compare, twice
from faults.report import Outcome
from runtime.loop import SESSION_MS
from sim.scenario import Emitted


@dataclass
class Input:
    events: list[Emitted]
    institutions: list[str]
    reference: Snapshot


async def _deployed(bootstrap: str, workdir: Path, events: Iterable[Emitted],
                    **env: str) -> Deployment:
    """The services under a fresh prefix, started once `events` are all on the broker."""
    d = Deployment(bootstrap, workdir, **env)
    await d.create_topics()
    await d.load(events)
    d.start()
    return d


async def _finish(d: Deployment, given: Input, scenario: str, faults: str, injected: int,
                  started: float, events_checked: int | None = None,
                  late: bool = False) -> Outcome:
    """Wait for every worker and for the services to catch up, compare, and stop."""
    try:
        for worker in d.workers.values():
            worker.wait_ready(180)
        await d.caught_up()
        found = await d.snapshot(given.institutions)
    finally:
        d.stop()
    return Outcome(scenario, faults, injected, events_checked or len(given.events),
                   compare(given.reference, found, late=late), time.monotonic() - started)


async def reference(bootstrap: str, workdir: Path, events: list[Emitted],
                    institutions: list[str]) -> tuple[Snapshot, float]:
    """The fault-free run every other one is compared with."""
    started = time.monotonic()
    d = await _deployed(bootstrap, workdir / "reference", events)
    try:
        await d.caught_up()
        return await d.snapshot(institutions), time.monotonic() - started
    finally:
        d.stop()


async def crashes(bootstrap: str, workdir: Path, given: Input, kills: int = 20,
                  victims: tuple[str, ...] = SERVICES,
                  seed: int = 7) -> Outcome:
    """SIGKILL a random worker of `victims` every few seconds while events flow; a quarter of
    the time kill it again while it starts and recovers its tables. Faust commits every 2.8 s,
    so most kills land between processing an event and committing it."""
    started = time.monotonic()
    rng = random.Random(seed)
    d = await _deployed(bootstrap, workdir / "crashes", given.events)
    done = while_starting = 0
    while done < kills:
        await asyncio.sleep(rng.uniform(2.0, 8.0))
        worker = d.workers[rng.choice(victims)]
        worker.stop(signal.SIGKILL)
        worker.spawn()
        done += 1
        if done < kills and rng.random() < 0.25:
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            worker.stop(signal.SIGKILL)
            worker.spawn()
            done += 1
            while_starting += 1
    return await _finish(d, given, "crashes", f"SIGKILL of a worker ({while_starting} while "
                         "it started and recovered)", done, started)


async def duplicates(bootstrap: str, workdir: Path, given: Input) -> Outcome:
    """Every input event sent twice in a row (a producer retry, a replayed batch)."""
    started = time.monotonic()
    d = await _deployed(bootstrap, workdir / "duplicates", twice(given.events))
    return await _finish(d, given, "duplicates", "every input event sent twice",
                         len(given.events), started, 2 * len(given.events))


def shuffled(events: list[Emitted], seed: int = 11) -> Iterator[Emitted]:
    """The simulated days' events in a random order within each day (between two ticks);
    reference data and the ticks stay where they are."""
    rng = random.Random(seed)
    day: list[Emitted] = []
    for item in events:
        if item.event.type == "vbp.clock.tick" or item.topic.startswith("vbp.ref."):
            rng.shuffle(day)
            yield from day
            day = []
            yield item
        else:
            day.append(item)
    rng.shuffle(day)
    yield from day


async def reordered(bootstrap: str, workdir: Path, given: Input) -> Outcome:
    started = time.monotonic()
    d = await _deployed(bootstrap, workdir / "reordered", shuffled(given.events))
    return await _finish(d, given, "reordered", "each day's events shuffled between its ticks",
                         1, started)


async def broker_restart(bootstrap: str, port: int, workdir: Path, given: Input,
                         seed: int = 13) -> Outcome:
    """Stop the broker mid-stream and start it again; then kill a worker, start it while the
    broker is down, and bring the broker back."""
    started = time.monotonic()
    rng = random.Random(seed)
    d = await _deployed(bootstrap, workdir / "broker", given.events)
    await asyncio.sleep(rng.uniform(5.0, 10.0))
    broker.single("stop", port)
    await asyncio.sleep(5)
    broker.single("start", port)
    await asyncio.sleep(rng.uniform(10.0, 20.0))
    worker = d.workers[rng.choice(RULE_SERVICES)]
    worker.stop(signal.SIGKILL)
    broker.single("stop", port)
    worker.spawn()
    await asyncio.sleep(10)
    broker.single("start", port)
    return await _finish(d, given, "broker restart", "broker stopped and restarted mid-stream; "
                         "a worker started while it was down", 2, started)


async def rebalance(bootstrap: str, workdir: Path, given: Input, seed: int = 17) -> Outcome:
    """A second quota and settlement worker join the groups while events flow, then leave."""
    started = time.monotonic()
    rng = random.Random(seed)
    d = await _deployed(bootstrap, workdir / "rebalance", given.events)
    await asyncio.sleep(rng.uniform(3.0, 8.0))
    second = [d.worker(name, 2) for name in ("quota", "settlement")]
    for worker in second:
        worker.spawn()
    for worker in second:
        worker.wait_ready(180)
    await asyncio.sleep(rng.uniform(10.0, 20.0))
    for worker in second:
        worker.stop()
    return await _finish(d, given, "rebalance", "a second quota and settlement worker joined "
                         "and left", 2 * len(second), started)


async def zombie(bootstrap: str, workdir: Path, given: Input, seed: int = 29) -> Outcome:
    """The zombie: with a second worker of quota, settlement and supply in each group, the first
    is paused (SIGSTOP) mid-stream for longer than its session, so the second takes its
    partitions (supply: its one task) and fences its transactional producers; then the first
    resumes (SIGCONT) with the batch it was handling and works on beside the second, which
    leaves after a while (the snapshot reads the first's tables, holding every partition).
    Whatever it writes after waking must be fenced or aborted: nothing doubled, nothing
    lost."""
    started = time.monotonic()
    rng = random.Random(seed)
    d = await _deployed(bootstrap, workdir / "zombie", given.events)
    names = ("quota", "settlement", "supply")
    second = [d.worker(name, 2) for name in names]
    paused = [d.workers[name] for name in names]
    try:
        for worker in second:
            worker.spawn()
        for worker in second:
            worker.wait_ready(180)
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        marks = [len(worker.log()) for worker in paused]
        for worker in paused:
            assert worker.process is not None
            worker.process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(2.5 * SESSION_MS / 1000)
        for worker in paused:
            assert worker.process is not None
            worker.process.send_signal(signal.SIGCONT)
        await asyncio.sleep(rng.uniform(10.0, 20.0))  # both at work, then the second leaves
        for worker in second:
            worker.stop()
        outcome = await _finish(d, given, "zombie", "", len(paused), started)
    finally:
        for worker in paused:  # never left stopped, whatever failed
            if worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(signal.SIGCONT)
        for worker in second:
            if worker.process is not None and worker.process.poll() is None:
                worker.stop()
    refused = sum(len(re.findall(r"transaction of \S+ failed", worker.log()[mark:]))
                  for worker, mark in zip(paused, marks, strict=True))
    outcome.faults = (f"a quota, settlement and supply worker paused (SIGSTOP) "
                      f"{2.5 * SESSION_MS / 1000:.0f} s, past its session, while a second took "
                      f"over, then resumed ({refused} of their transactions refused after it)")
    return outcome


async def cluster(workdir: Path, given: Input, seed: int = 19) -> Outcome:
    """Kafka's transaction tests' setting: three KRaft nodes on loopback, topics with
    replication factor 3 and min ISR 2; each node in turn is hard-killed (SIGKILL) while events
    flow and started again, so the leaders of every partition and the active controller go
    down at some point."""
    started = time.monotonic()
    rng = random.Random(seed)
    broker.cluster("wipe")
    broker.cluster("start")
    try:
        bootstrap = broker.cluster("bootstrap").splitlines()[-1]
        d = await _deployed(bootstrap, workdir / "cluster", given.events,
                            VBP_REPLICATION_FACTOR="3")
        nodes = [1, 2, 3]
        rng.shuffle(nodes)
        for node in nodes:
            await asyncio.sleep(rng.uniform(4.0, 10.0))
            broker.cluster("kill-node", str(node))
            await asyncio.sleep(rng.uniform(4.0, 10.0))
            broker.cluster("start-node", str(node))
        return await _finish(d, given, "cluster", "SIGKILL of each of 3 brokers in turn "
                             "(RF 3, min ISR 2), restarted", len(nodes), started)
    finally:
        broker.cluster("stop")



def held_back(events: list[Emitted], share: float = 0.02, seed: int = 23) -> set[str]:
    """The ids of `share` of the first quarter's orders, to be sent late."""
    rng = random.Random(seed)
    return {item.event.id for item in events
            if item.event.type == "vbp.order.placed" and item.day is not None
            and item.day.month <= 3 and rng.random() < share}


def delayed(events: list[Emitted], late_ids: set[str]) -> Iterator[Emitted]:
    """The orders of `late_ids` sent after the tick of 2020-04-10, when their quarter has been
    evaluated."""
    held: list[Emitted] = []
    for item in events:
        if item.event.id in late_ids:
            held.append(item)
            continue
        yield item
        if item.event.type == "vbp.clock.tick" and str(item.event.data.as_of) == "2020-04-10":
            yield from held


async def late(bootstrap: str, workdir: Path, given: Input) -> Outcome:
    started = time.monotonic()
    late_ids = held_back(given.events)
    d = await _deployed(bootstrap, workdir / "late", delayed(given.events, late_ids))
    return await _finish(d, given, "late", "Q1 orders sent after Q1 was evaluated (totals "
                         "compared, decisions may differ)", len(late_ids), started, late=True)
