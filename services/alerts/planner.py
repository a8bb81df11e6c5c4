"""What the delivery loop should do now, decided from the ledger alone (pure, no I/O).

- owed rows of inhibited or silenced alerts are suppressed; rows for a receiver no longer in
  the routing file fail;
- owed rows are batched per (receiver, group, kind) once the group has waited `group_wait`
  (first message) or `group_interval` since its last message; a batch gets a notification id
  derived from its content, so planning the same batch again yields the same id;
- planned rows whose retry time has come are sent again under their notification id;
- open alerts past their acknowledgement deadline escalate to the next receiver of the chain;
  open alerts sent `repeat_interval` ago are sent again as a reminder.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.alerts.alert import labels as alert_labels
from services.alerts.config import Config, Matchers
from services.alerts.ledger import is_open
from services.alerts.routing import new_row

MAX_BATCH = 50
Row = tuple[str, str]  # (alert id, row key)


@dataclass
class Batch:
    notification_id: str
    receiver: str
    group: str
    kind: str
    rows: list[Row]
    attempt: int
    new: bool  # rows still owed: record the plan before the first attempt
    first_attempt_at: float | None = None


@dataclass
class Plan:
    suppress: list[tuple[str, str, str]] = field(default_factory=list)  # alert, row, reason
    fail: list[tuple[str, str, str]] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    add_rows: list[tuple[str, dict[str, dict[str, Any]], int | None]] = field(default_factory=list)


def notification_id(receiver: str, group: str, kind: str, rows: list[Row]) -> str:
    text = "\n".join([receiver, group, kind, *(f"{a}\t{r}" for a, r in rows)])
    return "ntf-" + hashlib.sha256(text.encode()).hexdigest()[:24]


Silence = tuple[str, Matchers]  # (id, matchers) of a silence in force


def in_force(silences: Iterable[dict[str, Any]], now: float) -> list[Silence]:
    return [(str(s["id"]), Matchers.model_validate(s["matchers"])) for s in silences
            if s["starts_at"] <= now < s["ends_at"]]


def plan(records: Iterable[dict[str, Any]], now: float, config: Config,
         silences: list[dict[str, Any]], busy: set[Row], busy_alerts: set[str],
         last_flush: dict[tuple[str, str], float]) -> Plan:
    out = Plan()
    silenced = in_force(silences, now)
    owed: dict[tuple[str, str, str], list[tuple[float, Row, dict[str, Any]]]] = defaultdict(list)
    retries: dict[str, list[tuple[dict[str, Any], Row]]] = defaultdict(list)
    for record in records:
        if record["alert"] is None:
            continue
        labels = alert_labels(record["alert"])
        for key, row in record["rows"].items():
            ref = (record["id"], key)
            if ref in busy:
                continue
            if row["status"] == "owed":
                reason = _suppression(record, labels, silenced)
                if reason:
                    out.suppress.append((record["id"], key, reason))
                elif config.receiver(row["receiver"]) is None:
                    out.fail.append((record["id"], key,
                                     f"receiver {row['receiver']!r} is not in the routing file"))
                else:
                    owed[(row["receiver"], row["group"], row["kind"])].append(
                        (row["created_at"], ref, row))
            elif row["status"] == "planned":
                retries[row["notification_id"]].append((row, ref))
        if record["id"] not in busy_alerts:
            _escalate_or_repeat(record, now, out)
    for (receiver, group, kind), items in sorted(owed.items()):
        items.sort(key=lambda item: (item[0], item[1]))
        first, _, oldest = items[0]
        flushed = last_flush.get((receiver, group))
        if flushed is None or kind != "notify":
            due = first + oldest["wait"]
        else:
            due = max(flushed + oldest["interval"], first)
        if now < due:
            continue
        rows = [ref for _, ref, _ in items]
        for start in range(0, len(rows), MAX_BATCH):
            chunk = rows[start:start + MAX_BATCH]
            out.batches.append(Batch(notification_id(receiver, group, kind, chunk), receiver,
                                     group, kind, chunk, attempt=1, new=True))
    for nid, planned in sorted(retries.items()):
        rows_ = [row for row, _ in planned]
        if min(row["next_at"] or 0.0 for row in rows_) > now:
            continue
        sample = rows_[0]
        started = [row["first_attempt_at"] for row in rows_ if row["first_attempt_at"]]
        out.batches.append(Batch(
            nid, sample["receiver"], sample["group"], sample["kind"],
            sorted(ref for _, ref in planned), attempt=max(r["attempts"] for r in rows_) + 1,
            new=False, first_attempt_at=min(started) if started else None))
    return out


def _suppression(record: dict[str, Any], labels: dict[str, str | None],
                 silences: list[Silence]) -> str | None:
    if record["inhibited_by"]:
        return f"inhibited by {record['inhibited_by']}"
    silence = next((sid for sid, matchers in silences if matchers.matches(labels)), None)
    return f"silenced by {silence}" if silence else None


def _escalate_or_repeat(record: dict[str, Any], now: float, out: Plan) -> None:
    """An open alert past its acknowledgement deadline goes to the next receiver of the chain;
    one sent `repeat` seconds ago to a receiver is sent to it again as a reminder."""
    if not is_open(record):
        return
    alert_id = record["id"]
    escalation = record["escalation"]
    if escalation and escalation["step"] < len(escalation["chain"]):
        step = escalation["step"] + 1
        if now >= record["received_at"] + escalation["ack_within"] * step:
            receiver = escalation["chain"][step - 1]
            row = new_row(receiver, f"escalation|{alert_id}|{step}", "escalation", step, now,
                          route=escalation["route"])
            out.add_rows.append((alert_id, {f"{receiver}~e{step}": row}, step))
    latest: dict[str, dict[str, Any]] = {}
    for row in record["rows"].values():
        previous = latest.get(row["receiver"])
        if row["kind"] != "escalation" and (previous is None or row["step"] >= previous["step"]):
            latest[row["receiver"]] = row
    reminders = {}
    for receiver, row in sorted(latest.items()):
        if row["repeat"] > 0 and row["status"] == "sent" and now >= row["sent_at"] + row["repeat"]:
            step = row["step"] + 1
            reminders[f"{receiver}~r{step}"] = {
                **new_row(receiver, row["group"], "repeat", step, now, interval=row["interval"],
                          repeat=row["repeat"], route=row["route"])}
    if reminders:
        out.add_rows.append((alert_id, reminders, None))
