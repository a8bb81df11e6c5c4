"""The supply rules of docs/contract.md, read as the policy they enforce.

Yunnan 002 §四(六): "中选企业每月向省医保局报送中选药品生产、供应、库存、回款情况 ...
因特殊原因出现中选药品产能不足的情况，应提前向省医保局和省药品集中采购平台报告 ...
中选药品出现无法保障供应的情况，医疗机构在采购其他同类药品时，应优先采购其他省份中选药品 ...
选定不超过3家（含3家）药品经营企业配送".
Guizhou 000 §五(一): "同品种药品通过一致性评价的生产企业达到3家以上的 ...
可暂停未通过一致性评价仿制药品在省医药集中采购平台的交易资格，待其通过一致性评价后，恢复".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import pytest

from kernel.findings import output_id
from policies import load_profile
from schemas.outputs import DecisionIssued, ShortageEscalated, WarningRaised
from schemas.policy import PolicyProfile
from services.supply.demand import (
    Consumption,
    average_monthly_consumption,
    days_out_of_stock,
    months_of_stock,
)
from services.supply.rules import (
    CONSISTENCY_GATE,
    DISTRIBUTOR_LIMIT,
    LOW_INVENTORY,
    MISSING_MONTHLY_REPORT,
    PRODUCTION_STOP,
    SHORTFALL_FORECAST,
    UNFILLED_ORDERS,
    AllianceWinner,
    Alternative,
    Decision,
    Escalation,
    GateOutcome,
    Listing,
    OpenOrder,
    SupplyWarning,
    WinnerStock,
    beyond_the_province,
    consistency_gate,
    distributor_limit,
    finding_id,
    low_inventory,
    missing_monthly_report,
    production_stop,
    report_month_due,
    shortfall_forecast,
    unfilled_orders,
)

GUIZHOU = load_profile("guizhou")
SHANXI = load_profile("shanxi")
YUNNAN = load_profile("yunnan")
XIAN = load_profile("xian")
CHONGQING = load_profile("chongqing")

AMLODIPINE = "苯磺酸氨氯地平片"
STOPPED = Listing("XC08CAA017A001010100783", AMLODIPINE, "M12000000783", True, True)
OTHER_WINNER = WinnerStock("XC08CAA017A001010100412", "M33000000412", 0, Decimal(100))


def amc(value: int) -> Consumption:
    """A flat AMC: ``value`` ordered in each of three fully supplied months."""
    return average_monthly_consumption(
        {"2020-01": value, "2020-02": value, "2020-03": value}, "2020-03"
    )


def as_warning_event(w: SupplyWarning) -> WarningRaised:
    return WarningRaised.model_validate({
        "warning_id": w.id, "rule": w.rule, "severity": w.severity,
        "subject_kind": w.subject_kind, "subject_id": w.subject_id, "period": w.period,
        "metrics": dict(w.metrics), "policy_ref": w.policy_ref, "message": w.message,
    })


def as_escalation_event(e: Escalation) -> ShortageEscalated:
    return ShortageEscalated.model_validate({
        "escalation_id": e.id, "product_code": e.product_code, "generic_name": e.generic_name,
        "region_code": e.region_code, "level": e.level, "reason": e.reason,
        "evidence": dict(e.evidence),
        "alternatives": [vars(a) for a in e.alternatives],
    })


def as_decision_event(d: Decision) -> DecisionIssued:
    return DecisionIssued.model_validate({
        "decision_id": d.id, "action": d.action, "subject_kind": d.subject_kind,
        "subject_id": d.subject_id, "effective_from": d.effective_from.isoformat(),
        "rule": d.rule, "policy_ref": d.policy_ref, "caused_by": list(d.caused_by),
        "metrics": dict(d.metrics), "amount": None,
    })


# average monthly consumption ----------------------------------------------------------------


def test_amc_is_the_look_back_total_over_its_months() -> None:
    """Open mSupply's default AMC: total consumption / look-back months (3 by default)."""
    c = average_monthly_consumption({"2020-01": 90, "2020-02": 120, "2020-03": 150}, "2020-03")
    assert c.months == ("2020-01", "2020-02", "2020-03")
    assert c.total == 360 and c.days == 91 and c.days_out_of_stock == 0
    assert c.amc == Decimal(120)


def test_days_that_could_not_be_supplied_scale_consumption_up_to_the_whole_period() -> None:
    """Adjusted consumption = consumption x days in period / days in stock (mSupply): 10 of
    91 days unsupplied, 810 ordered -> 810 x 91 / 81 / 3 = 303.33 a month, not 270."""
    c = average_monthly_consumption(
        {"2020-01": 270, "2020-02": 270, "2020-03": 270}, "2020-03",
        days_out_of_stock_by_month={"2020-02": 10},
    )
    assert c.factor == Decimal(91) / Decimal(81)
    assert c.amc is not None
    assert c.amc.quantize(Decimal("0.01")) == Decimal("303.33")


def test_a_product_never_supplied_in_the_look_back_has_no_estimable_demand() -> None:
    c = average_monthly_consumption({"2020-03": 50}, "2020-03", lookback_months=1,
                                    days_out_of_stock_by_month={"2020-03": 31})
    assert c.amc is None and c.factor is None
    assert months_of_stock(1000, c.amc) is None


def test_months_before_the_product_could_be_ordered_do_not_dilute_its_amc() -> None:
    c = average_monthly_consumption({"2020-03": 300}, "2020-03", first_month="2020-03")
    assert c.months == ("2020-03",) and c.amc == Decimal(300)


def test_look_back_crosses_the_year_boundary() -> None:
    c = average_monthly_consumption({"2019-12": 30}, "2020-01", lookback_months=2)
    assert c.months == ("2019-12", "2020-01") and c.amc == Decimal(15)


def test_days_out_of_stock_count_each_day_once_and_the_resumption_day_as_supplied() -> None:
    stops = [(date(2020, 3, 5), date(2020, 3, 10)), (date(2020, 3, 8), date(2020, 3, 12)),
             (date(2020, 3, 30), None), (date(2020, 1, 1), date(2020, 2, 1))]
    assert days_out_of_stock(stops, "2020-03") == 7 + 2  # 5..11, then 30..31
    assert days_out_of_stock(stops, "2020-02") == 0


def test_months_of_stock_is_stock_over_amc_and_undefined_without_demand() -> None:
    assert months_of_stock(150, Decimal(100)) == Decimal("1.5")
    assert months_of_stock(150, Decimal(0)) is None


# supply.low_inventory -----------------------------------------------------------------------


def check_inventory(inventory: int, reserve: int = 0, demand: int = 1000) -> SupplyWarning | None:
    s = GUIZHOU.supply
    return low_inventory(STOPPED, "2020-03", inventory, reserve, amc(demand),
                         s.low_inventory_cover_months, s.critical_cover_months, "520000")


def test_guizhou_inventory_under_one_month_of_demand_warns_the_manufacturer() -> None:
    """Bureau setting (documents silent; 000 §五(二) asks for inventory reporting): < 1 month."""
    w = check_inventory(900)
    assert w is not None
    assert (w.rule, w.severity, w.subject_kind, w.subject_id) == (
        LOW_INVENTORY, "warning", "manufacturer", "M12000000783")
    assert w.escalation is None
    assert w.metrics["cover_months"] == "0.9000"
    assert w.policy_ref == "bureau setting"
    assert w.id == f"{LOW_INVENTORY}:M12000000783:2020-03:XC08CAA017A001010100783"
    as_warning_event(w)


def test_guizhou_exactly_one_month_of_cover_is_enough() -> None:
    assert check_inventory(1000) is None


def test_guizhou_inventory_under_the_critical_cover_escalates_to_the_province() -> None:
    w = check_inventory(499)
    assert w is not None and w.severity == "critical"
    e = w.escalation
    assert e is not None
    assert (e.level, e.region_code, e.generic_name) == ("province", "520000", AMLODIPINE)
    assert e.id == f"{LOW_INVENTORY}:XC08CAA017A001010100783:520000:province:2020-03"
    as_escalation_event(e)


def test_the_emergency_reserve_does_not_count_as_cover() -> None:
    """000 §五(二) 应急储备 is kept apart from inventory: warn before it must be drawn on."""
    w = check_inventory(900, reserve=5000)
    assert w is not None and w.severity == "warning"
    assert w.metrics["cover_months_with_reserve"] == "5.9000"


def test_no_demand_means_no_low_inventory() -> None:
    assert check_inventory(0, demand=0) is None


# supply.missing_monthly_report -----------------------------------------------------------------


def check_report(as_of: date, reported: set[str],
                 profile: PolicyProfile = YUNNAN) -> SupplyWarning | None:
    s = profile.supply
    return missing_monthly_report("M12000000783", STOPPED.product_code, reported, as_of,
                                  s.monthly_report_required, s.monthly_report_due_day, "2020-01")


def test_yunnan_february_report_missing_after_march_10_warns() -> None:
    """002 §四(六) 每月报送; due day 10 is the bureau's setting: February is due by 2020-03-10
    and missing on the tick of 2020-03-11."""
    w = check_report(date(2020, 3, 11), {"2020-01"})
    assert w is not None
    assert (w.rule, w.period, w.policy_ref) == (MISSING_MONTHLY_REPORT, "2020-02", "002 §四(六)")
    assert w.id == f"{MISSING_MONTHLY_REPORT}:M12000000783:2020-02:XC08CAA017A001010100783"
    as_warning_event(w)


def test_yunnan_a_report_on_the_due_day_is_on_time() -> None:
    """On 2020-03-10 February's report may still come; January's is the latest due."""
    assert check_report(date(2020, 3, 10), {"2020-01"}) is None
    assert report_month_due(date(2020, 3, 10), 10) == "2020-01"


def test_a_due_day_past_the_month_end_falls_on_the_last_day() -> None:
    """Due day 31: January's report is due by 2020-02-29 and late on 2020-03-01."""
    assert report_month_due(date(2020, 2, 29), 31) == "2019-12"
    assert report_month_due(date(2020, 3, 1), 31) == "2020-01"


def test_months_before_supply_began_are_never_due() -> None:
    assert check_report(date(2020, 1, 20), set()) is None  # December 2019 is due, not owed


def test_xian_without_a_manufacturer_reporting_duty_warns_nothing() -> None:
    """003 §三(二)2: monitoring runs through the city's distribution base, no monthly report."""
    assert check_report(date(2020, 3, 11), set(), profile=XIAN) is None


# supply.shortfall_forecast ---------------------------------------------------------------------


def test_yunnan_committed_above_expected_capacity_warns_with_the_gap() -> None:
    """002 §四(六) 产能不足...应提前报告."""
    w = shortfall_forecast("M12000000783", STOPPED.product_code, "2020-05", 2_000_000, 2_600_000,
                           YUNNAN.supply.capacity_shortfall_advance_report)
    assert w is not None
    assert w.metrics["gap"] == 600_000 and w.policy_ref == "002 §四(六)"
    assert w.id == f"{SHORTFALL_FORECAST}:M12000000783:2020-05:XC08CAA017A001010100783"
    as_warning_event(w)


def test_capacity_equal_to_commitments_is_no_shortfall() -> None:
    assert shortfall_forecast("M12000000783", STOPPED.product_code, "2020-05", 100, 100,
                              YUNNAN.supply.capacity_shortfall_advance_report) is None


def test_guizhou_shortfall_still_warns_citing_its_stop_reporting_clause() -> None:
    """000 is silent on advance reports; the gap is still a supply risk (000 §五(二))."""
    s = GUIZHOU.supply
    w = shortfall_forecast("M12000000783", STOPPED.product_code, "2020-05", 100, 101,
                           s.capacity_shortfall_advance_report,
                           cite_also=[s.production_stop_min_level])
    assert w is not None and w.policy_ref == "000 §五(二)"


# supply.production_stop ------------------------------------------------------------------------

ALLIANCE = [
    AllianceWinner("500000", AMLODIPINE, "XC08CAA017A001010100555", "M50000000555"),
    AllianceWinner("140000", AMLODIPINE, "XC08CAA017A001010100999", "M14000000999"),
    AllianceWinner("520000", AMLODIPINE, "XC08CAA017A001010100412", "M33000000412"),  # own
    AllianceWinner("500000", "阿托伐他汀钙片", "XC10AAA081A001010100328", "M11000000328"),
    AllianceWinner("500000", AMLODIPINE, STOPPED.product_code, STOPPED.manufacturer_id),
]


def stop(profile: PolicyProfile = GUIZHOU, others: Iterable[WinnerStock] = (OTHER_WINNER,),
         alliance: list[AllianceWinner] = ALLIANCE, demand: Decimal | None = Decimal(100),
         product: Listing = STOPPED, region: str = "520000") -> Escalation | None:
    s = profile.supply
    return production_stop(product, "inc-M12000000783-0001", date(2020, 4, 2), region,
                           s.production_stop_min_level, s.low_inventory_cover_months,
                           demand, list(others), alliance)


def ample(inventory: int = 200) -> WinnerStock:
    return WinnerStock(OTHER_WINNER.product_code, OTHER_WINNER.manufacturer_id, inventory,
                       Decimal(100))


def test_guizhou_winning_product_stop_escalates_at_once_to_the_province() -> None:
    """000 §五(二) 停产报告制度: a winner's stop goes to the province at once; with the other
    winner holding 200 against (100 + 100) x 1 month, the province copes alone."""
    e = stop(others=[ample(200)])
    assert e is not None
    assert (e.rule, e.level, e.region_code, e.policy_ref) == (
        PRODUCTION_STOP, "province", "520000", "000 §五(二)")
    assert e.evidence["own_supply_covers"] is True
    assert e.evidence["incident_id"] == "inc-M12000000783-0001"
    assert e.id == f"{PRODUCTION_STOP}:XC08CAA017A001010100783:520000:province:2020-04-02"
    as_escalation_event(e)


def test_alternatives_are_own_winners_then_other_provinces_winners_of_the_generic_name() -> None:
    """002 §四(六) 优先采购其他省份中选药品: same generic name only; never the stopped product."""
    e = stop(others=[ample()])
    assert e is not None
    assert e.alternatives == (
        Alternative("520000", "XC08CAA017A001010100412", "M33000000412"),
        Alternative("140000", "XC08CAA017A001010100999", "M14000000999"),
        Alternative("500000", "XC08CAA017A001010100555", "M50000000555"),
    )


def test_xian_production_stop_goes_straight_to_the_national_group() -> None:
    """003 §三(二)2 第一时间上报国家、省试点工作小组."""
    e = stop(profile=XIAN, others=[ample()], region="610100")
    assert e is not None and e.level == "national"


def test_a_non_winning_product_stop_is_not_escalated() -> None:
    loser = Listing("XC08CAA017A001010100777", AMLODIPINE, "M12000000777", False, True)
    assert stop(product=loser) is None


def test_own_winners_unable_to_cover_escalate_to_the_alliance() -> None:
    """199 < (100 + 100) x 1: taking over would push the other winner under its cover."""
    e = stop(others=[ample(199)])
    assert e is not None and e.level == "alliance"
    assert e.evidence["own_supply_covers"] is False
    assert "cannot cover" in e.reason


def test_no_winner_anywhere_else_escalates_to_the_national_level() -> None:
    e = stop(others=[], alliance=[])
    assert e is not None and e.level == "national" and e.alternatives == ()


def test_unknown_demand_keeps_the_base_level() -> None:
    e = stop(others=[], demand=None)
    assert e is not None and e.level == "province"
    assert e.evidence["own_supply_covers"] == "unknown"


# supply.unfilled_orders ------------------------------------------------------------------------

GUIYANG, ZUNYI = "520100", "520300"
NAMES = {STOPPED.product_code: AMLODIPINE, OTHER_WINNER.product_code: AMLODIPINE}


def order(n: int, institution: str, city: str = GUIYANG, *, day: int = 1,
          delivered: bool = False, product: str = STOPPED.product_code) -> OpenOrder:
    return OpenOrder(f"ord-{n}", institution, city, city[:4] + "02", product,
                     date(2020, 4, day), delivered)


def unfilled(orders: list[OpenOrder], as_of: date = date(2020, 4, 5),
             **thresholds: int) -> list[Escalation]:
    return unfilled_orders(orders, as_of, GUIZHOU.supply.delivery_window_days, "520000", NAMES,
                           **thresholds)


def test_an_order_is_unfilled_on_the_first_tick_after_the_delivery_window() -> None:
    """Bureau setting: 3 calendar days. Ordered 04-01: still in time on 04-04, late on 04-05."""
    orders = [order(1, "H52010200001")]
    assert unfilled(orders, as_of=date(2020, 4, 4)) == []
    [e] = unfilled(orders)
    assert (e.rule, e.level, e.region_code) == (UNFILLED_ORDERS, "institution", "520102")
    assert e.evidence["overdue_orders"] == 1
    assert e.id == f"{UNFILLED_ORDERS}:XC08CAA017A001010100783:520102:institution:2020-04"
    as_escalation_event(e)


def test_delivered_orders_are_not_unfilled() -> None:
    assert unfilled([order(1, "H52010200001", delivered=True)]) == []


def test_unfilled_at_two_institutions_of_one_city_reaches_the_city() -> None:
    """002 §四(五): a regional shortage is coordinated locally first."""
    [e] = unfilled([order(1, "H52010200001"), order(2, "H52010200002"),
                    order(3, "H52010200002", day=2)])
    assert (e.level, e.region_code) == ("city", GUIYANG)
    assert e.evidence["institutions"] == ["H52010200001", "H52010200002"]
    assert e.evidence["overdue_orders"] == 2  # ord-3 (04-02) is still within the window


def test_unfilled_in_two_cities_reaches_the_province() -> None:
    """002 §四(五) 本辖区无法解决的药品短缺问题，及时报省医保局."""
    [e] = unfilled([order(1, "H52010200001"), order(2, "H52030200001", ZUNYI)])
    assert (e.level, e.region_code) == ("province", "520000")
    assert e.evidence["cities"] == {GUIYANG: ["H52010200001"], ZUNYI: ["H52030200001"]}
    assert e.evidence["city_count"] == 2 and e.evidence["institution_count"] == 2


def test_the_spreading_thresholds_are_parameters() -> None:
    orders = [order(1, "H52010200001"), order(2, "H52010200002")]
    [e] = unfilled(orders, city_min_institutions=3)
    assert e.level == "institution"


def test_each_product_gets_its_own_level() -> None:
    found = unfilled([order(1, "H52010200001"), order(2, "H52030200001", ZUNYI),
                      order(3, "H52010200001", product=OTHER_WINNER.product_code)])
    assert [(e.product_code, e.level) for e in found] == [  # sorted by product code
        (OTHER_WINNER.product_code, "institution"), (STOPPED.product_code, "province")]


def test_a_product_without_a_generic_name_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="generic name"):
        unfilled([order(1, "H52010200001", product="XC08CAA017A001010100000")])


# supply.consistency_gate -----------------------------------------------------------------------


def listing(n: int, passed: bool, manufacturer: int | None = None,
            winning: bool = False) -> Listing:
    return Listing(f"XC08CAA017A00101010{n:04d}", AMLODIPINE,
                   f"M{manufacturer if manufacturer is not None else n:011d}", winning, passed)


THREE_PASSED = [listing(1, True), listing(2, True), listing(3, True)]
NOT_PASSED = listing(9, False)
APRIL_1 = date(2020, 4, 1)


def gate(profile: PolicyProfile, listings: list[Listing], suspended: Iterable[str] = (),
         supply_assured: bool = True) -> GateOutcome:
    return consistency_gate(AMLODIPINE, listings, set(suspended),
                            profile.supply.consistency_gate, APRIL_1, supply_assured)


def test_guizhou_suspends_non_passed_generics_once_three_manufacturers_passed() -> None:
    # 000 §五(一) 达到3家以上: 以上 includes 3
    out = gate(GUIZHOU, [*THREE_PASSED, NOT_PASSED])
    assert out.holds and out.passed == 3
    [d] = out.decisions
    assert (d.action, d.subject_kind, d.subject_id, d.rule) == (
        "suspend_trading", "product", NOT_PASSED.product_code, CONSISTENCY_GATE)
    assert d.effective_from == date(2020, 4, 2) and d.policy_ref == "000 §五(一)"
    assert d.id == f"{CONSISTENCY_GATE}:{NOT_PASSED.product_code}:2020-04-02:suspend_trading"
    as_decision_event(d)


def test_shanxi_three_passed_is_not_more_than_three() -> None:  # 004 §四(一)1 超过3个
    out = gate(SHANXI, [*THREE_PASSED, NOT_PASSED])
    assert not out.holds and out.decisions == () and out.warnings == ()


def test_shanxi_four_passed_excludes_non_passed_from_selection_without_suspending() -> None:
    """004 §四(一)1: the consequence is 不再选用 in VBP, not a platform-trading suspension."""
    out = gate(SHANXI, [*THREE_PASSED, listing(4, True), NOT_PASSED])
    assert out.holds and out.decisions == ()
    [w] = out.warnings
    assert (w.severity, w.subject_id, w.policy_ref) == ("info", NOT_PASSED.product_code,
                                                        "004 §四(一)1")
    as_warning_event(w)


def test_guizhou_counts_manufacturers_not_products() -> None:
    """000 §五(一) 生产企业达到3家: three passed products of two manufacturers are not enough."""
    out = gate(GUIZHOU, [listing(1, True), listing(2, True, manufacturer=1),
                         listing(3, True, manufacturer=3), NOT_PASSED])
    assert not out.holds and out.passed == 2 and out.decisions == ()


def test_guizhou_restores_trading_once_a_suspended_product_passes() -> None:  # 000 §五(一) 恢复
    passed_now = listing(9, True)
    [d] = gate(GUIZHOU, [*THREE_PASSED, passed_now], suspended=[passed_now.product_code]).decisions
    assert (d.action, d.subject_id, d.metrics["because"]) == (
        "restore_trading", passed_now.product_code, "passed")


def test_guizhou_keeps_a_suspended_product_suspended_without_repeating_the_decision() -> None:
    assert gate(GUIZHOU, [*THREE_PASSED, NOT_PASSED],
                suspended=[NOT_PASSED.product_code]).decisions == ()


def test_guizhou_suspends_only_while_supply_is_assured() -> None:
    """000 §五(一) 在确保供应的情况下: no new suspension, and standing ones are lifted."""
    assert gate(GUIZHOU, [*THREE_PASSED, NOT_PASSED], supply_assured=False).decisions == ()
    [d] = gate(GUIZHOU, [*THREE_PASSED, NOT_PASSED], suspended=[NOT_PASSED.product_code],
               supply_assured=False).decisions
    assert (d.action, d.metrics["because"]) == ("restore_trading", "supply_not_assured")


def test_guizhou_restores_when_the_gate_no_longer_holds() -> None:
    [d] = gate(GUIZHOU, [*THREE_PASSED[:2], NOT_PASSED],
               suspended=[NOT_PASSED.product_code]).decisions
    assert (d.action, d.metrics["because"]) == ("restore_trading", "gate_no_longer_holds")


def test_a_winning_product_is_never_suspended() -> None:
    assert gate(GUIZHOU, [*THREE_PASSED, listing(9, False, winning=True)]).decisions == ()


def test_yunnan_without_a_gate_decides_nothing() -> None:
    out = gate(YUNNAN, [*THREE_PASSED, listing(4, True), NOT_PASSED])
    assert not out.holds and out.decisions == ()


# supply.distributor_limit ----------------------------------------------------------------------

DISTRIBUTORS = [f"D530100000{n:02d}" for n in range(1, 5)]


def test_yunnan_four_distributors_for_one_winner_warns() -> None:  # 002 §四(六) 不超过3家
    w = distributor_limit("manufacturer", "M12000000783", DISTRIBUTORS,
                          YUNNAN.supply.distributor_limit, period="2020")
    assert w is not None
    assert (w.rule, w.subject_kind, w.metrics["distributor_count"], w.policy_ref) == (
        DISTRIBUTOR_LIMIT, "manufacturer", 4, "002 §四(六)")
    assert w.id == f"{DISTRIBUTOR_LIMIT}:M12000000783:2020:warning"
    as_warning_event(w)


def test_yunnan_three_distributors_are_allowed_counting_each_once() -> None:  # 含3家
    three = DISTRIBUTORS[:3] + DISTRIBUTORS[:1]
    assert distributor_limit("agreement", "AGR-1", three, YUNNAN.supply.distributor_limit) is None


@pytest.mark.parametrize("profile", [GUIZHOU, CHONGQING, XIAN, SHANXI], ids=lambda p: p.name)
def test_profiles_without_a_distributor_limit_fire_nothing(profile: PolicyProfile) -> None:
    many = [f"D520100000{n:02d}" for n in range(10)]
    assert distributor_limit("agreement", "AGR-1", many, profile.supply.distributor_limit) is None


# ids ---------------------------------------------------------------------------------------------


def test_finding_ids_encode_like_quota_output_ids() -> None:
    assert finding_id("r", "a:b", None, "k") == output_id("r", "a:b", None, "k")
    assert finding_id("r", "a:b", "c") != finding_id("r", "a", "b:c")


def test_overlong_finding_ids_are_shortened_deterministically() -> None:
    long_id = finding_id(DISTRIBUTOR_LIMIT, "A" * 128, "2020", "warning")
    assert len(long_id) == 128 and long_id == finding_id(DISTRIBUTOR_LIMIT, "A" * 128, "2020",
                                                         "warning")
    assert long_id != finding_id(DISTRIBUTOR_LIMIT, "A" * 127 + "B", "2020", "warning")


# beyond the province ---------------------------------------------------------------------------


def province_shortage() -> Escalation:
    [e] = unfilled([order(1, "H52010200001"), order(2, "H52030200001", ZUNYI)])
    assert e.level == "province"
    return e


def widen(e: Escalation, others: list[WinnerStock], demand: Decimal | None = Decimal(100),
          alliance: list[AllianceWinner] = ALLIANCE) -> Escalation:
    return beyond_the_province(e, "2020-04", others, demand,
                               GUIZHOU.supply.low_inventory_cover_months, alliance)


def test_a_provincial_shortage_the_other_winners_cover_stays_in_the_province() -> None:
    e = widen(province_shortage(), [ample(200)])
    assert e.level == "province" and e.evidence["own_supply_covers"] is True
    assert e.alternatives[0] == Alternative("520000", OTHER_WINNER.product_code,
                                            OTHER_WINNER.manufacturer_id)


def test_a_provincial_shortage_beyond_the_own_supply_goes_to_the_alliance() -> None:
    """002 §四(六): hospitals turn to other provinces' winners; the id names the new level."""
    e = widen(province_shortage(), [ample(199)])
    assert e.level == "alliance" and e.evidence["own_supply_covers"] is False
    assert e.id == f"{UNFILLED_ORDERS}:XC08CAA017A001010100783:520000:alliance:2020-04"
    assert {a.province for a in e.alternatives} == {"520000", "140000", "500000"}
    as_escalation_event(e)


def test_with_no_partner_winner_the_shortage_goes_to_the_nation() -> None:
    assert widen(province_shortage(), [], alliance=[]).level == "national"


def test_below_the_province_only_the_alternatives_are_added() -> None:
    [e] = unfilled([order(1, "H52010200001")])
    widened = widen(e, [])
    assert (widened.level, widened.id) == (e.level, e.id) and widened.alternatives


def test_unknown_demand_keeps_the_provincial_level() -> None:
    e = widen(province_shortage(), [], demand=None)
    assert e.level == "province" and e.evidence["own_supply_covers"] == "unknown"


def test_a_winners_distributors_are_counted_per_product() -> None:
    w = distributor_limit("manufacturer", "M12000000783", DISTRIBUTORS,
                          YUNNAN.supply.distributor_limit, period="2020",
                          product_code="XC08CAA017A001010100783")
    assert w is not None
    assert w.id == f"{DISTRIBUTOR_LIMIT}:M12000000783:2020:XC08CAA017A001010100783"
    assert w.metrics["product_code"] == "XC08CAA017A001010100783"
