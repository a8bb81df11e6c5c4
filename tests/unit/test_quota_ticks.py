"""Quota's tick evaluation read again after a crash amid it: a worker killed after writing some
agreements' quarter outcomes but before the institution's suspension reads the tick again, and
must name the same causes (000 §五(三): one suspension per institution, naming every agreement
under the floor; the fault suite's `crashes` found the second copy naming only some).

Progress is sent for the quarters that have begun: a quarter's first record comes from the tick
of its first day (issue 18: progress for a quarter that has not begun need not be sent).

Tables are dicts and the broker a list of what is emitted, so the real handlers run without
Kafka.
"""
from __future__ import annotations

import copy
from datetime import date
from types import SimpleNamespace
from typing import Any

from policies import load_profile
from runtime.topics import partition_of
from schemas.envelope import new_event
from schemas.events import EXAMPLES
from schemas.topics import TYPE_TOPIC
from services.quota.app import Quota

INSTITUTION = "H52010200001"
TICK_DAY = "2020-05-01"  # Q1 and its grace period are over


def quota(tables: dict[str, dict[str, Any]]) -> tuple[Quota, list[tuple[str, str, dict]]]:
    emitted: list[tuple[str, str, dict]] = []

    async def emit(data: Any, **fields: Any) -> None:  # as LoopService.emit
        emitted.append((TYPE_TOPIC[data.TYPE], fields["id"], data.model_dump(mode="json")))

    def tick_of(partition: int) -> date | None:  # as LoopService.tick_of
        day = tables.get("ticks", {}).get(str(partition))
        return date.fromisoformat(day) if day else None

    service = SimpleNamespace(
        policy=load_profile("guizhou"), emit=emit, on_recover=lambda callback: None,
        table=lambda name: tables.setdefault(name, {}), tick_of=tick_of)
    return Quota(service), emitted  # type: ignore[arg-type]


def agreement(n: int, product_code: str) -> Any:
    data = {**EXAMPLES["vbp.agreement.signed"], "agreement_id": f"AGR-520000-2020-00000{n}",
            "institution_id": INSTITUTION, "product_code": product_code}
    return new_event("vbp.agreement.signed", data, id=f"agr-{n}", source="/platform/520000",
                     time="2019-12-20T10:00:00+08:00", province="520000")


def tick(day: str) -> Any:
    return new_event("vbp.clock.tick", {"as_of": day}, id=f"tick-{day}", source="/clock",
                     time=f"{day}T00:00:00+08:00", province="520000")


def decisions(emitted: list[tuple[str, str, dict]]) -> list[dict]:
    return [data for topic, _, data in emitted if topic == "vbp.decisions"]


async def test_a_tick_read_again_after_a_crash_amid_it_suspends_with_the_same_causes() -> None:
    partition = partition_of(INSTITUTION)
    tables: dict[str, dict[str, Any]] = {}
    first, emitted = quota(tables)
    for n, product in enumerate(("XC10AAA081A001010100328", "XC08CAA005A001010100101"), 1):
        await first.on_reference(agreement(n, product), partition)
    await first.on_tick(tick(TICK_DAY), partition)
    [suspension] = decisions(emitted)
    assert len(suspension["caused_by"]) == 2  # nothing ordered under either agreement

    # The crash: the first agreement's Q1 outcome reached its changelog, nothing after it.
    written = copy.deepcopy(tables)
    first_id = "AGR-520000-2020-000001"
    written["evaluations"] = {first_id: tables["evaluations"][first_id]}
    written["institution-state"] = {}
    again, emitted_again = quota(written)
    await again.on_tick(tick(TICK_DAY), partition)
    assert decisions(emitted_again) == [suspension]

    # A later tick does not decide Q1 again, nor suspend twice.
    await again.on_tick(tick("2020-05-02"), partition)
    assert decisions(emitted_again) == [suspension]


def order(n: int, day: str, quantity: int) -> Any:
    data = {**EXAMPLES["vbp.order.placed"], "order_id": f"ord-{n}", "quantity": quantity}
    return new_event("vbp.order.placed", data, id=f"ev-ord-{n}", source="/platform/520000",
                     time=f"{day}T09:00:00+08:00", province="520000")


def progress(emitted: list[tuple[str, str, dict]]) -> list[tuple[str, int]]:
    """(period, cumulative quantity) of each progress record, in the order sent."""
    return [(data["period"], data["cumulative_quantity"])
            for topic, _, data in emitted if topic == "vbp.quota.progress"]


async def test_progress_is_sent_for_begun_quarters_and_a_quarter_begins_with_its_tick() -> None:
    partition = partition_of(INSTITUTION)
    tables: dict[str, dict[str, Any]] = {}
    service, emitted = quota(tables)
    await service.on_reference(agreement(1, EXAMPLES["vbp.order.placed"]["product_code"]),
                               partition)
    assert progress(emitted) == []  # signed before its period: no quarter has begun
    await service.on_trade(order(1, "2020-02-10", 300))
    assert progress(emitted) == [("2020-Q1", 300)]  # not Q2 to Q4, whose cumulative moved
    emitted.clear()
    await service.on_tick(tick("2020-04-01"), partition)
    assert ("2020-Q2", 300) in progress(emitted) and ("2020-Q3", 300) not in progress(emitted)
    tables.setdefault("ticks", {})[str(partition)] = "2020-04-01"  # as LoopService records it
    emitted.clear()
    await service.on_trade(order(2, "2020-03-30", 50))  # late: Q2 has begun by the tick
    assert progress(emitted) == [("2020-Q1", 350), ("2020-Q2", 350)]
