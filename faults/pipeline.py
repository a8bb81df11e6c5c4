"""One deployment of the services under a topic prefix of its own: load an input, run the
services until they have caught up, and take a snapshot of everything they decided.

Two snapshots of the same input, one from a run that was broken on purpose, must be equal:
`compare` lists every difference.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from runtime.topics import ensure_topics
from schemas.topics import topic_name
from services.alerts.receivers import NOTIFICATION_HEADER
from sim.config import SimConfig
from sim.player import play
from sim.scenario import Emitted, Scenario
from tests.harness import ServiceProcess, read_to_end
from tests.receiver import Receiver

RULE_SERVICES = ("quota", "supply", "settlement")  # the services that evaluate the rules
SERVICES = (*RULE_SERVICES, "alerts")
DECISIONS = ("vbp.warnings", "vbp.escalations", "vbp.decisions")
LATEST = ("vbp.quota.progress", "vbp.quota.summaries")  # compacted: the latest value per key
# Progress is published with the pace (序时进度) as of its cause's day; whether an agreement's
# amendment or an order touched a key last depends on how faust interleaves their agents, so
# the latest record's pace may legitimately be another day's. Its totals may not differ.
AS_OF_FIELDS = {"pace"}


def simulated_year(scale: float, institutions: int = 150, seed: int = 1) -> list[Emitted]:
    """The simulator's Guizhou year with every business fault on: the fault suite's input."""
    return list(Scenario(SimConfig(seed=seed, institutions=institutions, scale=scale)).events())


def institution_ids(events: Iterable[Emitted]) -> list[str]:
    return sorted(e.event.data.institution_id for e in events
                  if e.event.type == "vbp.institution.registered")


@dataclass
class Snapshot:
    """What a run decided: output events by id (every copy) and the read APIs' answers."""

    outputs: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    latest: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict)
    # alert id -> the notification ids the regulators' receiver accepted it under (a retry of
    # one notification keeps its id; two ids would be the alert sent twice)
    notified: dict[str, set[str]] = field(default_factory=dict)

    @property
    def decisions(self) -> int:
        return sum(len(self.outputs.get(topic, {})) for topic in DECISIONS)


class Deployment:
    """The services of SERVICES (or `names`) reading their own prefix on `bootstrap`."""

    def __init__(self, bootstrap: str, workdir: Path, names: tuple[str, ...] = SERVICES,
                 **env: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"f{uuid.uuid4().hex[:10]}."
        self.workdir = workdir
        self.names = names
        self.receiver: Receiver | None = None
        if "alerts" in names:  # every alert to one webhook, each in a notification of its own
            self.receiver = Receiver(kind="webhook", secret="faults")
            workdir.mkdir(parents=True, exist_ok=True)
            routes = workdir / "routes.toml"
            routes.write_text(f'[[receivers]]\nname = "regulator"\nkind = "webhook"\n'
                              f'url = "{self.receiver.url}"\nsecret = "faults"\n'
                              f'[route]\nreceivers = ["regulator"]\n', encoding="utf-8")
            env = {"VBP_ALERTS_ROUTES": str(routes), "VBP_ALERTS_TICK_SECONDS": "0.2", **env}
        self.env = env
        self.workers: dict[str, ServiceProcess] = {
            name: self.worker(name) for name in names}
        self.unknown_because = ""  # why behind() last answered None

    def worker(self, name: str, number: int = 1) -> ServiceProcess:
        """Worker `number` of service `name` (its static group member id, VBP_WORKER_ID)."""
        label = "" if number == 1 else f"-{number}"
        return ServiceProcess(name, self.bootstrap, self.prefix, self.workdir / f"{name}{label}",
                              **self.env, VBP_WORKER_ID=str(number))

    async def create_topics(self) -> None:
        replication = int(self.env.get("VBP_REPLICATION_FACTOR", "1"))
        await ensure_topics(self.bootstrap, self.prefix, replication=replication)

    async def load(self, events: Iterable[Emitted]) -> int:
        """Send `events` in order, as fast as the broker takes them; returns how many."""
        progress = await play(events, self.bootstrap, self.prefix, days_per_second=0)
        return progress.sent

    def start(self, timeout: float = 120.0) -> None:
        for worker in self.workers.values():
            worker.spawn()
        for worker in self.workers.values():
            worker.wait_ready(timeout)

    def stop(self) -> None:
        for worker in self.workers.values():
            if worker.process is not None and worker.process.poll() is None:
                worker.stop()
        if self.receiver is not None:
            self.receiver.close()

    def notified(self) -> dict[str, set[str]]:
        """Alert id -> notification ids the receiver accepted it under."""
        found: dict[str, set[str]] = {}
        assert self.receiver is not None
        for entry in self.receiver.accepted():
            for alert in entry["body"]["alerts"]:
                found.setdefault(alert["id"], set()).add(entry["headers"][NOTIFICATION_HEADER])
        return found

    async def all_notified(self, alert_ids: set[str], timeout: float = 120.0) -> None:
        """Wait until the receiver has every alert of `alert_ids` (the decisions on the broker),
        and then 2 s without a new request; a run that never notifies some alert shows them as
        missing against the reference after `timeout`."""
        deadline = time.monotonic() + timeout
        assert self.receiver is not None
        while time.monotonic() < deadline and not alert_ids <= self.notified().keys():
            await asyncio.sleep(0.5)
        while time.monotonic() < deadline:
            before = len(self.receiver.requests)
            await asyncio.sleep(2.0)
            if len(self.receiver.requests) == before:
                break

    async def lag(self) -> int:
        """Records not yet committed by the services' groups on everything they read (-1:
        unknown, e.g. a worker down or a group not yet formed)."""
        behind = await self.behind()
        return -1 if behind is None else sum(behind.values())

    async def behind(self) -> dict[str, int] | None:
        """Per group and input partition ("vbp-quota vbp.orders[2]"), the records its group has
        not committed; None when unknown (a worker down, a group not yet formed, a worker not
        holding all its partitions yet), with the reason in `unknown_because`."""
        found: dict[str, int] = {}
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        reader: AIOKafkaConsumer | None = None  # started when needed
        await admin.start()
        await consumer.start()
        # let its coordinator's task start: stopping a consumer whose task never ran raises
        # CancelledError (aiokafka's NoGroupCoordinator.close; seen when a /health failed)
        await asyncio.sleep(0)
        try:
            for name, worker in self.workers.items():
                try:
                    health = httpx.get(f"{worker.url}/health", timeout=5).json()
                    inputs = health["inputs"]
                except (httpx.HTTPError, KeyError, ValueError) as error:
                    self.unknown_because = f"{name}: no /health ({error!r})"
                    return None
                shared = health.get("shared_behind", 0)  # a service on the processing core
                if shared < 0:
                    self.unknown_because = f"{name}: shared inputs not fetched yet"
                    return None
                if shared:
                    found[f"{self.prefix}vbp-{name} shared inputs"] = shared
                partitions = [TopicPartition(t["topic"], p["partition"])
                              for t in await admin.describe_topics(inputs)
                              for p in t["partitions"]]
                if len({tp.topic for tp in partitions}) != len(inputs):
                    self.unknown_because = f"{name}: some of {inputs} not there"
                    return None
                # the worker read (the only one left) holds every partition, recovered: else
                # its tables, which the snapshot reads, lack a departed worker's partitions
                holds_all = set(health.get("holding", ())) == {
                    f"{tp.topic}[{tp.partition}]" for tp in partitions}
                if not health.get("ready") or not holds_all:
                    self.unknown_because = (f"{name}: ready {health.get('ready')}, holding "
                                            f"{len(health.get('holding', ()))} of "
                                            f"{len(partitions)} partitions")
                    return None
                group = f"{self.prefix}vbp-{name}"
                try:
                    committed = await admin.list_consumer_group_offsets(group,
                                                                        partitions=partitions)
                except KafkaError as error:
                    self.unknown_because = f"{name}: offsets of {group} ({error!r})"
                    return None
                ends = await consumer.end_offsets(partitions)
                for tp in partitions:
                    done = committed[tp].offset if tp in committed else -1
                    if ends[tp] <= max(done, 0):
                        continue
                    if reader is None:
                        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                                  enable_auto_commit=False,
                                                  isolation_level="read_committed")
                        await reader.start()
                    if not await _markers_only(reader, tp, max(done, 0), ends[tp]):
                        found[f"{group} {tp.topic}[{tp.partition}]"] = ends[tp] - max(done, 0)
            return found
        finally:
            if reader is not None:
                await reader.stop()
            await consumer.stop()
            await admin.close()

    async def caught_up(self, timeout: float = 900.0, settle: float = 3.0) -> float:
        """Wait until every group has committed everything it reads, twice `settle` seconds
        apart (one service's output is another's input); the first of the two times
        (time.monotonic())."""
        started = time.monotonic()
        quiet = 0
        caught_up_at = started
        while quiet < 2:
            if time.monotonic() - started > timeout:
                behind = await self.behind()
                raise TimeoutError(f"{self.prefix} not caught up in {timeout:.0f}s (behind: "
                                   f"{self.unknown_because if behind is None else behind}); "
                                   f"logs under {self.workdir}"
                                   f"; their last complaints:\n{last_complaints(self.workdir)}")
            quiet = quiet + 1 if await self.lag() == 0 else 0
            if quiet == 1:
                caught_up_at = time.monotonic()
            await asyncio.sleep(settle)
        return caught_up_at

    async def snapshot(self, institutions: list[str]) -> Snapshot:
        found = Snapshot()
        for base in DECISIONS:
            by_id: dict[str, list[dict[str, Any]]] = {}
            for record in await read_to_end(self.bootstrap, topic_name(base, self.prefix)):
                event = json.loads(record.value or b"null")
                by_id.setdefault(event["id"], []).append(event)
            found.outputs[base] = by_id
        for base in LATEST:
            found.latest[base] = {
                (record.key or b"").decode(): {
                    name: value
                    for name, value in json.loads(record.value or b"null")["data"].items()
                    if name not in AS_OF_FIELDS}
                for record in await read_to_end(self.bootstrap, topic_name(base, self.prefix))}
        found.views = self._views(institutions)
        if self.receiver is not None:
            await self.all_notified({alert for base in DECISIONS
                                     for alert in found.outputs[base]})
            found.notified = self.notified()
        return found

    def _views(self, institutions: list[str]) -> dict[str, Any]:
        """The read APIs' answers that hold running totals, per institution."""
        paths = []
        if "quota" in self.workers:
            paths += [("quota", "/v1/quota/ranking")]
            paths += [("quota", f"/v1/quota/institutions/{i}") for i in institutions]
        if "settlement" in self.workers:
            paths += [("settlement", f"/v1/settlement/institutions/{i}/payables")
                      for i in institutions]
            paths += [("settlement", f"/v1/settlement/institutions/{i}/prepayments")
                      for i in institutions]
        if "supply" in self.workers:
            paths += [("supply", "/v1/supply/shortages")]
        views = {}
        with httpx.Client(timeout=30) as client:
            for name, path in paths:
                answer = client.get(self.workers[name].url + path)
                views[f"{name} {path}"] = (answer.status_code, answer.json())
        return views


def compare(reference: Snapshot, run: Snapshot, *, late: bool = False) -> list[str]:
    """Every way `run` differs from `reference`. Decisions are compared by id: the same ids, and
    the same content for each (a repeated copy is allowed, consumers deduplicate by id, but a
    copy with other content is a difference); compacted outputs by their latest value per key;
    then the totals the read APIs answer.

    `late`: some input came after the periods it belongs to were evaluated. Decisions may then
    rightly differ (one already issued is not rewritten, contract: late events), and the read
    APIs show them; the totals in quota's latest progress per agreement and quarter must still
    come out the same, and no decision may have been issued twice with different content."""
    differences: list[str] = []
    for base in DECISIONS:
        if late:
            differences += _compare_by_id(base, run.outputs[base], run.outputs[base])
        else:
            differences += _compare_by_id(base, reference.outputs[base], run.outputs[base])
    for base in ("vbp.quota.progress",) if late else LATEST:
        expected, got = reference.latest[base], run.latest[base]
        differences += [f"{base}: key {key} missing" for key in sorted(expected.keys() - got)]
        differences += [f"{base}: key {key} extra" for key in sorted(got.keys() - expected)]
        differences += [f"{base}: key {key} {_brief(got[key])} != reference {_brief(value)}"
                        for key, value in sorted(expected.items())
                        if key in got and got[key] != value]
    for view, answer in reference.views.items():
        if not late and run.views.get(view) != answer:
            differences.append(f"{view}: {_brief(run.views.get(view))} != reference "
                               f"{_brief(answer)}")
    if not late:
        differences += [f"notification: alert {i} not notified"
                        for i in sorted(reference.notified.keys() - run.notified.keys())]
        differences += [f"notification: alert {i} notified, not in the reference"
                        for i in sorted(run.notified.keys() - reference.notified.keys())]
    differences += [f"notification: alert {i} sent twice (notifications {sorted(ids)})"
                    for i, ids in sorted(run.notified.items()) if len(ids) > 1]
    return differences


def _compare_by_id(base: str, reference: dict[str, list[dict]], run: dict[str, list[dict]],
                   ) -> list[str]:
    differences = [f"{base}: {i} missing" for i in sorted(reference.keys() - run.keys())]
    differences += [f"{base}: {i} extra" for i in sorted(run.keys() - reference.keys())]
    for i in sorted(reference.keys() & run.keys()):
        if run[i][0] != reference[i][0]:
            differences.append(f"{base}: {i} differs: {_brief(run[i][0])} != reference "
                               f"{_brief(reference[i][0])}")
    for i, copies in sorted(run.items()):
        if any(copy != copies[0] for copy in copies[1:]):
            differences.append(f"{base}: {i} has {len(copies)} copies that differ")
    return differences


def _brief(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def twice(events: Iterable[Emitted]) -> Iterator[Emitted]:
    """Every event sent two times in a row (a producer retry, a replayed batch)."""
    for item in events:
        yield item
        yield item


def last_complaints(workdir: Path, per_log: int = 6) -> str:
    """The last warnings and errors of each worker log under `workdir`: what a CI run that
    failed prints, since its logs are gone with its clone."""
    lines = []
    for path in sorted(workdir.glob("*/*.log")):
        found = [line for line in path.read_text(errors="replace").splitlines()
                 if ("[WARNING]" in line or "[ERROR]" in line)
                 and "producer buffer full" not in line]
        lines += [f"  {path.parent.name}: {line[:400]}" for line in found[-per_log:]]
    return "\n".join(lines)


async def _markers_only(reader: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
                        ) -> bool:
    """Whether offsets `start` to `end` hold only transaction markers, as `reader` (read
    committed) finds (a commit may stop short of the marker after a transactional writer's last
    record)."""
    reader.assign([tp])
    reader.seek(tp, start)
    records = await reader.getmany(tp, timeout_ms=1000, max_records=1)
    return not records.get(tp) and await reader.position(tp) >= end
