"""The tick clock (runtime.clock.InputClock) without a broker: the order it waits for its feeds
in, and a tick given up when faust pauses every input for a rebalance."""
from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from runtime.clock import InputClock, Rebalancing

SOURCE = TopicPartition("vbp.ref.agreements", 0)
RELAY = TopicPartition("vbp-quota-reference", 2)


class Broker:
    """Offsets the clock looks up: the relay's end grows as the relay copies the source."""

    def __init__(self) -> None:
        self.relay_end = 0
        self.asked: list[tuple[TopicPartition, int | None, int]] = []

    async def target(self, tp: TopicPartition, timestamp_ms: int | None) -> int:
        found = 5 if tp == SOURCE else self.relay_end
        self.asked.append((tp, timestamp_ms, found))
        return found


def clock_on(broker: Broker, paused: bool = False) -> InputClock:
    clock = InputClock("unused:9092", "group", poll_seconds=0.01, paused=lambda: paused)
    clock._target = broker.target  # type: ignore[method-assign]
    clock.feeds(2, SOURCE)
    clock.feeds(2, RELAY, relayed=True)
    return clock


async def test_a_relayed_feed_is_awaited_up_to_its_end_once_its_source_is_processed() -> None:
    broker = Broker()
    clock = clock_on(broker)
    clock.processed(SOURCE.topic, SOURCE.partition, -1)  # nothing processed yet
    clock.processed(RELAY.topic, RELAY.partition, -1)
    waiting = asyncio.ensure_future(clock.wait_for(2, 1_000))
    await asyncio.sleep(0.05)
    assert broker.asked == [(SOURCE, 1_000, 5)]  # the relay's end is not asked before
    broker.relay_end = 12  # the relay copied the source's records 0..4 to offsets up to 11
    clock.processed(SOURCE.topic, SOURCE.partition, 4)
    await asyncio.sleep(0.05)
    assert broker.asked[-1] == (RELAY, None, 12)
    assert not waiting.done()
    clock.processed(RELAY.topic, RELAY.partition, 11)
    await asyncio.wait_for(waiting, 1)


async def test_a_tick_waiting_while_faust_pauses_its_inputs_is_given_up() -> None:
    clock = clock_on(Broker(), paused=True)
    clock.processed(SOURCE.topic, SOURCE.partition, 1)
    with pytest.raises(Rebalancing):
        await asyncio.wait_for(clock.wait_for(2, 1_000), 1)


async def test_a_tick_whose_inputs_are_processed_is_not_given_up_for_a_pause() -> None:
    broker = Broker()
    clock = clock_on(broker, paused=True)
    clock.processed(SOURCE.topic, SOURCE.partition, 4)
    clock.processed(RELAY.topic, RELAY.partition, -1)
    await asyncio.wait_for(clock.wait_for(2, 1_000), 1)
