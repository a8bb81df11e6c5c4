"""The consume-transform-produce loop a stream processor runs on.

A service declares its inputs with a handler each (`consume` for topics keyed like its state,
`consume_shared` for 1-partition reference topics, the clock, and topics keyed otherwise), its
tables, and emits outputs from the handlers. The loop reads the inputs in batches with aiokafka
(`getmany`), decodes each record once, hands the events of each task (state partition) to their
handlers in timestamp order (timeline.py), and commits each task's outputs, changed state and
input offsets in one Kafka transaction (commit.py, which lists the protocol's steps).

What does not decode or validate goes to the dead-letter topic with the reason, in the same
transaction. A valid event that a handler fails on is not bad input: after a few tries its task
stops at that event (what came before it is committed), `health()` names the event and the
error, the other tasks go on, and the task tries the event again every `retry_seconds`, so it
resumes once the data or the code is mended.

A repeated event id is handled once: the ids of the last `dedupe_days` days of event time are
kept in each task's state; an older repeat must be caught by its business key (an order id
counted once), which the handlers' records carry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from runtime.codec import CONTENT_TYPE
from runtime.commit import MAX_MESSAGE_BYTES, CommitFailed, Record, TaskProducer
from runtime.state import Seen, Store, restore
from runtime.task import Failure, Input, Output, Table, Task, current, handling
from runtime.timeline import Cursor, Feed, Item, SharedLog, next_input
from runtime.topics import STATE_PARTITIONS, ensure_topics, partition_of
from schemas.base import EventData
from schemas.envelope import CloudEvent, new_event
from schemas.topics import DEADLETTER_HEADERS, TOPICS, TYPE_TOPIC, topic_name

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], Awaitable[None]]
SharedHandler = Callable[[CloudEvent, int], Awaitable[None]]
CURSORS = "__cursors"  # per task: shared topic[partition] -> next offset to handle
SEEN = "__seen-days"  # per task: event ids handled within the dedupe window (state.Seen)
TRIES = 3
SESSION_MS = 10_000
FENCED_WAIT = SESSION_MS / 1000 * 1.5  # commit.py step 5
YIELD_SECONDS = 0.1  # the longest a task handles events without letting the event loop run
LAST_RANK = 1 << 30  # the clock's, in timestamp ties (Processor._rank)
STALL_SECONDS = 30.0  # a task held up this long is reported (Processor.stalls)


class Rejected(Exception):
    """A handler's verdict that a well-formed event breaks a domain rule: it goes to dead letter."""


class HandlerFailed(Exception):
    """A valid event a handler failed on, every try."""


class Processor:
    """One service's stream processing: its inputs, tables and the loop."""

    def __init__(self, *, bootstrap: str, app_id: str, topic_prefix: str = "",
                 region_code: str = "", service: str = "", worker: str = "1",
                 partitions: int = STATE_PARTITIONS, dedupe_days: int = 31,
                 max_records: int = 5000, retry_seconds: float = 10.0,
                 replication: int = 1) -> None:
        self.bootstrap = bootstrap
        self.app_id = app_id
        self.prefix = topic_prefix
        self.region_code = region_code
        self.source = f"/service/{service or app_id}"
        self.worker = worker
        self.partitions = partitions
        self.dedupe_days = dedupe_days
        self.max_records = max_records
        self.retry_seconds = retry_seconds
        self.replication = replication  # of the changelogs it creates
        self.inputs: list[Input] = []
        self.table_names: list[str] = [CURSORS, SEEN]
        self.tasks: dict[int, Task] = {}
        self._starting: dict[int, float] = {}  # partition -> when to start it (monotonic)
        self._assignments = 0  # rebalances seen: a task started across one starts again
        self._recover: list[Callable[[], Awaitable[None] | None]] = []
        self._logs: dict[TopicPartition, SharedLog] = {}
        self._input_of: dict[str, Input] = {}  # deployed topic -> its input
        self.internal_topics: dict[str, int] = {}  # full name -> partitions
        self._clock = self.topic("vbp.clock")  # its records wait for the inputs' confirmed ends
        self._consumer: AIOKafkaConsumer | None = None
        self._shared: AIOKafkaConsumer | None = None
        self._ends: AIOKafkaConsumer | None = None  # asks for end offsets only
        self._busy = asyncio.Lock()
        self._stopping = asyncio.Event()
        self.counts = {"processed": 0, "duplicates": 0, "deadlettered": 0, "commits": 0,
                       "aborted": 0}

    # -- declaring ------------------------------------------------------------------------------

    def topic(self, base: str) -> str:
        return topic_name(base, self.prefix)

    def table(self, name: str) -> Table:
        if name in self.table_names:
            raise ValueError(f"table {name} declared twice")
        self.table_names.append(name)
        return Table(self.tasks, name)

    def changelog(self, name: str) -> str:
        return f"{self.app_id}-{name}-changelog"

    def on_recover(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        """Called after tasks are restored or dropped, and after a handler's failed try: rebuild
        what the service derives from its tables in memory."""
        self._recover.append(callback)

    def internal(self, name: str) -> str:
        return f"{self.app_id}-{name}"

    def _partitions_of(self, topic: str) -> int:
        internal = self.internal_topics.get(topic)
        return internal if internal is not None else TOPICS[topic[len(self.prefix):]].partitions

    def consume_internal(self, name: str, partitions: int
                         ) -> Callable[[Callable[..., Awaitable[None]]], Any]:
        """`handler(op)` (or `handler(op, partition)` for a topic of one partition, read in
        every task) for the JSON values of the service's own topic `<app id>-<name>`, which the
        processor creates. Keyed like the state when it has as many partitions."""
        topic = self.internal(name)
        if partitions not in (1, self.partitions):
            raise ValueError(f"{topic}: {partitions} partitions; 1 or {self.partitions}")
        self.internal_topics[topic] = partitions

        def register(handler: Callable[..., Awaitable[None]]) -> Any:
            spec = Input((topic,), handler, partitions != self.partitions, None, {},
                         internal=True)
            self._input_of[topic] = spec
            self.inputs.append(spec)
            return handler
        return register

    def _declare(self, bases: tuple[str, ...], handler: Callable[..., Awaitable[None]],
                 shared: bool, route: Callable[[CloudEvent], str | None] | None) -> None:
        allowed = {t: base for base in bases for t in TOPICS[base].types}
        spec = Input(bases, handler, shared, route, allowed)
        for base in bases:
            if not shared and TOPICS[base].partitions != self.partitions:
                raise ValueError(f"{base} has {TOPICS[base].partitions} partitions, the state "
                                 f"{self.partitions}: consume it shared")
            self._input_of[self.topic(base)] = spec
        self.inputs.append(spec)

    def consume(self, *bases: str) -> Callable[[Handler], Handler]:
        """`handler(event)` for the events of topics keyed like the state (partition p of each
        feeds task p)."""
        def register(handler: Handler) -> Handler:
            self._declare(bases, handler, False, None)
            return handler
        return register

    def consume_shared(self, *bases: str, route: Callable[[CloudEvent], str | None] | None = None
                       ) -> Callable[[SharedHandler], SharedHandler]:
        """`handler(event, partition)` for the events of `bases`, read by every worker in full:
        in every task, or, where `route` gives a key, in the task of that key's partition."""
        def register(handler: SharedHandler) -> SharedHandler:
            self._declare(bases, handler, True, route)
            return handler
        return register

    def input_time(self) -> int:
        """The broker timestamp (ms) of the input being handled: a tick stamped T is handled
        after every input stamped at or before T (timeline.py)."""
        item = handling("input_time").current
        assert item is not None
        return item.timestamp

    # -- emitting -------------------------------------------------------------------------------

    async def emit(self, data: EventData, *, id: str, subject: str, time: datetime,
                   key: str | None = None, coalesce: str | None = None) -> None:
        """`data` as an event of its model's type onto that type's topic (schemas/topics.py),
        in the current task's transaction, stamped with its input's timestamp. Of the outputs of
        one batch with the same `coalesce` key only the last is sent (a newer progress record
        supersedes an older one); decisions and warnings pass none."""
        task = handling("emit")
        task.outputs.append((Output(self.topic(TYPE_TOPIC[data.TYPE]), data.TYPE, data, id,
                                    subject, time, key, task.current.timestamp), coalesce))

    def emit_event(self, base: str, event: CloudEvent, key: str) -> None:
        """An event built elsewhere (another source's envelope: alliance's outbound), as is, in
        the current task's transaction."""
        task = handling("emit")
        task.outputs.append((Record(self.topic(base), key.encode(), event.to_json_bytes(),
                                    timestamp_ms=task.current.timestamp,
                                    headers=[("content-type", CONTENT_TYPE.encode())]), None))

    def emit_internal(self, name: str, key: str, op: dict[str, Any]) -> None:
        """A JSON operation onto the service's own topic `name` (consume_internal), in the
        current task's transaction."""
        task = handling("emit")
        value = json.dumps(op, ensure_ascii=False, separators=(",", ":")).encode()
        task.outputs.append((Record(self.internal(name), key.encode(), value,
                                    timestamp_ms=task.current.timestamp), None))

    def _record(self, output: Output) -> Record:
        event = new_event(output.type, output.data, id=output.id, source=self.source,
                          time=output.time, subject=output.subject, province=self.region_code)
        return Record(output.topic, (output.key or output.subject).encode(),
                      event.to_json_bytes(), timestamp_ms=output.timestamp_ms,
                      headers=[("content-type", CONTENT_TYPE.encode())])

    def _dead_letter(self, task: Task, item: Item, reason: str) -> None:
        value = item.value
        room = MAX_MESSAGE_BYTES - 8192 - len(item.key or b"")
        if value is not None and len(value) > room:
            reason = f"value cut to {room:,} of {len(value):,} bytes to fit; {reason}"
            value = value[:room]
        base = item.tp.topic[len(self.prefix):] if item.tp.topic.startswith(self.prefix) \
            else item.tp.topic
        headers = list(zip(DEADLETTER_HEADERS, (
            reason.encode("utf-8")[:4000], base.encode(), str(item.tp.partition).encode(),
            str(item.offset).encode()), strict=True))
        log.warning("dead letter %s[%s]@%s: %s", item.tp.topic, item.tp.partition, item.offset,
                    reason)
        task.outputs.append((Record(self.topic("vbp.deadletter"), item.key, value,
                                    timestamp_ms=item.timestamp, headers=headers), None))
        self.counts["deadlettered"] += 1

    # -- running --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read, handle and commit until `stop()`."""
        await ensure_topics(self.bootstrap, self.prefix, replication=self.replication,
                            internal=self.internal_topics,
                            changelogs={self.changelog(name): self.partitions
                                        for name in self.table_names})
        partitioned = self.group_topics()
        if not partitioned:
            raise ValueError("no input is read through the consumer group: no task would start")
        shared = sorted({t for t, spec in self._input_of.items() if spec.shared})
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.app_id, enable_auto_commit=False,
            isolation_level="read_committed", auto_offset_reset="earliest",
            group_instance_id=f"{self.app_id}-worker-{self.worker}",
            session_timeout_ms=SESSION_MS, heartbeat_interval_ms=2_000,
            max_partition_fetch_bytes=4 * 1024 * 1024)
        self._shared = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            isolation_level="read_committed", auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024)
        self._ends = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            isolation_level="read_committed")
        await self._consumer.start()
        await self._shared.start()
        await self._ends.start()
        try:
            shared_tps = [TopicPartition(topic, p) for topic in shared
                          for p in range(self._partitions_of(topic))]
            for rank, tp in enumerate(shared_tps):
                router = self._input_of[tp.topic].route
                route = None if router is None else (
                    lambda event, router=router: None if (k := router(event)) is None
                    else partition_of(k, self.partitions))
                self._logs[tp] = SharedLog(tp, self._rank(tp, len(partitioned) + rank), route,
                                           self.partitions)
            if self._logs:
                self._shared.assign(list(self._logs))
                await self._shared.seek_to_beginning(*self._logs)
            if partitioned:
                self._consumer.subscribe(partitioned, listener=_Listener(self))
            while not self._stopping.is_set():
                await self._step()
        finally:
            async with self._busy:
                for partition in list(self.tasks):
                    await self._drop(partition)
            await self._consumer.stop()
            await self._shared.stop()
            await self._ends.stop()

    async def stop(self) -> None:
        self._stopping.set()

    async def _step(self) -> None:
        assert self._consumer is not None and self._shared is not None
        now = time.monotonic()
        for partition, at in sorted(self._starting.items()):
            if at <= now:
                await self._start(partition)
        fetched = await self._consumer.getmany(timeout_ms=50, max_records=self.max_records)
        shared = await self._shared.getmany(timeout_ms=0, max_records=self.max_records) \
            if self._logs else {}
        async with self._busy:
            for tp, records in fetched.items():
                task = self.tasks.get(tp.partition)
                feed = task.feeds.get(tp) if task is not None else None
                if feed is not None:
                    feed.items.extend(self._item(r, tp) for r in records)
            for tp, records in shared.items():
                shared_log = self._logs[tp]
                for record in records:
                    shared_log.add(self._item(record, tp))
            for task in list(self.tasks.values()):
                for tp, feed in task.feeds.items():
                    lso = self._consumer.last_stable_offset(tp)
                    feed.position = await self._consumer.position(tp)
                    feed.at_end = lso is not None and feed.position >= lso
            for tp, shared_log in self._logs.items():
                lso = self._shared.last_stable_offset(tp)
                position = await self._shared.position(tp)
                shared_log.advance(position)
                shared_log.at_end = lso is not None and position >= lso
            now = time.monotonic()
            for task in list(self.tasks.values()):
                if task.failure is None or now >= task.failure.retry_at:
                    if task.committing is not None and not task.committing.done():
                        # handled on top of the batch in flight, committed after it; if that
                        # one fails, the task starts again from before both
                        await self._handle(task)
                        continue
                    await self._committed(task)
                    if self.tasks.get(task.partition) is task:  # not restarted by its commit
                        await self._handle(task)
                        task.commit_since = time.monotonic()
                        task.committing = asyncio.create_task(self._commit(task))
            self._trim_logs()

    async def _handle(self, task: Task) -> None:
        token = current.set(task)
        yielded = time.monotonic()
        try:
            for _ in range(self.max_records * 2):
                if time.monotonic() - yielded > YIELD_SECONDS:
                    # the consumer's heartbeat runs on this event loop: starved for a session
                    # (a replay's batches, a tick evaluating every institution), the group
                    # takes the worker's partitions away (seen: settlement's session expired
                    # twice in the fault suite's first minute)
                    await asyncio.sleep(0)
                    yielded = time.monotonic()
                    if self.tasks.get(task.partition) is not task:
                        break  # meanwhile the transaction in flight failed: it starts again
                source = next_input(task.inputs())
                if source is None:
                    self._note_held(task)
                    break
                task.held = None
                item = source.head()
                assert item is not None
                if item.tp.topic == self._clock and task.confirmed != (item.tp, item.offset):
                    if not await self._ends_confirmed(task):
                        break  # an input has records not fetched yet: the tick waits
                    task.confirmed = (item.tp, item.offset)
                task.current = item
                try:
                    await self._handle_item(task, item, isinstance(source, Cursor))
                except HandlerFailed as error:
                    assert self._consumer is not None
                    self._consumer.pause(*task.feeds)  # nothing more fetched until it resumes
                    now = time.monotonic()
                    since = task.failure.since if task.failure else now
                    label = f"{item.tp.topic}[{item.tp.partition}]@{item.offset}"
                    task.failure = Failure(label, str(error), since, now + self.retry_seconds)
                    log.error("task %s stopped at %s: %s", task.partition, label, error)
                    break
                source.pop()
                if isinstance(source, Feed):
                    task.handled[source.tp] = source.done = item.offset + 1
                if task.failure is not None:
                    log.warning("task %s resumed after %s", task.partition, task.failure.label)
                    task.failure = None
                    assert self._consumer is not None
                    self._consumer.resume(*task.feeds)
            for tp, feed in task.feeds.items():
                # every record below the position is handled: what is left are transaction
                # markers, which no consumer is handed; committing past them ends the lag
                if not feed.items and feed.position > feed.done:
                    task.handled[tp] = feed.done = feed.position
            if not task.caught_up and task.failure is None and all(
                    source.head() is None and not source.waiting() for source in task.inputs()):
                task.caught_up = True
        finally:
            task.current = None
            current.reset(token)

    async def _ends_confirmed(self, task: Task) -> bool:
        """Whether the inputs that look read to their end are, by the broker's last stable
        offsets now. A tick is handled after every input stamped before it, and an input's end
        as the last fetch saw it may be stale (seen: a tick sent after an agreement was handled
        before it, the agreement's partition not fetched again yet). One request per tick."""
        assert self._ends is not None
        feeds = [f for f in task.feeds.values() if not f.items and f.at_end]
        cursors = [c for c in task.cursors.values() if c.head() is None and c.log.at_end]
        tps = [f.tp for f in feeds] + [c.tp for c in cursors]
        # its own client: a request behind a fetch's long poll on the same connection would
        # wait for it (seen: 500 ms per tick)
        ends = await self._ends.end_offsets(tps) if tps else {}
        confirmed = True
        for feed in feeds:
            if feed.position < ends[feed.tp]:
                feed.at_end = confirmed = False
        for cursor in cursors:
            if cursor.log.next < ends[cursor.tp]:
                cursor.log.at_end = confirmed = False
        return confirmed

    def _rank(self, tp: TopicPartition, rank: int) -> int:
        """Ties of timestamps go by rank: a tick after every input stamped in its millisecond,
        since it covers what was stamped at or before it (seen: the simulator's tick shared a
        millisecond with the day's last orders, and supply judged the day without them in
        some runs)."""
        return LAST_RANK if tp.topic == self._clock else rank

    def _note_held(self, task: Task) -> None:
        """Remember which input holds the task back while records of others wait."""
        if not any(source.head() is not None for source in task.inputs()):
            task.held = None
            return
        waiting = next((s for s in task.inputs() if s.waiting()), None)
        if waiting is None:
            task.held = None
            return
        label = f"{waiting.tp.topic}[{waiting.tp.partition}]"
        if task.held is None or task.held[0] != label:
            task.held = (label, time.monotonic())

    def stalls(self) -> list[str]:
        """What holds a task up for longer than STALL_SECONDS: a handler still on one event, an
        input that neither delivers nor reaches its end while others' records wait, a
        transaction not answered. Empty while everything flows."""
        now = time.monotonic()
        found = []
        for partition, task in sorted(self.tasks.items()):
            item = task.current
            if item is not None and now - task.handling_since > STALL_SECONDS:
                found.append(f"task {partition}: handling {item.tp.topic}[{item.tp.partition}]@"
                             f"{item.offset} for {now - task.handling_since:.0f} s")
            if task.held is not None and now - task.held[1] > STALL_SECONDS:
                found.append(f"task {partition}: waiting {now - task.held[1]:.0f} s for "
                             f"{task.held[0]} (not fetched, not at its end) while other inputs "
                             f"have records")
            if task.committing is not None and not task.committing.done() \
                    and now - task.commit_since > STALL_SECONDS:
                found.append(f"task {partition}: transaction in flight for "
                             f"{now - task.commit_since:.0f} s")
        return found

    def _item(self, record: Any, tp: TopicPartition) -> Item:
        """An event of a type its topic does not carry is as invalid as one that does not
        decode: dead-lettered once, also on a shared input. `tp`: the record's, shared by its
        batch (a TopicPartition per record costs more than its decoding's checks)."""
        if self._input_of[tp.topic].internal:
            return Item.of(record, tp, internal=True)
        item = Item.of(record, tp)
        arrived_on = tp.topic[len(self.prefix):]
        if item.event is not None and TOPICS[arrived_on].types:  # else open: any registered type
            home = self._input_of[item.tp.topic].allowed.get(item.event.type)
            if home is None:
                item.error = f"type {item.event.type!r} is not carried on this topic"
            elif home != arrived_on:
                item.error = f"type {item.event.type!r} belongs on {home}, not on {arrived_on}"
            if item.error is not None:
                item.event = None
        return item

    async def _handle_item(self, task: Task, item: Item, shared: bool) -> None:
        if item.event is None:
            self._dead_letter(task, item, item.error or "not a CloudEvent")
            return
        spec = self._input_of[item.tp.topic]
        event = item.event
        # a record every task handles counts once per worker: in its first task
        counted = not shared or item.task is not None or task.partition == min(self.tasks)
        seen_key = None if spec.internal else f"{item.tp.topic[len(self.prefix):]}:{event.id}"
        if seen_key is not None and seen_key in task.seen:
            self.counts["duplicates"] += counted
            return
        stores = task.stores.values()
        mark = len(task.outputs)
        task.handling_since = time.monotonic()
        for attempt in range(1, TRIES + 1):
            for store in stores:
                store.begin_event()
            try:
                if shared:
                    await spec.handler(event, task.partition)
                else:
                    await spec.handler(event)
            except Rejected as rejected:
                for store in stores:
                    store.rollback()
                del task.outputs[mark:]
                self._dead_letter(task, item, str(rejected))
                return
            except Exception as error:
                for store in stores:
                    store.rollback()
                del task.outputs[mark:]
                await self._rebuild()
                log.exception("handler %s failed on %s (try %d of %d)",
                              spec.handler.__name__, event.id, attempt, TRIES)
                if attempt == TRIES:
                    raise HandlerFailed(f"{event.id}: {type(error).__name__}: {error}") from error
            else:
                break
            finally:
                for store in stores:
                    store.end_event()
        if seen_key is not None:
            task.seen.add(seen_key, event.time.date().toordinal())
        self.counts["processed"] += counted

    async def _committed(self, task: Task) -> None:
        """Wait for the task's transaction in flight, if any."""
        if task.committing is not None:
            await task.committing
            task.committing = None

    async def _commit(self, task: Task) -> None:
        for cursor in task.cursors.values():
            key = _cursor_key(cursor.tp)
            if task.stores[CURSORS].get(key) != cursor.offset:
                task.stores[CURSORS][key] = cursor.offset
        task.seen.forget(self.dedupe_days)
        latest: dict[str, int] = {}
        for i, (_, coalesce) in enumerate(task.outputs):
            if coalesce is not None:
                latest[coalesce] = i
        records = [self._record(out) if isinstance(out, Output) else out
                   for i, (out, coalesce) in enumerate(task.outputs)
                   if coalesce is None or latest[coalesce] == i]
        for name, changes in [*((name, store.changes()) for name, store in task.stores.items()),
                              (SEEN, task.seen.changes())]:
            topic = self.changelog(name)
            records += [Record(topic, key.encode(), value, partition=task.partition)
                        for key, value in changes]
        offsets = dict(task.handled)
        task.outputs.clear()
        task.handled.clear()
        if not records and not offsets:
            return
        try:
            await task.producer.commit(records, offsets, self.app_id)
            self.counts["commits"] += 1
        except CommitFailed as failed:
            self.counts["aborted"] += 1
            await self._restart(task.partition, FENCED_WAIT if failed.fenced else 0.0)

    def _trim_logs(self) -> None:
        for tp, shared_log in self._logs.items():
            offsets = [t.cursors[tp].offset for t in self.tasks.values() if tp in t.cursors]
            shared_log.trim(min(offsets) if offsets else shared_log.next)

    # -- tasks ------------------------------------------------------------------------------------

    def _partitioned_tps(self, partition: int) -> list[TopicPartition]:
        return [TopicPartition(topic, partition) for topic in self.group_topics()]

    async def _start(self, partition: int) -> None:
        """commit.py steps 1 and 2: fence, restore, read on from the last commit."""
        assert self._consumer is not None and self._shared is not None
        assignment = self._assignments
        producer = TaskProducer(self.bootstrap, f"{self.app_id}-task-{partition}")
        await producer.start()
        changelogs = {name: TopicPartition(self.changelog(name), partition)
                      for name in self.table_names}
        restored = await restore(self.bootstrap, list(changelogs.values()))
        stores = {}
        for name, tp in changelogs.items():
            if name != SEEN:
                stores[name] = Store(name, partition)
                stores[name].data = restored[tp]
        task = Task(partition, producer, stores, seen=Seen(restored[changelogs[SEEN]]))
        tps = self._partitioned_tps(partition)
        committed = {tp: await self._consumer.committed(tp) or 0 for tp in tps}
        async with self._busy:
            if self._assignments != assignment:
                # revoked meanwhile (seen: a second worker joining), and perhaps given back:
                # what was read may be stale; start again if the task is still this worker's
                await producer.stop()
                if partition in self._starting:
                    self._starting[partition] = time.monotonic()
                return
            for rank, tp in enumerate(tps):
                feed = task.feeds[tp] = Feed(tp, self._rank(tp, rank))
                feed.position = feed.done = committed[tp]
                self._consumer.seek(tp, feed.done)
            for tp, shared_log in self._logs.items():
                offset = stores[CURSORS].get(_cursor_key(tp), 0)
                alone = not any(tp in t.cursors for t in self.tasks.values())
                # read again from the earliest cursor: further back than what is kept, or
                # nothing kept for anyone (a restart need not read what its tasks handled)
                if offset < shared_log.first() or (alone and offset != shared_log.next):
                    shared_log.reset(offset)
                    self._shared.seek(tp, offset)
                task.cursors[tp] = Cursor(shared_log, partition, offset)
            self.tasks[partition] = task
            del self._starting[partition]
            self._consumer.resume(*tps)
            await self._rebuild()
        log.info("task %s started: %s", partition,
                 {**{name: len(store) for name, store in stores.items()}, SEEN: len(task.seen)})

    async def _drop(self, partition: int) -> None:
        task = self.tasks.get(partition)
        if task is not None and task.committing is not None \
                and task.committing is not asyncio.current_task():
            await self._committed(task)
        task = self.tasks.pop(partition, None)
        self._starting.pop(partition, None)
        if task is not None:
            await task.producer.stop()
            await self._rebuild()

    async def _restart(self, partition: int, after: float) -> None:
        """commit.py step 5: start again from the last commit, `after` seconds from now if the
        group still gives this worker the task then."""
        log.warning("task %s starts again from its last commit in %.0f s", partition, after)
        await self._drop(partition)
        if self._consumer is not None:
            tps = [tp for tp in self._partitioned_tps(partition)
                   if tp in self._consumer.assignment()]
            if tps:
                self._consumer.pause(*tps)
                self._starting[partition] = time.monotonic() + after

    async def _rebuild(self) -> None:
        for callback in self._recover:
            result = callback()
            if asyncio.iscoroutine(result):
                await result

    def caught_up(self) -> set[int]:
        """The tasks here that have handled their inputs to the end at least once since they
        started: what they owe is known (alerts' delivery plans only for these)."""
        return {p for p, task in self.tasks.items() if task.caught_up}

    def group_topics(self) -> list[str]:
        """The topics read through the consumer group (whose committed offsets show its lag);
        the shared inputs' positions are kept in each task's state."""
        return sorted(t for t, spec in self._input_of.items() if not spec.shared)

    def health(self) -> dict[str, Any]:
        failed = {str(p): {"event": t.failure.label, "error": t.failure.error,
                           "for_seconds": round(time.monotonic() - t.failure.since)}
                  for p, t in sorted(self.tasks.items()) if t.failure is not None}
        return {"status": "failing" if failed else "ok", "tasks": sorted(self.tasks),
                "stalls": self.stalls(),
                "starting": sorted(self._starting), "failed": failed,
                "shared_behind": self._shared_behind(), **self.counts}

    def _shared_behind(self) -> int:
        """Records of the shared inputs that the tasks here have not committed as handled, as
        far as this worker has fetched (-1: not known yet, before the group has given this
        worker its tasks and they have started). The group's committed offsets
        show the lag of the other inputs."""
        if self._shared is None or not self._assignments or self._starting:
            return -1  # tasks not given or not started yet (seen: 0 reported before any task)
        behind = 0
        for tp in self._logs:
            end = self._shared.last_stable_offset(tp)
            if end is None:
                return -1
            for task in self.tasks.values():
                behind += max(0, end - task.stores[CURSORS].get(_cursor_key(tp), 0))
        return behind


def _cursor_key(tp: TopicPartition) -> str:
    return f"{tp.topic}[{tp.partition}]"


class _Listener(ConsumerRebalanceListener):
    """Tasks follow the group's assignment: a revoked task is dropped once the batch in hand is
    committed; an assigned one is paused until it has fenced, restored and sought (`_start`)."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: Any) -> None:
        p = self.processor
        p._assignments += 1
        async with p._busy:
            for partition in sorted({tp.partition for tp in revoked}):
                await p._drop(partition)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        p = self.processor
        p._assignments += 1
        assert p._consumer is not None
        if assigned:
            p._consumer.pause(*assigned)
        for partition in {tp.partition for tp in assigned} - set(p.tasks):
            p._starting[partition] = 0.0
