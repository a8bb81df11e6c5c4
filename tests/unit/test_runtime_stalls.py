"""The runtime's stall report (runtime.service.Service._report_stalls): silent while events
flow; when an event has been in processing for longer than STALL_SECONDS, or nothing has been
processed that long while input waits, it names the event or the partitions behind, and what
faust is fetching."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka import TopicPartition

from runtime import service as runtime_service
from runtime.service import STALL_SECONDS, Service, _EventScope
from runtime.settings import Settings

ORDERS = TopicPartition("t.vbp.orders", 2)


class Consumer:
    flow_active = True
    _paused_partitions: set[Any] = set()
    _buffered_partitions: set[Any] = set()

    def __init__(self, highwater: int, committed: int | None = None) -> None:
        self._highwater = highwater
        self._committed_offset = {ORDERS: committed} if committed is not None else {}
        self._acked: dict[Any, list[int]] = {}
        self._gap: dict[Any, Any] = {}

    def _get_active_partitions(self) -> set[Any]:
        return {ORDERS}

    def assignment(self) -> set[Any]:
        return {ORDERS}

    def highwater(self, tp: Any) -> int:
        return self._highwater


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Service:
    monkeypatch.setenv("VBP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VBP_TOPIC_PREFIX", "t.")
    monkeypatch.setattr(runtime_service, "_IN_FLIGHT", set())
    return Service(Settings.from_env("quota"))


def stalls(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("stalled")]


async def test_silent_while_events_flow(service: Service, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(type(service.app), "consumer", Consumer(highwater=9))
    now = asyncio.get_running_loop().time()
    service._last_processed = now - 1
    service._next_offset[ORDERS] = 5  # behind, but processing
    runtime_service._IN_FLIGHT.add(_EventScope(asyncio.Event(), [], "t.vbp.orders[2]@4", now))
    with caplog.at_level(logging.WARNING):
        await service._report_stalls()
    assert stalls(caplog) == []


async def test_an_event_in_processing_too_long_is_named(
        service: Service, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(type(service.app), "consumer", Consumer(highwater=5))
    now = asyncio.get_running_loop().time()
    service._last_processed = now - 1
    runtime_service._IN_FLIGHT.add(_EventScope(asyncio.Event(), [], "t.vbp-quota-ticks[1]@77",
                                               now - STALL_SECONDS - 5))
    with caplog.at_level(logging.WARNING):
        await service._report_stalls()
    found = stalls(caplog)
    assert any("t.vbp-quota-ticks[1]@77 in processing for 35 s" in m for m in found), found
    assert any("flow active" in m and "active 1 of 1 assigned" in m for m in found), found


async def test_input_waiting_while_nothing_is_processed_is_named(
        service: Service, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    consumer = Consumer(highwater=9, committed=5)
    monkeypatch.setattr(type(service.app), "consumer", consumer)
    service._last_processed = asyncio.get_running_loop().time() - STALL_SECONDS - 1
    service._next_offset[ORDERS] = 5
    with caplog.at_level(logging.WARNING):
        await service._report_stalls()
    assert stalls(caplog) == [
        "stalled: nothing processed for 31 s; behind (next, highwater): {'t.vbp.orders[2]': (5, 9)}",
        "stalled: flow active; paused []; buffered []; active 1 of 1 assigned"]
    caplog.clear()
    service._next_offset[ORDERS] = 9  # all read and committed: idle, not stalled
    consumer._committed_offset[ORDERS] = 9
    with caplog.at_level(logging.WARNING):
        await service._report_stalls()
    assert stalls(caplog) == []


async def test_a_commit_that_does_not_follow_is_named(
        service: Service, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """All read and processed, but faust's commit stays behind: which offsets it holds acked,
    which gaps, and where the runtime gave a tick up."""
    consumer = Consumer(highwater=9, committed=3)
    consumer._acked[ORDERS] = [6, 5, 7]
    monkeypatch.setattr(type(service.app), "consumer", consumer)
    service._last_processed = asyncio.get_running_loop().time() - STALL_SECONDS - 1
    service._next_offset[ORDERS] = 9
    with caplog.at_level(logging.WARNING):
        await service._report_stalls()
    assert any("processed, not committed" in m and "'t.vbp.orders[2]': (3, 9, [5, 6, 7], [], "
               "None)" in m for m in stalls(caplog)), stalls(caplog)
