"""Tick synchronisation: a task handles its inputs in timestamp order, across topics.

A tick `as_of=D` says every day before D has ended, so the orders, deliveries and reference data
of those days must be handled before the tick's rules run, also when a replay from offset zero
finds the small clock topic long before the orders. So each task merges its inputs (its
partition of each keyed topic, and its cursor on each shared topic: reference data, the clock) by
record timestamp: the next record handled is the lowest-stamped head of all of them (ties: the
order the inputs were declared, the clock last, then the offset). An input with nothing buffered
that may still have records (its position short of the partition's last stable offset) holds
the task back,
since its next record may be stamped earlier than every head; an input read to its end holds
nothing back (before a tick, that end is confirmed with the broker: the last fetch's may be
stale; loop.Processor._ends_confirmed). This is Kafka Streams' timestamp synchronisation,
waiting for as long as a partition is known to have more; it assumes producers stamp records
in the order they send them.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from runtime.codec import InvalidEvent, decode
from schemas.envelope import CloudEvent


@dataclass(slots=True)
class Item:
    """One input record, decoded once (`event`, or `error` when it is not a valid event)."""

    tp: TopicPartition
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    event: Any
    """The CloudEvent; for a service's internal topic, the JSON value (None: invalid)."""
    error: str | None
    task: int | None = None
    """For a shared input: the only task it concerns (None: every task)."""

    @classmethod
    def of(cls, record: Any, tp: TopicPartition, internal: bool = False) -> Item:
        try:
            event, error = (json.loads(record.value) if internal else decode(record.value)), None
        except (InvalidEvent, ValueError, TypeError) as invalid:
            event, error = None, str(invalid)
        return cls(tp, record.offset, record.timestamp, record.key, record.value, event, error)


class Feed:
    """A task's partition of a keyed input: the records fetched and not yet handled."""

    def __init__(self, tp: TopicPartition, rank: int) -> None:
        self.tp = tp
        self.rank = rank
        self.items: deque[Item] = deque()
        self.at_end = False
        """Read to the partition's last stable offset (set by the loop after each fetch)."""
        self.position = 0
        """The consumer's position after the last fetch: past transaction markers too."""
        self.done = 0
        """The next offset to commit as handled."""

    def head(self) -> Item | None:
        return self.items[0] if self.items else None

    def pop(self) -> Item:
        return self.items.popleft()

    def waiting(self) -> bool:
        return not self.items and not self.at_end


class SharedLog:
    """A shared input partition (a 1-partition reference topic, the clock, or a partition of a
    topic keyed otherwise than the state) as one worker has read it, decoded once: each task of
    the worker reads it through a `Cursor` of its own. `route` names the one task a record
    concerns (None: all); an invalid record is task 0's to dead-letter, once."""

    def __init__(self, tp: TopicPartition, rank: int,
                 route: Callable[[CloudEvent], int | None] | None, partitions: int) -> None:
        self.tp = tp
        self.rank = rank
        self.route = route
        self.partitions = partitions
        self.items: list[Item] = []
        self.offsets: list[int] = []
        self.next = 0  # the next offset to read (past transaction markers: see advance)
        self.at_end = False

    def add(self, item: Item) -> None:
        if item.event is None:
            item.task = 0
        elif self.route is not None:
            task = self.route(item.event)
            item.task = None if task is None else task % self.partitions
        self.items.append(item)
        self.offsets.append(item.offset)
        self.next = item.offset + 1

    def advance(self, position: int) -> None:
        """The consumer's position after a fetch: the offsets below it that hold no record
        (transaction markers) are passed too."""
        self.next = max(self.next, position)

    def trim(self, offset: int) -> None:
        """Forget the records before `offset` (every task's cursor has passed them)."""
        cut = bisect_left(self.offsets, offset)
        if cut:
            del self.items[:cut], self.offsets[:cut]

    def reset(self, offset: int) -> None:
        """Read again from `offset` (a task that starts further back than what is kept)."""
        self.items.clear()
        self.offsets.clear()
        self.next = offset
        self.at_end = False

    def first(self) -> int:
        return self.offsets[0] if self.offsets else self.next


class Cursor:
    """One task's position in a shared log: the next offset it has not handled."""

    def __init__(self, log: SharedLog, partition: int, offset: int) -> None:
        self.log = log
        self.tp = log.tp
        self.rank = log.rank
        self.partition = partition
        self.offset = offset

    def head(self) -> Item | None:
        log = self.log
        i = bisect_left(log.offsets, self.offset)
        while i < len(log.items):
            item = log.items[i]
            if item.task is None or item.task == self.partition:
                self.offset = item.offset
                return item
            i += 1
        self.offset = max(self.offset, log.next)  # passed the other tasks' records
        return None

    def pop(self) -> Item:
        item = self.head()
        assert item is not None
        self.offset = item.offset + 1
        return item

    def waiting(self) -> bool:
        return self.head() is None and not self.log.at_end


def next_input(inputs: Iterable[Feed | Cursor]) -> Feed | Cursor | None:
    """The input whose head is handled next, or None when none may be handled yet."""
    best: Feed | Cursor | None = None
    best_key: tuple[int, int, int] | None = None
    for source in inputs:
        item = source.head()
        if item is None:
            if source.waiting():
                return None
            continue
        key = (item.timestamp, source.rank, item.offset)
        if best_key is None or key < best_key:
            best, best_key = source, key
    return best
