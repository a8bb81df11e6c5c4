"""Policy profile: every jurisdiction-specific number the rules use, each with its clause.

A profile is loaded from ``policies/<name>.toml`` (see ``policies.load_profile``).  Every
parameter is a :class:`Clause`:

* ``value``  - the setting, or ``None`` where the document is silent and no setting is needed;
* ``ref``    - the clause it comes from, ``"000 §五(三)"``: seed file prefix, then the
  document's own numbering (``§五(三)``, ``§三(一)3``; ``文末`` = closing sentence,
  ``落款`` = signature block).  Several clauses: ``"000 §四(三), §五(一)"``;
* ``source`` - ``"document"`` (the seed says it) or ``"bureau"`` (an operating setting of the
  bureau where the documents give no number; allowed only with a note saying they are silent);
* ``note``   - free text; required for bureau settings and for ``value = None``.

Code reads e.g. ``profile.quota.quarterly_warn_below.value`` and ``.ref``.  Every model
forbids unknown keys, and impossible values (fractions outside (0, 1], warn < suspend,
negative days, a ref into another jurisdiction's document, ...) are validation errors.
"""

from __future__ import annotations

import calendar as _calendar
import re
from datetime import date, timedelta
from typing import Annotated, Any, Generic, Iterator, Literal, Optional, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Clause",
    "PolicyProfile",
    "QuotaPolicy",
    "SettlementPolicy",
    "SupplyPolicy",
    "ReportingPolicy",
    "PaymentStandardPolicy",
    "ShareRange",
    "YearsRange",
    "CycleRule",
    "CycleYears",
    "DaysAfterAcceptance",
    "EndOfFollowingMonth",
    "PrepayPriorYearMonthly",
    "PrepayPurchaseAmount",
    "PrepayAnnualContract",
    "PrepayTranches",
    "Tranche",
    "ConsistencyGate",
    "JURISDICTIONS",
    "REF_PATTERN",
    "ESCALATION_LEVELS",
]

T = TypeVar("T")

# --------------------------------------------------------------------------- basic types

Fraction = Annotated[float, Field(gt=0, le=1)]
"""A share or threshold in (0, 1]; 0.80 means 80 %.  ``80`` is refused."""
PosFloat = Annotated[float, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
DayOfMonth = Annotated[int, Field(ge=1, le=31)]
Month = Annotated[int, Field(ge=1, le=12)]

Source = Literal["document", "bureau"]
InstitutionKind = Literal["public", "military", "private", "pharmacy"]
EscalationLevel = Literal["institution", "city", "province", "alliance", "national"]
ESCALATION_LEVELS: tuple[str, ...] = ("institution", "city", "province", "alliance", "national")

_CN_NUM = "一二三四五六七八九十"
_PART = rf"(?:§[{_CN_NUM}]+(?:\([{_CN_NUM}]+\))?(?:\d+)?|文末|落款)"
REF_PATTERN = re.compile(rf"^(?P<seed>\d{{3}}) {_PART}(?:, {_PART})*$")
"""``000 §五(三)``, ``003 §三(一)3``, ``001 文末``, ``000 §四(三), §五(一)``."""

# name -> (jurisdiction, region_code, seed)
JURISDICTIONS: dict[str, tuple[str, str, str]] = {
    "guizhou": ("贵州省", "520000", "000"),
    "chongqing": ("重庆市", "500000", "001"),
    "yunnan": ("云南省", "530000", "002"),
    "xian": ("西安市", "610100", "003"),
    "shanxi": ("山西省", "140000", "004"),
}


class _Strict(BaseModel):
    """Unknown keys are errors; no silent string -> number coercion; immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --------------------------------------------------------------------------- Clause


class Clause(_Strict, Generic[T]):
    """One parameter with its provenance."""

    value: Optional[T] = None
    ref: Optional[str] = None
    source: Source = "document"
    note: Optional[str] = None

    @model_validator(mode="after")
    def _check_provenance(self) -> "Clause[T]":
        if self.ref is not None and not REF_PATTERN.match(self.ref):
            raise ValueError(
                f"ref {self.ref!r} is not a clause reference like '000 §五(三)' "
                "(seed prefix, space, the document's own numbering)"
            )
        note = (self.note or "").strip()
        if self.source == "bureau":
            if self.value is None:
                raise ValueError("a bureau setting must carry a value")
            if "silent" not in note.lower():
                raise ValueError(
                    "a bureau setting is allowed only where the documents give no number: "
                    "its note must say the documents are silent"
                )
        else:
            if self.value is None:
                if not note:
                    raise ValueError(
                        "value is absent (document silent): a note must say what the document says or that it is silent"
                    )
                if self.ref is None and "silent" not in note.lower():
                    raise ValueError("value is absent and no ref is given: the note must say the documents are silent")
            elif self.ref is None:
                raise ValueError("a value from the document needs its clause ref")
        return self

    @property
    def is_set(self) -> bool:
        return self.value is not None


# --------------------------------------------------------------------------- value objects


class ShareRange(_Strict):
    """A share range such as 60 %-70 % (``min = 0.60, max = 0.70``)."""

    min: Fraction
    max: Fraction

    @model_validator(mode="after")
    def _order(self) -> "ShareRange":
        if self.min > self.max:
            raise ValueError(f"min {self.min} exceeds max {self.max}")
        return self


class YearsRange(_Strict):
    """A span in years; ``min`` absent for "within N years" (N年内)."""

    min: Optional[PosInt] = None
    max: PosInt

    @model_validator(mode="after")
    def _order(self) -> "YearsRange":
        if self.min is not None and self.min > self.max:
            raise ValueError(f"min {self.min} exceeds max {self.max}")
        return self


class CycleRule(_Strict):
    """Procurement cycle for products with ``winners_min..winners_max`` winning manufacturers."""

    winners_min: PosInt
    winners_max: PosInt
    years_min: PosInt
    years_max: PosInt

    @model_validator(mode="after")
    def _order(self) -> "CycleRule":
        if self.winners_min > self.winners_max:
            raise ValueError("winners_min exceeds winners_max")
        if self.years_min > self.years_max:
            raise ValueError("years_min exceeds years_max")
        return self


class CycleYears(_Strict):
    rules: list[CycleRule] = Field(min_length=1)
    extension_years: Optional[NonNegInt] = None  # 视实际情况可延长一年

    @model_validator(mode="after")
    def _no_overlap(self) -> "CycleYears":
        spans = sorted((r.winners_min, r.winners_max) for r in self.rules)
        for (_, hi), (lo, _) in zip(spans, spans[1:]):
            if lo <= hi:
                raise ValueError("cycle rules overlap in their number of winners")
        return self

    def years_for(self, winners: int) -> Optional[tuple[int, int]]:
        """(min, max) cycle years for a product with ``winners`` winning manufacturers."""
        for r in self.rules:
            if r.winners_min <= winners <= r.winners_max:
                return (r.years_min, r.years_max)
        return None


class DaysAfterAcceptance(_Strict):
    """Payment due ``days`` calendar days after the accepted delivery (Guizhou: 30)."""

    kind: Literal["days_after_acceptance"]
    days: PosInt

    def due_date(self, accepted_on: date) -> date:
        return accepted_on + timedelta(days=self.days)


class EndOfFollowingMonth(_Strict):
    """Payment due by the last day of the month after acceptance (Shanxi: 次月底)."""

    kind: Literal["end_of_following_month"]

    def due_date(self, accepted_on: date) -> date:
        y, m = (accepted_on.year + 1, 1) if accepted_on.month == 12 else (accepted_on.year, accepted_on.month + 1)
        return date(y, m, _calendar.monthrange(y, m)[1])


PaymentDeadline = Annotated[Union[DaysAfterAcceptance, EndOfFollowingMonth], Field(discriminator="kind")]


class _PrepayShare(_Strict):
    share: Fraction
    at_least: bool  # 不低于: the share is a floor, not an exact figure
    earmarked: Optional[bool] = None  # 专项/专款专用, kept apart from other prepayments
    continues_after_agreed_met: Optional[bool] = None
    reconcile_at_end: Optional[bool] = None


class PrepayPriorYearMonthly(_PrepayShare):
    """``share`` of last year's average monthly fund disbursement to the institution."""

    kind: Literal["share_of_prior_year_monthly_disbursement"]
    annual_payment_month: Optional[Month] = None


class PrepayPurchaseAmount(_PrepayShare):
    """``share`` of the institution's purchase amount."""

    kind: Literal["share_of_purchase_amount"]


class PrepayAnnualContract(_PrepayShare):
    """``share`` of the annual contract / agreed purchase amount."""

    kind: Literal["share_of_annual_contract_amount"]


class Tranche(_Strict):
    share: Fraction
    trigger: Literal["period_start", "agreed_quantity_share"]
    at_share: Optional[Fraction] = None  # for agreed_quantity_share: the purchased share that releases it

    @model_validator(mode="after")
    def _trigger(self) -> "Tranche":
        if self.trigger == "agreed_quantity_share" and self.at_share is None:
            raise ValueError("trigger agreed_quantity_share needs at_share")
        if self.trigger == "period_start" and self.at_share is not None:
            raise ValueError("trigger period_start takes no at_share")
        return self


class PrepayTranches(_Strict):
    """Prepayment released in tranches of the agreed purchase amount (Xi'an)."""

    kind: Literal["tranches"]
    base: Literal["agreed_purchase_amount"]
    tranches: list[Tranche] = Field(min_length=1)
    reconcile_at_end: Optional[bool] = None

    @model_validator(mode="after")
    def _total(self) -> "PrepayTranches":
        total = sum(t.share for t in self.tranches)
        if total > 1 + 1e-9:
            raise ValueError(f"tranche shares add up to {total:.2f}, more than the whole amount")
        return self


Prepayment = Annotated[
    Union[PrepayPriorYearMonthly, PrepayPurchaseAmount, PrepayAnnualContract, PrepayTranches],
    Field(discriminator="kind"),
]


class ConsistencyGate(_Strict):
    """Generic-name gate on consistency evaluation (一致性评价)."""

    passed_count: PosInt
    comparison: Literal[">=", ">"]
    counts: Literal["manufacturers", "passed_generic_products"]
    action: Literal["suspend_platform_trading", "exclude_from_vbp_selection"]
    requires_supply_assured: bool

    def triggered(self, passed: int) -> bool:
        return passed >= self.passed_count if self.comparison == ">=" else passed > self.passed_count


# --------------------------------------------------------------------------- sections


class QuotaPolicy(_Strict):
    counts: Clause[Literal["ordered", "accepted"]]
    quarterly_warn_below: Clause[Fraction]
    quarterly_suspend_below: Clause[Fraction]
    grace_days: Clause[NonNegInt]
    suspension_effective: Clause[Literal["next_month"]]
    catch_up_resumes: Clause[bool]
    non_winning_max_ratio: Clause[PosFloat]
    non_winning_allowed_after: Clause[
        Literal["agreed_quantity_met", "winning_prioritised", "winning_volume_assured", "monthly_agreed_met"]
    ]
    year_end_budget_reduction: Clause[bool]
    agreed_share_of_prior_use: Clause[ShareRange]
    cycle_years: Clause[CycleYears]
    agreements_signed_yearly: Clause[bool]
    early_completion_continues_at_winning_price: Clause[bool]

    @model_validator(mode="after")
    def _bands(self) -> "QuotaPolicy":
        warn, suspend = self.quarterly_warn_below.value, self.quarterly_suspend_below.value
        if suspend is not None:
            if warn is None:
                raise ValueError("quota.quarterly_suspend_below is set but quota.quarterly_warn_below is not")
            if warn < suspend:
                raise ValueError(
                    f"quota.quarterly_warn_below ({warn}) must be >= quota.quarterly_suspend_below ({suspend})"
                )
            if self.suspension_effective.value is None:
                raise ValueError("quota.quarterly_suspend_below is set but quota.suspension_effective is not")
        return self


class PaymentStandardPolicy(_Strict):
    winning_price_is_standard: Clause[bool]
    transition_years: Clause[YearsRange]
    non_passed_not_above_passed: Clause[bool]
    pharmacy_markup_allowed: Clause[bool]


class SettlementPolicy(_Strict):
    payment_deadline: Clause[PaymentDeadline]
    overdue_warning: Clause[bool]
    overdue_suspend_after_working_days: Clause[NonNegInt]
    holiday_arrangement_warn_days: Clause[NonNegInt]
    """Days before a year begins from which calendar.arrangement_missing tells the operators
    that the year's holiday arrangement is unknown (only where working days are counted)."""
    overdue_summons: Clause[bool]
    prepayment: Clause[Prepayment]
    prepayment_excluded_kinds: Clause[list[InstitutionKind]]
    payment_standard: PaymentStandardPolicy
    direct_settlement_explored: Clause[bool]

    @model_validator(mode="after")
    def _chain(self) -> "SettlementPolicy":
        if self.overdue_suspend_after_working_days.value is not None and self.payment_deadline.value is None:
            raise ValueError(
                "settlement.overdue_suspend_after_working_days is set but settlement.payment_deadline is not: "
                "nothing can be overdue without a deadline"
            )
        kinds = self.prepayment_excluded_kinds.value
        if kinds is not None and len(set(kinds)) != len(kinds):
            raise ValueError("settlement.prepayment_excluded_kinds lists a kind twice")
        return self


class SupplyPolicy(_Strict):
    monthly_report_required: Clause[bool]
    monthly_report_due_day: Clause[DayOfMonth]
    low_inventory_cover_months: Clause[PosFloat]
    critical_cover_months: Clause[PosFloat]
    delivery_window_days: Clause[PosInt]
    production_stop_min_level: Clause[EscalationLevel]
    capacity_shortfall_advance_report: Clause[bool]
    prefer_other_province_winners: Clause[bool]
    consistency_gate: Clause[ConsistencyGate]
    distributor_limit: Clause[PosInt]

    @model_validator(mode="after")
    def _covers(self) -> "SupplyPolicy":
        low, crit = self.low_inventory_cover_months.value, self.critical_cover_months.value
        if low is not None and crit is not None and crit > low:
            raise ValueError(
                f"supply.critical_cover_months ({crit}) must not exceed supply.low_inventory_cover_months ({low})"
            )
        level = self.production_stop_min_level.value
        if level is not None and ESCALATION_LEVELS.index(level) < ESCALATION_LEVELS.index("province"):
            raise ValueError("supply.production_stop_min_level must be at least 'province' (event contract)")
        if self.monthly_report_due_day.value is not None and self.monthly_report_required.value is not True:
            raise ValueError("supply.monthly_report_due_day is set but monthly reports are not required")
        return self


class ReportingPolicy(_Strict):
    progress_monitoring: Clause[Literal["monthly"]]
    publish_institution_progress: Clause[bool]
    upward_progress_report: Clause[Literal["monthly"]]
    progress_report_due_day: Clause[DayOfMonth]
    alliance_interconnect: Clause[bool]


# --------------------------------------------------------------------------- profile


def _iter_clauses(model: BaseModel, path: str = "") -> Iterator[tuple[str, Clause[Any]]]:
    for field in type(model).model_fields:
        child = getattr(model, field)
        here = f"{path}.{field}" if path else field
        if isinstance(child, Clause):
            yield here, child
        elif isinstance(child, BaseModel):
            yield from _iter_clauses(child, here)


class PolicyProfile(_Strict):
    name: Literal["guizhou", "chongqing", "yunnan", "xian", "shanxi"]
    jurisdiction: str
    region_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    document: str = Field(min_length=1)
    forwarded_by: Optional[str] = None
    seed: Annotated[str, Field(pattern=r"^\d{3}$")]
    in_force_from: Clause[date]
    calendar: Literal["cn_workdays"]
    dedupe_window_days: Clause[PosInt]

    quota: QuotaPolicy
    settlement: SettlementPolicy
    supply: SupplyPolicy
    reporting: ReportingPolicy

    @model_validator(mode="after")
    def _identity_and_refs(self) -> "PolicyProfile":
        jurisdiction, region, seed = JURISDICTIONS[self.name]
        for key, want in (("jurisdiction", jurisdiction), ("region_code", region), ("seed", seed)):
            got = getattr(self, key)
            if got != want:
                raise ValueError(f"{key}: {got!r} does not match profile {self.name!r} (expected {want!r})")
        for path, clause in self.clauses():
            if clause.ref is not None:
                prefix = clause.ref.split(" ", 1)[0]
                if prefix != self.seed:
                    raise ValueError(
                        f"{path}.ref: {clause.ref!r} cites seed {prefix}, but this profile's document is seed "
                        f"{self.seed}; never borrow another jurisdiction's clause"
                    )
        return self

    def clauses(self) -> Iterator[tuple[str, Clause[Any]]]:
        """Every (dotted path, clause) in the profile."""
        return _iter_clauses(self)

    def bureau_settings(self) -> dict[str, Clause[Any]]:
        return {p: c for p, c in self.clauses() if c.source == "bureau"}
