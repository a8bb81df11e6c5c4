"""The settlement read API's choice of "today" (services/settlement/api.py)."""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from runtime.topics import partition_of
from services.settlement.api import _as_of


class _Ticks:
    """A worker whose busiest state partition is a tick behind the others."""

    as_of = date(2020, 5, 2)

    def __init__(self, behind: int) -> None:
        self.behind = behind

    def tick_of(self, partition: int) -> date:
        return date(2020, 5, 1) if partition == self.behind else self.as_of


def test_an_institutions_payables_are_as_of_the_tick_its_own_partition_applied() -> None:
    settlement = SimpleNamespace(service=_Ticks(behind=partition_of("H520102000001")))
    assert _as_of(settlement, {}, "H520102000001") == date(2020, 5, 1)
    assert _as_of(settlement, {}) == date(2020, 5, 2)  # the ranking spans every partition
    assert _as_of(settlement, {"as_of": "2020-06-30"}, "H520102000001") == date(2020, 6, 30)
