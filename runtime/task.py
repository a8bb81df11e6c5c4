"""A task (one state partition a worker runs) and the tables its handlers see.

A handler runs inside its task (`current`): what it emits joins the task's batch, and a table
read or written is the task's own store. Outside a handler (the read APIs), a table reads the
stores of every task the worker runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition
from pydantic import BaseModel

from runtime.commit import Record, TaskProducer
from runtime.state import Seen, Store
from runtime.timeline import Cursor, Feed, Item
from schemas.envelope import CloudEvent


@dataclass
class Input:
    bases: tuple[str, ...]
    handler: Callable[..., Awaitable[None]]
    shared: bool
    route: Callable[[CloudEvent], str | None] | None
    allowed: dict[str, str]
    """event type -> the contract topic it belongs on."""
    internal: bool = False
    """The service's own topic of JSON operations (not CloudEvents): handed over as decoded,
    not checked against the contract, not remembered by id (their handlers apply them
    idempotently)."""


@dataclass
class Failure:
    label: str
    error: str
    since: float
    retry_at: float


@dataclass(slots=True)
class Output:
    """An emitted event, built and serialised at commit time unless a later one of the same
    coalesce key supersedes it."""

    topic: str
    type: str
    data: BaseModel
    id: str
    subject: str
    time: datetime
    key: str | None
    timestamp_ms: int


@dataclass
class Task:
    """One state partition this worker runs."""

    partition: int
    producer: TaskProducer
    stores: dict[str, Store]
    feeds: dict[TopicPartition, Feed] = field(default_factory=dict)
    cursors: dict[TopicPartition, Cursor] = field(default_factory=dict)
    outputs: list[tuple[Record | Output, str | None]] = field(default_factory=list)
    """(record or output to build, coalesce key) in the order emitted."""
    handled: dict[TopicPartition, int] = field(default_factory=dict)
    """Partitioned inputs: the next offset to commit."""
    failure: Failure | None = None
    current: Item | None = None
    seen: Seen = field(default_factory=Seen)
    """The event ids handled within the dedupe window (SEEN's changelog)."""
    handling_since: float = 0.0
    """When the handler of `current` was called (monotonic)."""
    held: tuple[str, float] | None = None
    """The input that holds the task back while others have records (timeline.py), and since
    when."""
    commit_since: float = 0.0
    confirmed: tuple[TopicPartition, int] | None = None
    """The tick whose inputs' ends the broker confirmed (`_ends_confirmed`)."""
    caught_up: bool = False
    """It has handled every input to the end it saw, at least once since it started."""
    committing: asyncio.Task[None] | None = None
    """The previous batch's transaction, in flight while the next batches are fetched and
    handled."""

    def inputs(self) -> Iterator[Feed | Cursor]:
        yield from self.feeds.values()
        yield from self.cursors.values()


current: ContextVar[Task | None] = ContextVar("task", default=None)
"""The task whose handler is running (set by the loop around its handlers)."""


def handling(what: str) -> Task:
    """The task whose handler is running; `what` is refused outside a handler."""
    task = current.get()
    if task is None or task.current is None:
        raise RuntimeError(f"{what} outside a handler")
    return task


class Table:
    """A table as a handler sees it: the current task's store; outside a handler (read APIs),
    the stores of every task this worker runs, read-only, a key held by several (reference data
    copied to every task) once."""

    def __init__(self, tasks: dict[int, Task], name: str) -> None:
        self.tasks = tasks  # the worker's, as they come and go
        self.name = name

    def _store(self) -> Store:
        task = current.get()
        if task is None:
            raise RuntimeError(f"table {self.name} written outside a handler")
        return task.stores[self.name]

    def _everywhere(self) -> Iterator[Store]:
        task = current.get()
        if task is not None:
            yield task.stores[self.name]
        else:
            for t in self.tasks.values():
                yield t.stores[self.name]

    def get(self, key: str, default: Any = None) -> Any:
        for store in self._everywhere():
            if key in store:
                return store[key]
        return default

    def __getitem__(self, key: str) -> Any:
        for store in self._everywhere():
            if key in store:
                return store[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(key in store for store in self._everywhere())

    def __setitem__(self, key: str, value: Any) -> None:
        self._store()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._store()[key]

    def pop(self, key: str, default: Any = None) -> Any:
        return self._store().pop(key, default)

    def items(self) -> Iterator[tuple[str, Any]]:
        if current.get() is not None:
            yield from self._store().items()
            return
        given: set[str] = set()
        for store in self._everywhere():
            for key, value in store.items():
                if key not in given:
                    given.add(key)
                    yield key, value

    def keys(self) -> Iterator[str]:
        return (key for key, _ in self.items())

    def values(self) -> Iterator[Any]:
        return (value for _, value in self.items())

    def __iter__(self) -> Iterator[str]:
        return self.keys()

    def __len__(self) -> int:
        return sum(1 for _ in self.items())
