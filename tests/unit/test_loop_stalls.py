"""The processing core's stall report (Processor.stalls): silent while everything flows; names
the event a handler is stuck on, and the input that holds a task back while others' records
wait (issue 18: keep the stall report)."""
from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition

from runtime import loop
from runtime.loop import STALL_SECONDS, Processor
from runtime.task import Task
from runtime.timeline import Feed, Item


def record(tp: TopicPartition, offset: int) -> Item:
    return Item(tp, offset, 1_000, b"k", b"{}", event=None, error=None)


def test_a_held_task_and_a_slow_handler_are_reported_once_past_the_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(loop.time, "monotonic", lambda: now[0])
    processor = Processor(bootstrap="unused:9092", app_id="t.vbp-quota")
    task = Task(0, producer=None, stores={})  # type: ignore[arg-type]
    orders = Feed(TopicPartition("t.vbp.orders", 0), 0)
    clock = Feed(TopicPartition("t.vbp.clock", 0), 1)  # nothing fetched, not at its end
    orders.items.append(record(orders.tp, 7))
    task.feeds = {orders.tp: orders, clock.tp: clock}
    processor.tasks[0] = task

    processor._note_held(task)
    assert processor.stalls() == []  # held, but not for long yet
    now[0] += STALL_SECONDS + 1
    processor._note_held(task)  # still the same input: the time counts from the first look
    assert processor.stalls() == [
        "task 0: waiting 31 s for t.vbp.clock[0] (not fetched, not at its end) while other "
        "inputs have records"]

    clock.at_end = True  # the clock read to its end: nothing holds the task back
    processor._note_held(task)
    assert processor.stalls() == []

    task.current, task.handling_since = orders.items[0], now[0]
    now[0] += 45
    assert processor.stalls() == ["task 0: handling t.vbp.orders[0]@7 for 45 s"]


def test_nothing_is_reported_while_no_input_has_records(monkeypatch: Any) -> None:
    processor = Processor(bootstrap="unused:9092", app_id="t.vbp-quota")
    task = Task(0, producer=None, stores={})  # type: ignore[arg-type]
    clock = Feed(TopicPartition("t.vbp.clock", 0), 0)
    task.feeds = {clock.tp: clock}
    processor.tasks[0] = task
    processor._note_held(task)
    assert task.held is None and processor.stalls() == []
