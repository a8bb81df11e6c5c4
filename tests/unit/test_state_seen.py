"""The memory of event ids a task has handled (runtime.state.Seen, issue 18: bounded to a window
of event time, written as one changelog record per day and batch rather than one per id)."""
from __future__ import annotations

import json

from runtime.state import Seen


def restored(records: list[tuple[str, bytes | None]]) -> Seen:
    """A Seen read back from its changelog records as state.restore does: latest per key."""
    latest: dict[str, list[str]] = {}
    for key, value in records:
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = json.loads(value)
    return Seen(latest)


def test_one_record_per_day_and_batch_and_a_restore_remembers_every_id() -> None:
    seen = Seen()
    for n in range(500):
        seen.add(f"vbp.orders:ord-{n}", 100 + n % 2)
    first = seen.changes()
    assert [key for key, _ in first] == ["100:0", "101:1"]
    seen.add("vbp.orders:ord-500", 101)
    second = seen.changes()
    assert [key for key, _ in second] == ["101:2"]
    assert seen.changes() == []  # nothing new since
    again = restored(first + second)
    assert len(again) == 501 and "vbp.orders:ord-499" in again
    again.add("vbp.orders:ord-501", 102)
    assert [key for key, _ in again.changes()] == ["102:3"]  # never a live record's key


def test_days_before_the_window_are_forgotten_and_their_records_deleted() -> None:
    seen = Seen()
    seen.add("a", 100)
    seen.add("b", 101)
    log = seen.changes()
    seen.add("c", 110)
    seen.forget(window_days=5)  # the window is 105..110
    log += seen.changes()
    assert "a" not in seen and "b" not in seen and "c" in seen
    assert [(key, value is None) for key, value in log[2:]] == [
        ("100:0", True), ("101:1", True), ("110:2", False)]
    assert set(restored(log).day_of) == {"c"}


def test_an_id_seen_again_on_a_later_day_is_kept_until_that_day_leaves_the_window() -> None:
    seen = Seen()
    seen.add("a", 100)
    seen.add("a", 104)
    seen.add("z", 106)
    seen.forget(window_days=5)  # cutoff 101: day 100 goes, "a" stays for day 104
    assert seen.day_of["a"] == 104
    log = seen.changes()
    assert "a" in restored(log)
