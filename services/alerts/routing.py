"""Which receivers an alert is owed to: the route tree, walked as Alertmanager walks it.

An alert enters at the root; the first child whose matchers hold takes it (and, recursively, its
own children); a child with `continue = true` lets the following siblings try too. A node none
of whose children match takes the alert itself. Receivers and group settings are inherited.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from services.alerts.alert import labels as alert_labels
from services.alerts.config import Config, Escalation, Route


@dataclass(frozen=True)
class Matched:
    route: str
    receivers: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    group_wait: float = 0.0
    group_interval: float = 300.0
    repeat_interval: float = 0.0
    escalation: Escalation | None = None


def match(config: Config, labels: dict[str, str | None]) -> list[Matched]:
    root = config.route
    return _walk(root, labels, _settle(Matched(route=root.name or "root", receivers=()), root))


def _settle(parent: Matched, route: Route) -> Matched:
    return replace(
        parent,
        receivers=tuple(route.receivers) or parent.receivers,
        group_by=parent.group_by if route.group_by is None else tuple(route.group_by),
        group_wait=_pick(route.group_wait, parent.group_wait),
        group_interval=_pick(route.group_interval, parent.group_interval),
        repeat_interval=_pick(route.repeat_interval, parent.repeat_interval),
        escalation=route.escalation,
    )


def _pick(own: float | None, inherited: float) -> float:
    return inherited if own is None else own


def _walk(route: Route, labels: dict[str, str | None], settled: Matched) -> list[Matched]:
    if not route.match.matches(labels):
        return []
    found: list[Matched] = []
    for i, child in enumerate(route.routes):
        child_settled = _settle(replace(settled, route=child.name or f"{settled.route}.{i}"), child)
        taken = _walk(child, labels, child_settled)
        if taken:
            found.extend(taken)
            if not child.continue_:
                break
    return found or [settled]


def group_key(matched: Matched, alert: dict[str, Any], labels: dict[str, str | None]) -> str:
    """Alerts with the same key go out in one message; no group_by: each alert on its own."""
    if not matched.group_by:
        return f"{matched.route}|alert={alert['id']}"
    return matched.route + "|" + ",".join(f"{k}={labels.get(k) or '-'}" for k in matched.group_by)


def owed(config: Config, alert: dict[str, Any], now: float) -> dict[str, Any]:
    """The rows (one per receiver) and escalation an alert is owed under `config`."""
    labels = alert_labels(alert)
    rows: dict[str, dict[str, Any]] = {}
    escalation = None
    for matched in match(config, labels):
        for receiver in matched.receivers:
            rows.setdefault(receiver, new_row(
                receiver, group_key(matched, alert, labels), "notify", 0, now,
                wait=matched.group_wait, interval=matched.group_interval,
                repeat=matched.repeat_interval, route=matched.route))
        if escalation is None and matched.escalation is not None:
            escalation = {"route": matched.route, "ack_within": matched.escalation.ack_within,
                          "chain": list(matched.escalation.chain), "step": 0}
    return {"rows": rows, "escalation": escalation}


def new_row(receiver: str, group: str, kind: str, step: int, now: float, *, wait: float = 0.0,
            interval: float = 0.0, repeat: float = 0.0, route: str | None = None) -> dict[str, Any]:
    """A delivery owed to one receiver. `kind`: notify (the first), escalation or repeat."""
    return {
        "receiver": receiver, "group": group, "kind": kind, "step": step, "route": route,
        "created_at": now, "wait": wait, "interval": interval, "repeat": repeat,
        "status": "owed", "notification_id": None, "attempts": 0, "first_attempt_at": None,
        "next_at": None, "sent_at": None, "last_error": None,
    }
