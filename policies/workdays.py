"""Chinese working-day calendar (法定节假日 and 调休 make-up workdays).

Built on the ``chinese-calendar`` PyPI package (import name ``chinese_calendar``), which
carries the State Council's holiday arrangements year by year: public holidays that fall
on weekdays are days off, and make-up workdays (调休, e.g. Sunday 2020-09-27 and Saturday
2020-10-10) are working days.

Coverage: the package knows only the years whose arrangement had been published when the
installed version was released.  chinese-calendar 1.11.0 (the version in this project's
venv) covers 2004 through 2026; :func:`supported_years` reads the range from the installed
package at runtime, so upgrading the package extends it without code changes.  Each
December the State Council publishes the next year's arrangement and a new package
release follows; until then that year is unknown.

For a date in an unknown year :class:`WorkdayCalendar` raises :class:`CalendarYearUnknown`,
because a weekends-only guess silently moves due dates around Spring Festival and National
Day.  Constructed with ``fallback="weekends"`` it instead treats Monday-Friday as working
days for unknown years, logs a warning once per year, and reports it through
:attr:`WorkdayCalendar.approximate` / :attr:`WorkdayCalendar.approximated_years`.

Conventions (event contract: "N working days after the warning count working days strictly
after the warning's day"):

* ``add_working_days(start, n)`` is the n-th working day strictly after ``start``
  (n = 0 returns ``start``; negative n counts backwards, strictly before ``start``);
* ``working_days_between(a, b)`` counts working days in the half-open interval (a, b],
  so ``working_days_between(a, add_working_days(a, n)) == n``; it is negative when b < a.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Literal, Optional

import chinese_calendar
from chinese_calendar import constants as _cc_constants

__all__ = ["CalendarYearUnknown", "WorkdayCalendar", "supported_years"]

log = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)


def supported_years() -> range:
    """Years the installed chinese-calendar package knows (2004..2026 for 1.11.0)."""
    years = [d.year for d in _cc_constants.holidays]
    return range(min(years), max(years) + 1)


class CalendarYearUnknown(LookupError):
    """The Chinese holiday arrangement for this year is not in the installed chinese-calendar."""

    def __init__(self, year: int, supported: range):
        self.year = year
        self.supported = supported
        version = getattr(chinese_calendar, "__version__", "?")
        super().__init__(
            f"no Chinese holiday/make-up workday data for {year}: chinese-calendar {version} covers "
            f"{supported.start}-{supported.stop - 1}. Upgrade the package once the State Council has "
            f"published {year}'s arrangement, or construct WorkdayCalendar(fallback='weekends') to "
            f"accept a weekends-only approximation."
        )


class WorkdayCalendar:
    """Working days in mainland China, honouring public holidays and 调休 make-up days."""

    def __init__(self, fallback: Optional[Literal["weekends"]] = None):
        if fallback not in (None, "weekends"):
            raise ValueError(f"fallback must be None or 'weekends', not {fallback!r}")
        self._fallback = fallback
        self._supported = supported_years()
        self._approximated: set[int] = set()

    # ----------------------------------------------------------------- properties
    @property
    def fallback(self) -> Optional[str]:
        """``"weekends"`` when unknown years fall back to Monday-Friday, else ``None``."""
        return self._fallback

    @property
    def supported_years(self) -> range:
        return self._supported

    @property
    def approximate(self) -> bool:
        """True once any answer used the weekends-only fallback (results may be off around holidays)."""
        return bool(self._approximated)

    @property
    def approximated_years(self) -> frozenset[int]:
        """Years answered with the weekends-only fallback so far."""
        return frozenset(self._approximated)

    def knows(self, year: int) -> bool:
        return year in self._supported

    # ----------------------------------------------------------------- queries
    def is_workday(self, d: date) -> bool:
        if isinstance(d, datetime):
            d = d.date()
        if d.year in self._supported:
            return chinese_calendar.is_workday(d)
        if self._fallback == "weekends":
            if d.year not in self._approximated:
                self._approximated.add(d.year)
                log.warning(
                    "Chinese holiday data for %s unknown (chinese-calendar covers %s-%s): "
                    "using weekends only; holidays and make-up workdays are ignored",
                    d.year, self._supported.start, self._supported.stop - 1,
                )
            return d.weekday() < 5
        raise CalendarYearUnknown(d.year, self._supported)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day strictly after ``start`` (strictly before it for n < 0)."""
        if isinstance(start, datetime):
            start = start.date()
        if n == 0:
            return start
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        d = start
        while remaining:
            d += step
            if self.is_workday(d):
                remaining -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative (-count of (b, a]) when b < a."""
        if isinstance(a, datetime):
            a = a.date()
        if isinstance(b, datetime):
            b = b.date()
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        d = a
        while d < b:
            d += _ONE_DAY
            if self.is_workday(d):
                count += 1
        return count

    def __repr__(self) -> str:
        fb = f", fallback={self._fallback!r}" if self._fallback else ""
        return f"WorkdayCalendar(years={self._supported.start}-{self._supported.stop - 1}{fb})"
