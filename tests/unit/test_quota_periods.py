"""Agreement quarters, targets, pace and evaluation days, read as the contract states them.

"Quarters are agreement-relative, counted from period_start; a quarter's target is a quarter of
the agreed quantity (pro rata by days for a period that is not a whole year)" and "a tick
as_of=D means day D has begun and every earlier day has ended" (docs/contract.md).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest

from kernel.periods import (
    Quarter,
    add_months,
    agreement_quarters,
    cumulative_target,
    evaluated_quarters,
    evaluation_day,
    first_of_next_month,
    month_of,
    pace,
    quarter_of,
)

# Guizhou: the national results apply from 2019-12-30 (000 §四(三)).
GZ_START, GZ_END = date(2019, 12, 30), date(2020, 12, 29)


def bounds(quarters: list[Quarter]) -> list[tuple[date, date]]:
    return [(q.start, q.end) for q in quarters]


def test_guizhou_year_from_2019_12_30_has_four_quarters_of_three_calendar_months() -> None:
    """000 §四(三): results apply from 2019-12-30; quarters count from period_start."""
    quarters = agreement_quarters(GZ_START, GZ_END, 1000, cycle_year=2020)
    assert bounds(quarters) == [
        (date(2019, 12, 30), date(2020, 3, 29)),
        (date(2020, 3, 30), date(2020, 6, 29)),
        (date(2020, 6, 30), date(2020, 9, 29)),
        (date(2020, 9, 30), date(2020, 12, 29)),
    ]
    assert [q.label for q in quarters] == ["2020-Q1", "2020-Q2", "2020-Q3", "2020-Q4"]
    assert [q.index for q in quarters] == [1, 2, 3, 4]


def test_whole_year_quarter_target_is_a_quarter_of_the_agreed_quantity() -> None:
    """Contract: a quarter's target is a quarter of the agreed quantity, whatever its days."""
    quarters = agreement_quarters(GZ_START, GZ_END, 1000, cycle_year=2020)
    assert [q.target for q in quarters] == [250, 250, 250, 250]


def test_whole_year_remainder_goes_to_the_earliest_quarters_and_targets_sum_exactly() -> None:
    """Integer targets sum to the agreed quantity; ties in the leftover go to earlier quarters."""
    quarters = agreement_quarters(GZ_START, GZ_END, 1003, cycle_year=2020)
    assert [q.target for q in quarters] == [251, 251, 251, 250]


def test_period_that_is_not_a_whole_year_gets_targets_pro_rata_by_days() -> None:
    """Contract: pro rata by days for a period that is not a whole year; last quarter clipped."""
    quarters = agreement_quarters(date(2020, 1, 1), date(2020, 8, 31), 2440, cycle_year=2020)
    assert bounds(quarters) == [
        (date(2020, 1, 1), date(2020, 3, 31)),  # 91 days
        (date(2020, 4, 1), date(2020, 6, 30)),  # 91 days
        (date(2020, 7, 1), date(2020, 8, 31)),  # 62 days, clipped to period_end
    ]
    assert [q.target for q in quarters] == [910, 910, 620]


def test_pro_rata_leftover_units_go_to_the_largest_fractions() -> None:
    """1000 x 91/244 = 372.95 twice and 1000 x 62/244 = 254.10: the two leftover units go to
    the .95 quarters, so no target is a whole unit away from its exact share."""
    quarters = agreement_quarters(date(2020, 1, 1), date(2020, 8, 31), 1000, cycle_year=2020)
    assert [q.target for q in quarters] == [373, 373, 254]


@pytest.mark.parametrize("agreed", [0, 1, 2, 3, 7, 999, 1001, 123_457])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (GZ_START, GZ_END),
        (date(2020, 1, 1), date(2020, 8, 31)),
        (date(2019, 11, 30), date(2020, 5, 17)),
        (date(2021, 5, 14), date(2023, 5, 13)),  # Shanxi 2-year cycle (004 §五(一))
        (date(2020, 3, 1), date(2020, 3, 1)),
    ],
)
def test_targets_always_sum_exactly_to_the_agreed_quantity(
    start: date, end: date, agreed: int
) -> None:
    quarters = agreement_quarters(start, end, agreed, cycle_year=start.year)
    assert sum(q.target for q in quarters) == agreed
    assert quarters[0].start == start and quarters[-1].end == end
    assert all((b.start - a.end).days == 1 for a, b in pairwise(quarters))


def test_two_whole_years_split_into_eight_equal_quarters() -> None:
    """004 §五(一): 2-3 winners -> a 2-year cycle; whole years keep equal quarter shares."""
    quarters = agreement_quarters(date(2021, 5, 14), date(2023, 5, 13), 800, cycle_year=2021)
    assert [q.target for q in quarters] == [100] * 8
    assert quarters[-1].label == "2021-Q8"


def test_quarters_of_a_month_end_start_are_measured_from_period_start_without_drift() -> None:
    """Each boundary is period_start + 3n months, clipped to the month's end, never chained."""
    quarters = agreement_quarters(date(2019, 11, 30), date(2020, 11, 29), 4, cycle_year=2020)
    assert bounds(quarters) == [
        (date(2019, 11, 30), date(2020, 2, 28)),
        (date(2020, 2, 29), date(2020, 5, 29)),
        (date(2020, 5, 30), date(2020, 8, 29)),
        (date(2020, 8, 30), date(2020, 11, 29)),
    ]
    assert [q.target for q in quarters] == [1, 1, 1, 1]


def test_an_agreement_with_its_own_targets_keeps_them() -> None:
    """Contract: "... unless the agreement carries its own targets"."""
    quarters = agreement_quarters(GZ_START, GZ_END, 1000, 2020, own_targets=[100, 200, 300, 400])
    assert [q.target for q in quarters] == [100, 200, 300, 400]
    with pytest.raises(ValueError):
        agreement_quarters(GZ_START, GZ_END, 1000, 2020, own_targets=[500, 500])


def test_period_ending_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError):
        agreement_quarters(date(2020, 1, 2), date(2020, 1, 1), 10, cycle_year=2020)


def test_quarter_of_finds_the_quarter_containing_a_day() -> None:
    quarters = agreement_quarters(GZ_START, GZ_END, 1000, cycle_year=2020)
    assert quarter_of(date(2020, 3, 29), quarters) == quarters[0]
    assert quarter_of(date(2020, 3, 30), quarters) == quarters[1]
    assert quarter_of(date(2019, 12, 29), quarters) is None
    assert quarter_of(date(2020, 12, 30), quarters) is None


def test_quarter_is_evaluated_on_the_first_tick_after_it_ends_plus_grace_days() -> None:
    """Contract: on the first tick after an agreement quarter ends (plus grace days, default 0)."""
    q1 = agreement_quarters(GZ_START, GZ_END, 1000, cycle_year=2020)[0]
    assert evaluation_day(q1) == date(2020, 3, 30)
    assert evaluation_day(q1, grace_days=None) == date(2020, 3, 30)
    assert evaluation_day(q1, grace_days=5) == date(2020, 4, 4)


def test_cumulative_target_sums_the_quarters_already_evaluated() -> None:
    """000 §五(三) 累计采购及使用量: the targets of the quarters evaluated so far."""
    quarters = agreement_quarters(GZ_START, GZ_END, 1000, cycle_year=2020)
    assert cumulative_target(quarters, date(2020, 3, 29)) == 0  # Q1's last day has not ended
    assert cumulative_target(quarters, date(2020, 3, 30)) == 250
    assert cumulative_target(quarters, date(2020, 3, 30), grace_days=5) == 0
    assert cumulative_target(quarters, date(2020, 6, 30)) == 500
    assert cumulative_target(quarters, date(2021, 1, 1)) == 1000
    assert [q.label for q in evaluated_quarters(quarters, date(2020, 6, 30))] == [
        "2020-Q1",
        "2020-Q2",
    ]


def test_pace_is_zero_on_the_first_tick_of_the_period() -> None:
    """序时进度: on tick period_start no day of the period has ended yet."""
    assert pace(date(2020, 1, 1), date(2020, 12, 31), date(2020, 1, 1)) == Decimal("0")
    assert pace(date(2020, 1, 1), date(2020, 12, 31), date(2019, 6, 1)) == Decimal("0")


def test_pace_in_the_middle_is_the_share_of_days_ended() -> None:
    # 2020 has 366 days; 183 of them have ended when tick 2020-07-02 begins.
    assert pace(date(2020, 1, 1), date(2020, 12, 31), date(2020, 7, 2)) == Decimal("0.5000")
    assert pace(date(2020, 1, 1), date(2020, 12, 31), date(2020, 4, 1)) == Decimal("0.2486")


def test_pace_is_one_from_the_first_tick_after_period_end() -> None:
    end = date(2020, 12, 31)
    assert pace(date(2020, 1, 1), end, end) == Decimal("0.9973")  # the last day has only begun
    assert pace(date(2020, 1, 1), end, date(2021, 1, 1)) == Decimal("1")
    assert pace(date(2020, 1, 1), end, date(2022, 1, 1)) == Decimal("1")


def test_first_of_next_month_rolls_over_the_year() -> None:
    assert first_of_next_month(date(2020, 3, 31)) == date(2020, 4, 1)
    assert first_of_next_month(date(2020, 4, 1)) == date(2020, 5, 1)
    assert first_of_next_month(date(2020, 12, 15)) == date(2021, 1, 1)


def test_month_of_uses_the_contract_month_notation() -> None:
    assert month_of(date(2020, 3, 5)) == "2020-03"


def test_add_months_clips_to_the_end_of_a_shorter_month() -> None:
    assert add_months(date(2020, 1, 31), 1) == date(2020, 2, 29)
    assert add_months(date(2019, 11, 30), 15) == date(2021, 2, 28)
