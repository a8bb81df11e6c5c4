"""State stores: a task's keyed state in memory, written to its changelog once per key per batch.

A task is one state partition: the partition p of every keyed input and of every changelog.
Each named table of a service has one `Store` per task the worker runs. A store is a dict of
JSON values in memory. What a batch changes reaches the changelog as one record per changed key
(the latest value, or a tombstone for a deleted key), in the batch's transaction (commit.py):
Kafka Streams' record cache. The changelog is the source of truth; `restore` reads partition p
of it from the beginning to its last stable offset, read_committed, before the task processes
anything.

A store also keeps, while an event is handled, the values it overwrote, so that a handler that
fails leaves the store as it found it (`Store.rollback`). So a handler never changes a value it
read in place: it writes a changed copy (an object changed in place would stay changed when its
event is undone and tried again).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

_UNSET = object()


def encode(value: Any) -> bytes | None:
    """A changelog value: JSON, as json.dumps writes it but for non-ASCII (UTF-8 here, not
    escaped); orjson, since json.dumps was a sixth of the loop's time in quota."""
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


class Store:
    """One table's state in one task: a dict with the keys changed since the last commit."""

    def __init__(self, name: str, partition: int) -> None:
        self.name = name
        self.partition = partition
        self.data: dict[str, Any] = {}
        self.dirty: set[str] = set()
        self._undo: dict[str, Any] | None = None  # key -> value before the event (or _UNSET)

    # -- the dict a handler sees ----------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def keys(self) -> Any:
        return self.data.keys()

    def values(self) -> Any:
        return self.data.values()

    def items(self) -> Any:
        return self.data.items()

    def __setitem__(self, key: str, value: Any) -> None:
        if value is None:
            raise ValueError(f"{self.name}[{key!r}]: None is a deletion; use del")
        self._remember(key)
        self.data[key] = value
        self.dirty.add(key)

    def __delitem__(self, key: str) -> None:
        self._remember(key)
        del self.data[key]
        self.dirty.add(key)

    def pop(self, key: str, default: Any = None) -> Any:
        if key not in self.data:
            return default
        value = self.data[key]
        del self[key]
        return value

    # -- events and batches ---------------------------------------------------------------------

    def _remember(self, key: str) -> None:
        if self._undo is not None and key not in self._undo:
            self._undo[key] = self.data.get(key, _UNSET)

    def begin_event(self) -> None:
        self._undo = {}

    def end_event(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Undo what the current event changed."""
        for key, value in (self._undo or {}).items():
            if value is _UNSET:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        self._undo = None

    def changes(self) -> list[tuple[str, bytes | None]]:
        """(key, encoded latest value or None for a tombstone) of every key changed since the last
        call, which forgets them."""
        out = [(key, encode(self.data.get(key))) for key in sorted(self.dirty)]
        self.dirty.clear()
        return out


class Seen:
    """The event ids a task has handled within the dedupe window, with the day of their event
    time (ordinal). In its changelog as one record per day and batch, keyed `<day>:<n>` and
    holding that day's ids the batch added, not one record per id: for most inputs the id is
    all the state they change. Forgetting a day deletes its records (tombstones). Restored, a
    key read again replaces its earlier value, so a number `n` may be used again once its key
    is deleted."""

    def __init__(self, records: dict[str, list[str]] | None = None) -> None:
        self.day_of: dict[str, int] = {}
        self._ids_by_day: dict[int, list[str]] = {}
        self._keys_by_day: dict[int, list[str]] = {}
        self._added: dict[int, list[str]] = {}  # since the last `changes`
        self._deleted: list[str] = []
        self._next = 0
        self.cutoff = 0
        """Ids of days before this are forgotten."""
        for key, ids in (records or {}).items():
            day, n = (int(part) for part in key.split(":"))
            self._keys_by_day.setdefault(day, []).append(key)
            self._next = max(self._next, n + 1)
            for id_ in ids:
                self._note(id_, day)

    def __contains__(self, id_: object) -> bool:
        return id_ in self.day_of

    def __len__(self) -> int:
        return len(self.day_of)

    def add(self, id_: str, day: int) -> None:
        self._note(id_, day)
        self._added.setdefault(day, []).append(id_)

    def _note(self, id_: str, day: int) -> None:
        self.day_of[id_] = day
        self._ids_by_day.setdefault(day, []).append(id_)

    def forget(self, window_days: int) -> None:
        """Forget the days before the window of `window_days` that ends at the newest day."""
        if not self._ids_by_day:
            return
        cutoff = max(self._ids_by_day) - window_days
        if cutoff <= self.cutoff:
            return
        for day in [d for d in self._ids_by_day if d < cutoff]:
            for id_ in self._ids_by_day.pop(day):
                if self.day_of.get(id_) == day:
                    del self.day_of[id_]
            self._deleted += self._keys_by_day.pop(day, [])
            self._added.pop(day, None)
        self.cutoff = cutoff

    def changes(self) -> list[tuple[str, bytes | None]]:
        """The changelog records since the last call (as Store.changes)."""
        out: list[tuple[str, bytes | None]] = [(key, None) for key in self._deleted]
        for day, ids in sorted(self._added.items()):
            key = f"{day}:{self._next}"
            self._next += 1
            self._keys_by_day.setdefault(day, []).append(key)
            out.append((key, encode(ids)))
        self._added.clear()
        self._deleted.clear()
        return out


async def restore(bootstrap: str,
                  tps: list[TopicPartition]) -> dict[TopicPartition, dict[str, Any]]:
    """The latest value per key of each changelog partition in `tps`, read_committed, up to its
    last stable offset. The caller has fenced the task's previous producer first (commit.py), so
    none of its transactions is still open and the last stable offset is the end."""
    data: dict[TopicPartition, dict[str, Any]] = {tp: {} for tp in tps}
    if not tps:
        return data
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, isolation_level="read_committed",
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        reading = [tp for tp in tps if ends[tp] > 0]
        while reading:
            batch = await consumer.getmany(*reading, timeout_ms=500, max_records=50_000)
            for tp, records in batch.items():
                found = data[tp]
                for record in records:
                    if record.value is None:
                        found.pop(record.key.decode(), None)
                    else:
                        found[record.key.decode()] = orjson.loads(record.value)
            reading = [tp for tp in reading if await consumer.position(tp) < ends[tp]]
    finally:
        await consumer.stop()
    return data
