"""Settlement service end to end on the real broker: the Guizhou overdue chain across National Day
(000 §五(三)), Shanxi's end-of-next-month deadline (004 §五(四)), Xi'an's two prepayment tranches
(003 §三(三)1), replay, and a crash in the middle of a payment stream."""
from __future__ import annotations

import asyncio
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.events import event, tick
from tests.harness import ServiceProcess, read, send

pytestmark = pytest.mark.integration

HOSPITAL = "H52010200001"
DISTRIBUTOR = "D52010000017"
PRODUCT = "XC10AAA081A001010100328"
NON_PASSED = "XC10AAA081A001010100999"


def order(order_id: str, day: str, institution_id: str = HOSPITAL) -> tuple[str, bytes]:
    return event("vbp.order.placed", f"ev-{order_id}", day, order_id=order_id,
                 institution_id=institution_id, distributor_id=DISTRIBUTOR)


def delivery(delivery_id: str, accepted_on: str, amount: str, order_id: str = "ord-1",
             institution_id: str = HOSPITAL) -> tuple[str, bytes]:
    return event("vbp.delivery.accepted", f"ev-{delivery_id}", accepted_on,
                 delivery_id=delivery_id, order_id=order_id, institution_id=institution_id,
                 amount=amount, accepted_on=accepted_on)


def payment(payment_id: str, paid_on: str, amount: str, *delivery_ids: str,
            institution_id: str = HOSPITAL, event_id: str | None = None) -> tuple[str, bytes]:
    return event("vbp.payment.made", event_id or f"ev-{payment_id}", paid_on,
                 payment_id=payment_id, institution_id=institution_id, payee_id=DISTRIBUTOR,
                 delivery_ids=list(delivery_ids), amount=amount, paid_on=paid_on)


def institution(institution_id: str = HOSPITAL, **changes: Any) -> tuple[str, bytes]:
    return event("vbp.institution.registered", f"reg-{institution_id}", "2019-12-01",
                 institution_id=institution_id, **changes)


async def outputs(bootstrap: str, prefix: str, topic: str,
                  until: Any, timeout: float = 45) -> list[dict[str, Any]]:
    """The data of every event on `topic` once `until(data list)` holds."""
    records = await read(bootstrap, prefix + topic,
                         until=lambda rs: until([r.json()["data"] for r in rs]), timeout=timeout)
    return [r.json()["data"] for r in records]


def has(n: int) -> Any:
    return lambda items: len(items) >= n


def get(service: ServiceProcess, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{service.url}{path}", params=params, timeout=10)


def wait_for_tick(service: ServiceProcess, institution_id: str, day: str,
                  timeout: float = 45) -> dict:
    """The institution's statement once the service has evaluated the tick of `day`."""
    deadline = time.monotonic() + timeout
    while True:
        body = get(service, f"/v1/settlement/institutions/{institution_id}/payables").json()
        if body.get("as_of") == day or time.monotonic() > deadline:
            assert body.get("as_of") == day, body
            return body
        time.sleep(0.2)


async def test_guizhou_unpaid_ten_working_days_after_the_warning_across_national_day_suspends(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """000 §五(三): accepted 2020-08-28, due 09-27, warned on the 09-28 tick. Ten working days
    after 09-28 skip the National Day holiday (10-01..10-08) and count Saturday 10-10 (调休), so
    disbursement is suspended on the 10-20 tick; a weekends-only calendar would do it on 10-13.
    A partial payment keeps it suspended; the last yuan resumes it."""
    service = ServiceProcess("settlement", kafka_bootstrap, topic_prefix, tmp_path,
                             VBP_POLICY="guizhou")
    service.start()
    try:
        p = topic_prefix
        await send(kafka_bootstrap, p + "vbp.orders", [order("ord-1", "2020-08-20")])
        await send(kafka_bootstrap, p + "vbp.deliveries", [
            delivery("DLV-ND", "2020-08-28", "5000.0000"),
            delivery("DLV-OK", "2020-08-28", "1000.0000"),
            delivery("DLV-ND", "2020-08-28", "5000.0000")])  # resent: one payable
        await send(kafka_bootstrap, p + "vbp.payments", [
            payment("PAY-OK", "2020-09-20", "1000.0000", "DLV-OK"),
            payment("PAY-GHOST", "2020-09-10", "300.0000", "dlv-unknown")])
        await send(kafka_bootstrap, p + "vbp.clock", [tick(d) for d in (
            "2020-09-27", "2020-09-28", "2020-10-09", "2020-10-13", "2020-10-19", "2020-10-20")])

        warnings = await outputs(kafka_bootstrap, p, "vbp.warnings", has(2))
        unmatched, overdue = warnings[:2]
        assert unmatched["rule"] == "settlement.payment_unmatched"
        assert unmatched["metrics"]["kinds"] == ["overpayment", "unknown_delivery"]
        assert unmatched["metrics"]["unmatched"] == "300.0000"
        assert overdue["rule"] == "settlement.payment_overdue"
        assert overdue["policy_ref"] == "000 §五(三)"
        assert overdue["metrics"]["delivery_id"] == "DLV-ND"
        assert overdue["metrics"]["due_date"] == "2020-09-27"
        assert overdue["metrics"]["supplier_id"] == DISTRIBUTOR

        # The first decision on the institution's partition is the 10-20 one: none came earlier.
        [suspend] = (await outputs(kafka_bootstrap, p, "vbp.decisions", has(1)))[:1]
        assert suspend["action"] == "suspend_fund_disbursement"
        assert suspend["rule"] == "settlement.overdue_after_warning"
        assert suspend["effective_from"] == "2020-10-20"
        assert suspend["caused_by"] == [overdue["warning_id"]]
        assert suspend["metrics"]["delivery_ids"] == ["DLV-ND"]
        assert suspend["metrics"]["outstanding"] == "5000.0000"

        ranking = get(service, "/v1/settlement/overdue-ranking").json()
        assert ranking["as_of"] == "2020-10-20"
        assert [(r["rank"], r["institution_id"], r["overdue_outstanding"], r["max_days_overdue"],
                 r["fund_disbursement_suspended"]) for r in ranking["institutions"]] == [
            (1, HOSPITAL, "5000.0000", 23, True)]

        await send(kafka_bootstrap, p + "vbp.payments", [
            payment("PAY-1", "2020-10-21", "3000.0000", "DLV-ND"),
            payment("PAY-2", "2020-10-22", "2000.0000", "DLV-ND")])
        await send(kafka_bootstrap, p + "vbp.clock", [tick("2020-10-22"), tick("2020-10-23")])
        decisions = await outputs(kafka_bootstrap, p, "vbp.decisions", has(2))
        resume = decisions[1]
        # 3,000 paid before 10-22 leaves 2,000 owed: the 10-22 tick keeps it suspended.
        assert (resume["action"], resume["effective_from"]) == (
            "resume_fund_disbursement", "2020-10-23")
        assert resume["caused_by"] == [overdue["warning_id"]]
        assert resume["metrics"]["suspended_from"] == "2020-10-20"

        statement = wait_for_tick(service, HOSPITAL, "2020-10-23")
        rows = {r["delivery_id"]: r for r in statement["payables"]}
        assert (rows["DLV-ND"]["status"], rows["DLV-ND"]["paid"], rows["DLV-ND"]["settled_on"],
                rows["DLV-ND"]["days_outstanding"]) == ("paid", "5000.0000", "2020-10-22", 55)
        assert rows["DLV-OK"]["status"] == "paid"
        assert statement["fund_disbursement"]["suspended"] is False
        history = statement["fund_disbursement"]["history"]
        assert [s["resumed_on"] for s in history] == ["2020-10-23"]
        ghost = {x["payment_id"]: x for x in statement["payments"]}["PAY-GHOST"]
        assert (ghost["applied"], ghost["unmatched"]) == ("0", "300.0000")
    finally:
        service.stop(signal.SIGTERM)
    log = service.log()
    assert "Traceback" not in log, log[-3000:]


def agreement(agreement_id: str, start: str, end: str, agreed: int,
              price: str) -> tuple[str, bytes]:
    return event("vbp.agreement.signed", f"ev-{agreement_id}", "2019-12-20",
                 agreement_id=agreement_id, institution_id=HOSPITAL, product_code=PRODUCT,
                 cycle_year=int(start[:4]), period_start=start, period_end=end,
                 agreed_quantity=agreed, price=price)


async def test_shanxi_payment_is_due_at_the_end_of_the_following_month_and_nothing_is_suspended(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """004 §五(四) "结清时间不得超过交货验收合格后的次月底": accepted 01-31 is due 02-28 and
    overdue on the 03-01 tick; accepted in February is due 03-31. Shanxi sets a deadline but no
    withholding chain, and prepays 30 % of each annual agreed amount at its start."""
    service = ServiceProcess("settlement", kafka_bootstrap, topic_prefix, tmp_path,
                             VBP_POLICY="shanxi")
    service.start()
    try:
        p = topic_prefix
        await send(kafka_bootstrap, p + "vbp.ref.agreements", [
            agreement("AGR-SX-1", "2021-01-01", "2021-12-31", 100_000, "0.3333"),
            agreement("AGR-SX-2", "2021-04-01", "2022-03-31", 50_000, "0.5000")])
        await send(kafka_bootstrap, p + "vbp.deliveries", [
            delivery("D1", "2021-01-31", "800.0000"), delivery("D2", "2021-02-01", "600.0000"),
            delivery("D3", "2021-02-15", "400.0000")])
        await send(kafka_bootstrap, p + "vbp.payments",
                   [payment("PAY-D2", "2021-03-15", "600.0000", "D2")])
        await send(kafka_bootstrap, p + "vbp.ref.products", [
            event("vbp.product.listed", "p-win", "2021-01-01", product_code=PRODUCT,
                  price="0.3200", reference_units="1"),
            event("vbp.product.listed", "p-np", "2021-01-01", product_code=NON_PASSED,
                  winning=False, consistency_passed=False, price="0.5000", reference_units="1",
                  manufacturer_id="M14000000999")])
        await send(kafka_bootstrap, p + "vbp.clock", [tick(d) for d in (
            "2021-01-01", "2021-02-28", "2021-03-01", "2021-03-31", "2021-04-01")])

        warnings = await outputs(kafka_bootstrap, p, "vbp.warnings", has(3))
        # No order names a distributor: the supplier is the agreement's manufacturer, so paying
        # the distributor is noted (info, on the first tick after the payment) and still pays D2.
        first, payee, last = warnings
        assert (payee["rule"], payee["severity"], payee["metrics"]["kinds"]) == (
            "settlement.payment_unmatched", "info", ["payee_differs"])
        assert [(w["rule"], w["metrics"]["delivery_id"], w["metrics"]["due_date"],
                 w["metrics"]["days_overdue"]) for w in (first, last)] == [
            ("settlement.payment_overdue", "D1", "2021-02-28", 1),
            ("settlement.payment_overdue", "D3", "2021-03-31", 1)]
        assert {w["policy_ref"] for w in warnings} == {"004 §五(四)"}
        # The second agreement's release on the last tick closes the stream: no suspension
        # came before it, on any tick.
        decisions = await outputs(kafka_bootstrap, p, "vbp.decisions", has(2))
        assert [(d["action"], d["effective_from"], d["amount"], d["metrics"]["account"])
                for d in decisions] == [
            ("release_prepayment", "2021-01-01", "9999.00", "AGR-SX-1"),
            ("release_prepayment", "2021-04-01", "7500.00", "AGR-SX-2")]
        assert {d["policy_ref"] for d in decisions} == {"004 §五(四)"}

        statement = wait_for_tick(service, HOSPITAL, "2021-04-01")
        assert [(r["delivery_id"], r["status"], r["due_date"]) for r in statement["payables"]] == [
            ("D1", "overdue", "2021-02-28"), ("D2", "paid", "2021-03-31"),
            ("D3", "overdue", "2021-03-31")]
        assert statement["totals"]["overdue"] == {"count": 2, "amount": "1200.0000",
                                                  "outstanding": "1200.0000"}
        assert statement["fund_disbursement"]["suspended"] is False

        # 004 §五(六): a non-passed generic's standard never exceeds the passed one (0.3200).
        quote = get(service, "/v1/settlement/payment-standard", product_code=NON_PASSED,
                    quantity="10", non_passed_standard="0.4000").json()
        assert (quote["fund"], quote["patient"], quote["policy_ref"]) == (
            "3.2000", "1.8000", "004 §五(六)")
        refusals = [
            ("/v1/settlement/payment-standard", {}, 422),
            ("/v1/settlement/payment-standard", {"product_code": "XC10AAA081A001010100000"}, 404),
            ("/v1/settlement/payment-standard", {"product_code": PRODUCT, "price": "0.1e3"}, 422),
            ("/v1/settlement/payment-standard", {"product_code": PRODUCT, "quantity": "0"}, 422),
            ("/v1/settlement/institutions/H123/payables", {}, 422),
            ("/v1/settlement/institutions/H52010299999/payables", {}, 404),
            (f"/v1/settlement/institutions/{HOSPITAL}/payables", {"as_of": "2021-02-30"}, 422),
            (f"/v1/settlement/institutions/{HOSPITAL}/payables", {"status": "late"}, 422),
            ("/v1/settlement/overdue-ranking", {"limit": "-1"}, 422),
        ]
        assert [get(service, path, **params).status_code for path, params, _ in refusals] == [
            status for _, _, status in refusals]
    finally:
        service.stop(signal.SIGTERM)


def progress(period: str, day: str, cumulative: int) -> tuple[str, bytes]:
    """vbp.quota.progress as the quota service emits it: stamped with the order's time."""
    return event("vbp.quota.progress", f"progress:AGR-XA-1:{period}:{day}:{cumulative}", day,
                 agreement_id="AGR-XA-1", institution_id=HOSPITAL, product_code=PRODUCT,
                 period=period, cumulative_quantity=cumulative)


async def test_xian_prepays_half_at_the_start_and_40_percent_more_at_half_the_agreed_volume(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """003 §三(三)1: 50 % of the agreed amount (100,000 x 0.3333) up front, 40 % more once quota
    reports half the agreed quantity purchased, reconciled against actual purchases at the end.
    Everything is on the broker before the worker starts, so faust reads the clock long before
    the 600 progress readings: each tick must wait for the progress written before it."""
    p = topic_prefix
    await send(kafka_bootstrap, p + "vbp.ref.agreements", [
        agreement("AGR-XA-1", "2020-01-01", "2020-12-31", 100_000, "0.3333")])
    await send(kafka_bootstrap, p + "vbp.deliveries", [
        delivery("XD1", "2020-03-01", "13332.0000"), delivery("XD2", "2020-06-15", "13332.0000")])
    await send(kafka_bootstrap, p + "vbp.payments", [
        event("vbp.fund.prepaid", "fund-1", "2020-01-10", prepayment_id="FUND-1",
              institution_id=HOSPITAL, amount="16665.00", paid_on="2020-01-10")])
    readings = [progress("2020-Q2", f"2020-{4 + n // 300:02d}-{1 + n % 300 // 10:02d}", 30_000 + n)
                for n in range(600)]  # 04-01 .. 05-30, up to 30,599
    await send(kafka_bootstrap, p + "vbp.quota.progress", [
        progress("2020-Q1", "2020-03-10", 30_000), *readings,
        progress("2020-Q2", "2020-05-31", 49_999),
        progress("2020-Q2", "2020-06-01", 50_000)])  # bought on 06-01: seen by the 06-02 tick
    await send(kafka_bootstrap, p + "vbp.clock", [tick(d) for d in (
        "2020-01-01", "2020-06-01", "2020-06-02", "2021-01-01")])
    service = ServiceProcess("settlement", kafka_bootstrap, topic_prefix, tmp_path,
                             VBP_POLICY="xian")
    service.start()
    try:
        decisions = await outputs(kafka_bootstrap, p, "vbp.decisions", has(2))
        assert [(d["decision_id"], d["effective_from"], d["amount"]) for d in decisions] == [
            (f"settlement.prepayment:{HOSPITAL}:AGR-XA-1:tranche-1", "2020-01-01", "16665.00"),
            (f"settlement.prepayment:{HOSPITAL}:AGR-XA-1:tranche-2", "2020-06-02", "13332.00")]
        assert decisions[1]["metrics"]["purchased_quantity"] == 50_000
        assert {d["policy_ref"] for d in decisions} == {"003 §三(三)1"}

        [reconciled] = (await outputs(kafka_bootstrap, p, "vbp.warnings", has(1)))[:1]
        assert reconciled["rule"] == "settlement.prepayment_reconciliation"
        metrics = reconciled["metrics"]
        assert (Decimal(metrics["prepaid"]), Decimal(metrics["actual"]),
                Decimal(metrics["to_recover"])) == (
            Decimal("29997"), Decimal("26664"), Decimal("3333"))

        wait_for_tick(service, HOSPITAL, "2021-01-01")
        ledger = get(service, f"/v1/settlement/institutions/{HOSPITAL}/prepayments").json()
        assert [r["label"] for r in ledger["releases"]] == ["tranche-1", "tranche-2"]
        assert ledger["totals"] == {"released": "29997.00", "transferred": "16665.00",
                                    "released_not_transferred": "13332.00"}
        [account] = ledger["accounts"]
        assert (account["account"], account["actual_purchases"], account["balance"]) == (
            "AGR-XA-1", "26664.0000", "3333.0000")
        assert account["reconciliation"]["to_recover"] == metrics["to_recover"]
    finally:
        service.stop(signal.SIGTERM)


async def test_xian_second_tranche_follows_the_quota_services_own_progress(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """003 §三(三)1 with the real quota service: orders of 300 (02-10) and 200 (04-15) reach
    half of 1,000 agreed; quota's progress stamps the 04-15 order with its day, so the 04-15
    tick does not see it and the 04-16 tick releases the second tranche."""
    p = topic_prefix
    quota = ServiceProcess("quota", kafka_bootstrap, p, tmp_path / "quota", VBP_POLICY="xian")
    service = ServiceProcess("settlement", kafka_bootstrap, p, tmp_path / "settlement",
                             VBP_POLICY="xian")
    quota.start()
    service.start()
    try:
        await send(kafka_bootstrap, p + "vbp.ref.agreements", [
            agreement("AGR-E2E", "2020-01-01", "2020-12-31", 1000, "0.5000")])
        await send(kafka_bootstrap, p + "vbp.orders", [
            event("vbp.order.placed", f"ev-o{n}", day, order_id=f"o{n}", institution_id=HOSPITAL,
                  product_code=PRODUCT, quantity=quantity)
            for n, (day, quantity) in enumerate([("2020-02-10", 300), ("2020-04-15", 200)])])
        # Live, the day's tick comes after quota has counted the day's orders.
        await read(kafka_bootstrap, p + "vbp.quota.progress", timeout=45, until=lambda rs: any(
            r.json()["data"]["cumulative_quantity"] == 500 for r in rs))
        await send(kafka_bootstrap, p + "vbp.clock",
                   [tick(d) for d in ("2020-01-01", "2020-04-15", "2020-04-16")])
        decisions = await outputs(kafka_bootstrap, p, "vbp.decisions", has(2))
        assert [(d["metrics"]["label"], d["effective_from"], d["amount"]) for d in decisions] == [
            ("tranche-1", "2020-01-01", "250.00"), ("tranche-2", "2020-04-16", "200.00")]
        assert decisions[1]["metrics"]["purchased_quantity"] == 500
    finally:
        service.stop(signal.SIGTERM)
        quota.stop(signal.SIGTERM)


async def test_replay_from_offset_zero_reproduces_the_same_decisions(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """Contract, Output ids: a second worker with a fresh state replaying every topic from offset
    zero emits exactly the warnings and decisions of the first. Guizhou: the January prepayment
    (30 % of 2019's average monthly disbursement of 6,200,000), the overdue chain, and the
    year-end reconciliation of the prepayment."""
    p = topic_prefix
    await send(kafka_bootstrap, p + "vbp.ref.institutions", [institution()])
    await send(kafka_bootstrap, p + "vbp.orders", [order("ord-1", "2020-08-20")])
    await send(kafka_bootstrap, p + "vbp.deliveries", [
        delivery("DLV-ND", "2020-08-28", "5000.0000"), delivery("DLV-2", "2020-09-10", "800.0000")])
    await send(kafka_bootstrap, p + "vbp.payments", [
        payment("PAY-1", "2020-10-21", "3000.0000", "DLV-ND"),
        payment("PAY-2", "2020-10-30", "2800.0000", "DLV-2", "DLV-ND"),
        payment("PAY-3", "2020-11-02", "10.0000", "DLV-2")])  # already paid: reported
    days = ["2020-01-02", "2020-09-28", "2020-10-11", "2020-10-20", "2020-10-24", "2020-10-31",
            "2020-11-03", "2021-01-01"]
    await send(kafka_bootstrap, p + "vbp.clock", [tick(d) for d in days])
    first = ServiceProcess("settlement", kafka_bootstrap, p, tmp_path / "a", VBP_POLICY="guizhou")
    second = ServiceProcess("settlement", kafka_bootstrap, p, tmp_path / "b", VBP_POLICY="guizhou",
                            VBP_APP_ID=p + "replay")
    # release (01-02); DLV-ND suspends on 10-20; DLV-2 (warned 10-11) joins on 10-24; both
    # paid by 10-30: resume on 10-31. Warnings: 2 overdue, PAY-3 unmatched, reconciliation.
    expected = {"vbp.decisions": 3, "vbp.warnings": 4}
    for run, service in enumerate((first, second), start=1):
        service.start()
        try:
            found = {topic: await outputs(kafka_bootstrap, p, topic, has(n * run))
                     for topic, n in expected.items()}
        finally:
            service.stop(signal.SIGTERM)
    for topic, n in expected.items():
        by_id: dict[str, list[dict]] = {}
        for data in found[topic]:
            by_id.setdefault(data.get("decision_id") or data["warning_id"], []).append(data)
        assert len(by_id) == n, sorted(by_id)
        assert all(len(copies) == 2 and copies[0] == copies[1] for copies in by_id.values()), by_id
    decisions = found["vbp.decisions"][:3]
    assert [(d["action"], d["effective_from"], d["amount"]) for d in decisions] == [
        ("release_prepayment", "2020-01-02", "1860000.00"),
        ("suspend_fund_disbursement", "2020-10-20", None),
        ("resume_fund_disbursement", "2020-10-31", None)]
    assert decisions[2]["metrics"]["delivery_ids"] == ["DLV-2", "DLV-ND"]
    assert len(decisions[2]["caused_by"]) == 2
    reconciliation = found["vbp.warnings"][3]
    assert reconciliation["rule"] == "settlement.prepayment_reconciliation"
    assert (reconciliation["metrics"]["prepaid"], reconciliation["metrics"]["actual"]) == (
        "1860000.00", "5800.0000")


async def test_worker_killed_mid_stream_counts_every_payment_once(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """A SIGKILL in the middle of 2,000 payments (120 of them resent under new event ids) and a
    restart: every delivery has been paid exactly the sum of its distinct payments."""
    p = topic_prefix
    hospitals = [f"H5201020000{i}" for i in range(1, 5)]
    deliveries = [(h, f"DLV-{h[-1]}-{n}") for h in hospitals for n in range(10)]
    await send(kafka_bootstrap, p + "vbp.deliveries", [
        delivery(d, "2020-03-02", "1000.0000", institution_id=h) for h, d in deliveries])
    payments, expected = [], {d: Decimal(0) for _, d in deliveries}
    for n in range(2000):
        h, d = deliveries[n % len(deliveries)]
        amount = Decimal(n % 7 + 1)
        payments.append(payment(f"PAY-{n}", "2020-03-10", f"{amount}.0000", d, institution_id=h))
        expected[d] += amount
    payments += [payment(f"PAY-{n}", "2020-03-10", f"{n % 7 + 1}.0000",
                         deliveries[n % len(deliveries)][1],
                         institution_id=deliveries[n % len(deliveries)][0], event_id=f"again-{n}")
                 for n in range(0, 2000, 17)]
    service = ServiceProcess("settlement", kafka_bootstrap, p, tmp_path, VBP_POLICY="guizhou")
    service.start()

    async def trickle() -> None:  # so that the worker is killed with payments still to come
        for start in range(0, len(payments), 50):
            await send(kafka_bootstrap, p + "vbp.payments", payments[start:start + 50])
            await asyncio.sleep(0.05)

    sender = asyncio.create_task(trickle())
    deadline = time.monotonic() + 45
    while service.health()["counts"]["processed"] < 600 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    processed = service.health()["counts"]["processed"]
    service.stop(signal.SIGKILL)
    await sender
    assert 600 <= processed < 2000 + 40, processed  # killed mid-stream
    service.start()
    try:
        await send(kafka_bootstrap, p + "vbp.clock", [tick("2020-03-20")])
        paid: dict[str, Decimal] = {}
        for h in hospitals:
            statement = wait_for_tick(service, h, "2020-03-20")
            paid.update({r["delivery_id"]: Decimal(r["paid"]) for r in statement["payables"]})
            assert all(not x["anomalies"] for x in statement["payments"])
            assert len(statement["payments"]) == sum(1 for n in range(2000)
                                                     if deliveries[n % 40][0] == h)
    finally:
        service.stop(signal.SIGTERM)
    assert paid == expected
