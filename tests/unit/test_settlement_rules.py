"""The settlement rules of docs/contract.md, read as the policy they enforce.

Guizhou 000 §五(三): "原则上从收货验收合格到付款不得超过30天 ... 逾期不回款的给予预警，预警后10个
工作日内仍不回款的，暂缓拨付定点医疗机构医保费用，回款后恢复拨付".
Shanxi 004 §五(四): "结清时间不得超过交货验收合格后的次月底".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from policies import load_profile
from policies.workdays import WorkdayCalendar
from schemas.outputs import DecisionIssued, WarningRaised
from schemas.policy import DaysAfterAcceptance, EndOfFollowingMonth, PolicyProfile
from services.settlement.ledger import (
    Payable,
    Payment,
    PrepaymentRelease,
    apply_payment,
    money,
    reconcile_prepayments,
)
from services.settlement.rules import (
    ARRANGEMENT_MISSING,
    OVERDUE_AFTER_WARNING,
    PAYMENT_OVERDUE,
    PREPAYMENT,
    AgreementBasis,
    ChainStep,
    DisbursementBasis,
    FundSuspension,
    SettlementDecision,
    SettlementWarning,
    arrangement_missing,
    decision_day,
    due_date,
    overdue_after_warning,
    payment_overdue,
    payment_standard,
    prepayment,
    release_of,
)

T = TypeVar("T")


@dataclass(frozen=True)
class P(Generic[T]):
    """A policy parameter as the profile gives it: value (None = document silent) and clause."""

    value: T | None
    ref: str | None


GZ, CQ, YN, XA, SX = (load_profile(n) for n in ("guizhou", "chongqing", "yunnan", "xian", "shanxi"))
CAL = WorkdayCalendar(Path("/nonexistent"))  # the package and the law; nothing published
INST = "H52010200001"
SUPPLIER = "D52000000001"


class WeekendsOnly(WorkdayCalendar):
    """The wrong calendar: Monday-Friday, no holidays, no make-up workdays."""

    def is_workday(self, d: date) -> bool:
        return d.weekday() < 5


def payable(delivery_id: str = "DLV-1", amount: str = "1000.0000",
            accepted_on: date = date(2020, 3, 5), paid: str = "0",
            institution_id: str = INST) -> Payable:
    return Payable(delivery_id, institution_id, Decimal(amount), accepted_on, SUPPLIER,
                   Decimal(paid))


def pay(amount: str, *delivery_ids: str, payment_id: str = "PAY-1", payee_id: str = SUPPLIER,
        paid_on: date = date(2020, 10, 21)) -> Payment:
    return Payment(payment_id, INST, payee_id, delivery_ids, Decimal(amount), paid_on)


def overdue(p: Payable, as_of: date, profile: PolicyProfile = GZ) -> SettlementWarning | None:
    return payment_overdue(p, as_of, profile.settlement.payment_deadline)


def chain(warnings: list[SettlementWarning], payables: dict[str, Payable], as_of: date,
          suspension: FundSuspension | None = None,
          calendar: WorkdayCalendar = CAL) -> ChainStep:
    n = GZ.settlement.overdue_suspend_after_working_days
    return overdue_after_warning(INST, warnings, payables, as_of, n, calendar, suspension)


# due_date ---------------------------------------------------------------------------------


def test_guizhou_payment_is_due_30_days_after_acceptance() -> None:  # 000 §五(三)
    deadline = GZ.settlement.payment_deadline.value
    assert isinstance(deadline, DaysAfterAcceptance)
    assert due_date(date(2020, 3, 5), deadline) == date(2020, 4, 4)
    assert due_date(date(2020, 12, 15), deadline) == date(2021, 1, 14)


@pytest.mark.parametrize(("accepted_on", "due"), [
    (date(2021, 6, 1), date(2021, 7, 31)),
    (date(2021, 1, 31), date(2021, 2, 28)),   # accepted on Jan 31: due end of February
    (date(2020, 1, 31), date(2020, 2, 29)),   # leap year
    (date(2021, 12, 1), date(2022, 1, 31)),   # accepted in December: due end of next January
    (date(2021, 12, 31), date(2022, 1, 31)),
])
def test_shanxi_payment_is_due_at_the_end_of_the_following_month(
    accepted_on: date, due: date
) -> None:
    """004 §五(四) "结清时间不得超过交货验收合格后的次月底"."""
    deadline = SX.settlement.payment_deadline.value
    assert isinstance(deadline, EndOfFollowingMonth)
    assert due_date(accepted_on, deadline) == due


@pytest.mark.parametrize("profile", [CQ, YN, XA], ids=["chongqing", "yunnan", "xian"])
def test_timely_settlement_has_no_due_date_and_is_never_overdue(profile: PolicyProfile) -> None:
    """001 §二(七), 002 §四(四), 003 §三(三)2 say only "及时结算": no number of days."""
    assert due_date(date(2020, 3, 5), profile.settlement.payment_deadline.value) is None
    assert overdue(payable(), date(2030, 1, 1), profile) is None


# settlement.payment_overdue ---------------------------------------------------------------


def test_guizhou_unpaid_delivery_is_overdue_on_the_first_tick_after_its_due_date() -> None:
    """000 §五(三): accepted 2020-03-05, due 2020-04-04; the 04-04 tick is in time, the 04-05
    tick (04-04 has ended) warns."""
    assert overdue(payable(), date(2020, 4, 4)) is None
    warning = overdue(payable(), date(2020, 4, 5))
    assert warning is not None
    assert warning.rule == PAYMENT_OVERDUE
    assert warning.severity == "warning"
    assert warning.policy_ref == "000 §五(三)"
    assert (warning.subject_kind, warning.subject_id) == ("institution", INST)
    assert warning.warning_id == f"settlement.payment_overdue:{INST}:DLV-1:warning"
    assert warning.raised_on == date(2020, 4, 5)
    assert warning.metrics == {
        "delivery_id": "DLV-1", "supplier_id": SUPPLIER, "accepted_on": "2020-03-05",
        "amount": "1000.0000", "paid": "0", "outstanding": "1000.0000",
        "due_date": "2020-04-04", "days_overdue": 1,
    }
    WarningRaised.model_validate(warning.data())


def test_guizhou_warning_id_is_the_same_on_every_later_tick() -> None:
    """Deterministic ids: a replay or a later tick reproduces the warning, the service drops it."""
    first, later = overdue(payable(), date(2020, 4, 5)), overdue(payable(), date(2020, 5, 20))
    assert first is not None and later is not None
    assert first.warning_id == later.warning_id
    assert later.metrics["days_overdue"] == 46


def test_guizhou_partly_paid_delivery_is_overdue_for_its_remainder() -> None:  # 000 §五(三)
    warning = overdue(payable(paid="999.9999"), date(2020, 4, 5))
    assert warning is not None
    assert (warning.metrics["paid"], warning.metrics["outstanding"]) == ("999.9999", "0.0001")


def test_guizhou_delivery_paid_in_full_is_never_overdue() -> None:  # 000 §五(三)
    assert overdue(payable(paid="1000.0000"), date(2020, 4, 5)) is None


def test_shanxi_delivery_accepted_on_january_31_is_overdue_on_march_1() -> None:  # 004 §五(四)
    p = payable(accepted_on=date(2021, 1, 31))
    assert overdue(p, date(2021, 2, 28), SX) is None
    warning = overdue(p, date(2021, 3, 1), SX)
    assert warning is not None
    assert warning.policy_ref == "004 §五(四)"
    assert warning.metrics["due_date"] == "2021-02-28"


def test_shanxi_delivery_accepted_in_december_is_overdue_on_february_1() -> None:  # 004 §五(四)
    p = payable(accepted_on=date(2021, 12, 20))
    assert overdue(p, date(2022, 1, 31), SX) is None
    assert overdue(p, date(2022, 2, 1), SX) is not None


# settlement.overdue_after_warning ---------------------------------------------------------

# Delivery accepted 2020-08-28, due 2020-09-27, warned on the 2020-09-28 tick. The 10 working days
# strictly after Mon 09-28: 09-29, 09-30, [10-01..10-08 holiday], 10-09, Sat 10-10 (调休),
# 10-12..16, 10-19. (Sun 09-27 is a make-up workday too, but it is before the warning's day.)
NATIONAL_DAY = payable("DLV-ND", "5000.0000", date(2020, 8, 28))


def national_day_warning() -> SettlementWarning:
    warning = overdue(NATIONAL_DAY, date(2020, 9, 28))
    assert warning is not None
    return warning


def test_guizhou_unpaid_ten_working_days_after_warning_across_national_day_suspends_disbursement(
) -> None:  # 000 §五(三)
    warning = national_day_warning()
    payables = {"DLV-ND": NATIONAL_DAY}
    assert decision_day(warning.raised_on, 10, CAL) == date(2020, 10, 20)
    assert chain([warning], payables, date(2020, 10, 13)) == (None, None)
    assert chain([warning], payables, date(2020, 10, 19)) == (None, None)  # 10th day not ended yet
    suspension, decision = chain([warning], payables, date(2020, 10, 20))
    assert decision is not None and suspension is not None
    assert decision.action == "suspend_fund_disbursement"
    assert decision.rule == OVERDUE_AFTER_WARNING
    assert decision.policy_ref == "000 §五(三)"
    assert decision.effective_from == date(2020, 10, 20)
    assert decision.subject_id == INST
    assert decision.caused_by == (warning.warning_id,)
    assert decision.metrics["delivery_ids"] == ["DLV-ND"]
    assert decision.metrics["outstanding"] == "5000.0000"
    assert decision.decision_id == (
        f"settlement.overdue_after_warning:{INST}:2020-10-20:suspend_fund_disbursement")
    assert suspension.causes == {"DLV-ND": warning.warning_id}
    DecisionIssued.model_validate(decision.data())


def test_a_weekends_only_calendar_would_suspend_a_week_early_over_national_day() -> None:
    """Why the calendar matters (000 §五(三) counts 工作日): Mon-Fri only, the 10th day after
    2020-09-28 is 10-12 and the suspension would come on 10-13 instead of 10-20."""
    warning = national_day_warning()
    assert decision_day(warning.raised_on, 10, WeekendsOnly()) == date(2020, 10, 13)
    _, wrong = chain([warning], {"DLV-ND": NATIONAL_DAY}, date(2020, 10, 13),
                     calendar=WeekendsOnly())
    assert wrong is not None
    assert chain([warning], {"DLV-ND": NATIONAL_DAY}, date(2020, 10, 13)) == (None, None)


def test_guizhou_make_up_workday_after_the_warning_counts() -> None:
    """A warning on Sat 2020-09-26: Sun 09-27 (调休) is the 1st working day after it, so the 10th
    is 10-15 and the suspension comes on 10-16."""
    assert decision_day(date(2020, 9, 26), 10, CAL) == date(2020, 10, 16)


def test_guizhou_paid_within_ten_working_days_of_the_warning_is_not_suspended() -> None:
    warning = national_day_warning()  # 000 §五(三) "预警后10个工作日内仍不回款的" only
    paid = apply_payment({"DLV-ND": NATIONAL_DAY},
                         pay("5000", "DLV-ND", paid_on=date(2020, 10, 19)))
    assert chain([warning], paid.payables, date(2020, 10, 20)) == (None, None)


def test_guizhou_partial_payment_keeps_disbursement_suspended_and_full_payment_resumes_it() -> None:
    """000 §五(三) "回款后恢复拨付": resumed on the tick that sees the last yuan paid."""
    warning = national_day_warning()
    payables = {"DLV-ND": NATIONAL_DAY}
    suspension, _ = chain([warning], payables, date(2020, 10, 20))

    payables = apply_payment(payables, pay("3000", "DLV-ND", paid_on=date(2020, 10, 21))).payables
    assert payables["DLV-ND"].outstanding == Decimal("2000.0000")
    still, nothing = chain([warning], payables, date(2020, 10, 22), suspension)
    assert (still, nothing) == (suspension, None)

    payables = apply_payment(payables, pay("2000", "DLV-ND", payment_id="PAY-2",
                                           paid_on=date(2020, 10, 22))).payables
    after, resume = chain([warning], payables, date(2020, 10, 23), suspension)
    assert after is None and resume is not None
    assert resume.action == "resume_fund_disbursement"
    assert resume.effective_from == date(2020, 10, 23)
    assert resume.caused_by == (warning.warning_id,)
    assert resume.metrics["outstanding"] == "0.0000"
    assert resume.decision_id == (
        f"settlement.overdue_after_warning:{INST}:2020-10-20:resume_fund_disbursement")


def test_guizhou_a_second_delivery_overdue_during_the_suspension_must_also_be_paid() -> None:
    """000 §五(三): disbursement resumes once every delivery unpaid past its 10 working days is
    paid."""
    first = national_day_warning()
    later = payable("DLV-2", "800.0000", date(2020, 9, 10))  # due 10-10, warned on the 10-11 tick
    second = overdue(later, date(2020, 10, 11))
    assert second is not None
    payables = {"DLV-ND": NATIONAL_DAY, "DLV-2": later}
    suspension, _ = chain([first, second], payables, date(2020, 10, 20))
    assert suspension is not None and list(suspension.causes) == ["DLV-ND"]

    payables = apply_payment(payables, pay("5000", "DLV-ND")).payables
    # 10 working days after Sun 10-11 end on 10-23: DLV-2 joins the causes on the 10-24 tick
    assert decision_day(second.raised_on, 10, CAL) == date(2020, 10, 24)
    still, none = chain([first, second], payables, date(2020, 10, 24), suspension)
    assert none is None and still is not None
    assert list(still.causes) == ["DLV-2", "DLV-ND"]

    payables = apply_payment(payables, pay("800", "DLV-2", payment_id="PAY-2")).payables
    _, resume = chain([first, second], payables, date(2020, 10, 26), still)
    assert resume is not None and resume.action == "resume_fund_disbursement"
    assert set(resume.caused_by) == {first.warning_id, second.warning_id}


def test_a_decision_says_which_calendar_counted_its_working_days() -> None:
    """000 §五(三) counts 工作日: 2020 is in the chinese-calendar package."""
    warning = national_day_warning()
    payables = {"DLV-ND": NATIONAL_DAY}
    suspension, decision = chain([warning], payables, date(2020, 10, 20))
    assert decision is not None and decision.metrics["calendar_source"] == "package"
    assert "calendar_notices" not in decision.metrics
    paid = apply_payment(payables, pay("5000", "DLV-ND", paid_on=date(2020, 10, 21))).payables
    _, resume = chain([warning], paid, date(2020, 10, 22), suspension)
    assert resume is not None and resume.metrics["calendar_source"] == "package"


def test_guizhou_chain_across_the_2027_year_turn_decides_on_the_law_alone() -> None:
    """000 §五(三) into a year the package does not know: accepted 2026-11-20, due 12-20, warned
    on the 12-21 tick; the 10th working day after it is 2027-01-05 (1 January, 元旦, off), so
    the suspension comes on time on the 2027-01-06 tick and says it rests on the estimate."""
    accepted = payable("DLV-YT", "2000.0000", date(2026, 11, 20))
    warning = overdue(accepted, date(2026, 12, 21))
    assert warning is not None
    assert decision_day(warning.raised_on, 10, CAL) == date(2027, 1, 6)
    assert chain([warning], {"DLV-YT": accepted}, date(2027, 1, 5)) == (None, None)
    _, decision = chain([warning], {"DLV-YT": accepted}, date(2027, 1, 6))
    assert decision is not None and decision.effective_from == date(2027, 1, 6)
    assert decision.metrics["calendar_source"] == "statutory-estimate"
    DecisionIssued.model_validate(decision.data())


def test_calendar_arrangement_missing_warns_from_december_once_per_year() -> None:
    """全国年节及纪念日放假办法: from 31 days before 2027 (the profile's bureau setting) the
    operators are told, once, that 2027's arrangement is missing; not before, not again."""
    warn_days = GZ.settlement.holiday_arrangement_warn_days
    assert warn_days.value == 31

    def missing(as_of: date, announced: tuple[int, ...] = (),
                counts: bool = True) -> list[tuple[int, dict]]:
        return arrangement_missing(CAL, as_of, "520000", warn_days, counts, announced)

    assert missing(date(2026, 11, 30)) == []
    [(year, data)] = missing(date(2026, 12, 1))
    assert year == 2027
    warning = WarningRaised.model_validate(data)
    assert warning.rule == ARRANGEMENT_MISSING and warning.severity == "warning"
    assert (warning.subject_kind, warning.subject_id, warning.period) == ("jurisdiction",
                                                                         "520000", "2027")
    assert warning.warning_id == "calendar.arrangement_missing:520000:2027:warning"
    assert "放假办法" in warning.policy_ref and "2027.toml" in warning.message
    assert warning.metrics["calendar_source"] == "statutory-estimate"
    assert "2027-02-09" in warning.metrics["estimated_weekdays_off"]
    assert missing(date(2026, 12, 2), announced=(2027,)) == []
    assert [y for y, _ in missing(date(2027, 3, 1))] == [2027]  # still missing in the year
    assert missing(date(2026, 12, 1), counts=False) == []  # no working days counted: silent
    assert missing(date(2025, 12, 1)) == []  # 2026 is in the package


@pytest.mark.parametrize("profile", [SX, CQ, YN, XA], ids=["shanxi", "chongqing", "yunnan", "xian"])
def test_only_guizhou_suspends_disbursement_for_overdue_payment(profile: PolicyProfile) -> None:
    """004 §五(四) sets a deadline but no withholding chain; the others are silent."""
    warning = national_day_warning()
    n = profile.settlement.overdue_suspend_after_working_days
    payables = {"DLV-ND": NATIONAL_DAY}
    step = overdue_after_warning(INST, [warning], payables, date(2021, 1, 1), n, CAL)
    assert step == (None, None)


def test_an_overdue_warning_of_another_institution_is_a_caller_error() -> None:
    other = overdue(payable(institution_id="H52010200002"), date(2020, 4, 5))
    assert other is not None
    with pytest.raises(ValueError):
        chain([other], {}, date(2020, 5, 1))


# apply_payment ----------------------------------------------------------------------------

TWO = {"OLD": payable("OLD", "100.0000", date(2020, 3, 1)),
       "NEW": payable("NEW", "50.0000", date(2020, 3, 9))}


def test_a_payment_in_full_settles_the_deliveries_it_names() -> None:
    payables, anomalies = apply_payment(TWO, pay("150.0000", "NEW", "OLD"))
    assert anomalies == []
    assert payables["OLD"].settled and payables["NEW"].settled
    assert TWO["OLD"].paid == 0  # the input is not changed


def test_a_short_payment_pays_the_oldest_delivery_first() -> None:
    payables, anomalies = apply_payment(TWO, pay("120.0000", "NEW", "OLD"))
    assert anomalies == []
    assert (payables["OLD"].outstanding, payables["NEW"].outstanding) == (Decimal(0), Decimal(30))


def test_an_overpayment_reports_the_excess() -> None:
    payables, anomalies = apply_payment(TWO, pay("160.0001", "OLD", "NEW"))
    assert all(p.settled for p in payables.values())
    assert [(a.kind, a.amount) for a in anomalies] == [("overpayment", Decimal("10.0001"))]


def test_a_payment_naming_unknown_deliveries_is_reported_not_lost() -> None:
    payables, anomalies = apply_payment(TWO, pay("70", "GHOST", "OLD", "GHOST"))
    assert payables["OLD"].paid == Decimal(70)
    assert [(a.kind, a.delivery_id) for a in anomalies] == [("unknown_delivery", "GHOST")]

    _, only_unknown = apply_payment(TWO, pay("70", "GHOST"))
    assert [(a.kind, a.amount) for a in only_unknown] == [
        ("unknown_delivery", None), ("overpayment", Decimal(70))]


def test_paid_deliveries_other_institutions_and_other_payees_are_reported() -> None:
    payables = {**TWO, "PAID": payable("PAID", "10", paid="10"),
                "THEIRS": payable("THEIRS", "10", institution_id="H52010200002")}
    payment = pay("100", "PAID", "THEIRS", "OLD", payee_id="M52000000001")
    new, anomalies = apply_payment(payables, payment)
    assert [(a.kind, a.delivery_id) for a in anomalies] == [
        ("already_paid", "PAID"), ("other_institution", "THEIRS"), ("payee_differs", "OLD")]
    assert new["OLD"].settled  # a manufacturer may deliver itself (002 §四(六)): still paid
    assert new["THEIRS"].paid == 0


def test_money_is_decimal_and_floats_are_refused() -> None:
    assert money("0.3200") + money("0.1") == Decimal("0.4200")
    with pytest.raises(TypeError):
        money(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Payment("PAY-F", INST, SUPPLIER, ("OLD",), 10.5, date(2020, 3, 1))  # type: ignore[arg-type]


# settlement.prepayment --------------------------------------------------------------------


def agreement(kind: str = "public", purchased: int = 0, **kw: object) -> AgreementBasis:
    fields: dict[str, object] = dict(
        agreement_id="AGR-1", institution_id=INST, institution_kind=kind,
        period_start=date(2020, 1, 1), agreed_quantity=100_000, price=Decimal("0.3333"),
        purchased_quantity=purchased)
    fields.update(kw)
    return AgreementBasis(**fields)  # type: ignore[arg-type]


def prepay(profile: PolicyProfile, basis: AgreementBasis | DisbursementBasis, as_of: date,
           ledger: list[PrepaymentRelease] | None = None) -> list[SettlementDecision]:
    s = profile.settlement
    return prepayment(basis, as_of, s.prepayment, s.prepayment_excluded_kinds, ledger or [])


def test_guizhou_prepays_30_percent_of_last_years_average_monthly_disbursement_in_january() -> None:
    """000 §五(三) "将上年度月均拨付医保基金的30%预付 ... 剩余年度在1月份执行"."""
    basis = DisbursementBasis(INST, "public", 2021, Decimal("1234567.8950"))
    assert prepay(GZ, basis, date(2020, 12, 31)) == []
    [release] = prepay(GZ, basis, date(2021, 1, 1))
    assert release.action == "release_prepayment"
    assert release.rule == PREPAYMENT
    assert release.policy_ref == "000 §五(三)"
    assert release.amount == Decimal("370370.37")  # 370370.3685 to the fen, half up
    assert release.decision_id == f"settlement.prepayment:{INST}:2021:release_prepayment"
    assert prepay(GZ, basis, date(2021, 1, 2), [release_of(release)]) == []
    DecisionIssued.model_validate(release.data())


def test_guizhou_prepayment_is_not_computed_on_an_agreement() -> None:  # 000 §五(三)
    assert prepay(GZ, agreement(), date(2020, 1, 1)) == []


def test_chongqing_prepays_at_least_half_the_purchase_amount_rounded_up_to_the_fen() -> None:
    """001 §二(七) "按不低于采购金额的50%提前预付": 100,000 x 0.3333 = 33,330; 50 % = 16,665.
    A floor share never rounds down: 3 x 0.3333 x 50 % = 0.49995 -> 0.50."""
    [release] = prepay(CQ, agreement(), date(2020, 1, 1))
    assert release.amount == Decimal("16665.00")
    assert release.policy_ref == "001 §二(七)"
    [tiny] = prepay(CQ, agreement(agreed_quantity=3), date(2020, 1, 1))
    assert tiny.amount == Decimal("0.50")
    assert prepay(CQ, agreement(), date(2019, 12, 31)) == []


def test_yunnan_prepays_30_percent_of_the_contract_amount_and_continues_past_it() -> None:
    """002 §四(四): >= 30 % of the annual contract amount; "完成约定采购量后，各地应结合中选药品
    实际采购量继续予以预付"."""
    [first] = prepay(YN, agreement(), date(2020, 1, 1))
    assert first.amount == Decimal("9999.00")
    assert first.metrics["label"] == "release_prepayment"
    ledger = [release_of(first)]
    assert prepay(YN, agreement(purchased=100_000), date(2020, 10, 1), ledger) == []

    [more] = prepay(YN, agreement(purchased=110_000), date(2020, 11, 1), ledger)
    assert more.amount == Decimal("999.90")  # 30 % of 10,000 x 0.3333
    assert more.decision_id == f"settlement.prepayment:{INST}:AGR-1:continued-2020-11"
    ledger.append(release_of(more))
    assert prepay(YN, agreement(purchased=120_000), date(2020, 11, 20), ledger) == []
    [dec] = prepay(YN, agreement(purchased=120_000), date(2020, 12, 1), ledger)
    assert dec.amount == Decimal("999.90")


@pytest.mark.parametrize("kind", ["private", "pharmacy"])
def test_yunnan_private_institutions_and_pharmacies_get_no_prepayment(kind: str) -> None:
    """002 §四(四) "医保定点社会办医疗机构和零售药店 ... 医保基金暂不预付"."""
    assert prepay(YN, agreement(kind, institution_id="P53010200001"), date(2020, 1, 1)) == []


@pytest.mark.parametrize("profile", [GZ, CQ, XA, SX],
                         ids=["guizhou", "chongqing", "xian", "shanxi"])
def test_no_exclusion_is_borrowed_where_the_document_names_none(profile: PolicyProfile) -> None:
    """Only 002 §四(四) excludes kinds; the others name none, so a private hospital gets one."""
    basis: AgreementBasis | DisbursementBasis = agreement("private")
    if profile is GZ:
        basis = DisbursementBasis(INST, "private", 2020, Decimal(1000))
    assert len(prepay(profile, basis, date(2020, 1, 1))) == 1


def test_xian_prepays_half_at_period_start_and_40_percent_more_at_half_the_agreed_volume() -> None:
    """003 §三(三)1 "按照医疗机构约定采购金额的50%预付周转金，采购量达到协议约定采购量50%后，
    向医疗机构再预付40%的货款"."""
    [first] = prepay(XA, agreement(), date(2020, 1, 1))
    assert first.amount == Decimal("16665.00")
    assert first.decision_id == f"settlement.prepayment:{INST}:AGR-1:tranche-1"
    ledger = [release_of(first)]
    assert prepay(XA, agreement(purchased=49_999), date(2020, 6, 1), ledger) == []
    [second] = prepay(XA, agreement(purchased=50_000), date(2020, 6, 2), ledger)
    assert second.amount == Decimal("13332.00")
    assert second.decision_id == f"settlement.prepayment:{INST}:AGR-1:tranche-2"
    assert second.effective_from == date(2020, 6, 2)
    ledger.append(release_of(second))
    assert prepay(XA, agreement(purchased=60_000), date(2020, 6, 3), ledger) == []


def test_xian_both_tranches_on_one_tick_when_half_is_bought_by_period_start() -> None:
    """003 §三(三)1: the two triggers are independent."""
    releases = prepay(XA, agreement(purchased=50_000), date(2020, 1, 1))
    assert [r.metrics["label"] for r in releases] == ["tranche-1", "tranche-2"]


def test_shanxi_prepays_at_least_30_percent_of_the_annual_agreed_amount() -> None:
    """004 §五(四) "医保基金按不低于年度约定采购金额的30%专项预付给医疗机构"."""
    [release] = prepay(SX, agreement(), date(2020, 1, 1))
    assert release.amount == Decimal("9999.00")
    assert release.policy_ref == "004 §五(四)"
    assert prepay(SX, agreement(purchased=200_000), date(2020, 12, 1), [release_of(release)]) == []


def test_xian_year_end_reconciles_the_advance_against_actual_purchases() -> None:
    """003 §三(三)1 "协议供货期结束后，根据中选品种实际使用数量进行清算结账": 90 % advanced
    (29,997.00); 80,000 units bought (26,664.00) leaves 3,333.00 to recover."""
    first, second = prepay(XA, agreement(purchased=50_000), date(2020, 1, 1))
    ledger = [release_of(first), release_of(second)]
    [under] = reconcile_prepayments(ledger, {INST: "26664.0000"})
    assert (under.prepaid, under.actual) == (Decimal("29997.00"), Decimal("26664.0000"))
    assert under.balance == under.to_recover == Decimal("3333.00")
    assert under.release_ids == (first.decision_id, second.decision_id)
    [over] = reconcile_prepayments(ledger, {INST: "33330.0000"})
    assert (over.balance, over.to_recover) == (Decimal("-3333.00"), Decimal(0))
    [none] = reconcile_prepayments(ledger, {})
    assert none.to_recover == Decimal("29997.00")


# payment standard -------------------------------------------------------------------------


def split(profile: PolicyProfile, price: str, passed: bool = True, quantity: int = 1,
          non_passed_standard: str | None = None) -> tuple[Decimal, Decimal] | None:
    ps = profile.settlement.payment_standard
    return payment_standard(Decimal(price), Decimal("0.3200"), passed,
                            winning_price_is_standard=ps.winning_price_is_standard,
                            non_passed_not_above_passed=ps.non_passed_not_above_passed,
                            non_passed_standard=non_passed_standard, quantity=quantity)


def test_guizhou_patient_pays_the_excess_above_the_winning_price() -> None:
    """000 §五(五) "患者使用高于支付标准的药品，超出支付标准的部分由患者自付": an originator
    at 2.5600 against a winning price of 0.3200, 28 tablets."""
    assert split(GZ, "2.5600", quantity=28) == (Decimal("8.9600"), Decimal("62.7200"))


@pytest.mark.parametrize("profile", [CQ, XA], ids=["chongqing", "xian"])
def test_below_the_standard_the_fund_pays_the_actual_price(profile: PolicyProfile) -> None:
    """001 §二(四) "按实际价格支付", 003 §三(四)1 "低于支付标准的，按实际价格支付"."""
    assert split(profile, "0.2900", quantity=10) == (Decimal("2.9000"), Decimal("0.0000"))


def test_shanxi_non_passed_generic_standard_is_never_above_the_passed_one() -> None:
    """004 §五(六) "对未通过一致性评价的仿制药，医保支付标准不得高于同通用名下已通过一致性
    评价的药品"."""
    assert split(SX, "0.5000", passed=False, non_passed_standard="0.4000") == (
        Decimal("0.3200"), Decimal("0.1800"))
    assert split(SX, "0.5000", passed=False, non_passed_standard="0.2500") == (
        Decimal("0.2500"), Decimal("0.2500"))
    assert split(SX, "0.5000", passed=False) == (Decimal("0.3200"), Decimal("0.1800"))


def test_guizhou_sets_no_standard_for_non_passed_generics_by_itself() -> None:
    """000 §五(五) names originator, reference and passed generics only."""
    assert split(GZ, "0.5000", passed=False) is None
    assert split(GZ, "0.5000", passed=False, non_passed_standard="0.4000") == (
        Decimal("0.4000"), Decimal("0.1000"))


def test_yunnan_delegates_the_payment_standard_to_documents_outside_the_seeds() -> None:
    """002 §四(四): standards per 医保发〔2019〕18号 and 云医保〔2019〕180号, not in the seeds."""
    assert split(YN, "0.5000") is None


def test_a_release_decision_round_trips_through_the_ledger() -> None:
    [d] = prepay(SX, agreement(), date(2020, 1, 1))
    r = release_of(d)
    assert (r.release_id, r.institution_id, r.amount, r.account, r.label) == (
        d.decision_id, INST, Decimal("9999.00"), "AGR-1", "release_prepayment")
    with pytest.raises(ValueError):
        release_of(replace(d, action="suspend_fund_disbursement", amount=None))


def test_parameters_given_directly_behave_like_the_profile() -> None:
    """The rules take any .value/.ref pair, e.g. a bureau's test profile."""
    five_days = DaysAfterAcceptance(kind="days_after_acceptance", days=5)
    w = payment_overdue(payable(), date(2020, 3, 11), P(five_days, "000 §五(三)"))
    assert w is not None and w.metrics["due_date"] == "2020-03-10"
