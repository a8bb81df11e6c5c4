"""The runtime's guard against records faust skipped (runtime.service.Service._in_sequence):
after a restart faust can drop a fetched batch; the service must read it again, in order, and
still go past an offset where the broker holds nothing (a transaction marker); and it must not
commit past a record it gave up (a tick waiting through a rebalance)."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from intervaltree import IntervalTree

from runtime.service import Service
from runtime.settings import Settings


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int

    @property
    def tp(self) -> Any:
        return (self.topic, self.partition)


class Consumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[Any, int]] = []
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)

    async def seek_wait(self, partitions: dict[Any, int]) -> None:
        self.seeks.extend(partitions.items())


COMMITTED = {0: 10, 1: 10, 2: 398, 3: 4}  # by partition
FIRST_RECORD = {(0, 11): 12, (3, 4): 5}  # (partition, offset): the broker's first record from it


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Service:
    monkeypatch.setenv("VBP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VBP_TOPIC_PREFIX", "t.")
    built = Service(Settings.from_env("quota"))

    async def committed(tp: Any) -> int:
        return COMMITTED[tp.partition]

    async def first_record(tp: Any, offset: int, isolation_level: str) -> int | None:
        return FIRST_RECORD.get((tp.partition, offset), offset)

    monkeypatch.setattr(built.clock, "committed", committed)
    monkeypatch.setattr(built.clock, "first_record", first_record)
    monkeypatch.setattr(type(built.app), "consumer", Consumer())
    return built


async def test_a_skipped_batch_is_read_again_before_what_follows(service: Service) -> None:
    accepted = [o for o in (10, 11, 15, 16, 12, 13, 14, 15, 16, 17)
                if await service._in_sequence(Message("t.vbp.orders", 1, o))]
    assert accepted == [10, 11, 12, 13, 14, 15, 16, 17]
    assert [offset for _, offset in service.app.consumer.seeks] == [12, 12]


async def test_an_offset_with_no_record_is_passed_once_read_again(service: Service) -> None:
    accepted = [o for o in (10, 12, 12, 13)
                if await service._in_sequence(Message("t.vbp.orders", 0, o))]
    assert accepted == [10, 12, 13]
    # and faust may commit over it (the only gap it gets on this topic)
    assert service.app.consumer._gap[("t.vbp.orders", 0)] == IntervalTree.from_tuples([(11, 12)])


async def test_a_marker_at_the_committed_offset_is_passed(service: Service) -> None:
    """The first offset after a commit holds a transaction marker (a transactional writer's):
    faust's own gap starts after the committed offset, so it would never be passed."""
    service.app.consumer._committed_offset[("t.vbp.decisions", 3)] = 4  # faust's, as it keeps it
    accepted = [o for o in (5, 5, 6)
                if await service._in_sequence(Message("t.vbp.decisions", 3, o))]
    assert accepted == [5, 6]
    assert service.app.consumer._gap[("t.vbp.decisions", 3)] == IntervalTree.from_tuples(
        [(4, 5)])


async def test_records_dropped_again_are_not_taken_for_an_empty_offset(
        service: Service) -> None:
    """The same record first again after the seek back, but the broker has the records before
    it (faust's fetch loop dropped them again): seek again, never pass them over."""
    accepted = [o for o in (10, 14, 14, 14, 11, 12, 13, 14)
                if await service._in_sequence(Message("t.vbp.orders", 1, o))]
    assert accepted == [10, 11, 12, 13, 14]
    assert [offset for _, offset in service.app.consumer.seeks] == [11, 11, 11]
    assert not service.app.consumer._gap[("t.vbp.orders", 1)]


async def test_faust_keeps_gaps_only_on_compacted_topics() -> None:
    """A jump in offsets on another topic is records faust dropped: counted as acknowledged,
    a commit would pass them before they are read again, and a crash would lose them."""
    from runtime import service as runtime_service

    consumer = Consumer()
    orders, agreements = ("t.vbp.orders", 1), ("t.vbp.ref.agreements", 0)
    for tp in (orders, agreements):
        await runtime_service._gap_only_where_records_can_be_gone(
            consumer, TopicPartition(*tp), 20, 25)
    assert consumer._gap[TopicPartition(*agreements)] == IntervalTree.from_tuples([(20, 26)])
    assert not consumer._gap[TopicPartition(*orders)]


def test_a_record_sent_back_is_not_counted_as_processed() -> None:
    """faust acknowledges every record its agent moves past; one sent back to be read again
    after the records before it must stay out of the commit."""
    from runtime import service as runtime_service

    class Record:
        acked = False

    message = Record()
    consumer = SimpleNamespace(_unacked_messages={message})
    runtime_service._not_acknowledged(consumer, message)
    assert message.acked and not consumer._unacked_messages  # faust's ack() then skips it


async def test_compacted_topics_have_gaps_and_are_not_checked(service: Service) -> None:
    assert await service._in_sequence(Message("t.vbp.ref.agreements", 0, 40))
    assert service.app.consumer.seeks == []


async def test_a_partition_that_comes_back_after_a_rebalance_starts_from_its_commit(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """Partition 2 goes to another worker at 400, which commits up to 800 before it returns."""
    assert [await service._in_sequence(Message("t.vbp.orders", 2, o)) for o in (398, 399)] == [
        True, True]
    monkeypatch.setitem(COMMITTED, 2, 800)
    await service._forget_positions(service.app, {Message("t.vbp.orders", 2, 399)})
    assert await service._in_sequence(Message("t.vbp.orders", 2, 800))
    assert service.app.consumer.seeks == []


async def test_a_seek_whose_records_do_not_come_is_made_again_until_they_do(
        service: Service) -> None:
    """faust's fetch loop can set its read offset back past the records sought and drop them;
    nothing else would seek again if no later record came."""
    service._next_offset[TopicPartition("t.vbp.orders", 3)] = 12
    watcher = asyncio.ensure_future(service._seek_until_read(Message("t.vbp.orders", 3, 0),
                                                             every=0.01))
    await asyncio.sleep(0.1)
    assert not watcher.done()
    sought = len(service.app.consumer.seeks)
    assert sought >= 3 and set(offset for _, offset in service.app.consumer.seeks) == {12}
    service._next_offset[TopicPartition("t.vbp.orders", 3)] = 13  # record 12 came
    await asyncio.sleep(0.05)
    assert watcher.done() and len(service.app.consumer.seeks) <= sought + 1


async def test_commits_stop_at_a_tick_given_up_for_a_rebalance_until_it_is_revoked(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick given up (clock.Rebalancing) was acknowledged to faust without being applied:
    committing past it would lose it; whoever owns the partition next reads it from there."""
    from runtime import service as runtime_service

    committed: dict[Any, int] = {}

    async def handle_attached(consumer: Any, offsets: dict[Any, int]) -> None:
        committed.update(offsets)

    monkeypatch.setattr(runtime_service, "_handle_attached", handle_attached)
    monkeypatch.setattr(runtime_service, "_GIVEN_UP", {})
    ticks, other = TopicPartition("t.vbp-quota-ticks", 2), TopicPartition("t.vbp-quota-ticks", 1)
    runtime_service._GIVEN_UP[ticks] = 5
    consumer = SimpleNamespace(app=SimpleNamespace(producer=SimpleNamespace(
        buffer=SimpleNamespace())))
    await runtime_service._table_writes_then_handle_attached(consumer, {ticks: 9, other: 9})
    assert committed == {ticks: 5, other: 9}
    await service._forget_positions(service.app, {Message(ticks.topic, 2, 0)})
    await runtime_service._table_writes_then_handle_attached(consumer, {ticks: 9})
    assert committed[ticks] == 9


async def test_a_tick_given_up_after_the_revocation_stops_commits_only_until_read_again(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given up after the revocation had cleared what was given up, the partition assigned to
    the same worker again: faust reads the tick again from the commit; once it is processed,
    commits pass it (seen in CI: a ticks partition committed no further after the group's
    last rebalance, `rebalance` not caught up in 900 s, lag 386)."""
    from runtime import service as runtime_service
    from runtime.clock import Rebalancing

    monkeypatch.setattr(runtime_service, "_GIVEN_UP", {})
    tp = TopicPartition("t.vbp-quota-ticks", 2)
    outcomes = [Rebalancing("given up"), None]

    async def in_sequence(message: Any) -> bool:
        return True

    async def decode_and_handle(*args: Any) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(service, "_in_sequence", in_sequence)
    monkeypatch.setattr(service, "_decode_and_handle", decode_and_handle)
    event = SimpleNamespace(message=Message(tp.topic, 2, 7))
    await service._process(event, {}, {}, None)
    assert runtime_service._GIVEN_UP == {tp: 7}
    await service._process(event, {}, {}, None)  # read again from the commit
    assert runtime_service._GIVEN_UP == {}


def commit_state(acked: list[int], committed: int | None, gaps: list[tuple[int, int]] = ()
                 ) -> tuple[SimpleNamespace, TopicPartition]:
    tp = TopicPartition("t.vbp-settlement-ticks", 0)
    return SimpleNamespace(_acked={tp: list(acked)}, _gap={tp: IntervalTree.from_tuples(gaps)},
                           _committed_offset={tp: committed},
                           _acked_index={tp: set(acked)}), tp


def test_offsets_acknowledged_twice_commit_at_once() -> None:
    """A record read again after a seek back is acknowledged again; faust's run of
    consecutive offsets ends at the repeat (seen: commits creeping one offset at a time for a
    quarter of an hour after a rebalance, acked [97, 97, 98, 98, 98, ...], committed 98)."""
    from runtime import service as runtime_service

    acked = [97, 97, 98, 98, 98, *range(99, 367), *range(150, 200)]
    state, tp = commit_state(acked, 98)
    assert runtime_service._new_offset(commit_state(acked, 98)[0], tp) == 98  # faust alone
    assert runtime_service._new_offset_in_order(state, tp) == 367
    assert state._acked[tp] == [] and not state._acked_index[tp]


def test_nothing_is_committed_while_the_record_at_the_commit_is_missing() -> None:
    """faust commits past one missing record at the head (min(acked) - committed > 1)."""
    from runtime import service as runtime_service

    state, tp = commit_state([41, 42, 43], 40)
    assert runtime_service._new_offset(commit_state([41, 42, 43], 40)[0], tp) == 44
    assert runtime_service._new_offset_in_order(state, tp) is None
    state._acked[tp].append(40)
    assert runtime_service._new_offset_in_order(state, tp) == 44


def test_gaps_still_count_and_are_merged_once() -> None:
    """A gap faust or the runtime proved (compaction, a transaction marker) counts as
    acknowledged, also where the same offsets were acknowledged."""
    from runtime import service as runtime_service

    state, tp = commit_state([61, *range(62, 80), 300], 61, gaps=[(62, 300)])
    assert runtime_service._new_offset_in_order(state, tp) == 301
    assert not state._gap[tp]
