"""The supply service's state: what each input changes, and the product-wide questions.

Tables are replaced by dicts (the state only reads and writes them by key), so these tests run
the real input handlers without a broker.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from policies import load_profile
from runtime.loop import Rejected
from schemas.envelope import CloudEvent, new_event
from schemas.events import EXAMPLES
from services.supply.state import SupplyState, region_of

AMLODIPINE = "苯磺酸氨氯地平片"
STOPPED = ("XC08CAA017A001010100783", "M12000000783")
OTHER = ("XC08CAA017A001010100412", "M33000000412")


def state() -> SupplyState:
    service = SimpleNamespace(policy=load_profile("guizhou"), on_recover=lambda callback: None,
                              table=lambda name: {})
    return SupplyState(service)  # type: ignore[arg-type]


def ce(type_: str, day: str, id_: str | None = None, source: str | None = None,
       province: str = "520000", **changes: Any) -> CloudEvent:
    data = {**EXAMPLES[type_], **changes}
    if source is None:
        source = (f"/manufacturer/{data['manufacturer_id']}" if type_.startswith("vbp.supply.")
                  else "/platform/520000")
    return new_event(type_, data, id=id_ or f"{type_}-{day}", source=source,
                     time=f"{day}T10:00:00+08:00", province=province)


async def listed(s: SupplyState, code: str, manufacturer: str, ref_units: str = "1") -> None:
    await s.on_reference(ce("vbp.product.listed", "2019-12-20", product_code=code,
                            generic_name=AMLODIPINE, manufacturer_id=manufacturer,
                            winning=True, reference_units=ref_units))


async def supplied(s: SupplyState, event: CloudEvent) -> None:
    """A manufacturer's event, stamped by the broker when it was sent (its event time here)."""
    await s.on_supply(event, stamp_of(event))


async def traded(s: SupplyState, event: CloudEvent) -> None:
    await s.on_trade(event, stamp_of(event))


def stamp_of(event: CloudEvent) -> int:
    return int(event.time.timestamp() * 1000)


async def ordered(s: SupplyState, n: int, day: str, quantity: int, code: str = STOPPED[0],
                  institution: str = "H52010200001") -> None:
    await traded(s, ce("vbp.order.placed", day, f"ord-{n}", order_id=f"ord-{n}",
                        institution_id=institution, product_code=code, quantity=quantity))


async def test_amc_comes_from_orders_net_of_cancellations_and_survives_recovery() -> None:
    s = state()
    await ordered(s, 1, "2020-01-10", 90)
    await ordered(s, 2, "2020-02-10", 120)
    await ordered(s, 3, "2020-03-10", 150)
    await ordered(s, 4, "2020-03-11", 999)
    await traded(s, ce("vbp.order.cancelled", "2020-03-12", "c-4", order_id="ord-4",
                        institution_id="H52010200001"))
    assert s.consumption(STOPPED[0], "2020-03").amc == Decimal(120)
    s.demand.clear()
    await s._rebuild_demand()  # what the core calls after a recovery
    assert s.consumption(STOPPED[0], "2020-03").amc == Decimal(120)


async def test_a_production_stop_counts_as_days_the_product_could_not_be_supplied() -> None:
    """demand.py (mSupply adjusted consumption): 810 ordered over 91 days of which 10 stopped."""
    s = state()
    for n, month in enumerate(("01", "02", "03")):
        await ordered(s, n, f"2020-{month}-05", 270)
    await supplied(s, ce("vbp.supply.production_stopped", "2020-02-01", stopped_on="2020-02-01",
                         expected_resume_on=None))
    await supplied(s, ce("vbp.supply.production_resumed", "2020-02-11", resumed_on="2020-02-11"))
    c = s.consumption(STOPPED[0], "2020-03")
    assert c.days_out_of_stock == 10
    assert c.amc is not None and c.amc.quantize(Decimal("0.01")) == Decimal("303.33")
    assert s.open_stops(date(2020, 2, 5)) and not s.open_stops(date(2020, 2, 11))


async def test_a_partly_delivered_order_is_still_open_until_delivered_in_full() -> None:
    s = state()
    await listed(s, *STOPPED)
    await ordered(s, 1, "2020-04-01", 100)

    async def deliver(n: int, quantity: int) -> None:
        await traded(s, ce("vbp.delivery.accepted", "2020-04-02", f"d-{n}", delivery_id=f"d-{n}",
                           order_id="ord-1", institution_id="H52010200001",
                           product_code=STOPPED[0], quantity=quantity, accepted_on="2020-04-02"))

    await deliver(1, 60)
    [o] = s.open_orders()
    assert (o.city_code, o.county_code, o.ordered_on) == ("520100", "520102", date(2020, 4, 1))
    await deliver(2, 40)
    assert s.open_orders() == []


def test_an_unregistered_institution_is_placed_by_its_area_code() -> None:
    assert region_of("H52030200001") == ("520300", "520302")


async def test_other_winners_are_counted_in_the_short_products_units() -> None:
    """reference_units: a 10 mg winner's 100 tablets are 200 of the 5 mg product's."""
    s = state()
    await listed(s, *STOPPED)
    await listed(s, *OTHER, ref_units="2")
    await supplied(s, ce("vbp.supply.monthly_reported", "2020-04-01", manufacturer_id=OTHER[1],
                         product_code=OTHER[0], month="2020-03", inventory_quantity=100))
    await ordered(s, 1, "2020-03-10", 30, code=OTHER[0])
    short = s.listing(STOPPED[0])
    assert short is not None
    [w] = s.other_winners(short, "2020-03", date(2020, 4, 3))
    assert (w.product_code, w.inventory, w.amc) == (OTHER[0], 200, Decimal(20))


async def test_a_later_report_for_the_same_month_corrects_the_first() -> None:
    s = state()
    for n, inventory in ((1, 500), (2, 300)):
        await supplied(s, ce("vbp.supply.monthly_reported", "2020-04-0" + str(n), f"r-{n}",
                             report_id=f"r-{n}", month="2020-03", inventory_quantity=inventory))
    latest = s.latest_report(EXAMPLES["vbp.supply.monthly_reported"]["product_code"])
    assert latest is not None
    assert (latest["inventory_quantity"], latest["event_ids"]) == (300, ["r-1", "r-2"])


async def test_partner_winners_come_only_from_a_partner_speaking_for_itself() -> None:
    """002 §四(六): source /alliance/<prov> with the partner's own province attribute."""
    s = state()
    ok = ce("vbp.product.listed", "2020-03-01", source="/alliance/500000", province="500000")
    await s.on_partner(ok)
    assert [w.province for w in s.alliance_winners()] == ["500000"]
    for source, province in (("/alliance/530000", "500000"), ("/platform/500000", "500000"),
                             ("/alliance/520000", "520000")):
        with pytest.raises(Rejected):
            await s.on_partner(ce("vbp.product.listed", "2020-03-01", source=source,
                                  province=province))


@pytest.mark.parametrize("event", [
    ce("vbp.supply.production_resumed", "2020-04-10"),  # no stop under this incident
    ce("vbp.supply.monthly_reported", "2020-04-01", source="/manufacturer/M99999999999"),
])
async def test_refused_supply_events(event: CloudEvent) -> None:
    with pytest.raises(Rejected):
        await supplied(state(), event)


async def test_a_resumption_before_its_stop_or_of_another_product_is_refused() -> None:
    s = state()
    await supplied(s, ce("vbp.supply.production_stopped", "2020-04-02"))
    with pytest.raises(Rejected):
        await supplied(s, ce("vbp.supply.production_resumed", "2020-04-03",
                             resumed_on="2020-04-01"))
    with pytest.raises(Rejected):
        await supplied(s, ce("vbp.supply.shortfall_forecast", "2020-04-03",
                             incident_id=EXAMPLES["vbp.supply.production_stopped"]["incident_id"]))


async def test_within_a_frozen_scope_answers_are_computed_once() -> None:
    """One tick's rules see one state; outside the scope every question reads the tables."""
    s = state()
    await ordered(s, 1, "2020-03-10", 300)
    with s.frozen():
        assert s.consumption(STOPPED[0], "2020-03").amc == Decimal(100)
        await ordered(s, 2, "2020-03-11", 300)
        with s.frozen():  # a read in the middle of a tick shares the tick's answers
            assert s.consumption(STOPPED[0], "2020-03").amc == Decimal(100)
        assert s.consumption(STOPPED[0], "2020-03").amc == Decimal(100)
    assert s.consumption(STOPPED[0], "2020-03").amc == Decimal(200)


async def test_a_tick_sees_only_reports_and_incidents_stamped_before_it() -> None:
    """A tick judges what came before it on the broker (runtime/clock.py), however far the
    inputs have been read: a report or a resumption read ahead of its tick waits for a later
    one, so a replay after a crash decides exactly as the first run did."""
    s = state()
    report = ce("vbp.supply.monthly_reported", "2020-08-05", month="2020-07")
    stop = ce("vbp.supply.production_stopped", "2020-07-20", stopped_on="2020-07-20",
              expected_resume_on=None)
    resumed = ce("vbp.supply.production_resumed", "2020-08-03", resumed_on="2020-08-03")
    forecast = ce("vbp.supply.shortfall_forecast", "2020-08-07")
    for event in (report, stop, resumed, forecast):
        await supplied(s, event)
    product = report.data.product_code
    tick_of = {day: stamp_of(ce("vbp.clock.tick", day)) for day in ("2020-08-02", "2020-08-06")}
    with s.frozen(tick_of["2020-08-02"]):  # 10:00 on 08-02: stopped, not resumed, no report
        assert (s.reports_of(), s.latest_report(product), s.forecasts()) == ([], None, [])
        assert [r["resumed_on"] for r in s.open_stops(date(2020, 8, 2))] == [None]
    with s.frozen(tick_of["2020-08-06"]):  # after the report and resumption, before the forecast
        assert [r["month"] for r in s.reports_of()] == ["2020-07"]
        assert s.open_stops(date(2020, 8, 6)) == [] and s.forecasts() == []
    assert len(s.forecasts()) == 1 and len(s.reports_of()) == 1  # a read outside any tick


async def test_a_tick_sees_an_order_open_until_the_delivery_or_cancellation_stamped_before_it(
) -> None:
    """An order delivered (or cancelled) after a tick was still open at that tick, even when
    the delivery was read first (supply.unfilled_orders is judged as the tick saw it); once a
    tick has passed the delivery, the order is closed for good and leaves the index."""
    s = state()
    await listed(s, *STOPPED)
    await ordered(s, 1, "2020-04-01", 100)
    await ordered(s, 2, "2020-04-01", 100)
    await traded(s, ce("vbp.delivery.accepted", "2020-04-09", "d-1", delivery_id="d-1",
                       order_id="ord-1", institution_id="H52010200001",
                       product_code=STOPPED[0], quantity=100, accepted_on="2020-04-09"))
    await traded(s, ce("vbp.order.cancelled", "2020-04-09", "c-2", order_id="ord-2",
                       institution_id="H52010200001"))
    assert s.open_orders() == []  # as things stand now
    before, after = (stamp_of(ce("vbp.clock.tick", day)) for day in ("2020-04-08", "2020-04-10"))
    with s.frozen(before):
        assert sorted(o.order_id for o in s.open_orders()) == ["ord-1", "ord-2"]
    with s.frozen(after):
        assert s.open_orders() == []
    assert s.demand.open == {}
    await s._rebuild_demand()  # after a restart: no tick has settled anything yet
    with s.frozen(before):
        assert len(s.open_orders()) == 2


async def test_a_tick_between_a_report_and_its_correction_sees_the_first_version() -> None:
    """Else a replay that read the correction first would take the month for unreported."""
    s = state()
    for n, inventory in ((1, 500), (2, 300)):
        await supplied(s, ce("vbp.supply.monthly_reported", f"2020-04-0{2 * n}", f"r-{n}",
                             report_id=f"r-{n}", month="2020-03", inventory_quantity=inventory))
    with s.frozen(stamp_of(ce("vbp.clock.tick", "2020-04-03"))):
        assert [r["inventory_quantity"] for r in s.reports_of()] == [500]
        example = EXAMPLES["vbp.supply.monthly_reported"]
        assert s.reported_months(example["manufacturer_id"],
                                 example["product_code"]) == {"2020-03"}
    with s.frozen(stamp_of(ce("vbp.clock.tick", "2020-04-01"))):
        assert s.reports_of() == []
    assert [r["inventory_quantity"] for r in s.reports_of()] == [300]
