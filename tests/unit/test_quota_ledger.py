"""The order ledger's changed days: which quarters' progress an event moves (their own and,
through the cumulative figures, every later one), whatever order orders and deliveries come in."""
import random
from datetime import date, timedelta

from kernel import ledger

PRODUCT = "XC10AAA081A001010100328"


def test_a_delivery_read_before_its_order_then_the_order_changes_only_the_order_day() -> None:
    delivered = ledger.delivered(ledger.new_record("H52010200001"), "dlv-1", PRODUCT, 100,
                                 date(2020, 4, 2))
    assert ledger.changed_days(None, delivered) == {date(2020, 4, 2)}
    placed = ledger.placed(delivered, PRODUCT, date(2020, 3, 30), 100)
    assert ledger.changed_days(delivered, placed) == {date(2020, 3, 30)}


def test_a_cancellation_changes_the_order_day_and_a_repeat_changes_nothing() -> None:
    placed = ledger.placed(ledger.new_record("H52010200001"), PRODUCT, date(2020, 1, 6), 50)
    cancelled = ledger.cancelled(placed)
    assert ledger.changed_days(placed, cancelled) == {date(2020, 1, 6)}
    assert ledger.changed_days(cancelled, ledger.cancelled(cancelled)) == set()


def test_a_rejection_counts_on_the_order_day_and_drops_the_accepted_day() -> None:
    placed = ledger.placed(ledger.new_record("H52010200001"), PRODUCT, date(2020, 1, 6), 50)
    delivered = ledger.delivered(placed, "dlv-1", PRODUCT, 50, date(2020, 1, 9))
    rejected = ledger.rejected(delivered, "dlv-1")
    assert ledger.changed_days(delivered, rejected) == {date(2020, 1, 6), date(2020, 1, 9)}


Q1, Q2 = (date(2020, 1, 1), date(2020, 3, 31)), (date(2020, 4, 1), date(2020, 6, 30))


def test_the_last_day_counted_up_to_a_quarter_end_skips_later_days_and_undone_ones() -> None:
    """What a progress record is stamped with when it counts later days than its cause."""
    totals = ledger.Totals()
    first = ledger.placed(ledger.new_record("H52010200001"), PRODUCT, date(2020, 2, 10), 300)
    later = ledger.placed(ledger.new_record("H52010200001"), PRODUCT, date(2020, 4, 15), 200)
    totals.replace(None, first)
    totals.replace(None, later)
    q1, q2 = totals.by_period("H52010200001", PRODUCT, [Q1, Q2])
    assert (q1.last_day, q2.last_day) == (date(2020, 2, 10), date(2020, 4, 15))
    totals.replace(later, ledger.new_record("H52010200001", PRODUCT))  # as if never counted
    q1, q2 = totals.by_period("H52010200001", PRODUCT, [Q1, Q2])
    assert (q1.last_day, q2.last_day) == (date(2020, 2, 10), date(2020, 2, 10))
    assert [t.last_day for t in totals.by_period("H52010200002", PRODUCT, [Q1, Q2])] == [None] * 2


def test_the_kept_totals_of_each_period_equal_a_sum_per_period_after_every_change() -> None:
    """Orders before, inside and after the periods, cancelled, delivered, rejected and undone
    (a day back to nothing): the totals by_period keeps between calls stay those of the days."""
    rng = random.Random(5)
    totals = ledger.Totals()
    periods = [Q1, Q2, (date(2020, 7, 1), date(2020, 7, 20))]
    records: list[ledger.OrderRecord] = []
    for n in range(400):
        if records and n % 5 == 0:  # undo an earlier one, as if never counted
            old = records.pop(rng.randrange(len(records)))
            totals.replace(old, ledger.new_record("H52010200001", PRODUCT))
        else:
            record = ledger.placed(ledger.new_record("H52010200001"), PRODUCT,
                                   date(2019, 12, 1) + timedelta(days=rng.randrange(250)),
                                   rng.randrange(1, 90))
            if n % 7 == 0:
                record = ledger.cancelled(record)
            if n % 3 == 0:
                record = ledger.delivered(record, f"d{n}", PRODUCT, record["quantity"],
                                          date.fromisoformat(record["day"]) + timedelta(days=3))
            if n % 11 == 0:
                record = ledger.rejected(record, f"d{n}")
            totals.replace(None, record)
            records.append(record)
        found = totals.by_period("H52010200001", PRODUCT, periods)
        assert [t.sums for t in found] == [totals.sum("H52010200001", PRODUCT, start, end)
                                           for start, end in periods]
        expected_last = [max((r_day for r in records for r_day in _days_of(r) if r_day <= end),
                             default=None) for _, end in periods]
        assert [t.last_day for t in found] == expected_last
    assert all(t.sums["ordered"] > 0 for t in found)


def _days_of(record: ledger.OrderRecord) -> list[date]:
    return [a.day for a in ledger.amounts(record)
            if a.ordered or a.cancelled or a.accepted or a.rejected]
