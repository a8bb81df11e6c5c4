"""A tick stamped in the same millisecond as other inputs is handled after them: it covers what
was stamped at or before it (the simulator's producer stamps with wall-clock time, and a tick
shared a millisecond with the last orders of the day before it; supply's one task, which reads
the clock first, judged that day without them in some runs)."""
from __future__ import annotations

from aiokafka import TopicPartition

from runtime.loop import Processor
from runtime.timeline import Feed, Item, next_input


def fed(tp: TopicPartition, rank: int, timestamp: int) -> Feed:
    feed = Feed(tp, rank)
    feed.items.append(Item(tp, 0, timestamp, b"k", b"{}", event=None, error=None))
    return feed


def test_the_clock_loses_every_tie_whatever_its_declared_rank() -> None:
    processor = Processor(bootstrap="unused:9092", app_id="t.vbp-supply", topic_prefix="t.")
    clock_tp, orders_tp = TopicPartition("t.vbp.clock", 0), TopicPartition("t.vbp.orders", 2)
    clock = fed(clock_tp, processor._rank(clock_tp, 0), 1_000)  # declared first
    orders = fed(orders_tp, processor._rank(orders_tp, 1), 1_000)
    assert next_input([clock, orders]) is orders
    orders.pop()
    orders.at_end = True
    assert next_input([clock, orders]) is clock
    later = fed(orders_tp, processor._rank(orders_tp, 1), 1_001)  # stamped after the tick
    assert next_input([clock, later]) is clock
