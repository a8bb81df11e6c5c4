"""The ledger: each operation changes an alert's record once; applying it again changes nothing."""
from __future__ import annotations

from typing import Any

import pytest

from schemas.envelope import example_event
from services.alerts import ledger
from services.alerts.alert import from_event
from services.alerts.routing import new_row

ALERT = from_event(example_event("vbp.warning.raised"))
ID = ALERT["id"]


def arrived(rows: dict[str, Any] | None = None) -> dict[str, Any]:
    op = {"op": "alert", "alert_id": ID, "alert": ALERT, "escalation": None, "at": 100.0,
          "rows": rows or {"bureau": new_row("bureau", f"r|alert={ID}", "notify", 0, 100.0)}}
    record, logs = ledger.apply(None, op)
    assert record is not None and logs == []
    return record


def apply(record: dict[str, Any], **op: Any) -> tuple[dict[str, Any] | None, list[dict]]:
    return ledger.apply(record, {"alert_id": ID, **op})


def attempt(record: dict[str, Any], n: int, outcome: str, **more: Any) -> dict[str, Any]:
    new, logs = apply(record, op="attempt", row="bureau", notification_id="ntf-1", attempt=n,
                      outcome=outcome, at=200.0 + n, **more)
    assert len(logs) == 1 and logs[0]["attempt"] == n and logs[0]["outcome"] == outcome
    assert new is not None
    return new


def test_the_first_arrival_wins_a_repeat_changes_nothing() -> None:
    record = arrived()
    again, logs = apply(record, op="alert", alert=ALERT, rows={}, escalation=None, at=999.0)
    assert again is None and logs == []
    assert record["received_at"] == 100.0 and ledger.is_open(record)


def test_a_planned_notification_then_retries_then_sent() -> None:
    record = arrived()
    planned, _ = apply(record, op="planned", row="bureau", notification_id="ntf-1", at=150.0)
    assert planned is not None
    row = planned["rows"]["bureau"]
    assert (row["status"], row["notification_id"], row["next_at"]) == ("planned", "ntf-1", 150.0)
    assert apply(planned, op="planned", row="bureau", notification_id="ntf-2", at=160.0)[0] is None

    first = attempt(planned, 1, "retrying", status_code=503, error="HTTP 503", next_at=203.0)
    assert first["rows"]["bureau"]["status"] == "planned"
    assert first["rows"]["bureau"]["first_attempt_at"] == 201.0
    sent = attempt(first, 2, "sent", status_code=200)
    row = sent["rows"]["bureau"]
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 2, 202.0)
    assert [(h["attempt"], h["outcome"]) for h in sent["history"]] == [(1, "retrying"), (2, "sent")]
    assert not ledger.has_work(sent)


def test_a_replayed_attempt_is_logged_again_under_the_same_id_but_changes_nothing() -> None:
    record = attempt(arrived(), 1, "sent", status_code=200)
    again, logs = apply(record, op="attempt", row="bureau", notification_id="ntf-1", attempt=1,
                        outcome="sent", status_code=200, at=201.0)
    assert again is None
    first_log = ledger.apply(arrived(), {"alert_id": ID, "op": "attempt", "row": "bureau",
                                         "notification_id": "ntf-1", "attempt": 1,
                                         "outcome": "sent", "status_code": 200, "at": 201.0})[1]
    assert logs[0]["event_id"] == first_log[0]["event_id"] == f"ntf-1:1:sent:{ID}"
    # A late, lower attempt can't reopen a final row.
    assert apply(record, op="attempt", row="bureau", notification_id="ntf-1", attempt=1,
                 outcome="retrying", at=300.0)[0] is None


def test_inhibition_may_arrive_before_the_warning() -> None:
    inhibit = {"alert_id": ID, "op": "inhibit", "by": "D-1", "at": 1.0}
    placeholder, logs = ledger.apply(None, inhibit)
    assert placeholder is not None and placeholder["alert"] is None and logs == []
    assert not ledger.has_work(placeholder)
    rows = {"bureau": new_row("bureau", "g", "notify", 0, 2.0)}
    record, _ = ledger.apply(placeholder, {"alert_id": ID, "op": "alert", "alert": ALERT,
                                           "rows": rows, "escalation": None, "at": 2.0})
    assert record is not None and record["inhibited_by"] == "D-1"
    assert not ledger.is_open(record) and ledger.has_work(record)  # the owed row: to suppress
    closed, logs = apply(record, op="close", row="bureau", outcome="suppressed",
                         reason="inhibited by D-1", at=3.0)
    assert closed is not None and closed["rows"]["bureau"]["status"] == "suppressed"
    assert logs[0]["attempt"] == 0 and logs[0]["error"] == "inhibited by D-1"
    assert apply(closed, op="close", row="bureau", outcome="suppressed", reason="x", at=4.0) == (
        None, [])


def test_ack_is_kept_once() -> None:
    acked, _ = apply(arrived(), op="ack", by="李处长", comment=None, at=5.0)
    assert acked is not None and not ledger.is_open(acked)
    assert apply(acked, op="ack", by="someone else", at=6.0)[0] is None


def test_escalation_rows_are_added_once_and_the_step_only_grows() -> None:
    record = arrived()
    record["escalation"] = {"route": "r", "ack_within": 10.0, "chain": ["a", "b"], "step": 0}
    row = new_row("a", "escalation|x|1", "escalation", 1, 110.0)
    stepped, _ = apply(record, op="add_rows", rows={"a~e1": row}, escalation_step=1, at=110.0)
    assert stepped is not None and stepped["escalation"]["step"] == 1
    assert set(stepped["rows"]) == {"bureau", "a~e1"}
    assert apply(stepped, op="add_rows", rows={"a~e1": row}, escalation_step=1, at=111.0)[0] is None


def test_unknown_operations_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown ledger operation"):
        apply(arrived(), op="explode")
