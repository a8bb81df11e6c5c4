"""The quota rules of docs/contract.md, read as the policy they enforce.

Guizhou 000 §五(三): "对完成设置任务量比例低于 80％的定点医疗机构提出预警，低于 70％的定点医疗
机构，自次月起暂停医保月结算 ... 待其完成累计采购及使用量后恢复月结算".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Generic, TypeVar

import pytest

from kernel.findings import output_id
from kernel.periods import agreement_quarters, cumulative_target, evaluation_day
from services.quota.rules import (
    CATCH_UP,
    NON_WINNING_RATIO,
    QUARTERLY_COMPLETION,
    YEAR_END,
    Finding,
    catch_up,
    completion_rate,
    counted_quantity,
    non_winning_ratio,
    quarterly_completion,
    to_reference_units,
    year_end,
)

T = TypeVar("T")


@dataclass(frozen=True)
class P(Generic[T]):
    """A policy parameter as the profile gives it: value (None = document silent) and clause."""

    value: T | None
    ref: str | None


GZ_WARN = P(Decimal("0.80"), "000 §五(三)")
GZ_SUSPEND = P(Decimal("0.70"), "000 §五(三)")
SILENT = P[Decimal](None, "004")  # Shanxi sets no quarterly bands
APRIL_1 = date(2020, 4, 1)


def completion(quantity: int, target: int, evaluated_on: date = APRIL_1) -> Finding | None:
    return quarterly_completion(quantity, target, GZ_WARN, GZ_SUSPEND, evaluated_on)


# quota.quarterly_completion ---------------------------------------------------------------


def test_guizhou_q1_at_66_7_percent_suspends_monthly_settlement_from_may() -> None:
    """000 §五(三): below 70 % -> critical warning, monthly settlement suspended 自次月起:
    evaluated on tick 2020-04-01, so from 2020-05-01."""
    finding = completion(200, 300)
    assert finding is not None
    assert finding.rule == QUARTERLY_COMPLETION
    assert finding.severity == "critical"
    assert finding.policy_ref == "000 §五(三)"
    assert finding.metrics["completion_rate"] == "0.6667"
    assert finding.decision is not None
    assert finding.decision.action == "suspend_monthly_settlement"
    assert finding.decision.effective_from == date(2020, 5, 1)
    assert finding.decision.policy_ref == "000 §五(三)"
    assert finding.decision.amount is None


def test_guizhou_exactly_80_percent_is_not_a_warning() -> None:
    """000 §五(三) warns "低于 80％": 80 % itself is compliant."""
    assert completion(8000, 10000) is None


def test_guizhou_79_99_percent_is_a_warning_without_suspension() -> None:
    """000 §五(三): 79.99 % is below 80 % -> warning, no suspension."""
    finding = completion(7999, 10000)
    assert finding is not None
    assert finding.severity == "warning"
    assert finding.metrics["completion_rate"] == "0.7999"
    assert finding.decision is None


def test_guizhou_exactly_70_percent_warns_but_does_not_suspend() -> None:
    """000 §五(三) suspends "低于 70％": 70 % itself is only in the warning band."""
    finding = completion(7000, 10000)
    assert finding is not None
    assert finding.severity == "warning"
    assert finding.decision is None


def test_guizhou_69_99_percent_suspends() -> None:
    """000 §五(三): 69.99 % is below 70 % -> critical and suspended."""
    finding = completion(6999, 10000)
    assert finding is not None and finding.severity == "critical"
    assert finding.decision is not None


def test_guizhou_band_is_compared_exactly_not_on_the_rounded_rate() -> None:
    """000 §五(三) "低于 80％": 79,996 of 100,000 is below 80 % although reported as 0.8000."""
    finding = completion(79_996, 100_000)
    assert finding is not None and finding.severity == "warning"
    assert finding.metrics["completion_rate"] == "0.8000"


def test_early_completion_far_above_target_is_never_a_finding() -> None:
    """000 §四(三): purchases beyond the agreed quantity continue at the winning price."""
    assert completion(300, 300) is None
    assert completion(30_000, 300) is None
    assert completion_rate(30_000, 300) == Decimal("100.0000")


def test_zero_target_quarter_is_complete_and_raises_nothing() -> None:
    assert completion(0, 0) is None
    assert completion_rate(0, 0) == Decimal("1.0000")


def test_evaluation_on_the_last_day_of_a_month_suspends_from_the_next_day() -> None:
    """000 §五(三) 自次月起: a quarter ending 2020-03-30 is evaluated on tick 2020-03-31, and
    "next month" from that tick is April, which starts the very next day."""
    finding = completion(0, 100, evaluated_on=date(2020, 3, 31))
    assert finding is not None and finding.decision is not None
    assert finding.decision.effective_from == date(2020, 4, 1)


def test_guizhou_q1_from_2019_12_30_evaluated_2020_03_30_suspends_from_april() -> None:
    """000 §四(三), §五(三): Q1 of the Guizhou year ends 2020-03-29; the first tick after it is
    2020-03-30, so a suspension starts 2020-04-01."""
    q1 = agreement_quarters(date(2019, 12, 30), date(2020, 12, 29), 1200, cycle_year=2020)[0]
    on = evaluation_day(q1)
    finding = completion(200, q1.target, evaluated_on=on)
    assert (on, q1.target) == (date(2020, 3, 30), 300)
    assert finding is not None and finding.decision is not None
    assert finding.decision.effective_from == date(2020, 4, 1)


def test_grace_days_that_cross_a_month_end_push_the_suspension_a_month_later() -> None:
    """Contract: evaluation waits the profile's grace days; 自次月起 counts from that tick."""
    q1 = agreement_quarters(date(2019, 12, 30), date(2020, 12, 29), 1200, cycle_year=2020)[0]
    finding = completion(0, q1.target, evaluated_on=evaluation_day(q1, grace_days=5))
    assert finding is not None and finding.decision is not None
    assert finding.decision.effective_from == date(2020, 5, 1)


def test_profile_floats_compare_as_their_decimal_text() -> None:
    """Profiles give fractions as floats: 0.8 is read as Decimal("0.8"), not its binary value."""
    assert (
        quarterly_completion(8, 10, P(0.8, "000 §五(三)"), P(0.7, "000 §五(三)"), APRIL_1) is None
    )
    finding = quarterly_completion(7, 10, P(0.8, "000 §五(三)"), P(0.7, "000 §五(三)"), APRIL_1)
    assert finding is not None and finding.severity == "warning"
    assert finding.metrics["warn_below"] == "0.8"


def test_a_bureau_setting_without_a_clause_is_cited_as_a_bureau_setting() -> None:
    """Where the documents are silent the bureau may set a number; it carries no clause ref."""
    finding = non_winning_ratio(100, 101, P(Decimal("1"), None))
    assert finding is not None and finding.policy_ref == "bureau setting"


def test_shanxi_silent_quarterly_bands_fire_nothing() -> None:
    """004 sets no quarterly warning or suspension band (value None): the rule does not fire."""
    assert quarterly_completion(0, 1000, SILENT, SILENT, APRIL_1) is None


def test_a_profile_with_only_a_warning_band_never_suspends() -> None:
    finding = quarterly_completion(0, 1000, GZ_WARN, SILENT, APRIL_1)
    assert finding is not None and finding.severity == "warning" and finding.decision is None
    assert "suspend_below" not in finding.metrics


# quota.catch_up -----------------------------------------------------------------------------

GZ_RESUMES = P(True, "000 §五(三)")


def test_guizhou_resumes_only_when_every_causing_agreement_has_caught_up() -> None:
    """000 §五(三) "待其完成累计采购及使用量后恢复月结算": both agreements that caused the
    suspension must reach their cumulative targets; one of two is not enough."""
    targets = {"AG-A": 500, "AG-B": 300}
    causing = {"AG-A", "AG-B"}
    tick = date(2020, 7, 15)
    assert catch_up({"AG-A": 520, "AG-B": 299}, targets, causing, tick, GZ_RESUMES) is None
    assert catch_up({"AG-A": 520}, targets, causing, tick, GZ_RESUMES) is None
    decision = catch_up({"AG-A": 520, "AG-B": 300}, targets, causing, tick, GZ_RESUMES)
    assert decision is not None
    assert decision.rule == CATCH_UP
    assert decision.action == "resume_monthly_settlement"
    assert decision.effective_from == date(2020, 7, 16)  # the next tick
    assert decision.metrics["AG-B.cumulative_quantity"] == 300


def test_catch_up_ignores_agreements_that_did_not_cause_the_suspension() -> None:
    """000 §五(三): only the suspended tasks must be caught up."""
    decision = catch_up(
        {"AG-A": 500, "AG-C": 0},
        {"AG-A": 500, "AG-C": 900},
        {"AG-A"},
        date(2020, 7, 1),
        GZ_RESUMES,
    )
    assert decision is not None


def test_catch_up_measures_against_the_targets_of_evaluated_quarters_only() -> None:
    """Contract: the cumulative target is the sum of the targets of quarters already evaluated;
    the running quarter's target does not count yet."""
    quarters = agreement_quarters(date(2019, 12, 30), date(2020, 12, 29), 1200, cycle_year=2020)
    tick = date(2020, 5, 10)  # only Q1 (target 300) has been evaluated
    target = cumulative_target(quarters, tick)
    assert target == 300
    assert catch_up({"AG-A": 300}, {"AG-A": target}, {"AG-A"}, tick, GZ_RESUMES) is not None


def test_no_suspension_means_nothing_to_resume() -> None:
    assert catch_up({}, {}, set(), date(2020, 7, 1), GZ_RESUMES) is None


def test_silent_catch_up_clause_resumes_nothing() -> None:
    """A profile that does not say settlement resumes on catch-up (value None) never resumes."""
    silent = P[bool](None, None)
    assert catch_up({"AG-A": 900}, {"AG-A": 300}, {"AG-A"}, date(2020, 7, 1), silent) is None


def test_catch_up_without_a_target_for_a_causing_agreement_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        catch_up({"AG-A": 1}, {}, {"AG-A"}, date(2020, 7, 1), GZ_RESUMES)


# quota.non_winning_ratio --------------------------------------------------------------------

GZ_MAX_RATIO = P(Decimal("1"), "000 §五(一)")


def test_20_mg_tablets_count_double_against_a_10_mg_reference_strength() -> None:
    """000 §五(一), 001 §二(二) "按比例关系折算": comparable units by reference strength."""
    assert to_reference_units(100, "2") == Decimal("200")
    assert to_reference_units(3, Decimal("0.5")) == Decimal("1.5")


def test_guizhou_non_winning_above_winning_in_reference_units_warns() -> None:
    """000 §五(一) "采购数量不得超过中选药品的采购量": 60 non-winning 20 mg tablets are 120
    reference units, more than 100 winning 10 mg tablets, although 60 < 100 tablets."""
    winning = to_reference_units(100, "1")
    non_winning = to_reference_units(60, "2")
    finding = non_winning_ratio(winning, non_winning, GZ_MAX_RATIO)
    assert finding is not None
    assert finding.rule == NON_WINNING_RATIO
    assert finding.severity == "warning"
    assert finding.policy_ref == "000 §五(一)"
    assert finding.metrics["non_winning_reference_units"] == "120"


def test_guizhou_non_winning_equal_to_winning_is_allowed() -> None:
    """000 §五(一) "不得超过": equal is not exceeding."""
    winning, non_winning = to_reference_units(100, "1"), to_reference_units(50, "2")
    assert non_winning_ratio(winning, non_winning, GZ_MAX_RATIO) is None


def test_non_winning_with_no_winning_purchases_at_all_warns() -> None:
    """000 §五(一): winning products come first; any non-winning quantity exceeds zero."""
    assert non_winning_ratio(0, 1, GZ_MAX_RATIO) is not None


def test_silent_non_winning_ratio_fires_nothing() -> None:
    assert non_winning_ratio(0, 1000, P[Decimal](None, "004")) is None


# quota.year_end -------------------------------------------------------------------------------

GZ_YEAR_END = P(True, "000 §五(五)")


def test_guizhou_year_end_shortfall_reduces_next_year_budget_by_shortfall_times_price() -> None:
    """000 §五(五) "相应核减下一年度医保费用额度": 1,000 agreed, 880 bought at 0.3200 yuan ->
    120 short -> 38.4000 yuan, effective on the first tick after period_end."""
    decision = year_end(880, 1000, "0.3200", GZ_YEAR_END, evaluated_on=date(2020, 12, 30))
    assert decision is not None
    assert decision.rule == YEAR_END
    assert decision.action == "reduce_next_year_budget"
    assert decision.amount == Decimal("38.4000")
    assert str(decision.amount) == "38.4000"
    assert decision.effective_from == date(2020, 12, 30)
    assert decision.policy_ref == "000 §五(五)"
    assert decision.metrics["shortfall"] == 120


def test_year_end_with_the_agreed_quantity_met_or_exceeded_keeps_the_budget() -> None:
    """000 §五(五): compliant institutions keep their budget; 000 §四(三): exceeding is fine."""
    assert year_end(1000, 1000, "0.3200", GZ_YEAR_END, date(2020, 12, 30)) is None
    assert year_end(5000, 1000, "0.3200", GZ_YEAR_END, date(2020, 12, 30)) is None


def test_silent_year_end_rule_fires_nothing() -> None:
    assert year_end(0, 1000, "0.3200", P[bool](None, "004"), date(2020, 12, 30)) is None
    assert year_end(0, 1000, "0.3200", P(False, "004"), date(2020, 12, 30)) is None


# which quantity counts, and ids -------------------------------------------------------------


def test_quota_counts_ordered_net_of_cancellations_unless_the_profile_counts_acceptances() -> None:
    """Contract: the platform's 采购量 (ordered net of cancellations) unless a profile counts
    accepted deliveries (入库)."""
    assert counted_quantity("ordered", ordered=100, cancelled=30, accepted=50) == 70
    assert counted_quantity(None, ordered=100, cancelled=30, accepted=50) == 70
    assert counted_quantity("accepted", ordered=100, cancelled=30, accepted=50) == 50
    with pytest.raises(ValueError):
        counted_quantity("delivered", 1, 0, 0)  # type: ignore[arg-type]


def test_output_ids_are_stable_and_readable() -> None:
    """Contract: output ids derive from rule, subject and period, so replays reproduce them."""
    one = output_id(QUARTERLY_COMPLETION, "AG-520-0001", "2020-Q1", "warning")
    assert one == "quota.quarterly_completion:AG-520-0001:2020-Q1:warning"
    assert one == output_id(QUARTERLY_COMPLETION, "AG-520-0001", "2020-Q1", "warning")
    assert output_id(YEAR_END, "H52010200001", None, "reduce_next_year_budget") == (
        "quota.year_end:H52010200001:-:reduce_next_year_budget"
    )


def test_output_ids_do_not_collide_when_a_part_contains_a_colon() -> None:
    assert output_id("r", "a:b", "c", "k") != output_id("r", "a", "b:c", "k")
