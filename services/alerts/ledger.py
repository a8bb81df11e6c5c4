"""The alert ledger: how one operation changes an alert's record. Pure and idempotent.

Every change to an alert (it arrived, a decision inhibits it, a delivery was planned or
attempted, it was suppressed, acknowledged or escalated) is an operation on the internal ledger
topic, keyed by alert id; its handler applies them in order to the `alerts` table. Applying an
operation twice changes nothing the second time (an operation the API or the delivery loop
re-sends after a failure is one of those).

Row statuses: owed -> planned (a notification id is fixed, before the first attempt) ->
sent | failed | given_up; or, with nothing sent, owed -> suppressed | failed. An attempt that
will be retried (`retrying`) keeps the row planned.
"""
from __future__ import annotations

import copy
from typing import Any

FINAL = frozenset({"sent", "failed", "given_up", "suppressed"})
HISTORY_LIMIT = 200


def empty(alert_id: str) -> dict[str, Any]:
    return {"id": alert_id, "alert": None, "rows": {}, "escalation": None, "received_at": None,
            "inhibited_by": None, "acked": None, "history": []}


Record = dict[str, Any]


def apply(record: Record | None, op: dict[str, Any]) -> tuple[Record | None, list[dict[str, Any]]]:
    """(new record, delivery log entries to publish). The record is None when nothing changed."""
    old = record or empty(op["alert_id"])
    new = copy.deepcopy(old)
    logs: list[dict[str, Any]] = []
    kind = op["op"]
    if kind == "alert":
        if new["alert"] is None:  # dedup by alert id: the first arrival wins
            new.update(alert=op["alert"], rows=op["rows"], escalation=op["escalation"],
                       received_at=op["at"])
    elif kind == "inhibit":
        new["inhibited_by"] = new["inhibited_by"] or op["by"]
    elif kind == "ack":
        new["acked"] = new["acked"] or {"by": op["by"], "comment": op.get("comment"),
                                        "at": op["at"]}
    elif kind == "planned":
        row = new["rows"].get(op["row"])
        if row is not None and row["status"] == "owed":
            row.update(status="planned", notification_id=op["notification_id"], next_at=op["at"])
    elif kind == "attempt":
        logs.append(_attempt(new, op))
    elif kind == "close":  # nothing sent: suppressed (silence, inhibition) or failed (no receiver)
        row = new["rows"].get(op["row"])
        if row is not None and row["status"] == "owed":
            row.update(status=op["outcome"], last_error=op["reason"])
            new["history"].append({
                "at": op["at"], "receiver": row["receiver"], "row": op["row"], "kind": row["kind"],
                "notification_id": None, "attempt": 0, "outcome": op["outcome"],
                "status_code": None, "error": op["reason"]})
            logs.append(_log(new, op, row, attempt=0, outcome=op["outcome"], error=op["reason"]))
    elif kind == "add_rows":
        for key, row in op["rows"].items():
            new["rows"].setdefault(key, row)
        if op.get("escalation_step") and new["escalation"] is not None:
            new["escalation"]["step"] = max(new["escalation"]["step"], op["escalation_step"])
    else:
        raise ValueError(f"unknown ledger operation {kind!r}")
    return (None if new == old else new), logs


def _attempt(record: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """Record attempt `op['attempt']` of a row's notification; a replayed attempt changes nothing
    but is logged again under the same id (consumers drop the repeat)."""
    row = record["rows"][op["row"]]
    if op["attempt"] > row["attempts"] and row["status"] not in FINAL:
        outcome = op["outcome"]
        row.update(
            attempts=op["attempt"], notification_id=op["notification_id"],
            first_attempt_at=row["first_attempt_at"] or op["at"],
            status="planned" if outcome == "retrying" else outcome,
            next_at=op.get("next_at"), last_error=op.get("error"),
            sent_at=op["at"] if outcome == "sent" else row["sent_at"],
        )
        record["history"] = (record["history"] + [{
            "at": op["at"], "receiver": row["receiver"], "row": op["row"], "kind": row["kind"],
            "notification_id": op["notification_id"], "attempt": op["attempt"],
            "outcome": outcome, "status_code": op.get("status_code"), "error": op.get("error"),
        }])[-HISTORY_LIMIT:]
    return _log(record, op, row, attempt=op["attempt"], outcome=op["outcome"],
                error=op.get("error"), status_code=op.get("status_code"))


def _log(record: dict[str, Any], op: dict[str, Any], row: dict[str, Any], *, attempt: int,
         outcome: str, error: str | None = None, status_code: int | None = None) -> dict[str, Any]:
    notification = op.get("notification_id") or f"{outcome}-{op['row']}"
    return {
        "event_id": f"{notification}:{attempt}:{outcome}:{record['id']}"[:256],
        "alert_id": record["id"], "attempt": attempt, "receiver": row["receiver"],
        "outcome": outcome, "status_code": status_code, "error": error, "at": op["at"],
    }


def is_open(record: dict[str, Any]) -> bool:
    """Open: arrived, not acknowledged, not inhibited by a decision."""
    return record["alert"] is not None and not record["acked"] and not record["inhibited_by"]


def has_work(record: dict[str, Any]) -> bool:
    """Whether the delivery loop still has anything to do for this alert."""
    if record["alert"] is None:
        return False
    if any(row["status"] not in FINAL for row in record["rows"].values()):
        return True
    if not is_open(record):
        return False
    escalation = record["escalation"]
    if escalation and escalation["step"] < len(escalation["chain"]):
        return True
    return any(row["repeat"] > 0 and row["status"] == "sent" for row in record["rows"].values())
