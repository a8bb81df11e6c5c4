"""The settlement rules of docs/contract.md ("Rules and actions") as pure functions.

Each rule is a function named after its contract rule: ``payment_overdue``,
``overdue_after_warning``, ``prepayment``; ``payment_standard`` computes the fund's and the
patient's share. Policy parameters are profile clauses (``.value``, None where the document is
silent and the rule then does not fire, and ``.ref``). Findings carry their deterministic ids
and every field of the contract's event ``data`` (``.data()``); the service adds envelopes.
No Kafka, no I/O, no wall clock.

Time words (contract): a tick ``as_of=D`` means day D has begun and every earlier day has ended.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any, Literal, NamedTuple

from kernel.findings import BUREAU_REF, Param, output_id
from policies.workdays import LAW_REF, CalendarSource, WorkdayCalendar
from schemas.policy import (
    DaysAfterAcceptance,
    EndOfFollowingMonth,
    PrepayAnnualContract,
    PrepayPriorYearMonthly,
    PrepayPurchaseAmount,
    PrepayTranches,
)
from services.settlement.ledger import MoneyLike, Payable, PrepaymentRelease, money

PAYMENT_OVERDUE = "settlement.payment_overdue"
OVERDUE_AFTER_WARNING = "settlement.overdue_after_warning"
PREPAYMENT = "settlement.prepayment"
ARRANGEMENT_MISSING = "calendar.arrangement_missing"

Action = Literal["suspend_fund_disbursement", "resume_fund_disbursement", "release_prepayment"]
Deadline = DaysAfterAcceptance | EndOfFollowingMonth
Prepayment = PrepayPriorYearMonthly | PrepayPurchaseAmount | PrepayAnnualContract | PrepayTranches
Metric = str | int | bool | list[str]  # decimals and dates travel as strings
FEN = Decimal("0.01")
ONE_DAY = timedelta(days=1)


def _ref(param: Param[object]) -> str:
    return param.ref or BUREAU_REF


@dataclass(frozen=True)
class SettlementWarning:
    """A ``vbp.warning.raised``; ``data()`` is its contract ``data``."""

    warning_id: str
    rule: str
    policy_ref: str
    subject_id: str
    """The institution (the contract has no delivery subject; the delivery is in the id)."""
    metrics: Mapping[str, Metric]
    message: str
    delivery_id: str
    raised_on: date
    """The warning's day: the tick that raised it. The overdue chain counts from it."""
    severity: Literal["warning"] = "warning"
    subject_kind: Literal["institution"] = "institution"

    def data(self) -> dict[str, Any]:
        return {"warning_id": self.warning_id, "rule": self.rule, "severity": self.severity,
                "subject_kind": self.subject_kind, "subject_id": self.subject_id, "period": None,
                "metrics": dict(self.metrics), "policy_ref": self.policy_ref,
                "message": self.message}


@dataclass(frozen=True)
class SettlementDecision:
    """A ``vbp.decision.issued``; ``data()`` is its contract ``data``."""

    decision_id: str
    action: Action
    rule: str
    policy_ref: str
    subject_id: str
    """The institution."""
    effective_from: date
    caused_by: tuple[str, ...] = ()
    """warning_ids behind the decision."""
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    amount: Decimal | None = None
    """``release_prepayment`` only: yuan, 2 dp (see :func:`prepayment`)."""
    subject_kind: Literal["institution"] = "institution"

    def data(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "action": self.action,
                "subject_kind": self.subject_kind, "subject_id": self.subject_id,
                "effective_from": self.effective_from.isoformat(), "rule": self.rule,
                "policy_ref": self.policy_ref, "caused_by": list(self.caused_by),
                "metrics": dict(self.metrics),
                "amount": None if self.amount is None else format(self.amount, "f")}


# --------------------------------------------------------------------------- deadlines


def due_date(accepted_on: date, deadline: Deadline | None) -> date | None:
    """The last day to pay for a delivery accepted on ``accepted_on``: +30 days in Guizhou
    (000 §五(三) "从收货验收合格到付款不得超过30天"), the last day of the following month in
    Shanxi (004 §五(四) "不得超过交货验收合格后的次月底"). None where the document only says
    "timely" (及时结算): nothing is ever overdue there."""
    return None if deadline is None else deadline.due_date(accepted_on)


def payment_overdue(
    payable: Payable, as_of: date, deadline: Param[Deadline]
) -> SettlementWarning | None:
    """``settlement.payment_overdue`` (000 §五(三) "逾期不回款的给予预警", 004 §五(四)):
    overdue on the first tick after the due date with anything left unpaid. The warning's id is
    the rule, institution and delivery, so each delivery is warned once however often asked."""
    due = due_date(payable.accepted_on, deadline.value)
    if due is None or as_of <= due or payable.settled:
        return None
    days = (as_of - due).days
    return SettlementWarning(
        warning_id=output_id(PAYMENT_OVERDUE, payable.institution_id, payable.delivery_id,
                             "warning"),
        rule=PAYMENT_OVERDUE,
        policy_ref=_ref(deadline),
        subject_id=payable.institution_id,
        metrics={
            "delivery_id": payable.delivery_id,
            **({"supplier_id": payable.supplier_id} if payable.supplier_id else {}),
            "accepted_on": payable.accepted_on.isoformat(),
            "amount": str(payable.amount),
            "paid": str(payable.paid),
            "outstanding": str(payable.outstanding),
            "due_date": due.isoformat(),
            "days_overdue": days,
        },
        message=(f"delivery {payable.delivery_id} accepted {payable.accepted_on}: "
                 f"{payable.outstanding} yuan unpaid past its due date {due} ({days} days)"),
        delivery_id=payable.delivery_id,
        raised_on=as_of,
    )


# --------------------------------------------------------------------------- overdue chain


def decision_day(warned_on: date, working_days: int, calendar: WorkdayCalendar) -> date:
    """The first tick on which "still unpaid N working days after the warning" can be decided:
    the day after the N-th working day strictly after the warning's day (contract)."""
    return calendar.add_working_days(warned_on, working_days) + ONE_DAY


@dataclass(frozen=True)
class FundSuspension:
    """An institution's fund disbursement suspended by the overdue chain, and why."""

    decision_id: str
    institution_id: str
    effective_from: date
    causes: Mapping[str, str]
    """delivery_id -> warning_id of every payable keeping it suspended."""


class ChainStep(NamedTuple):
    suspension: FundSuspension | None
    """The institution's state after this tick."""
    decision: SettlementDecision | None
    """The decision to issue on this tick, if any."""


def overdue_after_warning(
    institution_id: str,
    warnings: Sequence[SettlementWarning],
    payables: Mapping[str, Payable],
    as_of: date,
    suspend_after: Param[int],
    calendar: WorkdayCalendar,
    suspension: FundSuspension | None = None,
) -> ChainStep:
    """``settlement.overdue_after_warning`` (000 §五(三) "预警后10个工作日内仍不回款的，暂缓拨付
    定点医疗机构医保费用，回款后恢复拨付").

    On the tick ``as_of``, every overdue warning of the institution whose :func:`decision_day`
    has come while its payable still has an outstanding amount is a cause. With causes and no
    suspension: ``suspend_fund_disbursement``, effective ``as_of``. While suspended, new causes
    join the suspension, and once every cause is paid in full: ``resume_fund_disbursement``,
    effective ``as_of`` (the tick that sees it). Both decisions name the causing warnings in
    ``caused_by`` and the deliveries in ``metrics``; their ids carry the suspension's first day,
    so a later suspension of the same institution is a new pair of decisions.
    """
    n = suspend_after.value
    if n is None and suspension is None:
        return ChainStep(None, None)

    def owed(delivery_id: str) -> Payable:
        if delivery_id not in payables:
            raise ValueError(f"no payable for delivery {delivery_id} of an overdue warning")
        return payables[delivery_id]

    matured: dict[str, str] = {}
    for w in warnings:
        if w.rule != PAYMENT_OVERDUE or w.subject_id != institution_id:
            raise ValueError(
                f"warning {w.warning_id} is not an overdue warning of {institution_id}")
        if (n is not None and as_of >= decision_day(w.raised_on, n, calendar)
                and not owed(w.delivery_id).settled):
            matured[w.delivery_id] = w.warning_id

    if suspension is None:
        if not matured:
            return ChainStep(None, None)
        causes = dict(sorted(matured.items()))
        suspension = FundSuspension(
            decision_id=output_id(OVERDUE_AFTER_WARNING, institution_id, as_of.isoformat(),
                                  "suspend_fund_disbursement"),
            institution_id=institution_id, effective_from=as_of, causes=causes)
        counted = (min(w.raised_on for w in warnings if w.delivery_id in causes), as_of)
        return ChainStep(suspension, _chain_decision(
            suspension, "suspend_fund_disbursement", suspension.decision_id, as_of, payables,
            suspend_after, n, calendar.basis(*counted)))

    causes = dict(sorted({**suspension.causes, **matured}.items()))
    if causes != dict(suspension.causes):
        suspension = FundSuspension(suspension.decision_id, institution_id,
                                    suspension.effective_from, causes)
    if any(not owed(d).settled for d in causes):
        return ChainStep(suspension, None)
    resume_id = output_id(OVERDUE_AFTER_WARNING, institution_id,
                          suspension.effective_from.isoformat(), "resume_fund_disbursement")
    warned = [w.raised_on for w in warnings if w.delivery_id in causes]
    counted = (min(warned, default=suspension.effective_from), suspension.effective_from)
    return ChainStep(None, _chain_decision(
        suspension, "resume_fund_disbursement", resume_id, as_of, payables, suspend_after, n,
        calendar.basis(*counted)))


def _chain_decision(
    suspension: FundSuspension, action: Action, decision_id: str, as_of: date,
    payables: Mapping[str, Payable], suspend_after: Param[int], n: int | None,
    basis: tuple[CalendarSource, tuple[str, ...]],
) -> SettlementDecision:
    """The decision, with the working-day calendar its count rests on (``calendar_source``:
    ``published``, ``package`` or ``statutory-estimate``; the notices' 文号 where published)."""
    deliveries = list(suspension.causes)
    metrics: dict[str, Metric] = {
        "delivery_ids": deliveries,
        "amount": str(sum(payables[d].amount for d in deliveries)),
        "outstanding": str(sum(payables[d].outstanding for d in deliveries)),
        "suspended_from": suspension.effective_from.isoformat(),
    }
    if n is not None:
        metrics["working_days"] = n
        source, notices = basis
        metrics["calendar_source"] = source
        if notices:
            metrics["calendar_notices"] = list(notices)
    return SettlementDecision(
        decision_id=decision_id, action=action, rule=OVERDUE_AFTER_WARNING,
        policy_ref=_ref(suspend_after), subject_id=suspension.institution_id,
        effective_from=as_of, caused_by=tuple(suspension.causes.values()), metrics=metrics)


def arrangement_missing(
    calendar: WorkdayCalendar,
    as_of: date,
    region_code: str,
    warn_days: Param[int],
    counts_working_days: bool,
    announced: Collection[int] = (),
) -> list[tuple[int, dict[str, Any]]]:
    """``calendar.arrangement_missing`` (全国年节及纪念日放假办法 第二条、第六条): (year, warning
    data) for each year that working days are counted in, from ``warn_days`` before it begins
    (1 December) to its end, while its holiday arrangement is known neither from a published
    file nor from the package, so counts rest on the law alone. Once per year: none for the
    years in ``announced``. None where the profile counts no working days."""
    if not counts_working_days or warn_days.value is None:
        return []
    years = {as_of.year, (as_of + timedelta(days=warn_days.value)).year}
    out = []
    for year in sorted(years - set(announced)):
        arrangement = calendar.arrangement(year)
        if arrangement.source != "statutory-estimate":
            continue
        path = calendar.holidays_dir / f"{year}.toml"
        estimated = [d.isoformat() for d in sorted(arrangement.days_off) if d.weekday() < 5]
        metrics: dict[str, Metric] = {
            "year": year, "calendar_source": arrangement.source, "file": str(path),
            "estimated_weekdays_off": estimated,
            "invalid_files": sorted(calendar.problems.values())}
        out.append((year, {
            "warning_id": output_id(ARRANGEMENT_MISSING, region_code, str(year), "warning"),
            "rule": ARRANGEMENT_MISSING, "severity": "warning", "subject_kind": "jurisdiction",
            "subject_id": region_code, "period": str(year), "metrics": metrics,
            "policy_ref": LAW_REF,
            "message": (
                f"国务院办公厅关于{year}年部分节假日安排的通知 is not known here: working days in "
                f"{year} are counted from the holiday law alone (statutory holidays and 补假, no "
                f"调休) and decisions say calendar_source=statutory-estimate. Once it is "
                f"published, write it to {path} (python -m policies.workdays template {year}; "
                f"check it with python -m policies.workdays check); it counts from the next "
                f"tick on, for decisions not yet issued.")}))
    return out


# --------------------------------------------------------------------------- prepayment


@dataclass(frozen=True)
class AgreementBasis:
    """An agreement (``vbp.agreement.signed``) and its purchases so far, for prepayments
    computed on agreed or purchased amounts (Chongqing, Yunnan, Xi'an, Shanxi)."""

    agreement_id: str
    institution_id: str
    institution_kind: str
    period_start: date
    agreed_quantity: int
    price: Decimal
    purchased_quantity: int = 0
    """采购量 since period_start (ordered net of cancellations, as the quota rules count)."""
    purchased_amount: Decimal | None = None
    """Purchase amount since period_start; None: purchased_quantity x price."""

    @property
    def agreed_amount(self) -> Decimal:
        return self.agreed_quantity * money(self.price)

    @property
    def purchased(self) -> Decimal:
        if self.purchased_amount is not None:
            return money(self.purchased_amount)
        return self.purchased_quantity * money(self.price)


@dataclass(frozen=True)
class DisbursementBasis:
    """Guizhou: the institution's average monthly fund disbursement in the year before
    ``year``, a reference figure the bureau supplies."""

    institution_id: str
    institution_kind: str
    year: int
    """The year the prepayment is for."""
    prior_year_monthly_average: Decimal


def _share(base: Decimal, share: float, at_least: bool) -> Decimal:
    """share x base in yuan to the fen; a floor share (不低于) rounds up so it is never short."""
    exact = base * Decimal(str(share))
    return exact.quantize(FEN, rounding=ROUND_UP if at_least else ROUND_HALF_UP)


def prepayment(
    basis: AgreementBasis | DisbursementBasis,
    as_of: date,
    prepay: Param[Prepayment],
    excluded_kinds: Param[Collection[str]],
    ledger: Sequence[PrepaymentRelease] = (),
) -> list[SettlementDecision]:
    """``settlement.prepayment``: the ``release_prepayment`` decisions due by tick ``as_of`` and
    not yet in ``ledger`` (the releases so far), effective ``as_of``. Amounts are yuan to the
    fen (2 dp): money actually transferred. Ids are rule, institution, account (agreement, or
    year) and release, e.g. ``settlement.prepayment:H52010200001:AGR-1:tranche-2``.

    * 000 §五(三) share of last year's monthly average (Guizhou 30 %): once a year, from the
      first day of the profile's payment month (January) of ``basis.year``;
    * 001 §二(七) >= share of the purchase amount (Chongqing 50 %), read as the agreed purchase
      amount, since it is paid 提前 (ahead): at period_start;
    * 002 §四(四), 004 §五(四) >= share of the annual contract amount (Yunnan, Shanxi 30 %): at
      period_start; Yunnan continues once the agreed amount is bought (完成约定采购量后...继续予以
      预付): each month, the share of the purchases beyond the agreed amount not yet prepaid;
    * 003 §三(三)1 tranches of the agreed amount (Xi'an): 50 % at period_start, 40 % more once
      the purchased quantity reaches 50 % of the agreed quantity.

    None for the profile's excluded institution kinds (002 §四(四): private, pharmacy), none when
    the profile is silent, none when ``basis`` is not the kind the profile computes on.
    """
    rule = prepay.value
    excluded = excluded_kinds.value or ()
    if rule is None or basis.institution_kind in excluded:
        return []
    done = {r.release_id for r in ledger}
    ref = _ref(prepay)
    out: list[SettlementDecision] = []

    def release(account: str, label: str, amount: Decimal, **metrics: Metric) -> None:
        decision_id = output_id(PREPAYMENT, basis.institution_id, account, label)
        if decision_id in done or amount <= 0:
            return
        metrics = {"kind": rule.kind, "account": account, "label": label, **metrics}
        out.append(SettlementDecision(
            decision_id=decision_id, action="release_prepayment", rule=PREPAYMENT, policy_ref=ref,
            subject_id=basis.institution_id, effective_from=as_of, metrics=metrics,
            amount=amount))

    if isinstance(basis, DisbursementBasis):
        if rule.kind == "share_of_prior_year_monthly_disbursement":
            month = rule.annual_payment_month or 1
            if as_of >= date(basis.year, month, 1):
                base = money(basis.prior_year_monthly_average)
                release(str(basis.year), "release_prepayment",
                        _share(base, rule.share, rule.at_least), base_amount=str(base),
                        share=str(rule.share), at_least=rule.at_least)
        return out

    if rule.kind == "share_of_prior_year_monthly_disbursement" or as_of < basis.period_start:
        return out
    agreed = basis.agreed_amount
    account = basis.agreement_id
    facts: dict[str, Metric] = {"agreed_quantity": basis.agreed_quantity,
                                "price": str(money(basis.price)), "base_amount": str(agreed)}
    if rule.kind == "tranches":
        for i, tranche in enumerate(rule.tranches, start=1):
            if tranche.trigger == "agreed_quantity_share":
                assert tranche.at_share is not None  # the profile model guarantees it
                threshold = Decimal(str(tranche.at_share)) * basis.agreed_quantity
                if basis.purchased_quantity < threshold:
                    continue
            release(account, f"tranche-{i}", _share(agreed, tranche.share, False),
                    share=str(tranche.share), purchased_quantity=basis.purchased_quantity, **facts)
        return out

    release(account, "release_prepayment", _share(agreed, rule.share, rule.at_least),
            share=str(rule.share), at_least=rule.at_least, **facts)
    if getattr(rule, "continues_after_agreed_met", None) and basis.purchased > agreed:
        due = _share(basis.purchased - agreed, rule.share, rule.at_least)
        prepaid = sum((r.amount for r in ledger
                       if r.account == account and (r.label or "").startswith("continued-")),
                      Decimal(0))
        release(account, f"continued-{as_of:%Y-%m}", due - prepaid, share=str(rule.share),
                at_least=rule.at_least, purchased_amount=str(basis.purchased), **facts)
    return out


def release_of(decision: SettlementDecision) -> PrepaymentRelease:
    """The ledger entry of a ``release_prepayment`` decision."""
    if decision.action != "release_prepayment" or decision.amount is None:
        raise ValueError(f"{decision.decision_id} is not a prepayment release")
    account, label = decision.metrics.get("account"), decision.metrics.get("label")
    return PrepaymentRelease(
        release_id=decision.decision_id, institution_id=decision.subject_id,
        amount=decision.amount, released_on=decision.effective_from,
        account=account if isinstance(account, str) else None,
        label=label if isinstance(label, str) else None)


# --------------------------------------------------------------------------- payment standard


class PaymentSplit(NamedTuple):
    fund: Decimal
    """Settled by the fund up to the standard (before the patient's ordinary co-insurance,
    which these documents do not set)."""
    patient: Decimal
    """The excess above the standard, paid by the patient (超出支付标准的部分由患者自付)."""


def payment_standard(
    price: MoneyLike,
    winning_price: MoneyLike,
    passed_consistency: bool,
    *,
    winning_price_is_standard: Param[bool],
    non_passed_not_above_passed: Param[bool],
    non_passed_standard: MoneyLike | None = None,
    quantity: int = 1,
) -> PaymentSplit | None:
    """The fund's and the patient's shares of ``quantity`` units bought at ``price`` (000 §五(五),
    001 §二(四), 003 §三(四)1, 004 §五(六)).

    The winning price of the generic name is the standard for originator, reference and passed
    generics alike (``passed_consistency`` True for all three); the patient pays the excess above
    it, and below it the fund pays the actual price. Non-passed generics take the standard the
    bureau set for them (``non_passed_standard``), capped at the passed standard where the
    profile says so (Shanxi); with no such standard, Shanxi's cap is used and elsewhere the
    documents give none (None). ``winning_price`` must be per the same unit as ``price``
    (convert by reference units first). Transitional standards (2-3 years) are the bureau's and
    not computed here. None where the profile does not make the winning price the standard.
    """
    if not winning_price_is_standard.value:
        return None
    unit_price, standard = money(price), money(winning_price)
    if not passed_consistency:
        capped = bool(non_passed_not_above_passed.value)
        if non_passed_standard is not None:
            own = money(non_passed_standard)
            standard = min(own, standard) if capped else own
        elif not capped:
            return None
    fund = min(unit_price, standard)
    return PaymentSplit(fund * quantity, (unit_price - fund) * quantity)
