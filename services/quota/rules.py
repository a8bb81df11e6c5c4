"""The quota rules of docs/contract.md ("Rules and actions") as pure functions.

Each rule is a function named after its contract rule. It takes plain values and policy
parameters (anything with ``.value`` and ``.ref``; ``value`` None means the jurisdiction's
document is silent, and then the rule does not fire) and returns a finding, never an event:
the service adds subjects, ids and envelopes. No Kafka, no I/O, no wall clock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from kernel.findings import BUREAU_REF, Param
from kernel.periods import first_of_next_month

QUARTERLY_COMPLETION = "quota.quarterly_completion"
CATCH_UP = "quota.catch_up"
NON_WINNING_RATIO = "quota.non_winning_ratio"
YEAR_END = "quota.year_end"

Severity = Literal["info", "warning", "critical"]
Action = Literal[
    "suspend_monthly_settlement", "resume_monthly_settlement", "reduce_next_year_budget"
]
Counts = Literal["ordered", "accepted"]
Metric = int | str  # decimals travel as strings, like money in the contract

FOUR_DP = Decimal("0.0001")

def _ref(param: Param[object]) -> str:
    return param.ref or BUREAU_REF


Number = Decimal | int | float | str


@dataclass(frozen=True)
class DecisionFinding:
    """A decision a rule calls for; the service turns it into ``vbp.decision.issued``."""

    action: Action
    rule: str
    policy_ref: str
    """Clause the decision rests on, e.g. ``000 §五(三)``."""
    effective_from: date
    amount: Decimal | None = None
    """Money in yuan, 4 dp (the contract's price precision); None for non-monetary actions."""
    metrics: Mapping[str, Metric] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """A warning a rule raises; the service turns it into ``vbp.warning.raised``."""

    rule: str
    severity: Severity
    policy_ref: str
    metrics: Mapping[str, Metric]
    message: str
    decision: DecisionFinding | None = None
    """The decision this warning causes (its ``caused_by``), if any."""


def _dec(x: Number) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def _pct(x: Decimal) -> str:
    return f"{x * 100:.2f}%"


def completion_rate(quantity: int, target: int) -> Decimal:
    """Reported completion: quantity / target, 4 dp half up; a zero target counts as complete."""
    if target <= 0:
        return Decimal(1).quantize(FOUR_DP)
    return (Decimal(quantity) / Decimal(target)).quantize(FOUR_DP, rounding=ROUND_HALF_UP)


def quarterly_completion(
    quantity: int,
    target: int,
    warn_below: Param[Number],
    suspend_below: Param[Number],
    evaluated_on: date,
) -> Finding | None:
    """000 §五(三): a quarter's completion under the warn band warns; under the suspend band it
    is critical and suspends monthly settlement "自次月起", from the first day of the month after
    the evaluating tick. Completing early or far above target is never a finding (000 §四(三)).

    The bands are compared exactly (quantity < band x target), not on the rounded rate:
    79,996 of 100,000 is "低于 80%" although it is reported as 0.8000.
    """
    if target <= 0:
        return None
    warn = None if warn_below.value is None else _dec(warn_below.value)
    suspend = None if suspend_below.value is None else _dec(suspend_below.value)
    rate = completion_rate(quantity, target)
    metrics: dict[str, Metric] = {
        "quantity": quantity,
        "target": target,
        "completion_rate": str(rate),
    }
    if warn is not None:
        metrics["warn_below"] = str(warn)
    if suspend is not None:
        metrics["suspend_below"] = str(suspend)
    shown = f"quarterly completion {_pct(rate)} ({quantity}/{target}) is below"

    if suspend is not None and quantity < suspend * target:
        return Finding(
            rule=QUARTERLY_COMPLETION,
            severity="critical",
            policy_ref=_ref(suspend_below),
            metrics=metrics,
            message=f"{shown} {_pct(suspend)}: monthly settlement suspended from next month",
            decision=DecisionFinding(
                action="suspend_monthly_settlement",
                rule=QUARTERLY_COMPLETION,
                policy_ref=_ref(suspend_below),
                effective_from=first_of_next_month(evaluated_on),
                metrics=metrics,
            ),
        )
    if warn is not None and quantity < warn * target:
        return Finding(
            rule=QUARTERLY_COMPLETION,
            severity="warning",
            policy_ref=_ref(warn_below),
            metrics=metrics,
            message=f"{shown} {_pct(warn)}",
        )
    return None


def catch_up(
    cumulative_quantity_by_agreement: Mapping[str, int],
    cumulative_target_by_agreement: Mapping[str, int],
    causing_agreements: Collection[str],
    as_of: date,
    resumes: Param[bool],
) -> DecisionFinding | None:
    """000 §五(三) "待其完成累计采购及使用量后恢复月结算": resume monthly settlement once EVERY
    agreement that caused the suspension has cumulative quantity >= its cumulative target.
    ``resumes`` is the profile's catch-up clause; silent or false, settlement never resumes here.

    Effective on the next tick, i.e. ``as_of`` + 1 day: the catch-up is seen on tick ``as_of``
    and settlement resumes from the following day. A missing quantity counts as 0; a missing
    target is a caller error.
    """
    if not resumes.value or not causing_agreements:
        return None
    missing = [a for a in causing_agreements if a not in cumulative_target_by_agreement]
    if missing:
        raise ValueError(f"no cumulative target for agreements {sorted(missing)}")
    metrics: dict[str, Metric] = {}
    for agreement in sorted(causing_agreements):
        quantity = cumulative_quantity_by_agreement.get(agreement, 0)
        target = cumulative_target_by_agreement[agreement]
        if quantity < target:
            return None
        metrics[f"{agreement}.cumulative_quantity"] = quantity
        metrics[f"{agreement}.cumulative_target"] = target
    return DecisionFinding(
        action="resume_monthly_settlement",
        rule=CATCH_UP,
        policy_ref=_ref(resumes),
        effective_from=as_of + timedelta(days=1),
        metrics=metrics,
    )


def to_reference_units(quantity: int, reference_units_per_unit: Number) -> Decimal:
    """A quantity in units of the generic name's reference strength (exact, no rounding):
    100 tablets of 20 mg with a 10 mg reference strength (2 per unit) are 200 reference units.
    """
    return Decimal(quantity) * _dec(reference_units_per_unit)


def non_winning_ratio(
    winning_reference_units: Number,
    non_winning_reference_units: Number,
    max_ratio: Param[Number],
) -> Finding | None:
    """000 §五(一), 001 §二(二): in a month, an institution's non-winning quantity of a generic
    name, in reference units, must not exceed ``max_ratio`` x its winning quantity."""
    if max_ratio.value is None:
        return None
    winning, non_winning = _dec(winning_reference_units), _dec(non_winning_reference_units)
    limit = _dec(max_ratio.value) * winning
    if non_winning <= limit:
        return None
    return Finding(
        rule=NON_WINNING_RATIO,
        severity="warning",
        policy_ref=_ref(max_ratio),
        metrics={
            "winning_reference_units": str(winning),
            "non_winning_reference_units": str(non_winning),
            "max_ratio": str(max_ratio.value),
        },
        message=(
            f"non-winning purchases ({non_winning} reference units) exceed "
            f"{max_ratio.value} x winning purchases ({winning})"
        ),
    )


def year_end(
    cumulative: int,
    agreed_quantity: int,
    price: Number,
    enabled: Param[bool],
    evaluated_on: date,
) -> DecisionFinding | None:
    """000 §五(五) "相应核减下一年度医保费用额度": on the first tick after period_end
    (``evaluated_on``), a cumulative quantity short of the agreed one reduces next year's budget
    by shortfall x price, in yuan at 4 dp (exact: an integer times a 4 dp price)."""
    if not enabled.value or cumulative >= agreed_quantity:
        return None
    shortfall = agreed_quantity - cumulative
    unit_price = _dec(price)
    return DecisionFinding(
        action="reduce_next_year_budget",
        rule=YEAR_END,
        policy_ref=_ref(enabled),
        effective_from=evaluated_on,
        amount=(shortfall * unit_price).quantize(FOUR_DP, rounding=ROUND_HALF_UP),
        metrics={
            "cumulative": cumulative,
            "agreed_quantity": agreed_quantity,
            "shortfall": shortfall,
            "price": str(unit_price),
        },
    )


def counted_quantity(counts: Counts | None, ordered: int, cancelled: int, accepted: int) -> int:
    """The quantity quota rules count: ordered net of cancellations (the platform's 采购量) by
    default and in all five seed profiles, or accepted deliveries (入库) when a profile says so."""
    if counts is None or counts == "ordered":
        return ordered - cancelled
    if counts == "accepted":
        return accepted
    raise ValueError(f"unknown quota count basis {counts!r}")
