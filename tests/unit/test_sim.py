"""The province simulator as plain functions: determinism, ordering, registry, scenario shape."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest

from policies import load_profile
from policies.workdays import WorkdayCalendar
from schemas.envelope import CloudEvent
from schemas.topics import TOPICS, key_of
from sim import drugs, geo
from sim.__main__ import config_from, parse_config
from sim.config import FAULTS, SimConfig
from sim.expect import expect
from sim.registry import build_institutions
from sim.scenario import Emitted, Scenario

GUIZHOU = load_profile("guizhou")
SMALL = SimConfig(seed=7, institutions=40, scale=0.5)


@pytest.fixture(scope="module")
def year() -> tuple[Scenario, list[Emitted]]:
    """The default run: seed 1, Guizhou 2020, 150 institutions, every fault on."""
    scenario = Scenario(SimConfig())
    return scenario, list(scenario.events())


@pytest.fixture(scope="module")
def quiet() -> tuple[Scenario, list[Emitted]]:
    scenario = Scenario(SimConfig(faults=frozenset(), institutions=60))
    return scenario, list(scenario.events())


def wire(events: list[Emitted]) -> list[tuple[str, str, bytes]]:
    return [(e.topic, e.key, e.event.to_json_bytes()) for e in events]


def of_type(events: list[Emitted], type_: str) -> list:
    return [e.event.data for e in events if e.event.type == type_]


# -- determinism ------------------------------------------------------------------------------

def test_same_seed_sends_the_same_events_byte_for_byte() -> None:
    assert wire(list(Scenario(SMALL).events())) == wire(list(Scenario(SMALL).events()))


def test_another_seed_sends_another_year() -> None:
    other = SimConfig(seed=8, institutions=40, scale=0.5)
    assert wire(list(Scenario(SMALL).events())) != wire(list(Scenario(other).events()))


def test_until_stops_after_that_day_and_its_closing_tick() -> None:
    events = list(Scenario(SimConfig(seed=7, institutions=40, until=date(2020, 2, 10))).events())
    ticks = of_type(events, "vbp.clock.tick")
    assert ticks[-1].as_of == date(2020, 2, 11)
    assert events[-1].event.type == "vbp.clock.tick"
    assert max(e.event.time.date() for e in events) == date(2020, 2, 11)


# -- the envelope and the order of sending ----------------------------------------------------

def test_every_event_is_a_valid_contract_event_on_its_topic_with_its_key(
        year: tuple[Scenario, list[Emitted]]) -> None:
    _, events = year
    ids: Counter[tuple[str, str]] = Counter()
    for e in events:
        again = CloudEvent.from_json_bytes(e.event.to_json_bytes())
        assert again == e.event
        if e.topic == "vbp.alliance.inbound":
            assert e.key == e.event.province != GUIZHOU.region_code
            assert e.event.source == f"/alliance/{e.event.province}"
        else:
            assert e.event.type in TOPICS[e.topic].types
            assert e.key == key_of(e.event) == e.event.subject
            assert e.event.province == "520000"
        ids[(e.topic, e.event.id)] += 1
    assert max(ids.values()) == 1, "event ids are unique per topic (the idempotency key)"


def test_reference_data_first_then_a_tick_before_each_day_and_one_after_the_last(
        year: tuple[Scenario, list[Emitted]]) -> None:
    _, events = year
    kinds = [e.event.type for e in events]
    first_trade = kinds.index("vbp.clock.tick")
    assert set(kinds[:first_trade]) == {"vbp.institution.registered", "vbp.product.listed",
                                        "vbp.agreement.signed"}
    assert "vbp.agreement.signed" not in kinds[first_trade:]
    ticks = [e.event.data.as_of for e in events if e.event.type == "vbp.clock.tick"]
    assert ticks == [date(2020, 1, 1) + timedelta(days=n) for n in range(367)]
    # "a tick as_of=D means day D has begun and every earlier day has ended"
    as_of = None
    for e in events[first_trade:]:
        if e.event.type == "vbp.clock.tick":
            as_of = e.event.data.as_of
        else:
            assert e.event.time.date() == as_of, e.event.id
            assert e.day == as_of
    times = [e.event.time for e in events[first_trade:]]
    assert times == sorted(times), "event times follow the sending order"


# -- the registry -----------------------------------------------------------------------------

def test_registry_covers_every_city_and_kind_with_real_codes(
        year: tuple[Scenario, list[Emitted]]) -> None:
    _, events = year
    institutions = of_type(events, "vbp.institution.registered")
    assert len(institutions) == 150
    assert {i.city_code for i in institutions} == {c.code for c in geo.CITIES}
    assert {c.code for c in geo.CITIES} == {"520100", "520200", "520300", "520400", "520500",
                                            "520600", "522300", "522600", "522700"}
    assert {i.kind for i in institutions} == {"public", "military", "private", "pharmacy"}
    for i in institutions:
        assert geo.CITY_OF_COUNTY[i.county_code] == i.city_code
        assert re.fullmatch(rf"[HP]{i.county_code}[0-9]{{5}}", i.institution_id)
    assert institutions[0].institution_id == "H52010200001"
    assert institutions[0].name == "贵阳市第一人民医院"
    assert len({i.institution_id for i in institutions}) == 150


def test_products_are_the_25_first_batch_names_with_winners_and_alternatives(
        year: tuple[Scenario, list[Emitted]]) -> None:
    _, events = year
    products = of_type(events, "vbp.product.listed")
    assert len({p.generic_name for p in products}) == 25
    assert {"阿托伐他汀钙片", "苯磺酸氨氯地平片", "注射用培美曲塞二钠", "蒙脱石散"} <= \
        {p.generic_name for p in products}
    for p in products:
        assert re.fullmatch(r"X[A-Z0-9]{22}", p.product_code)
        assert re.fullmatch(r"M[0-9]{11}", p.manufacturer_id)
    by_name: dict[str, list] = defaultdict(list)
    for p in products:
        by_name[p.generic_name].append(p)
    assert all(any(p.winning for p in ps) and any(not p.winning for p in ps)
               for ps in by_name.values())
    atorvastatin = next(p for p in products if p.product_code == "XC10AAA001A001010100328")
    assert (atorvastatin.specification, atorvastatin.unit, atorvastatin.price) == \
        ("20mg", "片", Decimal("0.94"))
    assert {p.unit for p in products} == {"片", "袋", "支"}


def test_guizhou_agreements_take_the_national_share_of_prior_use(
        year: tuple[Scenario, list[Emitted]]) -> None:
    """Guizhou's profile names no share (000 §五(一)): the alliance rule, 50 % of prior-year
    use with one winner and 60 % with two, rounded to whole boxes."""
    scenario, events = year
    agreements = of_type(events, "vbp.agreement.signed")
    assert len(agreements) == len(scenario.registry.agreements) > 500
    for a, planned in zip(agreements, scenario.registry.agreements, strict=True):
        winners = len(planned.product.generic.winners)
        share = {1: 0.5, 2: 0.6}[winners]
        pack = planned.product.generic.pack
        assert abs(a.agreed_quantity - planned.prior_use * share) <= pack
        assert (a.cycle_year, a.period_start, a.period_end) == \
            (2020, date(2020, 1, 1), date(2020, 12, 31))
        assert 1 <= len(a.distributor_ids) <= 2
        assert all(re.fullmatch(r"D[0-9]{11}", d) for d in a.distributor_ids)


def test_chongqing_profile_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="520000"):
        Scenario(SimConfig(policy="chongqing"))


# -- the scenario's shape ---------------------------------------------------------------------

def test_guizhou_quarters_slow_starters_suspend_in_q1_and_catch_up_in_q2(
        year: tuple[Scenario, list[Emitted]]) -> None:
    """000 §五(三): under 70 % in Q1 suspends monthly settlement from May; the slow starters'
    cumulative purchases reach the cumulative task (Q1's) before Q2 is evaluated."""
    scenario, events = year
    oracle = expect(events, GUIZHOU)
    behaviours = scenario.plan.behaviours
    slow = {i for i, b in behaviours.items() if b == "slow_starter"}
    chronic = {i for i, b in behaviours.items() if b == "chronic"}
    assert len(slow) >= 4 and chronic
    assert oracle.suspended_in(1) == slow | chronic
    assert oracle.suspended_in(2) == oracle.suspended_in(4) == chronic
    for inst in slow:
        day = scenario.plan.catch_up_day[inst]
        assert date(2020, 5, 1) < day < date(2020, 6, 30)
        for a in scenario.registry.agreements:
            if a.institution.institution_id != inst:
                continue
            before, upto = _cumulative(events, a.agreement_id, a, day)
            target = a.agreed_quantity // 4 + (1 if a.agreed_quantity % 4 else 0)
            assert before < target <= upto, (a.agreement_id, before, target, upto)


def _cumulative(events: list[Emitted], agreement_id: str, a, day: date) -> tuple[int, int]:
    before = upto = 0
    cancelled = {d.order_id for d in of_type(events, "vbp.order.cancelled")}
    for d in of_type(events, "vbp.order.placed"):
        if (d.institution_id, d.product_code) != (a.institution.institution_id, a.product.code):
            continue
        if d.order_id in cancelled:
            continue
        placed = date(int(d.order_id[4:8]), int(d.order_id[8:10]), int(d.order_id[10:12]))
        if placed < day:
            before += d.quantity
        if placed <= day:
            upto += d.quantity
    return before, upto


def test_laggards_warn_and_everyone_else_keeps_above_80_percent(
        year: tuple[Scenario, list[Emitted]]) -> None:
    scenario, events = year
    oracle = expect(events, GUIZHOU)
    behaviours = scenario.plan.behaviours
    warned = {oracle.institution_of[a] for a, _ in oracle.warn}
    laggards = {i for i, b in behaviours.items() if b == "laggard"}
    assert laggards and laggards <= warned
    flagged = {oracle.institution_of[a] for a, _ in oracle.warn | oracle.suspend}
    assert {i for i, b in behaviours.items() if b in ("normal", "over_buyer")}.isdisjoint(flagged)


def test_overdue_chain_payments_held_past_the_deadline(
        year: tuple[Scenario, list[Emitted]]) -> None:
    """000 §五(三): 30 days after acceptance; still unpaid 10 working days after the warning
    suspends fund disbursement. Held deliveries of a "suspension" hold stay unpaid past that
    day, those of a "warning" hold are paid before it; everyone else pays within 30 days."""
    scenario, events = year
    oracle = expect(events, GUIZHOU)
    calendar = WorkdayCalendar()
    overdue = oracle.overdue(30)
    holds = {h.institution_id: h for h in scenario.plan.holds}
    assert set(overdue) == set(holds) and len(holds) == 3
    for inst, hold in holds.items():
        warned_on = [oracle.accepted[d][1] + timedelta(days=31) for d in overdue[inst]]
        decision_day = calendar.add_working_days(min(warned_on), 10) + timedelta(days=1)
        if hold.expect == "suspension":
            assert hold.paid_on >= decision_day
        else:
            assert hold.paid_on < decision_day
        assert {oracle.paid_on[d] for d in overdue[inst]} == {hold.paid_on}
    normal = [age for d, age in oracle.payment_age.items() if oracle.accepted[d][0] not in holds]
    assert max(normal) <= 30


def test_production_stop_of_a_winner_with_an_alternative_and_its_resumption(
        year: tuple[Scenario, list[Emitted]]) -> None:
    scenario, events = year
    products = {e.event.data.product_code: e.event.data for e in events
                if e.topic == "vbp.ref.products"}
    [stopped] = of_type(events, "vbp.supply.production_stopped")
    [forecast] = of_type(events, "vbp.supply.shortfall_forecast")
    [resumed] = of_type(events, "vbp.supply.production_resumed")
    product = products[stopped.product_code]
    assert product.winning and product.generic_name == drugs.STOPPED_GENERIC
    assert any(p.winning and p.generic_name == product.generic_name
               and p.product_code != product.product_code for p in products.values())
    assert stopped.incident_id == resumed.incident_id != forecast.incident_id
    assert date(2020, 6, 1) <= stopped.stopped_on < resumed.resumed_on <= date(2020, 9, 1)
    assert forecast.committed_quantity > forecast.expected_capacity
    alliance = [e for e in events if e.topic == "vbp.alliance.inbound"]
    assert {e.event.data.generic_name for e in alliance} == {product.generic_name}
    # The stock runs out before production resumes: some orders wait past the window.
    orders = {d.order_id: d for d in of_type(events, "vbp.order.placed")}
    placed_on = {e.event.data.order_id: e.event.time.date() for e in events
                 if e.event.type == "vbp.order.placed"}
    waited = [d for d in of_type(events, "vbp.delivery.accepted")
              if orders[d.order_id].product_code == product.product_code
              and (d.accepted_on - placed_on[d.order_id]).days > 3]
    assert waited and all(d.accepted_on > resumed.resumed_on for d in waited)


def test_monthly_reports_for_every_winner_some_late_one_with_falling_stock(
        year: tuple[Scenario, list[Emitted]]) -> None:
    scenario, events = year
    reports = [(e.event.time.date(), e.event.data) for e in events
               if e.event.type == "vbp.supply.monthly_reported"]
    winners = {p.code for p in scenario.registry.winners()}
    months = {f"2020-{m:02d}" for m in range(1, 12)}
    assert {(r.product_code, r.month) for _, r in reports} == \
        {(w, m) for w in winners for m in months}
    due = GUIZHOU.supply.monthly_report_due_day.value
    late = {(r.product_code, r.month) for sent, r in reports if sent.day > due}
    assert late == set(scenario.plan.late_reports) and late
    falling = sorted((r.month, r.inventory_quantity) for _, r in reports
                     if r.product_code == scenario.plan.falling_stock)
    demand = scenario.demand[scenario.plan.falling_stock]
    covers = [Decimal(inv) / demand for _, inv in falling]
    assert covers[2] > 1 and min(covers) < Decimal("0.5")
    assert all(later < earlier for earlier, later in zip(covers[2:6], covers[3:7], strict=True))


def test_non_winning_months_exceed_the_winning_quantity_in_reference_units(
        year: tuple[Scenario, list[Emitted]]) -> None:
    scenario, events = year
    products = {p.product_code: p for p in of_type(events, "vbp.product.listed")}
    units: dict[tuple[str, str, int, bool], Decimal] = defaultdict(Decimal)
    cancelled = {d.order_id for d in of_type(events, "vbp.order.cancelled")}
    for e in events:
        if e.event.type == "vbp.order.placed" and e.event.data.order_id not in cancelled:
            d = e.event.data
            p = products[d.product_code]
            units[(d.institution_id, p.generic_name, e.event.time.month, p.winning)] += \
                d.quantity * p.reference_units
    assert scenario.plan.non_winning
    for inst, (generic, months) in scenario.plan.non_winning.items():
        for month in months:
            assert units[(inst, generic, month, False)] > units[(inst, generic, month, True)] > 0


def test_deliveries_sometimes_rejected_and_late_most_on_time(
        year: tuple[Scenario, list[Emitted]]) -> None:
    scenario, events = year
    placed_on = {e.event.data.order_id: e.event.time.date() for e in events
                 if e.event.type == "vbp.order.placed"}
    lags = [(d.accepted_on - placed_on[d.order_id]).days
            for d in of_type(events, "vbp.delivery.accepted")]
    assert sum(lag > 3 for lag in lags) / len(lags) < 0.02
    assert sum(lag > 3 for lag in lags) >= 10
    assert of_type(events, "vbp.delivery.rejected")
    assert of_type(events, "vbp.order.cancelled")
    city, first, last = scenario.plan.late_city
    assert city == "520500"


def test_no_faults_means_no_findings(quiet: tuple[Scenario, list[Emitted]]) -> None:
    scenario, events = quiet
    oracle = expect(events, GUIZHOU)
    assert not oracle.warn and not oracle.suspend
    assert max(oracle.payment_age.values()) <= 30
    kinds = Counter(e.event.type for e in events)
    for absent in ("vbp.supply.production_stopped", "vbp.delivery.rejected", "vbp.order.cancelled"):
        assert kinds[absent] == 0
    placed_on = {e.event.data.order_id: e.event.time.date() for e in events
                 if e.event.type == "vbp.order.placed"}
    assert all((d.accepted_on - placed_on[d.order_id]).days <= 3
               for d in of_type(events, "vbp.delivery.accepted"))
    assert not [e for e in events if e.topic == "vbp.alliance.inbound"]
    due = GUIZHOU.supply.monthly_report_due_day.value
    assert all(e.event.time.day <= due for e in events
               if e.event.type == "vbp.supply.monthly_reported")


def test_cli_switches_faults_off_by_name() -> None:
    config, _ = parse_config(["--without", "late_payment, production_stop", "--seed", "3"])
    assert config.seed == 3
    assert config.faults == frozenset(FAULTS) - {"late_payment", "production_stop"}
    config, _ = parse_config(["--no-faults", "--until", "2020-03-01"])
    assert config.faults == frozenset() and config.until == date(2020, 3, 1)
    with pytest.raises(SystemExit):
        parse_config(["--without", "gremlins"])
    assert config_from  # the run command builds its config the same way


def test_year_end_only_the_chronic_and_laggards_fall_short_of_the_agreed_quantity(
        year: tuple[Scenario, list[Emitted]]) -> None:
    """000 §五(五): next year's budget is cut for agreements not completed. Slow starters make
    up their first quarter; chronic under-buyers do not."""
    scenario, events = year
    oracle = expect(events, GUIZHOU)
    short = set()
    for a in scenario.registry.agreements:
        quarters = [a.agreed_quantity // 4 + (1 if q < a.agreed_quantity % 4 else 0)
                    for q in range(4)]
        total = sum(oracle.completion[(a.agreement_id, q + 1)] * quarters[q] for q in range(4))
        if total < a.agreed_quantity:
            short.add(a.institution.institution_id)
    behaviours = {scenario.plan.behaviours[i] for i in short}
    assert "chronic" in behaviours and behaviours <= {"chronic", "laggard"}


def test_a_large_scale_year_orders_whole_packs_near_the_agreed_quantities() -> None:
    """The fault suite's full size (scale 3.2): many order days per agreement. One pack on each
    would overshoot a small quantity (seen: twice the agreed quantity; a slow starter's first
    quarter over its task, and the simulator failed)."""
    scenario = Scenario(SimConfig(institutions=40, scale=3.2))
    ordered: Counter[tuple[str, str]] = Counter()
    for e in scenario.events():
        if e.event.type == "vbp.order.placed":
            ordered[(e.event.data.institution_id, e.event.data.product_code)] += (
                e.event.data.quantity)
            assert e.event.data.quantity > 0
    for a in scenario.registry.agreements:
        ratio = ordered[(a.institution.institution_id, a.product.code)] / a.agreed_quantity
        behaviour = scenario.plan.behaviours.get(a.institution.institution_id, "normal")
        assert ratio <= (1.6 if behaviour == "over_buyer" else 1.3), (a.agreement_id, behaviour)


def test_a_large_registry_names_every_institution_apart() -> None:
    """2,000 institutions (the bench's province) outnumber the plain county + suffix names of
    some kinds: the registry is still built, every name and id once (it used to loop for ever)."""
    made = build_institutions(SimConfig(institutions=2000))
    assert len(made) == 2000
    assert len({i.name for i in made}) == 2000 and len({i.institution_id for i in made}) == 2000
    assert any("（2）" in i.name for i in made)
