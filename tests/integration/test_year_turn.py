"""The turn into 2027, a year the calendar package (chinese-calendar 1.11.0) does not know.

Settlement's overdue chain (Guizhou, 000 §五(三)) decides on time on the holiday law alone and
says so; a published arrangement added while the service runs changes later decisions only.
Every service goes through the year turn without a crash, a dead letter or a stall: the old
cycle's year-end decision, the new cycle's agreements and January's ticks."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.events import daily_ticks, event
from tests.harness import ServiceProcess, read_to_end, send
from tests.integration.test_settlement import delivery, has, order, outputs, wait_for_tick
from tests.unit.test_workdays import ARRANGEMENT_2027

pytestmark = pytest.mark.integration

EARLY, LATE = "H52010200001", "H52010200002"


async def test_overdue_chain_decides_on_the_estimate_and_a_published_notice_counts_later(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    holidays = tmp_path / "holidays"
    holidays.mkdir()
    service = ServiceProcess("settlement", kafka_bootstrap, topic_prefix, tmp_path,
                             VBP_POLICY="guizhou", VBP_HOLIDAYS_DIR=str(holidays))
    service.start()
    try:
        p = topic_prefix
        await send(kafka_bootstrap, p + "vbp.orders", [
            order("ord-early", "2026-11-10", EARLY), order("ord-late", "2026-12-20", LATE)])
        await send(kafka_bootstrap, p + "vbp.deliveries", [
            # due 2026-12-20, warned on the 12-21 tick: the 10th working day after it is
            # 2027-01-05 on the law alone (元旦 off), so the suspension comes on the 01-06 tick
            delivery("DLV-EARLY", "2026-11-20", "2000.0000", "ord-early", EARLY),
            # due 2027-01-27, warned on the 01-28 tick, counted after the notice is added
            delivery("DLV-LATE", "2026-12-28", "3000.0000", "ord-late", LATE)])
        await send(kafka_bootstrap, p + "vbp.clock",
                   daily_ticks("2026-11-28", "2027-01-06"))
        wait_for_tick(service, EARLY, "2027-01-06")
        wait_for_tick(service, LATE, "2027-01-06")

        [missing] = [w for w in await outputs(kafka_bootstrap, p, "vbp.warnings", has(2))
                     if w["rule"] == "calendar.arrangement_missing"]
        assert (missing["subject_kind"], missing["subject_id"], missing["period"]) == (
            "jurisdiction", "520000", "2027")
        assert missing["severity"] == "warning" and "放假办法" in missing["policy_ref"]
        assert str(holidays / "2027.toml") in missing["message"]
        [suspend] = await outputs(kafka_bootstrap, p, "vbp.decisions", has(1))
        assert (suspend["subject_id"], suspend["action"], suspend["effective_from"]) == (
            EARLY, "suspend_fund_disbursement", "2027-01-06")
        assert suspend["metrics"]["calendar_source"] == "statutory-estimate"

        # The notice comes out (a made-up one: 春节 5-13 February, Sunday 31 January worked).
        # On the law alone LATE's 10th working day would be 02-17 (decision on 02-18); on the
        # notice it is 02-18, and the decision comes on the 02-19 tick.
        (holidays / "2027.toml").write_text(ARRANGEMENT_2027, encoding="utf-8")
        await send(kafka_bootstrap, p + "vbp.clock",
                   daily_ticks("2027-01-07", "2027-02-19"))
        wait_for_tick(service, LATE, "2027-02-19", timeout=90)
        decisions = await outputs(kafka_bootstrap, p, "vbp.decisions", has(2))
        # vbp.decisions is keyed by subject: the two may come from different partitions
        assert sorted(d["subject_id"] for d in decisions) == [EARLY, LATE]
        [early] = [d for d in decisions if d["subject_id"] == EARLY]
        assert early == suspend  # issued on the estimate, never rewritten
        [late] = [d for d in decisions if d["subject_id"] == LATE]
        assert (late["action"], late["effective_from"]) == ("suspend_fund_disbursement",
                                                           "2027-02-19")
        assert late["metrics"]["calendar_source"] == "published"
        assert late["metrics"]["calendar_notices"] == ["国办发明电〔2026〕99号"]

        warnings = [r.json()["data"] for r in
                    await read_to_end(kafka_bootstrap, p + "vbp.warnings")]
        assert [w["rule"] for w in warnings].count("calendar.arrangement_missing") == 1
        assert await read_to_end(kafka_bootstrap, p + "vbp.deadletter") == []
        assert service.health()["status"] == "ok", service.health()
    finally:
        service.stop()


def agreement(year: int, agreed: int) -> tuple[str, bytes]:
    return event("vbp.agreement.signed", f"agr-{year}", f"{year - 1}-12-15",
                 agreement_id=f"AGR-520000-{year}-000001", cycle_year=year,
                 period_start=f"{year}-01-01", period_end=f"{year}-12-31",
                 agreed_quantity=agreed)


async def test_every_service_goes_through_the_year_turn(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """2026's cycle ends short (900 of 1,000 ordered: quota.year_end cuts 100 x 0.94 on the
    2027-01-01 tick); 2027's agreement, signed in December, counts January's order; supply and
    alerts take the same ticks; nothing is dead-lettered and every service stays healthy."""
    p = topic_prefix
    services = [ServiceProcess(name, kafka_bootstrap, p, tmp_path / name, VBP_POLICY="guizhou",
                               VBP_HOLIDAYS_DIR=str(tmp_path))
                for name in ("quota", "supply", "settlement", "alerts")]
    for service in services:
        service.start()
    try:
        await send(kafka_bootstrap, p + "vbp.ref.products",
                   [event("vbp.product.listed", "prd-1", "2025-12-01")])
        await send(kafka_bootstrap, p + "vbp.ref.institutions",
                   [event("vbp.institution.registered", "reg-1", "2025-12-01")])
        await send(kafka_bootstrap, p + "vbp.ref.agreements",
                   [agreement(2026, 1000), agreement(2027, 1200)])
        await send(kafka_bootstrap, p + "vbp.orders", [
            event("vbp.order.placed", "ev-o1", "2026-01-15", order_id="ord-2026", quantity=900),
            event("vbp.order.placed", "ev-o2", "2027-01-04", order_id="ord-2027", quantity=100)])
        await send(kafka_bootstrap, p + "vbp.supply.reports", [event(
            "vbp.supply.monthly_reported", "rpt-2026-12", "2027-01-03",
            report_id="rpt-M11000000328-2026-12", month="2026-12")])
        await send(kafka_bootstrap, p + "vbp.clock", daily_ticks("2026-12-30", "2027-01-06"))

        decisions = await outputs(kafka_bootstrap, p, "vbp.decisions", lambda ds: any(
            d["rule"] == "quota.year_end" for d in ds))
        [cut] = [d for d in decisions if d["rule"] == "quota.year_end"]
        assert (cut["subject_id"], cut["action"]) == ("H52010200001", "reduce_next_year_budget")
        assert Decimal(cut["amount"]) == 100 * Decimal("0.9400")
        progress = await outputs(kafka_bootstrap, p, "vbp.quota.progress", lambda ps: any(
            r["agreement_id"] == "AGR-520000-2027-000001" and r["ordered_quantity"] == 100
            for r in ps))
        assert any(r["period"] == "2027-Q1" for r in progress
                   if r["agreement_id"] == "AGR-520000-2027-000001")
        wait_for_tick(services[2], "H52010200001", "2027-01-06")
        assert await read_to_end(kafka_bootstrap, p + "vbp.deadletter") == []
        for service in services:
            health = service.health()
            assert health["status"] == "ok", (service.name, health)
    finally:
        for service in services:
            service.stop()
