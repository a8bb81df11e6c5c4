"""Chinese working-day calendar (法定节假日, 补假 and 调休 make-up workdays), for any year.

Each year is answered by the best source there is, and the answer says which
(:attr:`Arrangement.source`, a decision's ``calendar_source``):

``published``
    The State Council's yearly notice (国务院办公厅关于X年部分节假日安排的通知) as a bureau typed it
    into ``policies/holidays/<year>.toml`` (``VBP_HOLIDAYS_DIR``), read while the services run: a
    file added later is used from the next tick on. Validated when loaded (:func:`load_published`;
    ``python -m policies.workdays check FILE``).
``package``
    The ``chinese-calendar`` PyPI package, which carries the notices up to its release
    (1.11.0: 2004-2026).
``statutory-estimate``
    The holiday law alone (全国年节及纪念日放假办法, :func:`statutory_holidays`): the statutory
    holidays of the version in force that year, with the lunar dates and the 清明 solar term from
    lunar-python, plus 补假 on the next weekdays for those that fall on a weekend (第六条). The
    notice's 调休 (make-up workdays, bridged days) cannot be known before it is published, so
    around long holidays this may be off by a few days.

Conventions (event contract: "N working days after the warning count working days strictly
after the warning's day"):

* ``add_working_days(start, n)`` is the n-th working day strictly after ``start``
  (n = 0 returns ``start``; negative n counts backwards, strictly before ``start``);
* ``working_days_between(a, b)`` counts working days in the half-open interval (a, b],
  so ``working_days_between(a, add_working_days(a, n)) == n``; it is negative when b < a.
"""

from __future__ import annotations

import logging
import os
import sys
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from chinese_calendar import constants as _package
from lunar_python import Lunar

__all__ = ["Arrangement", "ArrangementInvalid", "CalendarSource", "LAW_REF", "WorkdayCalendar",
           "load_published", "statutory_holidays", "supported_years"]

log = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
CalendarSource = Literal["published", "package", "statutory-estimate"]
# Weakest first: a count over several years is as good as its weakest year.
_STRENGTH: dict[CalendarSource, int] = {"statutory-estimate": 0, "package": 1, "published": 2}
HOLIDAYS_DIR = Path(__file__).resolve().parent / "holidays"
LAW_REF = "全国年节及纪念日放假办法（国务院令第795号修订）第二条、第六条"


def supported_years() -> range:
    """Years the installed chinese-calendar package knows (2004..2026 for 1.11.0)."""
    years = [d.year for d in _package.holidays]
    return range(min(years), max(years) + 1)


# --------------------------------------------------------------------------- the law


def _lunar(year: int, month: int, day: int) -> date:
    return date.fromisoformat(Lunar.fromYmd(year, month, day).getSolar().toYmd())


def _qingming(year: int) -> date:
    # the solar terms of lunar year `year`, which begins in January or February: 清明 is in April
    return date.fromisoformat(Lunar.fromYmd(year, 1, 1).getJieQiTable()["清明"].toYmd())


def statutory_holidays(year: int) -> list[tuple[date, str]]:
    """The days off that 全国年节及纪念日放假办法 第二条 gives every citizen in ``year``, in the
    version in force that year, in date order (a day twice where two holidays coincide, e.g.
    中秋 on 1 October):

    * 1999 (国务院令第270号), to 2007: 元旦 1, 春节 3 (初一-初三), 劳动节 3, 国庆 3;
    * 2007 (第513号), 2008-2013: 元旦 1, 春节 3 (除夕-初二), 清明 1, 劳动节 1, 端午 1, 中秋 1,
      国庆 3;
    * 2013 (第644号), 2014-2024: as 2008, but 春节 初一-初三;
    * 2024 (第795号), from 2025: 元旦 1, 春节 4 (除夕-初三), 清明 1, 劳动节 2, 端午 1, 中秋 1,
      国庆 3.
    """
    new_year = _lunar(year, 1, 1)
    eve = 2008 <= year <= 2013 or year >= 2025  # 除夕 is a holiday
    last = 2 if 2008 <= year <= 2013 else 3  # 正月初二 or 初三
    spring = [new_year + timedelta(days=i) for i in range(-1 if eve else 0, last)]
    days = [(date(year, 1, 1), "元旦"), *((d, "春节") for d in spring)]
    labour = 3 if year < 2008 else 1 if year < 2025 else 2
    days += [(date(year, 5, 1 + i), "劳动节") for i in range(labour)]
    if year >= 2008:
        days += [(_qingming(year), "清明节"), (_lunar(year, 5, 5), "端午节"),
                 (_lunar(year, 8, 15), "中秋节")]
    days += [(date(year, 10, 1 + i), "国庆节") for i in range(3)]
    return sorted(days)


def _estimate(year: int) -> Arrangement:
    """The law alone: the statutory holidays, and 补假 (第六条 "全体公民放假的假日，如果适逢周六、
    周日，应当在工作日补假") on the first weekdays after each one that falls on a weekend or on
    another holiday; no 调休, which only the year's notice arranges."""
    holidays = statutory_holidays(year)
    off = {d for d, _ in holidays}
    seen: set[date] = set()
    for day, _ in holidays:
        if day.weekday() >= 5 or day in seen:
            substitute = day + ONE_DAY
            while substitute.weekday() >= 5 or substitute in off:
                substitute += ONE_DAY
            off.add(substitute)
        seen.add(day)
    return Arrangement(year, "statutory-estimate", frozenset(off), frozenset())


def _from_package(year: int) -> Arrangement:
    return Arrangement(year, "package",
                       frozenset(d for d in _package.holidays if d.year == year),
                       frozenset(d for d in _package.workdays if d.year == year))


# --------------------------------------------------------------------------- arrangements


@dataclass(frozen=True)
class Arrangement:
    """One year's days off and make-up workdays, and where they come from."""

    year: int
    source: CalendarSource
    days_off: frozenset[date]
    """Days not worked that an ordinary week would work, and weekend days of a holiday."""
    workdays: frozenset[date]
    """Make-up workdays (调休上班): weekend days worked."""
    notice: str | None = None
    """The notice's 文号 (published only)."""
    published_on: date | None = None

    def is_workday(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d not in self.days_off and d.weekday() < 5


class ArrangementInvalid(ValueError):
    """A published arrangement file that cannot be used; the message says what to mend."""


_HOLIDAY_NAMES = {"元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"}
_FILE_KEYS = {"year", "notice", "title", "published_on", "holiday"}
_HOLIDAY_KEYS = {"name", "off_from", "off_to", "make_up_workdays"}


def load_published(path: Path) -> Arrangement:
    """A year's arrangement from ``policies/holidays/<year>.toml`` (format in that folder's
    README.md), validated: the year matches the file name, every statutory holiday of the year
    is a day off, make-up workdays are weekends outside the days off, and every date lies in the
    year or in the December before it (元旦's days may start there)."""
    where = f"{path}"
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ArrangementInvalid(f"{where}: {error}") from None

    def fail(message: str) -> ArrangementInvalid:
        return ArrangementInvalid(f"{where}: {message}")

    if unknown := set(raw) - _FILE_KEYS:
        raise fail(f"unknown keys {sorted(unknown)}; allowed: {sorted(_FILE_KEYS)}")
    year = raw.get("year")
    if not isinstance(year, int) or path.stem != str(year):
        raise fail(f"year = {year!r} must be an integer equal to the file name's {path.stem!r}")
    notice = raw.get("notice")
    if not isinstance(notice, str) or not notice.strip():
        raise fail("notice: the notice's 文号 is required, e.g. \"国办发明电〔2026〕7号\"")
    published_on = raw.get("published_on")
    if type(published_on) is not date:
        raise fail("published_on: the notice's date is required, a TOML date such as 2026-11-04")
    first, last = date(year - 1, 12, 1), date(year, 12, 31)
    off: set[date] = set()
    work: set[date] = set()
    for i, holiday in enumerate(raw.get("holiday") or [], start=1):
        what = f"holiday #{i}"
        if not isinstance(holiday, dict):
            raise fail(f"{what}: a [[holiday]] table is expected")
        if unknown := set(holiday) - _HOLIDAY_KEYS:
            raise fail(f"{what}: unknown keys {sorted(unknown)}; allowed: {sorted(_HOLIDAY_KEYS)}")
        name = holiday.get("name")
        if name not in _HOLIDAY_NAMES:
            raise fail(f"{what}: name {name!r} is not one of {sorted(_HOLIDAY_NAMES)}")
        start, end = holiday.get("off_from"), holiday.get("off_to")
        if type(start) is not date or type(end) is not date or end < start:
            raise fail(f"{name}: off_from and off_to must be TOML dates, off_from <= off_to")
        made_up = holiday.get("make_up_workdays", [])
        if not isinstance(made_up, list) or any(type(d) is not date for d in made_up):
            raise fail(f"{name}: make_up_workdays must be a list of TOML dates")
        for d in (start, end, *made_up):
            if not first <= d <= last:
                raise fail(f"{name}: {d} lies outside {first}..{last}")
        off.update(start + timedelta(days=n) for n in range((end - start).days + 1))
        for d in made_up:
            if d.weekday() < 5:
                raise fail(f"{name}: make-up workday {d} is a weekday; 调休上班 days are weekends")
            work.add(d)
    if both := sorted(off & work):
        raise fail(f"{', '.join(map(str, both))} both a day off and a make-up workday")
    if missing := [f"{name} {d}" for d, name in statutory_holidays(year) if d not in off]:
        raise fail(f"statutory holidays not given as days off: {', '.join(missing)} "
                   f"(全国年节及纪念日放假办法 第二条)")
    return Arrangement(year, "published", frozenset(off), frozenset(work), notice.strip(),
                       published_on)


# --------------------------------------------------------------------------- the calendar


class WorkdayCalendar:
    """Working days in mainland China for any year, from the best source for each year:
    a published arrangement, else the chinese-calendar package, else the law alone.

    ``holidays_dir`` holds the published arrangements (``<year>.toml``); :meth:`refresh` reads
    files added or changed since the last call, so a running service takes a new notice
    without a restart. A file that fails validation is logged and not used."""

    def __init__(self, holidays_dir: Path | None = None) -> None:
        self.holidays_dir = holidays_dir if holidays_dir is not None else default_holidays_dir()
        self._supported = supported_years()
        self._years: dict[int, Arrangement] = {}
        self._published: dict[int, Arrangement] = {}
        self._files: dict[Path, tuple[float, int]] = {}
        self.problems: dict[str, str] = {}
        """file -> why it is not used."""
        self.refresh()

    @property
    def supported_years(self) -> range:
        return self._supported

    def refresh(self) -> bool:
        """Load the published files added, changed or removed since the last call; True when
        anything changed."""
        found: dict[Path, tuple[float, int]] = {}
        if self.holidays_dir.is_dir():
            for path in sorted(self.holidays_dir.glob("*.toml")):
                stat = path.stat()
                found[path] = (stat.st_mtime, stat.st_size)
        if found == self._files:
            return False
        self._files = found
        published: dict[int, Arrangement] = {}
        self.problems = {}
        for path in found:
            try:
                arrangement = load_published(path)
            except ArrangementInvalid as error:
                self.problems[str(path)] = str(error)
                log.error("holiday arrangement not used: %s", error)
                continue
            published[arrangement.year] = arrangement
        self._published = published
        self._years = {}
        return True

    def arrangement(self, year: int) -> Arrangement:
        """The year's arrangement from its best source."""
        found = self._years.get(year)
        if found is None:
            if year in self._published:
                found = self._published[year]
            elif year in self._supported:
                found = _from_package(year)
            else:
                found = _estimate(year)
            self._years[year] = found
        return found

    def source(self, year: int) -> CalendarSource:
        return self.arrangement(year).source

    def basis(self, first: date, last: date) -> tuple[CalendarSource, tuple[str, ...]]:
        """The source a count over ``first``..``last`` rests on (its weakest year's) and the
        notices (文号) of the published years among them."""
        years = [self.arrangement(y) for y in range(first.year, last.year + 1)]
        weakest = min((a.source for a in years), key=_STRENGTH.__getitem__)
        notices = tuple(a.notice for a in years if a.notice)
        return weakest, notices

    # ----------------------------------------------------------------- queries
    def is_workday(self, d: date) -> bool:
        if isinstance(d, datetime):
            d = d.date()
        if d.month == 12:  # the next year's notice may arrange days of this December
            following = self._published.get(d.year + 1)
            if following is not None and (d in following.days_off or d in following.workdays):
                return following.is_workday(d)
        return self.arrangement(d.year).is_workday(d)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day strictly after ``start`` (strictly before it for n < 0)."""
        if isinstance(start, datetime):
            start = start.date()
        step = ONE_DAY if n > 0 else -ONE_DAY
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
        return sum(self.is_workday(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))

    def __repr__(self) -> str:
        return (f"WorkdayCalendar(package={self._supported.start}-{self._supported.stop - 1}, "
                f"published={sorted(self._published)}, dir={str(self.holidays_dir)!r})")


def default_holidays_dir() -> Path:
    """``VBP_HOLIDAYS_DIR``, else the repository's ``policies/holidays``."""
    return Path(os.environ.get("VBP_HOLIDAYS_DIR") or HOLIDAYS_DIR)


# --------------------------------------------------------------------------- command line


def _template(year: int) -> str:
    """A ``<year>.toml`` to fill in from the notice, with the statutory holidays as a start."""
    by_name: dict[str, list[date]] = {}
    for d, name in statutory_holidays(year):
        by_name.setdefault(name, []).append(d)
    lines = [f"# 国务院办公厅关于{year}年部分节假日安排的通知: copy each holiday's",
             "# days off (放假调休) and make-up workdays (上班) from the notice; the dates below",
             "# are the statutory holidays only (全国年节及纪念日放假办法 第二条).",
             "# Check: python -m policies.workdays check FILE",
             f"year = {year}", 'notice = ""          # 文号, e.g. "国办发明电〔2026〕7号"',
             "published_on = 0000-00-00 # the notice's date"]
    for name, days in by_name.items():
        lines += ["", "[[holiday]]", f'name = "{name}"', f"off_from = {min(days)}",
                  f"off_to = {max(days)}", "make_up_workdays = []"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    usage = ("usage: python -m policies.workdays check FILE... | template YEAR | show YEAR\n"
             "  check     validate published arrangements (policies/holidays/<year>.toml)\n"
             "  template  print a <year>.toml to fill in from the State Council's notice\n"
             "  show      the year's source, days off and make-up workdays as services see them")
    if len(argv) < 2 or argv[0] not in ("check", "template", "show"):
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "check":
        failed = 0
        for name in argv[1:]:
            try:
                a = load_published(Path(name))
            except ArrangementInvalid as error:
                print(f"invalid: {error}", file=sys.stderr)
                failed += 1
            else:
                print(f"ok: {name}: {a.year} per {a.notice} ({a.published_on}), "
                      f"{len(a.days_off)} days off, {len(a.workdays)} make-up workdays")
        return 1 if failed else 0
    year = int(argv[1])
    if argv[0] == "template":
        print(_template(year), end="")
        return 0
    a = WorkdayCalendar().arrangement(year)
    print(f"{year}: {a.source}" + (f" ({a.notice}, {a.published_on})" if a.notice else ""))
    print("days off (weekdays):", " ".join(str(d) for d in sorted(a.days_off) if d.weekday() < 5))
    print("make-up workdays:", " ".join(str(d) for d in sorted(a.workdays)) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
