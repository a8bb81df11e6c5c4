"""An alert: a warning, escalation or decision as the alerts service routes it, with its labels.

The alert id is the rule service's deterministic output id (warning_id, escalation_id,
decision_id), so a replayed or re-emitted event is recognised as the same alert.
"""
from __future__ import annotations

import re
from typing import Any

from schemas.envelope import CloudEvent

_INSTITUTION = re.compile(r"^[HP]([0-9]{6})[0-9]{5}$")
_REGION = re.compile(r"^[0-9]{6}$")
_RULE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_PRODUCT = re.compile(r"^(X[A-Z0-9]{22}|Z[A-Z0-9]{19})$")

# Escalations and decisions carry no severity; these make "critical" mean the same everywhere.
_CRITICAL_LEVELS = {"province", "alliance", "national"}
_MILD_ACTIONS = {"resume_monthly_settlement", "resume_fund_disbursement", "release_prepayment",
                 "restore_trading"}

KINDS = {"vbp.warning.raised": "warning", "vbp.shortage.escalated": "escalation",
         "vbp.decision.issued": "decision"}


def from_event(event: CloudEvent) -> dict[str, Any]:
    """The alert record of a vbp.warnings / vbp.escalations / vbp.decisions event."""
    data = event.data.model_dump(mode="json")
    kind = KINDS[event.type]
    metrics = data.get("metrics") or data.get("evidence") or {}
    if kind == "warning":
        alert_id, rule, severity = data["warning_id"], data["rule"], data["severity"]
    elif kind == "decision":
        alert_id, rule = data["decision_id"], data["rule"]
        severity = "info" if data["action"] in _MILD_ACTIONS else "critical"
    else:
        alert_id = data["escalation_id"]
        candidates = (metrics.get("rule"), alert_id.split(":", 1)[0])
        rule = next((c for c in candidates if isinstance(c, str) and _RULE.match(c)),
                    "supply.escalation")
        severity = "critical" if data["level"] in _CRITICAL_LEVELS else "warning"
    return {
        "id": alert_id, "kind": kind, "type": event.type, "event_id": event.id,
        "time": event.time.isoformat(), "rule": rule, "severity": severity,
        "action": data.get("action"), "level": data.get("level"),
        "subject_kind": data.get("subject_kind", "product"),
        "subject_id": data.get("subject_id", data.get("product_code")),
        "period": data.get("period"),
        "policy_ref": data.get("policy_ref") or _text(metrics.get("policy_ref")),
        "caused_by": list(data.get("caused_by") or []),
        "institution_id": _institution(data, metrics),
        "product_code": _product(data, metrics),
        "region": _region(data, metrics),
        "data": data,
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _institution(data: dict[str, Any], metrics: dict[str, Any]) -> str | None:
    if data.get("subject_kind") == "institution" and _INSTITUTION.match(data["subject_id"]):
        return str(data["subject_id"])
    candidate = metrics.get("institution_id")
    return candidate if isinstance(candidate, str) and _INSTITUTION.match(candidate) else None


def _product(data: dict[str, Any], metrics: dict[str, Any]) -> str | None:
    for candidate in (data.get("product_code"), metrics.get("product_code"),
                      data.get("subject_id") if data.get("subject_kind") == "product" else None):
        if isinstance(candidate, str) and _PRODUCT.match(candidate):
            return candidate
    return None


def _region(data: dict[str, Any], metrics: dict[str, Any]) -> str | None:
    """Escalations name their region; an institution's is the 6 digits inside its id; a
    warning's metrics may name a county or city; a jurisdiction's warning is its region."""
    jurisdiction = data.get("subject_id") if data.get("subject_kind") == "jurisdiction" else None
    for candidate in (data.get("region_code"), metrics.get("county_code"), metrics.get("city_code"),
                      metrics.get("region_code"), jurisdiction):
        if isinstance(candidate, str) and _REGION.match(candidate):
            return candidate
    institution = _institution(data, metrics)
    return _INSTITUTION.match(institution).group(1) if institution else None  # type: ignore[union-attr]


def labels(alert: dict[str, Any]) -> dict[str, str | None]:
    """What matchers, silences and group_by see (config.LABELS)."""
    region = alert.get("region")
    return {
        "kind": alert["kind"], "rule": alert["rule"], "action": alert.get("action"),
        "severity": alert["severity"], "level": alert.get("level"),
        "subject_kind": alert.get("subject_kind"), "subject_id": alert.get("subject_id"),
        "period": alert.get("period"), "institution_id": alert.get("institution_id"),
        "product_code": alert.get("product_code"), "region": region,
        "province": region[:2] + "0000" if region else None,
        "city": region[:4] + "00" if region and region[2:4] != "00" else None,
        "county": region if region and region[4:] != "00" else None,
    }
