"""What the delivery loop does when: grouping, suppression, retries, escalation, reminders."""
from __future__ import annotations

from typing import Any

from schemas.envelope import example_event
from services.alerts import ledger
from services.alerts.alert import from_event
from services.alerts.config import parse
from services.alerts.planner import MAX_BATCH, plan
from services.alerts.routing import owed

CONFIG = parse("".join(f"""
[[receivers]]
name = "{name}"
kind = "webhook"
url = "http://127.0.0.1:9/{name}"
secret = "s"
""" for name in ("bureau", "city", "director", "health")) + """
[route]
receivers = ["bureau"]
[[route.routes]]
match = { rule = "quota.*" }
receivers = ["city"]
group_by = ["rule", "city", "period"]
group_wait = "30s"
group_interval = "5m"
[[route.routes]]
match = { severity = "critical" }
repeat_interval = "1h"
[route.routes.escalation]
ack_within = "10m"
chain = ["director", "health"]
""")


def record(hospital: str, at: float, **changes: Any) -> dict[str, Any]:
    alert = from_event(example_event(
        "vbp.warning.raised", warning_id=f"w:{hospital}", subject_kind="institution",
        subject_id=hospital, **changes))
    op = {"op": "alert", "alert_id": alert["id"], "alert": alert, "at": at,
          **owed(CONFIG, alert, at)}
    made, _ = ledger.apply(None, op)
    assert made is not None
    return made


def then(made: dict[str, Any], **op: Any) -> dict[str, Any]:
    new, _ = ledger.apply(made, {"alert_id": made["id"], **op})
    assert new is not None
    return new


def run(records: list[dict[str, Any]], now: float, silences: list[dict] | None = None,
        busy: set | None = None, last_flush: dict | None = None) -> Any:
    return plan(records, now, CONFIG, silences or [], busy or set(), set(), last_flush or {})


def quarter(hospital: str, at: float) -> dict[str, Any]:
    return record(hospital, at, severity="warning", period="2020-Q1")


def test_a_citys_warnings_wait_for_each_other_and_go_in_one_message() -> None:
    records = [quarter("H52010200001", 100.0), quarter("H52010200002", 110.0),
               quarter("H52030200001", 120.0)]  # Zunyi: a group of its own
    assert [b.receiver for b in run(records, 129.0).batches] == []
    due = run(records, 130.0).batches
    assert [(b.receiver, [a for a, _ in b.rows]) for b in due] == [
        ("city", ["w:H52010200001", "w:H52010200002"])]
    assert due[0].new and due[0].attempt == 1
    assert run(records, 130.0).batches[0].notification_id == due[0].notification_id  # stable
    later = run(records, 150.0).batches
    assert sorted(len(b.rows) for b in later) == [1, 2]


def test_after_a_message_the_group_waits_its_interval() -> None:
    late = quarter("H52010200003", 1000.0)
    group = late["rows"]["city"]["group"]
    assert run([late], 1029.0, last_flush={("city", group): 900.0}).batches == []
    assert run([late], 1199.0, last_flush={("city", group): 900.0}).batches == []
    assert len(run([late], 1200.0, last_flush={("city", group): 900.0}).batches) == 1
    assert len(run([late], 1030.0).batches) == 1  # never sent before: just group_wait


def test_big_groups_are_split() -> None:
    records = [quarter(f"H5201020{i:04d}", 1.0) for i in range(MAX_BATCH + 3)]
    assert [len(b.rows) for b in run(records, 100.0).batches] == [MAX_BATCH, 3]


def test_inhibited_and_silenced_alerts_are_suppressed() -> None:
    inhibited = then(quarter("H52010200001", 1.0), op="inhibit", by="D-1", at=2.0)
    silenced = record("H52030200002", 1.0, severity="warning", rule="settlement.payment_overdue")
    silence = {"id": "sil-1", "matchers": {"region": ["5203"]}, "starts_at": 0.0, "ends_at": 50.0}
    got = run([inhibited, silenced], 40.0, silences=[silence])
    assert sorted(got.suppress) == [("w:H52010200001", "city", "inhibited by D-1"),
                                    ("w:H52030200002", "bureau", "silenced by sil-1")]
    assert got.batches == []
    after = run([silenced], 60.0, silences=[silence])  # expired: delivered
    assert after.suppress == [] and [b.receiver for b in after.batches] == ["bureau"]


def test_rows_for_a_receiver_gone_from_the_file_fail() -> None:
    orphan = record("H52010200001", 1.0, severity="warning", rule="settlement.payment_overdue")
    orphan["rows"]["bureau"]["receiver"] = "retired-office"
    assert run([orphan], 10.0).fail == [
        ("w:H52010200001", "bureau", "receiver 'retired-office' is not in the routing file")]


def test_planned_rows_are_retried_under_their_notification_id_when_due() -> None:
    made = record("H52010200001", 1.0, severity="warning", rule="settlement.payment_overdue")
    made = then(made, op="planned", row="bureau", notification_id="ntf-7", at=2.0)
    made = then(made, op="attempt", row="bureau", notification_id="ntf-7", attempt=1,
                outcome="retrying", at=3.0, next_at=10.0)
    assert run([made], 9.0).batches == []
    batch, = run([made], 10.0).batches
    assert (batch.notification_id, batch.attempt, batch.new, batch.first_attempt_at) == (
        "ntf-7", 2, False, 3.0)
    assert run([made], 10.0, busy={("w:H52010200001", "bureau")}).batches == []
    # Planned before a crash, never attempted: sent right away, still under its id.
    fresh = then(record("H52010200002", 1.0, severity="warning", rule="settlement.x"),
                 op="planned", row="bureau", notification_id="ntf-8", at=2.0)
    assert [(b.notification_id, b.attempt) for b in run([fresh], 2.5).batches] == [("ntf-8", 1)]


def sent(made: dict[str, Any], row: str, at: float) -> dict[str, Any]:
    made = then(made, op="planned", row=row, notification_id=f"n-{row}", at=at)
    return then(made, op="attempt", row=row, notification_id=f"n-{row}", attempt=1,
                outcome="sent", at=at)


def critical() -> dict[str, Any]:
    return record("H52010200001", 0.0, severity="critical", rule="settlement.x")


def test_an_unacknowledged_critical_alert_climbs_the_chain() -> None:
    made = sent(critical(), "bureau", 1.0)
    assert run([made], 599.0).add_rows == []
    (alert_id, rows, step), = run([made], 600.0).add_rows
    assert (alert_id, list(rows), step) == ("w:H52010200001", ["director~e1"], 1)
    assert rows["director~e1"]["kind"] == "escalation"
    made = then(made, op="add_rows", rows=rows, escalation_step=1, at=600.0)
    made = sent(made, "director~e1", 601.0)
    assert run([made], 1199.0).add_rows == []
    (_, rows, step), = run([made], 1200.0).add_rows
    assert (list(rows), step) == (["health~e2"], 2)
    made = sent(then(made, op="add_rows", rows=rows, escalation_step=2, at=1200.0),
                "health~e2", 1201.0)
    assert run([made], 3000.0).add_rows == []  # the chain is done
    assert [step for _, _, step in run([made], 3601.0).add_rows] == [None]  # hourly reminder


def test_acknowledged_or_inhibited_alerts_neither_escalate_nor_repeat() -> None:
    made = sent(critical(), "bureau", 1.0)
    assert run([then(made, op="ack", by="x", at=5.0)], 10_000.0).add_rows == []
    assert run([then(made, op="inhibit", by="D", at=5.0)], 10_000.0).add_rows == []


def test_reminders_repeat_an_open_alert_every_repeat_interval() -> None:
    made = sent(critical(), "bureau", 1.0)
    made["escalation"] = None
    assert run([made], 3600.0).add_rows == []
    (_, rows, step), = run([made], 3601.0).add_rows
    assert list(rows) == ["bureau~r1"] and step is None and rows["bureau~r1"]["kind"] == "repeat"
    made = sent(then(made, op="add_rows", rows=rows, escalation_step=None, at=3601.0),
                "bureau~r1", 3602.0)
    (_, rows, _), = run([made], 7202.0).add_rows
    assert list(rows) == ["bureau~r2"]
