"""Agreement calendars for the quota rules: quarters, their targets, pace and evaluation days.

Pure functions over dates and integers. Time words follow docs/contract.md: a tick ``as_of=D``
means day D has begun and every earlier day has ended.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

FOUR_DP = Decimal("0.0001")
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Quarter:
    """One agreement-relative quarter (contract: counted from ``period_start``)."""

    index: int
    """1 for the quarter that starts on ``period_start``; exceeds 4 for periods over a year."""
    start: date
    """First day of the quarter."""
    end: date
    """Last day of the quarter, inclusive; the last quarter is clipped to ``period_end``."""
    target: int
    """Quantity to purchase in this quarter, in the product's minimum unit."""
    label: str
    """The contract's ``period``: ``f"{cycle_year}-Q{index}"``, e.g. ``2020-Q1``."""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def add_months(d: date, months: int) -> date:
    """``d`` moved by whole calendar months; a day past the target month's end is clipped to it."""
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def first_of_next_month(d: date) -> date:
    return date(d.year + 1, 1, 1) if d.month == 12 else date(d.year, d.month + 1, 1)


def month_of(d: date) -> str:
    """The contract's month notation, ``YYYY-MM``."""
    return f"{d.year:04d}-{d.month:02d}"


def whole_years(period_start: date, period_end: date) -> int:
    """How many whole years the period spans, or 0 when it is not a whole number of years."""
    years = 1
    while (end := add_months(period_start, 12 * years) - ONE_DAY) <= period_end:
        if end == period_end:
            return years
        years += 1
    return 0


def agreement_quarters(
    period_start: date,
    period_end: date,
    agreed_quantity: int,
    cycle_year: int,
    own_targets: Sequence[int] | None = None,
) -> list[Quarter]:
    """The agreement's quarters with their targets.

    Quarter n runs from ``period_start`` + 3(n-1) months to the day before ``period_start`` + 3n
    months (both computed from ``period_start``, so month-end clipping never accumulates); the
    last quarter is clipped to ``period_end``.

    Targets (contract, "Rules and actions"): the agreement's ``own_targets`` when it carries
    them; otherwise equal shares of ``agreed_quantity`` when the period is a whole number of
    years, and shares pro rata by days when it is not. Integer targets always sum to
    ``agreed_quantity``: each quarter gets the whole part of its exact share and the units left
    over go one each to the quarters with the largest fractional parts, the earlier quarter first
    on a tie (largest-remainder apportionment, so no target is a whole unit off its exact share).
    """
    if period_end < period_start:
        raise ValueError(f"period_end {period_end} is before period_start {period_start}")
    if agreed_quantity < 0:
        raise ValueError(f"agreed_quantity must not be negative, got {agreed_quantity}")

    bounds: list[tuple[date, date]] = []
    n = 0
    while (start := add_months(period_start, 3 * n)) <= period_end:
        end = min(add_months(period_start, 3 * (n + 1)) - ONE_DAY, period_end)
        bounds.append((start, end))
        n += 1

    if own_targets is not None:
        if len(own_targets) != len(bounds) or any(t < 0 for t in own_targets):
            raise ValueError(
                f"own_targets needs {len(bounds)} non-negative quantities, got {list(own_targets)}"
            )
        targets = list(own_targets)
    else:
        if whole_years(period_start, period_end):
            weights = [1] * len(bounds)
        else:
            weights = [(end - start).days + 1 for start, end in bounds]
        targets = apportion(agreed_quantity, weights)

    return [
        Quarter(index=i, start=start, end=end, target=target, label=f"{cycle_year}-Q{i}")
        for i, ((start, end), target) in enumerate(zip(bounds, targets, strict=True), start=1)
    ]


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` that sum exactly to ``total``."""
    weight_sum = sum(weights)
    exact = [Fraction(total * w, weight_sum) for w in weights]
    shares = [int(x) for x in exact]  # whole parts (x >= 0, so int() floors)
    leftover = total - sum(shares)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:leftover]:
        shares[i] += 1
    return shares


def quarter_of(day: date, quarters: Sequence[Quarter]) -> Quarter | None:
    """The quarter containing ``day``, or None outside the agreement period."""
    return next((q for q in quarters if q.contains(day)), None)


def evaluation_day(quarter: Quarter, grace_days: int | None = 0) -> date:
    """The tick on which ``quarter`` is evaluated: the first tick after it ends, plus grace.

    A tick ``as_of=D`` means every day before D has ended, so ``quarter.end + 1`` is the first
    tick that sees the whole quarter. ``grace_days`` None (profile silent) means 0 (contract).
    """
    return quarter.end + ONE_DAY + timedelta(days=grace_days or 0)


def evaluated_quarters(
    quarters: Sequence[Quarter], as_of: date, grace_days: int | None = 0
) -> list[Quarter]:
    """The quarters whose evaluation tick is ``as_of`` or earlier."""
    return [q for q in quarters if evaluation_day(q, grace_days) <= as_of]


def cumulative_target(quarters: Sequence[Quarter], as_of: date, grace_days: int | None = 0) -> int:
    """000 §五(三) 累计采购及使用量: the sum of the targets of the quarters already evaluated."""
    return sum(q.target for q in evaluated_quarters(quarters, as_of, grace_days))


def pace(period_start: date, period_end: date, as_of: date) -> Decimal:
    """序时进度: the share of the period's days that have ended before tick ``as_of``.

    0 on the tick of ``period_start``, 1 from the tick after ``period_end``; 4 dp, half up,
    like the completion rate it is compared with.
    """
    total = (period_end - period_start).days + 1
    elapsed = min(max((as_of - period_start).days, 0), total)
    return (Decimal(elapsed) / Decimal(total)).quantize(FOUR_DP, rounding=ROUND_HALF_UP)


def quarters_of(agreement: Mapping[str, Any]) -> list[Quarter]:
    """The quarters of a `vbp.agreement.signed` data record (JSON form). The label's year is the
    cycle year when it is a calendar year, else the year of period_start."""
    return list(_quarters(agreement["period_start"], agreement["period_end"],
                          agreement["agreed_quantity"], agreement["cycle_year"]))


@lru_cache(maxsize=65_536)  # asked for every order of the agreement
def _quarters(period_start: str, period_end: str, agreed_quantity: int,
              cycle_year: int) -> tuple[Quarter, ...]:
    start, end = date.fromisoformat(period_start), date.fromisoformat(period_end)
    year = cycle_year if cycle_year >= 1000 else start.year
    return tuple(agreement_quarters(start, end, agreed_quantity, year))
