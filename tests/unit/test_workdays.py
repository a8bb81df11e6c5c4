"""Chinese working-day calendar for 000 §五(三)'s "预警后10个工作日内仍不回款的，暂缓拨付".

The Guizhou overdue chain counts working days, so Chinese public holidays and 调休 make-up
workdays matter: a weekends-only count is wrong around Spring Festival and National Day. For a year the
chinese-calendar package does not know, the calendar answers from a published arrangement
(policies/holidays/<year>.toml) or from the holiday law alone (全国年节及纪念日放假办法).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from policies import load_profile
from policies.workdays import (
    ArrangementInvalid,
    WorkdayCalendar,
    load_published,
    main,
    statutory_holidays,
    supported_years,
)


def weekends_only_add(start: date, n: int) -> date:
    d = start
    while n:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


@pytest.fixture
def cal(tmp_path: Path) -> WorkdayCalendar:
    return WorkdayCalendar(tmp_path)  # no published arrangements


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


def test_the_law_alone_agrees_with_the_package_on_every_statutory_holiday_2004_2026() -> None:
    """全国年节及纪念日放假办法 第二条, each year in the version then in force (1999, 2007, 2013,
    2024): every statutory holiday the law gives is a day off in the State Council's arrangement
    that the package carries."""
    package = WorkdayCalendar(Path("/nonexistent"))
    years = supported_years()
    assert years.start <= 2004 and years.stop > 2026
    checked = 0
    for year in range(2004, 2027):
        assert package.source(year) == "package"
        for day, name in statutory_holidays(year):
            assert not package.is_workday(day), f"{year}: {name} {day} is a workday in the package"
            checked += 1
    assert checked > 250
    # the versions differ where the law changed: 除夕 off 2008-2013 and from 2025, not in 2014-2024
    assert (date(2014, 1, 30), "春节") not in statutory_holidays(2014)
    assert (date(2013, 2, 9), "春节") in statutory_holidays(2013)
    assert [d for d, n in statutory_holidays(2025) if n == "劳动节"] == [date(2025, 5, 1),
                                                                       date(2025, 5, 2)]
    assert [d for d, n in statutory_holidays(2007) if n == "劳动节"] == [date(2007, 5, 1),
                                                                       date(2007, 5, 2),
                                                                       date(2007, 5, 3)]


def test_2027_statutory_holidays_from_the_2024_law() -> None:
    """The law as amended in 2024 (国务院令第795号), for 2027: 春节 除夕 to 初三 is 5-8 February,
    清明 the solar term (5 April), 端午 9 June, 中秋 15 September."""
    assert statutory_holidays(2027) == [
        (date(2027, 1, 1), "元旦"),
        (date(2027, 2, 5), "春节"), (date(2027, 2, 6), "春节"), (date(2027, 2, 7), "春节"),
        (date(2027, 2, 8), "春节"),
        (date(2027, 4, 5), "清明节"),
        (date(2027, 5, 1), "劳动节"), (date(2027, 5, 2), "劳动节"),
        (date(2027, 6, 9), "端午节"),
        (date(2027, 9, 15), "中秋节"),
        (date(2027, 10, 1), "国庆节"), (date(2027, 10, 2), "国庆节"), (date(2027, 10, 3), "国庆节"),
    ]


def test_a_year_the_package_does_not_know_is_estimated_from_the_law(cal: WorkdayCalendar) -> None:
    """2027 before its notice: statutory holidays off, and 第六条's 补假 on the weekdays after those
    falling on a weekend (春节's Saturday and Sunday: Tuesday 9 and Wednesday 10 February)."""
    assert cal.source(2027) == "statutory-estimate"
    assert cal.source(2026) == "package"
    for day in (date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 8), date(2027, 2, 9),
                date(2027, 2, 10), date(2027, 6, 9), date(2027, 9, 15), date(2027, 10, 4)):
        assert not cal.is_workday(day), day
    assert cal.is_workday(date(2027, 2, 11)) and cal.is_workday(date(2027, 1, 4))
    # counting across the year turn never raises: the 10th working day after 2026-12-24
    assert cal.add_working_days(date(2026, 12, 24), 10) == date(2027, 1, 8)
    assert cal.basis(date(2026, 12, 24), date(2027, 1, 9)) == ("statutory-estimate", ())
    assert cal.basis(date(2026, 3, 1), date(2026, 3, 20)) == ("package", ())


ARRANGEMENT_2027 = """
year = 2027
notice = "国办发明电〔2026〕99号"
title = "国务院办公厅关于2027年部分节假日安排的通知"
published_on = 2026-12-10

[[holiday]]
name = "元旦"
off_from = 2027-01-01
off_to = 2027-01-03
make_up_workdays = []

[[holiday]]
name = "春节"
off_from = 2027-02-05
off_to = 2027-02-13
make_up_workdays = [2027-01-31, 2027-02-20]

[[holiday]]
name = "清明节"
off_from = 2027-04-03
off_to = 2027-04-05

[[holiday]]
name = "劳动节"
off_from = 2027-05-01
off_to = 2027-05-05
make_up_workdays = [2027-04-25]

[[holiday]]
name = "端午节"
off_from = 2027-06-09
off_to = 2027-06-09

[[holiday]]
name = "中秋节"
off_from = 2027-09-15
off_to = 2027-09-15

[[holiday]]
name = "国庆节"
off_from = 2027-10-01
off_to = 2027-10-07
make_up_workdays = [2027-09-26, 2027-10-09]
"""
"""A made-up notice for the tests (the real one is not out): 春节 5-13 February, Sunday 31
January and Saturday 20 February worked."""


def write_2027(folder: Path, text: str = ARRANGEMENT_2027) -> Path:
    path = folder / "2027.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_published_arrangement_is_preferred_and_read_while_running(tmp_path: Path) -> None:
    cal = WorkdayCalendar(tmp_path)
    assert cal.is_workday(date(2027, 2, 11)) and not cal.is_workday(date(2027, 1, 31))
    write_2027(tmp_path)
    assert cal.refresh()
    assert not cal.refresh()  # nothing new
    assert cal.source(2027) == "published"
    assert not cal.is_workday(date(2027, 2, 11))  # bridged by the notice
    assert cal.is_workday(date(2027, 1, 31)) and cal.is_workday(date(2027, 2, 20))  # 调休
    notices = ("国办发明电〔2026〕99号",)
    assert cal.basis(date(2026, 12, 24), date(2027, 1, 9)) == ("package", notices)
    assert cal.basis(date(2027, 1, 4), date(2027, 1, 20)) == ("published", notices)
    (tmp_path / "2027.toml").unlink()
    assert cal.refresh() and cal.source(2027) == "statutory-estimate"


def test_a_published_arrangement_is_preferred_over_the_package(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bureau's file for a year the package knows wins (say, a change the package lacks)."""
    assert WorkdayCalendar(tmp_path).is_workday(date(2026, 10, 9))  # the package: a Friday worked
    assert main(["template", "2026"]) == 0
    text = (capsys.readouterr().out.replace('notice = ""', 'notice = "国办发明电〔2025〕1号"')
            .replace("published_on = 0000-00-00", "published_on = 2025-11-04")
            .replace("off_to = 2026-10-03", "off_to = 2026-10-09"))
    (tmp_path / "2026.toml").write_text(text, encoding="utf-8")
    cal = WorkdayCalendar(tmp_path)
    assert cal.source(2026) == "published" and not cal.problems
    assert not cal.is_workday(date(2026, 10, 9))


@pytest.mark.parametrize("change, error", [
    (("year = 2027", "year = 2028"), "file name"),
    (('notice = "国办发明电〔2026〕99号"', 'notice = ""'), "文号"),
    (("published_on = 2026-12-10", ""), "published_on"),
    (("off_from = 2027-02-05", "off_from = 2027-02-06"), "春节 2027-02-05"),
    (("make_up_workdays = [2027-01-31, 2027-02-20]", "make_up_workdays = [2027-02-01]"),
     "weekday"),
    (("make_up_workdays = [2027-04-25]", "make_up_workdays = [2027-05-01]"),
     "both a day off and a make-up workday"),
    (('name = "端午节"', 'name = "圣诞节"'), "not one of"),
    (("off_to = 2027-10-07", "off_to = 2028-01-07"), "outside"),
    (("[[holiday]]\nname = \"元旦\"", "[[holiday]]\nnmae = \"元旦\""), "unknown keys"),
    (("year = 2027", "year = 2027\nyear = 2027"), "2027.toml"),
])
def test_a_published_arrangement_is_validated_when_loaded(
        tmp_path: Path, change: tuple[str, str], error: str) -> None:
    old, new = change
    assert old in ARRANGEMENT_2027
    with pytest.raises(ArrangementInvalid, match=error):
        load_published(write_2027(tmp_path, ARRANGEMENT_2027.replace(old, new, 1)))


def test_an_invalid_file_is_reported_and_the_estimate_stays(tmp_path: Path) -> None:
    write_2027(tmp_path, ARRANGEMENT_2027.replace("off_from = 2027-02-05", "off_from = 2027-02-07"))
    cal = WorkdayCalendar(tmp_path)
    assert cal.source(2027) == "statutory-estimate"
    [(path, why)] = cal.problems.items()
    assert path.endswith("2027.toml") and "春节 2027-02-05" in why


def test_a_december_day_arranged_by_the_next_years_notice(tmp_path: Path) -> None:
    """元旦's days off or make-up day may fall in the December before (the 2023 notice: 2022-12-31
    to 2023-01-02 off); the next year's published notice decides such a day."""
    write_2027(tmp_path, ARRANGEMENT_2027.replace("off_from = 2027-01-01", "off_from = 2026-12-31")
               .replace("make_up_workdays = []", "make_up_workdays = [2026-12-26]", 1))
    cal = WorkdayCalendar(tmp_path)
    assert not cal.is_workday(date(2026, 12, 31)) and cal.is_workday(date(2026, 12, 26))
    assert cal.is_workday(date(2026, 12, 30))


def test_command_line_template_passes_check_once_filled(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "2027"]) == 0
    template = capsys.readouterr().out
    assert "off_from = 2027-02-05" in template and "off_to = 2027-02-08" in template
    path = write_2027(tmp_path, template.replace('notice = ""', 'notice = "国办发明电〔2026〕1号"')
                      .replace("published_on = 0000-00-00", "published_on = 2026-11-30"))
    assert main(["check", str(path)]) == 0
    assert "ok:" in capsys.readouterr().out
    assert main(["check", str(write_2027(tmp_path, "year = 2027\n"))]) == 1
    assert "invalid:" in capsys.readouterr().err
