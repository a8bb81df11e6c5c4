"""What the province shares with its partners (services/alliance/share.py)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from schemas.envelope import example_event
from schemas.events import example_data
from services.alliance import share

A = "520000"


def test_only_escalations_beyond_the_province_are_shared() -> None:
    """002 §四(五)/(六): the province solves its own shortages; partners hear of the rest."""
    for level, shared in [("institution", False), ("city", False), ("province", False),
                          ("alliance", True), ("national", True)]:
        event = example_event("vbp.shortage.escalated", level=level)
        out = share.escalation(A, event)
        assert (out is not None) == shared, level
    out = share.escalation(A, example_event("vbp.shortage.escalated", level="alliance"))
    assert out is not None
    assert (out.source, out.province, out.type) == ("/alliance/520000", A, "vbp.shortage.escalated")
    assert out.id == f"{A}-escalation-{out.data.escalation_id}"
    assert out.data.alternatives == example_event("vbp.shortage.escalated").data.alternatives


def test_only_trading_decisions_are_shared() -> None:
    assert share.decision(A, example_event("vbp.decision.issued")) is None  # settlement: ours
    for action in ("suspend_trading", "restore_trading"):
        event = example_event("vbp.decision.issued", action=action, subject_kind="product",
                              subject_id="XC08CAA017A001010100783")
        out = share.decision(A, event)
        assert out is not None and out.data.action == action


def listing(**changes: object) -> dict:
    return example_data("vbp.product.listed", **changes)


def test_a_winning_product_is_availability_with_its_cover() -> None:
    report = example_data("vbp.supply.monthly_reported", supplied_quantity=4_200_000,
                          inventory_quantity=1_800_000)
    cover = share.cover(report)
    assert cover.months == "0.43"
    out = share.availability(A, listing(), "2020-01-02T10:00:00+08:00", "p-1", cover, False)
    assert out is not None
    extra = out.model_extra or {}
    assert (extra["covermonth"], extra["coverinventory"], extra["covermonths"]) == (
        "2020-02", 1_800_000, "0.43")
    assert out.id.startswith(f"{A}-availability-{listing()['product_code']}-")
    again = share.availability(A, listing(), "2020-01-02T10:00:00+08:00", "p-1", cover, False)
    assert again is not None and again.id == out.id  # deterministic
    newer = share.cover({**report, "report_id": "rpt-2020-03", "month": "2020-03"})
    later = share.availability(A, listing(), "2020-01-02T10:00:00+08:00", "p-1", newer, True)
    assert later is not None and later.id != out.id


def test_nothing_supplied_means_cover_in_months_is_unknown() -> None:
    cover = share.cover(example_data("vbp.supply.monthly_reported", supplied_quantity=0))
    assert cover.months is None and "covermonths" not in cover.extensions()


def test_a_non_winning_product_is_not_shared_unless_it_stopped_winning() -> None:
    assert share.availability(A, listing(winning=False), "2020-01-02T10:00:00+08:00", "p-2",
                              None, shared_before=False) is None
    withdrawn = share.availability(A, listing(winning=False), "2020-06-02T10:00:00+08:00", "p-3",
                                   None, shared_before=True)
    assert withdrawn is not None and withdrawn.data.winning is False
    assert "covermonths" not in (withdrawn.model_extra or {})


def test_the_first_tick_of_a_month_summarises_the_month_before() -> None:
    assert share.month_to_summarise(date(2020, 4, 1)) == "2020-03"
    assert share.month_to_summarise(date(2020, 4, 17)) == "2020-03"
    assert share.month_to_summarise(date(2021, 1, 1)) == "2020-12"


def agreement(agreement_id: str, institution: str, product: str, start: str = "2020-01-01",
              end: str = "2020-12-31") -> dict:
    return example_data("vbp.agreement.signed", agreement_id=agreement_id,
                        institution_id=institution, product_code=product, cycle_year=2020,
                        period_start=start, period_end=end, agreed_quantity=1200)


def progress(cumulative: int, target: int) -> dict:
    return {"cumulative_quantity": cumulative, "cumulative_target": target}


def test_monthly_summary_sums_the_quarter_holding_the_months_last_day_per_name_and_city() -> None:
    """000 §六(一): progress summarised monthly. March's last day lies in Q1: Q1's cumulative
    records are summed per generic name and city; Q2's are not."""
    atorva, amlo = "XC10AAA081A001010100328", "XC08CAA017A001010100783"
    products = {atorva: {"generic_name": "阿托伐他汀钙片"},
                amlo: {"generic_name": "苯磺酸氨氯地平片"}}
    institutions = {"H52010200001": {"city_code": "520100"},
                    "H52010200002": {"city_code": "520100"},
                    "H52030200001": {"city_code": "520300"}}
    agreements = [agreement("A1", "H52010200001", atorva), agreement("A2", "H52010200002", atorva),
                  agreement("A3", "H52030200001", atorva), agreement("A4", "H52010200001", amlo),
                  agreement("A5", "H52010200009", atorva),  # institution unknown: left out
                  agreement("A6", "H52010200001", atorva, "2021-01-01", "2021-12-31")]  # not yet
    records = {"A1:2020-Q1": progress(200, 300), "A1:2020-Q2": progress(250, 600),
               "A2:2020-Q1": progress(310, 300), "A3:2020-Q1": progress(0, 300),
               "A5:2020-Q1": progress(999, 300), "A6:2021-Q1": progress(5, 300)}
    # A4 has no record yet: left out, and its name with it.
    summaries = share.monthly_summaries("2020-03", date(2020, 4, 1), agreements, products,
                                        institutions, records)
    got = [(s.generic_name, s.city_code, s.agreements, s.institutions, s.ordered_quantity,
            s.target_quantity, s.completion_rate) for s in summaries]
    assert got == [("阿托伐他汀钙片", "520100", 2, 2, 510, 600, Decimal("0.85")),
                   ("阿托伐他汀钙片", "520300", 1, 1, 0, 300, Decimal("0"))]
    assert summaries[0].summary_id == share.summary_id("2020-03", "520100", "阿托伐他汀钙片")
    assert summaries[0].summary_id.isascii()


def test_a_zero_target_has_no_completion_rate() -> None:
    products = {"XC10AAA081A001010100328": {"generic_name": "阿托伐他汀钙片"}}
    summaries = share.monthly_summaries(
        "2020-03", date(2020, 4, 1), [agreement("A1", "H52010200001", "XC10AAA081A001010100328")],
        products, {"H52010200001": {"city_code": "520100"}}, {"A1:2020-Q1": progress(0, 0)})
    assert summaries[0].completion_rate is None


def test_a_long_id_is_shortened_deterministically() -> None:
    data = example_data("vbp.decision.issued")
    long_id = f"{A}-" + "x" * 300
    first, second = (share.outbound(A, "vbp.decision.issued", data, id=long_id,
                                    time="2020-04-01T00:00:00+08:00", subject=None)
                     for _ in range(2))
    assert len(first.id) <= 256 and first.id == second.id and first.id.startswith(f"{A}-")
