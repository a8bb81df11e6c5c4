"""Demand for a product: average monthly consumption (AMC) and months of stock.

Pure functions, no I/O. Quantities are integers in the product's minimum unit; months are
``YYYY-MM`` strings; AMC and cover are exact ``Decimal`` values (round only for display).

AMC follows Open mSupply's default formula (``DefaultAmcSnapshotBreakdown`` in
msupply-foundation/open-msupply): over a look-back of N whole months (default 3,
``DEFAULT_AMC_LOOKBACK_MONTHS`` there too)::

    AMC = total consumption / N x days in period / (days in period - days out of stock)

i.e. the mSupply "adjusted consumption" (consumption x days in period / days in stock) spread
over the months. Days on which the product could not be supplied depress the consumption
recorded for them (institutions buy alternatives, 002 §四(六)), so the demand seen on the days it
could be supplied is scaled up to the whole period. Here "consumption" is what institutions in
the province ordered (the platform's 采购量, net of cancellations), not what was delivered: an
order the manufacturer failed to fill is still demand.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

DEFAULT_LOOKBACK_MONTHS = 3
"""Open mSupply's default AMC look-back; the profiles carry no look-back of their own."""

Metric = int | str


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(month: str, n: int) -> str:
    """``add_months("2020-01", -2) == "2019-11"``."""
    year, mon = (int(p) for p in month.split("-"))
    index = year * 12 + (mon - 1) + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def first_day(month: str) -> date:
    year, mon = (int(p) for p in month.split("-"))
    return date(year, mon, 1)


def days_in_month(month: str) -> int:
    day = first_day(month)
    return calendar.monthrange(day.year, day.month)[1]


def days_out_of_stock(intervals: Iterable[tuple[date, date | None]], month: str) -> int:
    """Days of ``month`` inside any ``(from, until)`` interval, ``until`` exclusive (the day
    supply resumed counts as supplied) or None (still out). Overlapping intervals count once.

    The supply service passes production stops (``stopped_on`` .. ``resumed_on``): the one
    dated signal of unavailability the contract carries.
    """
    start = first_day(month)
    end = start + timedelta(days=days_in_month(month))  # exclusive
    out: set[date] = set()
    for since, until in intervals:
        day, stop = max(since, start), min(until or end, end)
        while day < stop:
            out.add(day)
            day += timedelta(days=1)
    return len(out)


@dataclass(frozen=True)
class Consumption:
    """An AMC with its workings, so a finding can show how it was reached."""

    amc: Decimal | None
    """Average monthly consumption; None when the product could not be supplied on any day of
    the look-back, so its demand cannot be estimated from orders."""
    months: tuple[str, ...]
    """The look-back months, oldest first."""
    total: int
    """Ordered quantity over the look-back (unadjusted)."""
    days: int
    """Calendar days in the look-back."""
    days_out_of_stock: int

    @property
    def factor(self) -> Decimal | None:
        """days / (days - days out of stock): 1 when always supplied."""
        in_stock = self.days - self.days_out_of_stock
        return None if in_stock <= 0 else Decimal(self.days) / Decimal(in_stock)

    def metrics(self) -> dict[str, Metric]:
        return {
            "amc": "unknown" if self.amc is None else _show(self.amc),
            "amc_months": f"{self.months[0]}..{self.months[-1]}" if self.months else "",
            "consumption": self.total,
            "days_in_period": self.days,
            "days_out_of_stock": self.days_out_of_stock,
        }


def average_monthly_consumption(
    ordered_by_month: Mapping[str, int],
    through: str,
    lookback_months: int = DEFAULT_LOOKBACK_MONTHS,
    days_out_of_stock_by_month: Mapping[str, int] | None = None,
    first_month: str | None = None,
) -> Consumption:
    """AMC over the ``lookback_months`` whole months ending with ``through`` (Open mSupply's
    formula, see the module docstring). A month absent from ``ordered_by_month`` ordered 0.

    ``first_month``: the first month the product could be ordered (agreement or listing start).
    Earlier months are left out of the look-back rather than counted as zero demand, so a new
    product's AMC is not diluted; with no month left the AMC is 0.
    """
    if lookback_months < 1:
        raise ValueError("the AMC look-back needs at least one month")
    out_by_month = days_out_of_stock_by_month or {}
    months = tuple(
        m
        for m in (add_months(through, -k) for k in range(lookback_months - 1, -1, -1))
        if first_month is None or m >= first_month
    )
    total = sum(ordered_by_month.get(m, 0) for m in months)
    days = sum(days_in_month(m) for m in months)
    out = sum(min(out_by_month.get(m, 0), days_in_month(m)) for m in months)
    if not months:
        return Consumption(Decimal(0), months, 0, 0, 0)
    if out >= days:
        return Consumption(None, months, total, days, out)
    amc = Decimal(total) * Decimal(days) / (Decimal(days - out) * len(months))
    return Consumption(amc, months, total, days, out)


def months_of_stock(stock: int, amc: Decimal | None) -> Decimal | None:
    """Months the stock lasts at the AMC; None when there is no demand to measure against
    (AMC zero) or the AMC is unknown."""
    if amc is None or amc <= 0:
        return None
    return Decimal(stock) / amc


def _show(x: Decimal) -> str:
    return f"{x.quantize(Decimal('0.0001')):f}"
