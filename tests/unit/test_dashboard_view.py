"""The dashboard's view as a plain function of the events it reads (no Kafka, no browser)."""
from __future__ import annotations

from typing import Any

from dashboard.__main__ import cities
from dashboard.view import View
from policies import load_profile
from schemas.events import example_data

GUIZHOU = load_profile("guizhou")


def ev(type_: str, time: str = "2020-04-01T00:00:00+08:00", **data: Any) -> dict[str, Any]:
    return {"type": type_, "time": time, "data": example_data(type_, **data)}


def progress(agreement: str, institution: str, period: str, rate: str,
             target: int) -> dict[str, Any]:
    return ev("vbp.quota.progress", agreement_id=agreement, institution_id=institution,
              period=period, completion_rate=rate, target_quantity=target)


def build() -> View:
    view = View(GUIZHOU, cities())
    view.apply("vbp.ref.institutions", ev("vbp.institution.registered",
                                          institution_id="H52010200001", city_code="520100"))
    view.apply("vbp.ref.institutions", ev("vbp.institution.registered", name="遵义市第一人民医院",
                                          institution_id="H52030200001", county_code="520302",
                                          city_code="520300"))
    for agreement, inst in (("A1", "H52010200001"), ("A2", "H52010200001"), ("A3", "H52030200001")):
        view.apply("vbp.ref.agreements", ev("vbp.agreement.signed", agreement_id=agreement,
                                            institution_id=inst))
    view.apply("vbp.clock", ev("vbp.clock.tick", as_of="2020-04-15"))
    return view


def test_city_and_institution_completion_weigh_agreements_by_target() -> None:
    view = build()
    view.apply("vbp.quota.progress", progress("A1", "H52010200001", "2020-Q1", "0.5", 100))
    view.apply("vbp.quota.progress", progress("A2", "H52010200001", "2020-Q1", "1", 300))
    view.apply("vbp.quota.progress", progress("A1", "H52010200001", "2020-Q1", "0.6", 100))  # newer
    view.apply("vbp.quota.progress", progress("A3", "H52030200001", "2020-Q1", "0.9", 50))
    view.apply("vbp.quota.progress", progress("A3", "H52030200001", "2020-Q3", "0", 50))
    state = view.state()
    guiyang = next(c for c in state["cities"] if c["code"] == "520100")
    assert guiyang["rates"]["2020-Q1"] == round((60 + 300) / 400, 4)
    assert state["phases"]["2020-Q1"]["phase"] == "closed"
    assert state["phases"]["2020-Q3"]["phase"] == "future"
    zunyi = next(i for i in state["institutions"] if i["institution_id"] == "H52030200001")
    assert zunyi["rates"] == {"2020-Q1": 0.9, "2020-Q3": None}  # Q3 has not begun


def test_suspension_and_resumption_follow_the_decisions_in_effective_order() -> None:
    view = build()
    view.apply("vbp.quota.progress", progress("A1", "H52010200001", "2020-Q1", "0.6", 100))
    view.apply("vbp.decisions", ev("vbp.decision.issued", decision_id="d1"))  # suspend from 05-01
    state = view.state()
    row = next(i for i in state["institutions"] if i["institution_id"] == "H52010200001")
    assert row["status"] == {"monthly_settlement": True}
    assert state["institutions"][0]["institution_id"] == "H52010200001"  # worst first
    view.apply("vbp.decisions", ev(
        "vbp.decision.issued", "2020-05-20T00:00:00+08:00", decision_id="d2",
        action="resume_monthly_settlement", rule="quota.catch_up", effective_from="2020-05-21"))
    row = next(i for i in view.state()["institutions"] if i["institution_id"] == "H52010200001")
    assert row["status"] == {"monthly_settlement": False}
    assert view.state()["decisions_by_rule"] == {
        "quota.catch_up": {"resume_monthly_settlement": 1},
        "quota.quarterly_completion": {"suspend_monthly_settlement": 1}}


def test_overdue_payables_are_marked_paid_and_repeats_counted_once() -> None:
    view = build()
    warning = ev("vbp.warning.raised", warning_id="w1", rule="settlement.payment_overdue",
                 severity="warning", subject_kind="institution", subject_id="H52010200001",
                 period=None, policy_ref="000 §五(三)",
                 metrics={"delivery_id": "dlv-1", "amount": "100.0000", "outstanding": "100.0000",
                          "accepted_on": "2020-03-01", "due_date": "2020-03-31"})
    view.apply("vbp.warnings", warning)
    view.apply("vbp.warnings", warning)
    [open_] = view.state()["overdue"]
    assert open_["paid_on"] is None and open_["amount"] == "100.0000"
    view.apply("vbp.payments", ev("vbp.payment.made", delivery_ids=["dlv-1"], paid_on="2020-05-08"))
    assert view.state()["overdue"][0]["paid_on"] == "2020-05-08"
    assert view.state()["totals"]["warnings"] == 1


def test_escalations_carry_the_profile_clause_and_alternatives_by_name() -> None:
    view = build()
    view.apply("vbp.ref.products", ev("vbp.product.listed", product_code="XC08CAA017A001010100412",
                                      generic_name="苯磺酸氨氯地平片", specification="5mg"))
    view.apply("vbp.escalations", ev("vbp.shortage.escalated"))
    [shown] = view.state()["escalations"]
    assert shown["rule"] == "supply.production_stop"
    assert shown["policy_ref"] == GUIZHOU.supply.production_stop_min_level.ref == "000 §五(二)"
    assert shown["alternatives"][0]["name"] == "苯磺酸氨氯地平片 5mg"


def test_notifications_by_outcome_and_receiver() -> None:
    view = build()
    view.apply("vbp.notifications", ev("vbp.notification.logged", outcome="retrying",
                                       status_code=503))
    view.apply("vbp.notifications", ev("vbp.notification.logged", attempt=2))
    n = view.state()["notifications"]
    assert n["by_outcome"] == {"retrying": 1, "sent": 1}
    assert n["by_receiver"] == {"guizhou-healthcare-security": {"sent": 1}}
    assert n["final"] == {"sent": 1} and n["alerts"] == 1


def partner(type_: str, province: str = "530000", time: str = "2020-04-02T00:00:00+08:00",
            **data: Any) -> dict[str, Any]:
    return {**ev(type_, time, **data), "province": province, "source": f"/alliance/{province}",
            "id": f"{province}-{type_}-{len(data)}"}


def summary(month: str, generic: str, city: str, ordered: int, target: int,
            province: str = "530000") -> dict[str, Any]:
    return partner("vbp.quota.monthly_summary", province, summary_id=f"{month}:{city}:{generic}",
                   month=month, generic_name=generic, city_code=city, ordered_quantity=ordered,
                   target_quantity=target, completion_rate=f"{ordered / target:.4f}")


def test_alliance_partners_completion_shortages_and_winning_products() -> None:
    view = build()
    inbound = "vbp.alliance.inbound"
    for event in (
        summary("2020-02", "阿托伐他汀钙片", "530100", 10, 100),
        summary("2020-03", "阿托伐他汀钙片", "530100", 600, 1000),
        summary("2020-03", "阿托伐他汀钙片", "530100", 700, 1000),  # newer version, same key
        summary("2020-03", "阿托伐他汀钙片", "530300", 200, 500),
        summary("2020-02", "阿托伐他汀钙片", "530300", 1, 500),  # older month arrives late
        summary("2020-03", "苯磺酸氨氯地平片", "530100", 90, 100),
        summary("2020-02", "瑞舒伐他汀钙片", "530100", 5, 100),  # not summarised in 2020-03
        summary("2020-03", "苯磺酸氨氯地平片", "500100", 1, 2, province="500000"),
    ):
        view.apply(inbound, event)
    escalation = partner("vbp.shortage.escalated", escalation_id="supply.production_stop:"
                         "XC08CAA017A001010109999:530000:alliance", level="alliance",
                         region_code="530000", product_code="XC08CAA017A001010109999")
    view.apply(inbound, escalation)
    view.apply(inbound, escalation)  # a re-sent copy
    for code, winning in (("XC10AAA081A001010109001", True), ("XC10AAA081A001010109002", True),
                          ("XC10AAA081A001010109003", True), ("XC10AAA081A001010109003", False)):
        view.apply(inbound, {**partner("vbp.product.listed", product_code=code, winning=winning),
                             "covermonth": "2020-03", "covermonths": "2.50"})
    view.apply(inbound, partner("vbp.decision.issued", decision_id="t1", action="suspend_trading",
                                subject_kind="product", subject_id="XC10AAA081A001010109001",
                                rule="supply.production_stop", effective_from="2020-04-03"))
    state = view.state()
    # The partner's events stay out of the home province's own figures.
    assert state["escalations"] == [] and state["decisions"] == []
    assert state["totals"]["escalations"] == 0
    chongqing, yunnan = state["alliance"]
    assert chongqing["province"] == "500000"
    assert chongqing["completion"][0]["completion_rate"] == 0.5
    assert yunnan["province"] == "530000" and yunnan["month"] == "2020-03"
    assert {c["generic_name"]: (c["ordered_quantity"], c["target_quantity"], c["cities"],
                                c["completion_rate"]) for c in yunnan["completion"]} == {
        "阿托伐他汀钙片": (900, 1500, 2, 0.6), "苯磺酸氨氯地平片": (90, 100, 1, 0.9)}
    [shortage] = yunnan["shortages"]
    assert shortage["level"] == "alliance" and shortage["rule"] == "supply.production_stop"
    assert yunnan["winning_products"] == 2
    assert yunnan["available"][0]["cover"] == {"covermonth": "2020-03", "covermonths": "2.50"}
    assert [t["product_code"] for t in yunnan["trading_suspended"]] == ["XC10AAA081A001010109001"]
    assert state["records"][inbound] == 15


def test_a_jurisdiction_warning_is_listed_for_the_operators() -> None:
    """calendar.arrangement_missing (全国年节及纪念日放假办法) concerns the deployment, not an
    institution: the page shows it above everything."""
    view = build()
    view.apply("vbp.warnings", ev("vbp.warning.raised", warning_id="w-inst"))
    view.apply("vbp.warnings", ev(
        "vbp.warning.raised", warning_id="calendar.arrangement_missing:520000:2027:warning",
        rule="calendar.arrangement_missing", severity="warning", subject_kind="jurisdiction",
        subject_id="520000", period="2027", metrics={"year": 2027},
        policy_ref="全国年节及纪念日放假办法 第二条、第六条", message="2027 missing"))
    state = view.state()
    assert [w["warning_id"] for w in state["jurisdiction_warnings"]] == [
        "calendar.arrangement_missing:520000:2027:warning"]
    assert len(state["warnings"]) == 2
