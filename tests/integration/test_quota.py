"""Quota service end to end on the real broker: Guizhou 000 §五(三), replay and crash."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.events import event, tick
from tests.harness import ServiceProcess, read, send

pytestmark = pytest.mark.integration

HOSPITAL = "H52010200001"
WINNER = "XC10AAA081A001010100328"
AGREEMENT = "AGR-520000-2020-000001"


def agreement(**changes: object) -> tuple[str, bytes]:
    return event(
        "vbp.agreement.signed",
        f"agr-{changes.get('agreed_quantity', 1200)}",
        "2019-12-20",
        agreement_id=AGREEMENT,
        institution_id=HOSPITAL,
        product_code=WINNER,
        cycle_year=2020,
        period_start="2020-01-01",
        period_end="2020-12-31",
        **{"agreed_quantity": 1200, **changes},
    )


def order(n: int, day: str, quantity: int) -> tuple[str, bytes]:
    return event(
        "vbp.order.placed",
        f"ord-{n}",
        day,
        order_id=f"ord-{n}",
        institution_id=HOSPITAL,
        product_code=WINNER,
        quantity=quantity,
    )


async def outputs(bootstrap: str, prefix: str, topic: str, n: int) -> list[dict]:
    records = await read(bootstrap, prefix + topic, until=lambda r: len(r) >= n, timeout=90)
    return [r.json() for r in records]


async def test_guizhou_q1_at_two_thirds_suspends_from_may_and_catch_up_resumes(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """000 §五(三): Q1 200/300 = 66.67 % < 70 % -> critical warning and suspension of monthly
    settlement from 2020-05-01; cumulative purchases reaching the cumulative task resume it."""
    service = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path, VBP_POLICY="guizhou")
    service.start()
    try:
        await send(kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [agreement()])
        await send(
            kafka_bootstrap,
            topic_prefix + "vbp.orders",
            [
                order(1, "2020-01-15", 120),
                order(2, "2020-02-15", 80),
                order(3, "2020-03-15", 50),
                event(
                    "vbp.order.cancelled",
                    "cancel-3",
                    "2020-03-20",
                    order_id="ord-3",
                    institution_id=HOSPITAL,
                ),
                order(1, "2020-01-15", 120),
            ],
        )  # resent: counted once
        await send(
            kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-03-31"), tick("2020-04-01")]
        )
        warnings = await outputs(kafka_bootstrap, topic_prefix, "vbp.warnings", 1)
        decisions = await outputs(kafka_bootstrap, topic_prefix, "vbp.decisions", 1)
        assert [w["data"]["severity"] for w in warnings] == ["critical"]
        assert warnings[0]["data"]["metrics"]["completion_rate"] == "0.6667"
        assert warnings[0]["data"]["policy_ref"] == "000 §五(三)"
        suspend = decisions[0]["data"]
        assert (suspend["action"], suspend["effective_from"]) == (
            "suspend_monthly_settlement",
            "2020-05-01",
        )
        assert suspend["caused_by"] == [warnings[0]["data"]["warning_id"]]

        # Q2: 100 more on 04-10 brings the cumulative 300 to the cumulative target 300.
        await send(kafka_bootstrap, topic_prefix + "vbp.orders", [order(4, "2020-04-10", 100)])
        await send(
            kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-04-10"), tick("2020-04-11")]
        )
        decisions = await outputs(kafka_bootstrap, topic_prefix, "vbp.decisions", 2)
        resume = decisions[1]["data"]
        assert (resume["action"], resume["effective_from"]) == (
            "resume_monthly_settlement",
            "2020-04-12",
        )
        assert resume["rule"] == "quota.catch_up"

        progress = await outputs(kafka_bootstrap, topic_prefix, "vbp.quota.progress", 1)
        latest = {p["data"]["period"]: p["data"] for p in progress}
        assert latest["2020-Q1"]["ordered_quantity"] == 200
        assert latest["2020-Q2"]["cumulative_quantity"] == 300
    finally:
        service.stop(signal.SIGTERM)
    log = service.log()
    assert "Traceback" not in log, log[-3000:]


async def test_replay_from_offset_zero_reproduces_the_same_outputs(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Contract, Output ids: a second worker with a fresh state replaying every input topic from
    offset zero emits exactly the warnings and decisions of the first, with the same ids."""
    await send(kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [agreement()])
    await send(
        kafka_bootstrap,
        topic_prefix + "vbp.orders",
        [order(1, "2020-01-15", 150), order(2, "2020-04-15", 160), order(3, "2020-08-15", 30)],
    )
    days = ["2020-04-01", "2020-04-16", "2020-07-01", "2020-10-01", "2021-01-01"]
    await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick(d) for d in days])
    first = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path / "a")
    second = ServiceProcess(
        "quota", kafka_bootstrap, topic_prefix, tmp_path / "b", VBP_APP_ID=topic_prefix + "replay"
    )
    # Q1 150/300 suspends from 05-01; 310 >= 300 by 04-15 resumes on 04-17; Q2 160/300 suspends
    # again from 08-01; the year ends at 340 of 1,200: the budget is cut by 860 x 0.94.
    expected_decisions = 4
    for run, service in enumerate((first, second), start=1):
        service.start()
        try:
            decisions = await outputs(
                kafka_bootstrap, topic_prefix, "vbp.decisions", expected_decisions * run
            )
        finally:
            service.stop(signal.SIGTERM)
    warnings = await outputs(kafka_bootstrap, topic_prefix, "vbp.warnings", 1)
    for records in (decisions, warnings):
        by_id: dict[str, list[dict]] = {}
        for record in records:
            by_id.setdefault(record["id"], []).append(record)
        assert all(len(copies) == 2 and copies[0] == copies[1] for copies in by_id.values()), by_id
    actions = [d["data"]["action"] for d in decisions[:expected_decisions]]
    assert actions == [
        "suspend_monthly_settlement",
        "resume_monthly_settlement",
        "suspend_monthly_settlement",
        "reduce_next_year_budget",
    ]
    assert decisions[3]["data"]["amount"] == str((1200 - 340) * Decimal("0.9400"))


async def test_worker_killed_mid_stream_counts_every_order_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """A SIGKILL in the middle of 3,000 orders and a restart: the Q1 total equals the sum of the
    distinct orders and no warning is emitted twice."""
    rng = random.Random(7)
    orders = [
        order(n, f"2020-{rng.randint(1, 3):02d}-{rng.randint(1, 28):02d}", rng.randint(1, 9))
        for n in range(3000)
    ]
    expected = sum(json.loads(v)["data"]["quantity"] for _, v in orders)
    await send(
        kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [agreement(agreed_quantity=200_000)]
    )
    service = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path)
    service.start()
    sender = asyncio.create_task(send(kafka_bootstrap, topic_prefix + "vbp.orders", orders))
    await read(kafka_bootstrap, topic_prefix + "vbp.quota.progress", until=lambda rs: any(
        r.json()["data"]["cumulative_quantity"] >= expected // 4 for r in rs))  # mid-stream
    service.stop(signal.SIGKILL)
    await sender
    service.start()
    try:
        await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-04-01")])
        await outputs(kafka_bootstrap, topic_prefix, "vbp.warnings", 1)
        # A duplicate would follow within seconds; wait for one that must not come.
        records = await read(
            kafka_bootstrap, topic_prefix + "vbp.warnings", until=lambda r: len(r) >= 2, timeout=8
        )
        warnings = [r.json() for r in records]
    finally:
        service.stop(signal.SIGTERM)
    assert len(warnings) == 1
    assert warnings[0]["data"]["metrics"]["quantity"] == expected


async def wait_as_of(service: ServiceProcess, day: str) -> dict:
    """The institution's read view once the service has applied the tick of `day`."""
    async with httpx.AsyncClient() as client:
        for _ in range(150):
            response = await client.get(f"{service.url}/v1/quota/institutions/{HOSPITAL}")
            if response.status_code == 200 and response.json()["as_of"] == day:
                return response.json()
            await asyncio.sleep(0.2)
    raise AssertionError(f"tick {day} not applied: {response.status_code} {response.text[:500]}")


async def test_late_order_updates_totals_but_not_the_issued_decision(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Contract, late events: an order dated in Q1 that arrives after Q1 was evaluated counts in
    Q1's totals and in the catch-up, while the Q1 warning and suspension stay as issued."""
    service = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path, VBP_POLICY="guizhou")
    service.start()
    try:
        await send(kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [agreement()])
        await send(kafka_bootstrap, topic_prefix + "vbp.orders", [order(1, "2020-02-01", 100)])
        await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-04-01")])
        await outputs(kafka_bootstrap, topic_prefix, "vbp.decisions", 1)
        await send(kafka_bootstrap, topic_prefix + "vbp.orders", [order(2, "2020-03-30", 200)])
        await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-04-02")])
        view = await wait_as_of(service, "2020-04-02")
        q1 = view["agreements"][0]["quarters"][0]
        assert (q1["period"], q1["ordered_quantity"], q1["completion_rate"]) == (
            "2020-Q1",
            300,
            "1.0000",
        )
        assert view["agreements"][0]["evaluations"]["2020-Q1"]["quantity"] == 100  # as decided
        months = view["agreements"][0]["months"]
        assert [(m["month"], m["ordered"]) for m in months] == [
            ("2020-01", 0),
            ("2020-02", 100),
            ("2020-03", 200),
            ("2020-04", 0),
        ]
        decisions = await outputs(kafka_bootstrap, topic_prefix, "vbp.decisions", 2)
        assert [d["data"]["action"] for d in decisions] == [
            "suspend_monthly_settlement",
            "resume_monthly_settlement",
        ]
        assert decisions[1]["data"]["effective_from"] == "2020-04-03"
        warnings = await outputs(kafka_bootstrap, topic_prefix, "vbp.warnings", 1)
        assert len(warnings) == 1

        ranking = httpx.get(f"{service.url}/v1/quota/ranking").json()
        assert [r["institution_id"] for r in ranking["institutions"]] == [HOSPITAL]
        assert ranking["institutions"][0]["cumulative_quantity"] == 300
        page = httpx.get(f"{service.url}/v1/quota/cities/520100")
        assert page.headers["content-type"].startswith("text/html")
        assert "中选药品约定采购量完成进度公示" in page.text
        assert httpx.get(f"{service.url}/v1/quota/institutions/H52010299999").status_code == 404

        # restarted with no tick left to read, it still knows its "today" (the runtime's
        # `ticks` table): the view does not fall back to whole quarters
        service.stop(signal.SIGTERM)
        service.start()
        assert (await wait_as_of(service, "2020-04-02"))["agreements"][0]["months"] == months
        assert service.health()["as_of"] == "2020-04-02"
    finally:
        service.stop(signal.SIGTERM)


async def test_shanxi_sets_no_quarterly_bands_so_the_same_shortfall_raises_nothing(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """004 sets no quarterly warn/suspend band (policy-digest: 'monitor; budget cut'): the Q1
    shortfall that suspends under Guizhou is monitored under Shanxi, with no warning or decision."""
    service = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path, VBP_POLICY="shanxi")
    service.start()
    try:
        await send(kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [agreement()])
        await send(kafka_bootstrap, topic_prefix + "vbp.orders", [order(1, "2020-02-01", 100)])
        await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-04-01")])
        view = await wait_as_of(service, "2020-04-01")
        assert view["agreements"][0]["quarters"][0]["completion_rate"] == "0.3333"
        assert view["agreements"][0]["evaluations"]["2020-Q1"]["warning_id"] is None
        for topic in ("vbp.warnings", "vbp.decisions"):
            assert (
                await read(
                    kafka_bootstrap, topic_prefix + topic, until=lambda r: len(r) > 0, timeout=3
                )
                == []
            )
    finally:
        service.stop(signal.SIGTERM)


async def test_non_winning_quantity_above_winning_in_reference_units_warns(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """000 §五(一): in January the hospital bought 100 winning 20 mg tablets (200 reference units
    of 10 mg) and 300 non-winning 10 mg tablets (300 units): non-winning exceeds winning."""
    other = "XC10AAA081A001010100999"
    products = [
        event(
            "vbp.product.listed",
            "p-win",
            "2019-12-01",
            product_code=WINNER,
            winning=True,
            reference_units="2",
        ),
        event(
            "vbp.product.listed",
            "p-other",
            "2019-12-01",
            product_code=other,
            winning=False,
            specification="10mg",
            reference_units="1",
            manufacturer_id="M11000000999",
        ),
    ]
    await send(kafka_bootstrap, topic_prefix + "vbp.ref.products", products)
    await send(kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [agreement()])
    await send(
        kafka_bootstrap,
        topic_prefix + "vbp.orders",
        [
            order(1, "2020-01-10", 100),
            event(
                "vbp.order.placed",
                "ord-x",
                "2020-01-20",
                order_id="ord-x",
                institution_id=HOSPITAL,
                product_code=other,
                quantity=300,
            ),
        ],
    )
    await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-02-01")])
    service = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path)
    service.start()
    try:
        warnings = await outputs(kafka_bootstrap, topic_prefix, "vbp.warnings", 1)
    finally:
        service.stop(signal.SIGTERM)
    data = warnings[0]["data"]
    assert (data["rule"], data["subject_id"], data["period"]) == (
        "quota.non_winning_ratio",
        HOSPITAL,
        "2020-01",
    )
    assert data["policy_ref"] == "000 §五(一)"
    assert data["metrics"]["generic_name"] == "阿托伐他汀钙片"


async def test_amended_agreement_moves_the_targets_the_totals_follow(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """An agreement re-signed with the same id and a new quantity replaces the old one: Q1's
    target drops from 300 to 150, so 120 ordered is exactly 80 % and no longer warns
    (000 §五(三))."""
    await send(kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [agreement()])
    await send(kafka_bootstrap, topic_prefix + "vbp.orders", [order(1, "2020-02-01", 120)])
    await send(
        kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [agreement(agreed_quantity=600)]
    )
    await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-04-01")])
    service = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path)
    service.start()
    try:
        view = await wait_as_of(service, "2020-04-01")
    finally:
        service.stop(signal.SIGTERM)
    (only,) = view["agreements"]
    assert (only["agreed_quantity"], only["quarters"][0]["target_quantity"]) == (600, 150)
    assert only["evaluations"]["2020-Q1"] == {"quantity": 120, "target": 150, "warning_id": None}
    assert (
        await read(
            kafka_bootstrap, topic_prefix + "vbp.warnings", until=lambda r: len(r) > 0, timeout=3
        )
        == []
    )
