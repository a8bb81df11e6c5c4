"""The runtime's guard against records faust skipped (runtime.service.Service._in_sequence):
after a restart faust can drop a fetched batch; the service must read it again, in order, and
still go past an offset where the broker holds nothing (a transaction marker); and it must not
commit past a record it gave up (a tick waiting through a rebalance)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

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

    async def seek_wait(self, partitions: dict[Any, int]) -> None:
        self.seeks.extend(partitions.items())


COMMITTED = {0: 10, 1: 10, 2: 398}  # by partition


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Service:
    monkeypatch.setenv("VBP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VBP_TOPIC_PREFIX", "t.")
    built = Service(Settings.from_env("quota"))

    async def committed(tp: Any) -> int:
        return COMMITTED[tp.partition]

    monkeypatch.setattr(built.clock, "committed", committed)
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
