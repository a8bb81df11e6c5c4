"""The faust app every service is built on.

A service declares which contract topics it consumes and gives one handler per topic group; the
runtime does the rest the same way for all of them: decode the CloudEvent, send what is invalid to
the dead-letter topic with the reason, process a repeated event id once, fan clock ticks out to
every partition so each partition's state is evaluated where it lives, and emit output events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.exceptions import ProducerSendError
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.types import EventT
from faust.types.tuples import FutureMessage
from pydantic import BaseModel

from runtime.clock import InputClock, Rebalancing
from runtime.codec import CONTENT_TYPE, InvalidEvent, decode
from runtime.commit import MAX_MESSAGE_BYTES
from runtime.loop import Rejected
from runtime.retry import until_answered
from runtime.settings import Settings
from runtime.shell import Reply, Shell  # noqa: F401 (Reply: the services' import)
from runtime.topics import STATE_PARTITIONS, partition_of  # noqa: F401 (the services' import)
from schemas.envelope import CloudEvent, new_event
from schemas.topics import TOPICS

log = logging.getLogger(__name__)
STALL_SECONDS = 30.0  # an event in processing this long is reported (Service._report_stalls)

_buffer_put = ProducerBuffer.put
_buffer_send = ProducerBuffer._send_pending
_handle_attached = FaustConsumer._handle_attached
_fetch_records = AIOKafkaConsumerThread._fetch_records
_new_offset = FaustConsumer._new_offset
_add_gap = FaustConsumer._add_gap


@dataclass(eq=False)
class _EventScope:
    """The event an agent is processing: set when it is done, and the outputs it sent."""

    done: asyncio.Event
    outputs: list[asyncio.Future[Any]]
    label: str = ""  # topic[partition]@offset
    started: float = 0.0  # loop time
    waiting_for_inputs: bool = False  # a tick in InputClock.wait_for (which logs on its own)


# Events being processed (Service._process), for the stall report (Service._report_stalls).
_IN_FLIGHT: set[_EventScope] = set()


_scope: ContextVar[_EventScope | None] = ContextVar("vbp_event_scope", default=None)


def _tracked_put(self: ProducerBuffer, fut: FutureMessage) -> None:
    """Remember every buffered send (table changelog writes) until the broker acknowledges it,
    and the event whose processing made it."""
    unacked: set[FutureMessage] = self.__dict__.setdefault("vbp_unacked", set())
    unacked.add(fut)
    fut.add_done_callback(unacked.discard)
    fut.vbp_scope = _scope.get()  # type: ignore[attr-defined]
    _buffer_put(self, fut)


async def _send_after_outputs(self: ProducerBuffer, fut: FutureMessage) -> None:
    """Send a table write only once its event is done and the broker has the event's outputs.

    State (a record, the memory of a processed event id, an issued decision) must never reach
    Kafka before the outputs it stands for: after a crash the event is processed again, finds
    itself already absorbed, and would not send them again (seen: a quota progress update lost
    after a SIGKILL). The buffer sends in order, so one event waiting holds back the later ones;
    their outputs are acknowledged meanwhile."""
    scope = getattr(fut, "vbp_scope", None)
    if scope is not None:
        self.__dict__["vbp_holding"] = scope  # for the stall report
        await scope.done.wait()
        pending = [output for output in scope.outputs if not output.done()]
        if pending:
            await asyncio.wait(pending)
        self.__dict__["vbp_holding"] = None
    await _buffer_send(self, fut)


def track_output(sent: asyncio.Future[Any]) -> None:
    """Count `sent` (the future a faust send returns) among the outputs of the event being
    processed: its table writes wait for it (_send_after_outputs)."""
    scope = _scope.get()
    if scope is not None:
        scope.outputs.append(sent)


async def _table_writes_then_handle_attached(self: FaustConsumer, commit_offsets: Any) -> None:
    """Before faust commits offsets, wait until the broker has every table write made so far.

    faust waits only for messages "attached" to an offset; table changelog writes go through its
    producer buffer unattached, and its `flush()` gives up after 0.1 s without a send, so under
    load an offset could be committed before the state change it produced was written, and a
    crash then lost that change (seen: one order missing after a SIGKILL; a supply escalation
    ladder that forgot a step). The offsets are already chosen when this runs, so their events'
    writes are in the buffer. A failed write stops the commit: the events are processed again.
    """
    for tp in commit_offsets:  # not past a tick given up for a rebalance: it is read again
        if tp in _GIVEN_UP and commit_offsets[tp] > _GIVEN_UP[tp]:
            commit_offsets[tp] = _GIVEN_UP[tp]
    unacked = list(self.app.producer.buffer.__dict__.get("vbp_unacked", ()))
    if unacked:
        await asyncio.wait(unacked)
        failed = [fut for fut in unacked if fut.cancelled() or fut.exception() is not None]
        if failed:
            reason = "cancelled" if failed[0].cancelled() else repr(failed[0].exception())
            raise ProducerSendError(f"table write failed, offsets not committed: {reason}")
    await _handle_attached(self, commit_offsets)


# Offsets of events given up for a rebalance (clock.Rebalancing), per partition: commits stop
# there until the partitions are revoked; whoever gets a partition next reads it from there.
_GIVEN_UP: dict[TopicPartition, int] = {}


async def _fetch_active_only(self: AIOKafkaConsumerThread, consumer: Any, active_partitions: Any,
                             timeout: float | None = None, max_records: int | None = None) -> Any:
    """faust hands aiokafka's thread its live set of active partitions. Emptied meanwhile (the
    recovery pausing the changelogs while the inputs are paused), aiokafka reads an empty set as
    "every partition" and hands over the records of paused ones, which faust then drops."""
    active = set(active_partitions)
    if not active:
        return {}
    return await _fetch_records(self, consumer, active, timeout=timeout, max_records=max_records)


# Topics whose records compaction removes: gaps between their offsets are real.
_COMPACTED = tuple(base for base, topic in TOPICS.items() if topic.compacted)


async def _gap_only_where_records_can_be_gone(self: FaustConsumer, tp: Any, offset_from: int,
                                              offset_to: int) -> None:
    """faust takes a jump between the offsets it delivers for offsets without records and counts
    them as acknowledged. On a compacted topic that may be so; on the others the records exist,
    faust's fetch loop dropped them, Service._in_sequence reads them again, and a commit over
    them first would lose them in a crash. The gaps it proves empty it adds itself."""
    if tp.topic.endswith(_COMPACTED):
        await _add_gap(self, tp, offset_from, offset_to)


def _new_offset_in_order(self: FaustConsumer, tp: Any) -> int | None:
    """faust's commit point for `tp`, from the offsets acknowledged since its last commit: the
    end of the first run of consecutive ones. Here each offset counts once (a record read again
    after a seek back is acknowledged again, and faust's run ends at the repeat: seen, commits
    creeping one offset at a time for a quarter of an hour after a rebalance), offsets already
    committed are left out, and nothing is committed while the record at the committed offset
    itself is missing (faust lets one missing record through)."""
    acked, gap = self._acked[tp], self._gap[tp]
    if acked and gap:
        for interval in gap.overlap(0, max(acked) + 1):
            acked.extend(range(interval.begin, interval.end))
        gap.chop(0, max(acked) + 1)
    committed = self._committed_offset[tp]
    counted = sorted({offset for offset in acked if committed is None or offset >= committed})
    acked[:] = counted
    self._acked_index[tp].intersection_update(counted)
    if committed is not None and counted and counted[0] > committed:
        return None
    return _new_offset(self, tp)


def _not_acknowledged(consumer: FaustConsumer, message: Any) -> None:
    """Keep faust from counting `message` as processed when its agent moves on: a record sent
    back to be read again after the records before it (Service._in_sequence) would otherwise
    let a commit cover it before it is processed."""
    message.acked = True  # faust's own flag: its ack() then leaves the offset out
    consumer._unacked_messages.discard(message)


ProducerBuffer.put = _tracked_put  # type: ignore[method-assign]
ProducerBuffer._send_pending = _send_after_outputs  # type: ignore[method-assign]
FaustConsumer._handle_attached = _table_writes_then_handle_attached  # type: ignore[method-assign]
AIOKafkaConsumerThread._fetch_records = _fetch_active_only  # type: ignore[method-assign]
FaustConsumer._add_gap = _gap_only_where_records_can_be_gone  # type: ignore[method-assign]
FaustConsumer._new_offset = _new_offset_in_order  # type: ignore[method-assign]

Handler = Callable[[CloudEvent], Awaitable[None]]
PartitionHandler = Callable[[CloudEvent, int], Awaitable[None]]

TICK_TIMESTAMP = "vbp-tick-timestamp"  # broker timestamp of the tick, carried across the relay


def broker_time(message: Any) -> int:
    """A record's broker timestamp in ms (faust hands it over in seconds, as a float)."""
    return round(message.timestamp * 1000)


def input_time() -> int:
    """The broker timestamp (ms) of the input record being processed, the original's for a
    relayed copy: a tick stamped at T comes after every input stamped at or before T
    (runtime/clock.py)."""
    event = faust.current_event()
    assert event is not None
    relayed = dict(event.message.headers or {}).get(TICK_TIMESTAMP)
    return int(relayed) if relayed is not None else broker_time(event.message)


class Service(Shell):
    """One faust app: its topics, tables, agents and web pages."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            topic_partitions=STATE_PARTITIONS,
            processing_guarantee=settings.processing_guarantee,
            consumer_auto_offset_reset="earliest",
            # A killed worker restarting under the same static member id takes its partitions
            # back at once; without it, the group would split the partitions between the new
            # worker and its dead predecessor until the session timed out, and the new worker
            # would evaluate rules (product-wide, province-wide) on half its tables.
            consumer_group_instance_id=f"{settings.app_id}-worker-{settings.worker}",
            # A worker that is gone for good loses its partitions after this (faust: 60 s).
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
        )
        self.deadletter = self._raw_topic("vbp.deadletter")
        self._outputs: dict[str, faust.TopicT] = {}  # per contract topic base (emit)
        self.ticks: faust.Table | None = None  # on_tick's
        self.clock = InputClock(settings.bootstrap, settings.app_id,
                                paused=lambda: not self.app.consumer.flow_active)
        self.app.on_before_shutdown.connect(self._close_clock)
        # Input events processed, repeats ignored, dead-lettered; and the copies of reference
        # data and ticks relayed to each state partition, applied there (_broadcast).
        self.counts: dict[str, int] = {"processed": 0, "duplicates": 0, "deadlettered": 0,
                                       "relayed": 0}
        self.inputs: set[str] = set()  # every topic an agent reads, prefixed (shown on /health)
        self._next_offset: dict[TopicPartition, int] = {}  # per input partition (_in_sequence)
        self._rewound_to: dict[TopicPartition, tuple[int, int]] = {}  # (expected, first seen)
        self._reseeking: dict[TopicPartition, asyncio.Future[None]] = {}  # _seek_until_read
        self._counting: dict[TopicPartition, asyncio.Future[None]] = {}  # _count_once_sent
        self.app.on_partitions_revoked.connect(self._forget_positions)
        self._last_processed = 0.0  # loop time of the last event processed
        self.app.timer(STALL_SECONDS)(self._report_stalls)

    async def _report_stalls(self) -> None:
        """Log what holds the worker up, every STALL_SECONDS while it lasts: an event in
        processing (or a table write waiting for its event) for longer; input waiting while
        nothing has been processed for as long; what was processed that long ago and is still
        not committed (faust's acknowledged offsets and gaps); and what faust fetches. Silent
        while all flows."""
        now = asyncio.get_running_loop().time()
        slow = sorted(((now - scope.started, scope) for scope in _IN_FLIGHT
                       if now - scope.started > STALL_SECONDS
                       and not scope.waiting_for_inputs), key=lambda pair: -pair[0])
        buffer = self.app.producer.buffer
        holding = buffer.__dict__.get("vbp_holding")
        consumer = self.app.consumer
        behind: dict[str, tuple[int, int]] = {}
        uncommitted: dict[str, tuple[Any, ...]] = {}
        if now - self._last_processed > STALL_SECONDS:  # idle
            for tp, position in self._next_offset.items():
                name = f"{tp.topic}[{tp.partition}]"
                highwater = consumer.highwater(tp) or 0
                if highwater > position:
                    behind[name] = (position, highwater)
                committed = consumer._committed_offset.get(tp)
                if (committed or 0) < position:  # faust commits every few seconds
                    uncommitted[name] = (
                        committed, position, sorted(consumer._acked.get(tp, ()))[:5],
                        [(i.begin, i.end) for i in sorted(consumer._gap.get(tp, ()))][:5],
                        _GIVEN_UP.get(tp))
        if not slow and not behind and not uncommitted and (
                holding is None or now - holding.started < STALL_SECONDS):
            return
        if behind:
            log.warning("stalled: nothing processed for %.0f s; behind (next, highwater): %s",
                        now - self._last_processed, behind)
        if uncommitted:
            log.warning("stalled: processed, not committed (committed, next, first acked, "
                        "first gaps, given up at): %s", uncommitted)
        for age, scope in slow:
            log.warning("stalled: %s in processing for %.0f s (%d outputs not acknowledged)",
                        scope.label, age, sum(not o.done() for o in scope.outputs))
        if holding is not None:
            log.warning("stalled: %d table writes buffered behind one of %s (done %s, %d outputs "
                        "not acknowledged); %d writes not acknowledged", buffer.size,
                        holding.label, holding.done.is_set(),
                        sum(not o.done() for o in holding.outputs),
                        len(buffer.__dict__.get("vbp_unacked", ())))
        log.warning("stalled: flow %s; paused %s; buffered %s; active %d of %d assigned",
                    "active" if consumer.flow_active else "stopped",
                    sorted(map(str, getattr(consumer, "_paused_partitions", ()))),
                    sorted(map(str, getattr(consumer, "_buffered_partitions", ()))),
                    len(consumer._get_active_partitions()), len(consumer.assignment()))

    async def _close_clock(self, app: Any, **kwargs: Any) -> None:
        for task in [*self._reseeking.values(), *self._counting.values()]:
            task.cancel()
        await self.clock.close()

    # -- topics and tables --------------------------------------------------------------------

    def _raw_topic(self, *bases: str) -> faust.TopicT:
        return self.app.topic(
            *(self.settings.topic(base) for base in bases),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    def internal_topic(self, name: str, partitions: int) -> faust.TopicT:
        """A topic of this service's own (raw bytes), created before the worker subscribes: faust
        would create it lazily, after the group's assignment, and then never read it."""
        self.internal_topics[name] = partitions
        return self.app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
            internal=True,
        )

    def changelog_topics(self) -> dict[str, int]:
        """Every table's changelog topic (full name: partitions). Created before the worker
        starts: faust creates them itself once it runs, but a consumer whose first metadata
        predates them sees 0 partitions, and the first write to the table then crashes its
        agent with PartitionsMismatch (the event in hand is lost with it)."""
        return {
            table.changelog_topic.get_topic_name(): table.partitions or STATE_PARTITIONS
            for table in self.app.tables.values()
        }

    def table(self, name: str, partitions: int = STATE_PARTITIONS) -> faust.Table:
        """A changelog-backed table; its partitions must match the topics of the agent writing it
        (the stateful inputs by default, 1 for reference data)."""
        return self.app.Table(name, default=None, partitions=partitions)

    # -- consuming ----------------------------------------------------------------------------

    def consume(self, *bases: str, keyed_apart: bool = False,
                counted_once_sent: bool = False) -> Callable[[Handler], Handler]:
        """Register `handler` for the events of the contract topics `bases`.

        Keep one agent per topic group at concurrency 1: with more, faust can commit an offset
        past an event still in flight (faust-streaming issue 606).

        `keyed_apart`: the topics are not keyed like the service's state (e.g. settlement reads
        vbp.quota.progress, keyed by agreement, while its state is keyed by institution). Every
        partition of them then feeds every state partition's ticks, outputs of other services
        included, so a tick waits for all of them.

        `counted_once_sent`: the tick clock counts an event processed only once the broker has
        its outputs (a relay's copies, which a tick's target on the relay is taken from).
        """
        partitions = {TOPICS[base].partitions for base in bases}
        if len(partitions) != 1:
            raise ValueError(f"topics {bases} differ in partition count; consume them separately")
        allowed = {t: base for base in bases for t in TOPICS[base].types}
        # Alliance topics carry any registered type (schemas.topics); the decoder checks it.
        open_topic = next((base for base in bases if not TOPICS[base].types), None)

        for base in bases:
            topic = TOPICS[base]
            if base == "vbp.clock" or (topic.direction != "input" and not keyed_apart):
                continue
            for state_partition in range(STATE_PARTITIONS):
                if keyed_apart:
                    sources = list(range(topic.partitions))
                else:
                    sources = [state_partition if topic.partitions == STATE_PARTITIONS else 0]
                for source in sources:
                    tp = TopicPartition(self.settings.topic(base), source)
                    self.clock.feeds(state_partition, tp)

        def register(handler: Handler) -> Handler:
            name = handler.__name__
            seen = self.app.Table(f"seen-{name}", default=None, partitions=partitions.pop())
            topic = self._raw_topic(*bases)
            self.inputs.update(self.settings.topic(base) for base in bases)

            async def agent(stream: faust.StreamT) -> None:
                async for event in stream.events():
                    await self._process(event, allowed, seen, handler, open_topic,
                                        counted_once_sent)

            agent.__name__ = name
            agent.__qualname__ = name
            self.app.agent(topic, name=f"{self.settings.app_id}.{name}")(agent)
            return handler

        return register

    def on_tick(self, handler: PartitionHandler) -> PartitionHandler:
        """Call `handler(tick, partition)` once per state partition for every clock tick.

        `vbp.clock` has one partition but state lives in several: a relay copies each tick to
        every partition of an internal topic, so each partition is evaluated by its owner.
        """
        relay = self._broadcast("ticks", "vbp.clock")
        # per state partition, the day of its latest tick: in a table, so a worker restarted
        # with no tick left to read still knows its "today" (as_of)
        self.ticks = self.table("ticks")

        async def partition_tick(tick: CloudEvent, partition: int) -> None:
            scope = _scope.get()
            if scope is not None:
                scope.waiting_for_inputs = True
            await self.clock.wait_for(partition, input_time())
            if scope is not None:
                scope.waiting_for_inputs = False
                scope.started = asyncio.get_running_loop().time()
            await handler(tick, partition)
            as_of = tick.data.as_of.isoformat()
            if as_of > (self.ticks.get(str(partition)) or ""):
                self.ticks[str(partition)] = as_of

        partition_tick.__name__ = f"tick_{handler.__name__}"
        self._per_partition(relay, ("vbp.clock",), "ticks", partition_tick)
        return handler

    def on_reference(self, *bases: str) -> Callable[[PartitionHandler], PartitionHandler]:
        """Call `handler(event, partition)` once per state partition for every event of the
        1-partition reference topics `bases` (vbp.ref.*).

        Every state partition keeps its own copy of the reference data, so whichever worker of
        the group owns a partition has the agreements, products and institutions it needs (a
        1-partition table lives on one worker only). A tick on a partition waits until the
        copies stamped before it are applied there.
        """
        relay = self._broadcast("reference", *bases)
        for partition in range(STATE_PARTITIONS):  # the source topics feed every partition too
            tp = TopicPartition(relay.get_topic_name(), partition)
            self.clock.feeds(partition, tp, relayed=True)

        def register(handler: PartitionHandler) -> PartitionHandler:
            self._per_partition(relay, bases, "reference", handler)
            return handler

        return register

    def _broadcast(self, name: str, *bases: str) -> faust.TopicT:
        """An internal topic `<app>-<name>` with STATE_PARTITIONS partitions, and an agent that
        copies every event of the 1-partition topics `bases` to each of its partitions, with the
        original's broker timestamp in the TICK_TIMESTAMP header."""
        relay = self.internal_topic(f"{self.settings.app_id}-{name}", STATE_PARTITIONS)

        async def relay_copies(_: CloudEvent) -> None:
            event = faust.current_event()
            assert event is not None
            stamp = [(TICK_TIMESTAMP, str(broker_time(event.message)).encode())]
            for partition in range(STATE_PARTITIONS):
                track_output(await relay.send(key=None, value=event.message.value,
                                              partition=partition, headers=stamp))

        relay_copies.__name__ = "relay_tick" if name == "ticks" else f"relay_{name}"
        # In the log before the source counts as processed: a tick waiting for a relayed feed
        # takes the relay's end offset as its target once the source is processed.
        self.consume(*bases, counted_once_sent=True)(relay_copies)
        return relay

    def _per_partition(self, relay: faust.TopicT, bases: tuple[str, ...], name: str,
                       handler: PartitionHandler) -> None:
        """An agent calling `handler(event, partition)` for the copies on `relay`; `name` names
        its table of the event ids seen."""
        allowed = {t: base for base in bases for t in TOPICS[base].types}
        seen = self.app.Table(f"seen-{name}", default=None, partitions=STATE_PARTITIONS)

        async def on_copy(copy: CloudEvent) -> None:
            event = faust.current_event()
            assert event is not None
            await handler(copy, event.message.partition)

        on_copy.__name__ = handler.__name__

        async def agent(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await self._process(event, allowed, seen, on_copy)

        self.app.agent(relay, name=f"{self.settings.app_id}.{handler.__name__}")(agent)
        self.inputs.add(relay.get_topic_name())

    async def _process(
        self,
        event: EventT,
        allowed: dict[str, str],
        seen: faust.Table,
        handler: Handler,
        open_topic: str | None = None,
        counted_once_sent: bool = False,
    ) -> None:
        message = event.message
        if not await self._in_sequence(message):
            _not_acknowledged(self.app.consumer, message)
            return
        scope = _EventScope(asyncio.Event(), [],
                            f"{message.topic}[{message.partition}]@{message.offset}",
                            asyncio.get_running_loop().time())
        token = _scope.set(scope)
        _IN_FLIGHT.add(scope)
        tp = TopicPartition(message.topic, message.partition)
        try:
            await self._decode_and_handle(event, allowed, seen, handler, open_topic)
        except Rebalancing as given_up:
            _GIVEN_UP[tp] = min(_GIVEN_UP.get(tp, message.offset), message.offset)
            log.info("%s[%s]@%s read again after the rebalance: %s", message.topic,
                     message.partition, message.offset, given_up)
            return
        else:
            # Given up after the revocation had cleared it and the partition stayed here: read
            # again from the commit and processed now, so commits go on past it (seen: a ticks
            # partition whose commits stayed at a tick given up for the group's last
            # rebalance, its lag 386 for ever).
            if _GIVEN_UP.get(tp) == message.offset:
                del _GIVEN_UP[tp]
        finally:
            scope.done.set()
            _IN_FLIGHT.discard(scope)
            self._last_processed = asyncio.get_running_loop().time()
            _scope.reset(token)
        # dead-lettered and duplicate messages count as processed for the tick clock
        if counted_once_sent:
            self._count_once_sent(message, scope.outputs)
        else:
            self.clock.processed(message.topic, message.partition, message.offset)

    def _count_once_sent(self, message: Any, outputs: list[asyncio.Future[Any]]) -> None:
        """Count `message` processed for the tick clock once the broker has `outputs`, and
        after the messages before it on its partition (the agent goes on meanwhile)."""
        tp = TopicPartition(message.topic, message.partition)
        before = self._counting.get(tp)
        pending = [output for output in outputs if not output.done()]
        if before is None and not pending:
            self.clock.processed(message.topic, message.partition, message.offset)
            return

        async def count() -> None:
            if before is not None:
                await before
            if pending:
                await asyncio.wait(pending)
            self.clock.processed(message.topic, message.partition, message.offset)

        counting = self._counting[tp] = asyncio.ensure_future(count())
        counting.add_done_callback(
            lambda done: self._counting.pop(tp) if self._counting.get(tp) is done else None)

    async def _forget_positions(self, app: Any, revoked: set[Any], **kwargs: Any) -> None:
        """A partition handed to another worker may come back further on: where this worker
        stood in it is then no guide (the clock falls back to the committed offset)."""
        for tp in revoked:
            key = TopicPartition(tp.topic, tp.partition)
            self._next_offset.pop(key, None)
            self._rewound_to.pop(key, None)
            _GIVEN_UP.pop(key, None)  # committed at the revocation, before this signal
            for tasks in (self._reseeking, self._counting):
                task = tasks.pop(key, None)
                if task is not None:
                    task.cancel()
        self.clock.forget(TopicPartition(tp.topic, tp.partition) for tp in revoked)

    async def _in_sequence(self, message: Any) -> bool:
        """False when faust skipped records before `message`; it is then sent back to them.

        After a restart faust can drop a whole fetched batch: the records never reach the agent,
        its commit stays below them for ever, and the tick clock would run past them (seen: 269
        of 3,000 orders skipped after a SIGKILL; relayed ticks skipped, so an escalation never
        came). On a topic without gaps (not compacted, written without transactions) an offset
        past the next one expected means exactly that: seek back and read them again; this
        record comes again after them."""
        base = self._base_of(message.topic)
        if base in TOPICS and TOPICS[base].compacted:
            return True
        tp = TopicPartition(message.topic, message.partition)
        expected = self._next_offset.get(tp)
        if expected is None:  # the first record since start: faust begins at the commit
            expected = await self.clock.committed(tp)
            if expected is None:
                expected = message.offset
        if message.offset > expected:
            rewound = self._rewound_to.get(tp)
            if rewound is None or rewound[0] != expected:
                log.warning("%s[%s]: records %s..%s were skipped by the consumer; reading them "
                            "again", message.topic, message.partition, expected,
                            message.offset - 1)
                self._rewound_to[tp] = (expected, message.offset)
            elif message.offset == rewound[1] and await self._nothing_between(
                    tp, expected, message.offset):
                # Read again from `expected`, the same record came first, and the broker has
                # no record before it (a transaction marker, which no consumer sees): go on.
                log.info("%s[%s]: no records at %s..%s", message.topic, message.partition,
                         expected, message.offset - 1)
                # Not faust's _add_gap: it starts a gap after the committed offset, taking that
                # for the last one processed, so a marker at the committed offset itself (the
                # first after a commit) was never passed (seen: alerts committing no further
                # on settlement's transactional vbp.decisions)
                gap = self.app.consumer._gap[message.tp]
                gap.addi(expected, message.offset)
                gap.merge_overlaps()
                self._next_offset[tp] = message.offset + 1
                return True
            # Again for each record still in flight from before: faust's fetch loop moves its
            # read offset past them and would drop the records read again.
            self._next_offset[tp] = expected
            await self._seek(message.tp, expected)
            if tp not in self._reseeking:
                self._reseeking[tp] = asyncio.ensure_future(self._seek_until_read(message.tp))
            return False
        self._next_offset[tp] = max(expected, message.offset + 1)
        return True

    async def _nothing_between(self, tp: TopicPartition, start: int, end: int) -> bool:
        """Whether the broker hands a consumer no record from `start` up to `end` (exclusive).
        faust's fetch loop can drop the records read again after a seek, so the same record
        coming first again is no proof (seen: three ticks passed over after a rebalance)."""
        isolation = ("read_committed" if self.settings.processing_guarantee == "exactly_once"
                     else "read_uncommitted")
        first = await self.clock.first_record(tp, start, isolation)
        return first is not None and first >= end

    async def _seek_until_read(self, faust_tp: Any, every: float = 2.0) -> None:
        """Seek again until the record sought comes. The fetch loop sets its read offset after
        handing a record over; when this agent's seek falls in between, the loop sets it back
        past the records sought and drops them, and if nothing follows on the partition no
        later record would trigger another seek (seen: a tick waiting for ever)."""
        tp = TopicPartition(faust_tp.topic, faust_tp.partition)
        try:
            while True:
                sought = self._next_offset.get(tp)
                await asyncio.sleep(every)
                if sought is None or self._next_offset.get(tp) != sought:
                    return  # it came, or the partition went to another worker
                log.info("%s[%s]: record %s not read yet; seeking again", tp.topic, tp.partition,
                         sought)
                await self._seek(faust_tp, sought)
        finally:
            self._reseeking.pop(tp, None)

    async def _seek(self, faust_tp: Any, offset: int) -> None:
        """Seek in faust's consumer thread: its `seek` calls aiokafka from this thread, while
        aiokafka runs in that one (seen: the fetcher crashed with a KeyError, and the consumer
        with it)."""
        await self.app.consumer.seek_wait({faust_tp: offset})

    async def _decode_and_handle(
        self,
        event: EventT,
        allowed: dict[str, str],
        seen: faust.Table,
        handler: Handler,
        open_topic: str | None,
    ) -> None:
        message = event.message
        try:
            cloud_event = decode(message.value)
        except InvalidEvent as error:
            await self.dead_letter(event, str(error))
            return
        arrived_on = self._base_of(message.topic)
        if open_topic is not None and arrived_on == open_topic:
            base: str | None = open_topic
        else:
            base = allowed.get(cloud_event.type, open_topic)
        if base is None:
            await self.dead_letter(event, f"type {cloud_event.type!r} is not carried on this topic")
            return
        # An agent reading several topics allows each type only on its own home topic (a
        # payment on vbp.orders is invalid); a relay's internal topic is not checked.
        if arrived_on in TOPICS and arrived_on != base:
            await self.dead_letter(
                event, f"type {cloud_event.type!r} belongs on {base}, not on {arrived_on}"
            )
            return
        relayed = arrived_on not in TOPICS
        seen_key = f"{base}:{message.partition}:{cloud_event.id}"
        if seen.get(seen_key):
            if not relayed:  # a copy seen again was relayed twice; the sender repeated nothing
                self.counts["duplicates"] += 1
            log.info("duplicate event %s on %s ignored", cloud_event.id, message.topic)
            return
        try:  # again after a broker outage: handlers are idempotent (records carry the ids of
            # the events they absorbed), so a second run after a partial one changes nothing twice
            await until_answered(lambda: handler(cloud_event),
                                 f"handler {handler.__name__} on {cloud_event.id}")
        except Rebalancing:
            raise
        except Rejected as error:
            await self.dead_letter(event, str(error))
        except Exception as error:  # a bug must not stop the stream; the event is kept
            log.exception("handler %s failed on %s", handler.__name__, cloud_event.id)
            await self.dead_letter(event, f"internal error: {type(error).__name__}: {error}")
        else:
            self.counts["relayed" if relayed else "processed"] += 1
        seen[seen_key] = True

    async def dead_letter(self, event: EventT, reason: str) -> None:
        """Send the message unchanged to `vbp.deadletter` with the contract's headers (cut only
        if it no longer fits the broker's limit with them)."""
        message = event.message
        value = message.value
        # Our headers may push a message the broker took past its limit: keep the start of it
        # rather than crash the agent and lose it (the margin covers headers and framing).
        room = MAX_MESSAGE_BYTES - 8192 - len(message.key or b"")
        if value is not None and len(value) > room:
            reason = f"value cut to {room:,} of {len(value):,} bytes to fit; {reason}"
            value = value[:room]
        headers = [
            ("vbp-error", reason.encode("utf-8")[:4000]),
            ("vbp-source-topic", self._base_of(message.topic).encode()),
            ("vbp-source-partition", str(message.partition).encode()),
            ("vbp-source-offset", str(message.offset).encode()),
        ]
        self.counts["deadlettered"] += 1
        log.warning(
            "dead letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason
        )
        track_output(await self.deadletter.send(key=message.key, value=value, headers=headers))

    def _base_of(self, topic: str) -> str:
        """The contract name of a deployed topic (the prefix removed)."""
        prefix = self.settings.topic_prefix
        return topic[len(prefix) :] if topic.startswith(prefix) else topic

    # -- producing ----------------------------------------------------------------------------

    async def emit(
        self,
        base: str,
        type_: str,
        data: BaseModel,
        *,
        id: str,
        subject: str,
        time: datetime,
        key: str | None = None,
    ) -> CloudEvent:
        """Send an output event with a deterministic id (contract: Output ids)."""
        cloud_event = new_event(
            type_,
            data,
            id=id,
            source=f"/service/{self.settings.service}",
            time=time,
            subject=subject,
            province=self.policy.region_code,
        )
        topic = self._outputs.get(base)
        if topic is None:  # one faust Topic per output topic: making one costs as much as a send
            topic = self._outputs[base] = self._raw_topic(base)
        track_output(await topic.send(
            key=(key or subject).encode(),
            value=cloud_event.to_json_bytes(),
            headers=[("content-type", CONTENT_TYPE.encode())],
        ))
        return cloud_event

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            **self.about(),
            "processing_guarantee": self.settings.processing_guarantee,
            "counts": self.counts,
            "inputs": sorted(self.inputs),
            # what a read of this worker's tables covers: the input partitions it holds, and
            # whether they are all recovered
            "holding": sorted(f"{tp.topic}[{tp.partition}]"
                              for tp in self.app.consumer.assignment() if tp.topic in self.inputs),
            "ready": not self.app.rebalancing and not self.app.in_recovery
            and self.app.tables.recovery.completed.is_set(),
        }
