"""Chinese working-day calendar for 000 §五(三)'s "预警后10个工作日内仍不回款的，暂缓拨付".

The Guizhou overdue chain counts working days, so Chinese public holidays and 调休 make-up
workdays matter: a weekends-only count is wrong around Spring Festival and National Day.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from policies import load_profile
from policies.workdays import CalendarYearUnknown, WorkdayCalendar, supported_years


def weekends_only_add(start: date, n: int) -> date:
    d = start
    while n:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


@pytest.fixture
def cal() -> WorkdayCalendar:
    return WorkdayCalendar()


def test_supported_years_cover_the_seed_periods() -> None:
    """The seeds run from 2019 (000-003) to 2021 (004); all must be known years."""
    years = supported_years()
    assert all(y in years for y in range(2019, 2024))


def test_2020_national_day_holidays_and_make_up_days(cal: WorkdayCalendar) -> None:
    """2020: Oct 1-8 off (National Day + Mid-Autumn); Sun 2020-09-27 and Sat 2020-10-10 are make-up workdays."""
    assert cal.is_workday(date(2020, 9, 27))  # Sunday, 调休
    assert cal.is_workday(date(2020, 10, 10))  # Saturday, 调休
    assert not any(cal.is_workday(date(2020, 10, d)) for d in range(1, 9))
    assert cal.is_workday(date(2020, 10, 9))
    assert not cal.is_workday(date(2020, 10, 11))  # ordinary Sunday


def test_guizhou_overdue_chain_across_national_day_2020__000_s5_3(cal: WorkdayCalendar) -> None:
    """000 §五(三): warning on Mon 2020-09-28; the 10th working day strictly after it is 2020-10-19
    (9-29, 9-30, 10-9, Sat 10-10, 10-12..10-16, 10-19), so the suspension comes on the 2020-10-20 tick.
    A weekends-only calendar would say 2020-10-12, a week early."""
    warned = date(2020, 9, 28)
    n = load_profile("guizhou").settlement.overdue_suspend_after_working_days.value
    assert n == 10
    tenth = cal.add_working_days(warned, n)
    assert tenth == date(2020, 10, 19)
    assert tenth + timedelta(days=1) == date(2020, 10, 20)  # first tick after the 10th day has ended
    assert weekends_only_add(warned, n) == date(2020, 10, 12) != tenth
    assert cal.working_days_between(warned, tenth) == 10
    assert cal.working_days_between(warned, date(2020, 10, 12)) == 5


def test_guizhou_overdue_chain_across_spring_festival_2020__000_s5_3(cal: WorkdayCalendar) -> None:
    """Spring Festival 2020: Sun 2020-01-19 was a make-up workday, Jan 24 - Feb 2 off (extended by the
    State Council to Feb 2). A warning on Fri 2020-01-17 reaches 10 working days on 2020-02-07."""
    warned = date(2020, 1, 17)
    assert cal.is_workday(date(2020, 1, 19))
    assert not cal.is_workday(date(2020, 1, 31))
    assert cal.add_working_days(warned, 10) == date(2020, 2, 7)
    assert weekends_only_add(warned, 10) == date(2020, 1, 31)


def test_add_working_days_is_strictly_after_and_inverse_of_count(cal: WorkdayCalendar) -> None:
    assert cal.add_working_days(date(2020, 9, 28), 0) == date(2020, 9, 28)
    assert cal.add_working_days(date(2020, 9, 30), 1) == date(2020, 10, 9)
    assert cal.add_working_days(date(2020, 10, 9), -1) == date(2020, 9, 30)
    start = date(2020, 1, 1)
    for offset in range(0, 400, 7):
        a = start + timedelta(days=offset)
        for n in (1, 5, 10, 22):
            b = cal.add_working_days(a, n)
            assert cal.working_days_between(a, b) == n
            assert cal.working_days_between(b, a) == -n


def test_unknown_year_raises(cal: WorkdayCalendar) -> None:
    unknown = supported_years().stop
    with pytest.raises(CalendarYearUnknown) as info:
        cal.is_workday(date(unknown, 3, 2))
    assert str(unknown) in str(info.value) and "fallback" in str(info.value)
    assert info.value.year == unknown
    with pytest.raises(CalendarYearUnknown):
        cal.is_workday(date(supported_years().start - 1, 6, 1))


def test_counting_into_an_unknown_year_raises(cal: WorkdayCalendar) -> None:
    last = supported_years().stop - 1
    with pytest.raises(CalendarYearUnknown):
        cal.add_working_days(date(last, 12, 28), 10)
    with pytest.raises(CalendarYearUnknown):
        cal.working_days_between(date(last, 12, 1), date(last + 1, 1, 15))


def test_weekends_fallback_is_explicit_and_reported() -> None:
    cal = WorkdayCalendar(fallback="weekends")
    assert cal.fallback == "weekends" and not cal.approximate
    unknown = supported_years().stop
    jan1 = date(unknown, 1, 1)
    monday = jan1 + timedelta(days=(7 - jan1.weekday()) % 7)
    assert cal.is_workday(monday) and not cal.is_workday(monday + timedelta(days=5))
    assert cal.approximate and cal.approximated_years == {unknown}
    # known years keep the real calendar
    assert not cal.is_workday(date(2020, 10, 1)) and cal.is_workday(date(2020, 10, 10))


def test_bad_fallback_refused() -> None:
    with pytest.raises(ValueError):
        WorkdayCalendar(fallback="sundays")  # type: ignore[arg-type]
