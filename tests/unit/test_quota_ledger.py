"""The order ledger's changed days: which quarters' progress an event moves (their own and,
through the cumulative figures, every later one), whatever order orders and deliveries come in."""
from datetime import date

from services.quota import ledger

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


def test_the_last_day_counted_up_to_a_quarter_end_skips_later_days_and_undone_ones() -> None:
    """What a progress record is stamped with when it counts later days than its cause."""
    totals = ledger.Totals()
    first = ledger.placed(ledger.new_record("H52010200001"), PRODUCT, date(2020, 2, 10), 300)
    later = ledger.placed(ledger.new_record("H52010200001"), PRODUCT, date(2020, 4, 15), 200)
    totals.replace(None, first)
    totals.replace(None, later)
    assert totals.last_day("H52010200001", PRODUCT, date(2020, 3, 31)) == date(2020, 2, 10)
    assert totals.last_day("H52010200001", PRODUCT, date(2020, 6, 30)) == date(2020, 4, 15)
    totals.replace(later, ledger.new_record("H52010200001", PRODUCT))  # as if never counted
    assert totals.last_day("H52010200001", PRODUCT, date(2020, 6, 30)) == date(2020, 2, 10)
    assert totals.last_day("H52010200002", PRODUCT, date(2020, 6, 30)) is None
