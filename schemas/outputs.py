"""`data` models of the events the system writes (docs/contract.md, "Topics the system writes")."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.base import EventData, example
from schemas.types import (
    Identifier,
    InstitutionId,
    IsoDate,
    ManufacturerId,
    Metrics,
    Money,
    Month,
    Name,
    Period,
    ProductCode,
    Quantity,
    Rate,
    RegionCode,
    RuleName,
    Severity,
    SubjectKind,
    Text,
    Timestamp,
)

Action = Literal[
    "suspend_monthly_settlement", "resume_monthly_settlement", "reduce_next_year_budget",
    "suspend_fund_disbursement", "resume_fund_disbursement", "release_prepayment",
    "suspend_trading", "restore_trading",
]
# Contract: "reduce_next_year_budget, amount = shortfall x price", "release_prepayment with amount".
ACTIONS_WITH_AMOUNT = frozenset({"reduce_next_year_budget", "release_prepayment"})

_AGREEMENT = "AGR-520000-2020-000001"
_Q1_WARNING = f"quota.quarterly_completion:{_AGREEMENT}:2020-Q1"
PolicyRef = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=200, pattern=r"\S"),
    Field(description="Clause the rule enforces, as the digest cites it.",
          examples=["000 §五(三)"]),
]


class QuotaProgress(EventData):
    """Progress of one agreement in one period; compacted by agreement_id:period."""

    TYPE: ClassVar[str] = "vbp.quota.progress"
    model_config = example({
        "agreement_id": _AGREEMENT, "institution_id": "H52010200001",
        "product_code": "XC10AAA081A001010100328", "period": "2020-Q1",
        "ordered_quantity": 20000, "accepted_quantity": 19000, "target_quantity": 30000,
        "completion_rate": "0.6667", "cumulative_quantity": 20000, "cumulative_target": 30000,
        "pace": "1",
    })
    agreement_id: Identifier
    institution_id: InstitutionId
    product_code: ProductCode
    period: Period
    ordered_quantity: Quantity = Field(description="Ordered in the period, net of cancellations.")
    accepted_quantity: Quantity = Field(description="Accepted deliveries (入库) in the period.")
    target_quantity: Quantity = Field(description="The period's target.")
    completion_rate: Rate = Field(description="Counted quantity / target_quantity.")
    cumulative_quantity: Quantity = Field(description="Counted quantity since period_start.")
    cumulative_target: Quantity = Field(description="Sum of the targets of the periods so far.")
    pace: Rate | None = Field(
        default=None, description="序时进度: share of the period gone by (our extension)."
    )


class QuotaMonthlySummary(EventData):
    """A month's quota progress summed per generic name and city, shared with alliance partners
    (000 §六(一): monthly progress summarised and reported; our extension)."""

    TYPE: ClassVar[str] = "vbp.quota.monthly_summary"
    model_config = example({
        "summary_id": "2020-03:520100:dc13bccade08", "month": "2020-03",
        "generic_name": "阿托伐他汀钙片", "city_code": "520100", "agreements": 12,
        "institutions": 9, "ordered_quantity": 20000, "target_quantity": 30000,
        "completion_rate": "0.6667", "as_of": "2020-04-01",
    })
    summary_id: Identifier = Field(
        description="month:city_code:first 12 hex digits of sha256(generic_name in UTF-8)."
    )
    month: Month = Field(description="The month summarised (ended before `as_of`).")
    generic_name: Name
    city_code: RegionCode = Field(description="GB/T 2260 code of the city or prefecture (市州).")
    agreements: Quantity = Field(description="Agreements summed.")
    institutions: Quantity = Field(description="Distinct institutions holding them.")
    ordered_quantity: Quantity = Field(
        description="Sum of the agreements' cumulative_quantity in the agreement quarter holding "
        "the month's last day (the quota service's counted quantity since period_start)."
    )
    target_quantity: Quantity = Field(
        description="Sum of the same records' cumulative_target (the task to that quarter's end)."
    )
    completion_rate: Rate | None = Field(
        default=None, description="ordered_quantity / target_quantity, or null for a zero target."
    )
    as_of: IsoDate = Field(description="Business day of the tick that produced the summary.")


class WarningRaised(EventData):
    """A rule found a subject out of line."""

    TYPE: ClassVar[str] = "vbp.warning.raised"
    model_config = example({
        "warning_id": _Q1_WARNING, "rule": "quota.quarterly_completion", "severity": "critical",
        "subject_kind": "agreement", "subject_id": _AGREEMENT, "period": "2020-Q1",
        "metrics": {"completion_rate": "0.6667", "counted_quantity": 20000,
                    "target_quantity": 30000, "warn_below": "0.80", "suspend_below": "0.70"},
        "policy_ref": "000 §五(三)",
        "message": "Q1 completion 66.67 % is below the suspension threshold of 70 %",
    })
    warning_id: Identifier = Field(description="Deterministic: derived from rule, subject, period.")
    rule: RuleName
    severity: Severity
    subject_kind: SubjectKind
    subject_id: Identifier
    period: Period | None = Field(default=None, description="Period concerned, or null.")
    metrics: Metrics
    policy_ref: PolicyRef
    message: Text


class Alternative(BaseModel):
    """A product that can replace a short one, e.g. another alliance province's winner."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    province: RegionCode
    product_code: ProductCode
    manufacturer_id: ManufacturerId


class ShortageEscalated(EventData):
    """A supply problem reached a level of the institution -> national ladder."""

    TYPE: ClassVar[str] = "vbp.shortage.escalated"
    model_config = example({
        "escalation_id": "supply.production_stop:XC08CAA017A001010100783:520000:province",
        "product_code": "XC08CAA017A001010100783", "generic_name": "苯磺酸氨氯地平片",
        "region_code": "520000", "level": "province",
        "reason": "winning product's production stopped (incident inc-M12000000783-0001)",
        "evidence": {"incident_id": "inc-M12000000783-0001", "stopped_on": "2020-04-02"},
        "alternatives": [{"province": "500000", "product_code": "XC08CAA017A001010100412",
                          "manufacturer_id": "M33000000412"}],
    })
    escalation_id: Identifier
    product_code: ProductCode
    generic_name: Name
    region_code: RegionCode = Field(description="Region the shortage concerns.")
    level: Literal["institution", "city", "province", "alliance", "national"]
    reason: Text
    evidence: Metrics
    alternatives: list[Alternative] = Field(max_length=1000)


class DecisionIssued(EventData):
    """An action the rules take against (or in favour of) a subject."""

    TYPE: ClassVar[str] = "vbp.decision.issued"
    model_config = example({
        "decision_id": f"{_Q1_WARNING}:suspend_monthly_settlement",
        "action": "suspend_monthly_settlement", "subject_kind": "institution",
        "subject_id": "H52010200001", "effective_from": "2020-05-01",
        "rule": "quota.quarterly_completion", "policy_ref": "000 §五(三)",
        "caused_by": [_Q1_WARNING], "metrics": {"completion_rate": "0.6667"}, "amount": None,
    })
    decision_id: Identifier
    action: Action
    subject_kind: SubjectKind
    subject_id: Identifier
    effective_from: IsoDate
    rule: RuleName
    policy_ref: PolicyRef
    caused_by: list[Identifier] = Field(
        max_length=10000, description="warning_ids that led to the decision."
    )
    metrics: Metrics
    amount: Money | None = Field(default=None, description="Amount in yuan, or null.")

    @model_validator(mode="after")
    def _amount_when_needed(self) -> DecisionIssued:
        if self.action in ACTIONS_WITH_AMOUNT and self.amount is None:
            raise ValueError(f"action {self.action} needs an amount")
        return self


class NotificationLogged(EventData):
    """One delivery attempt, or the final outcome, of an alert (our extension)."""

    TYPE: ClassVar[str] = "vbp.notification.logged"
    model_config = example({
        "alert_id": _Q1_WARNING, "attempt": 1, "receiver": "guizhou-healthcare-security",
        "outcome": "sent", "status_code": 200, "error": None, "at": "2020-04-01T00:00:05+08:00",
    })
    alert_id: Identifier
    attempt: int = Field(
        strict=True, ge=0, le=10**6,
        description="Attempt number, from 1; 0 when nothing was sent (suppressed).",
    )
    receiver: Name
    outcome: Literal["sent", "failed", "retrying", "given_up", "suppressed"]
    status_code: Annotated[int, Field(strict=True, ge=100, le=599)] | None = Field(
        default=None, description="HTTP status the receiver answered, or null."
    )
    error: Text | None = Field(default=None, description="Why the attempt failed, or null.")
    at: Timestamp
