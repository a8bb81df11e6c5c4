"""The regulator's view: what the output topics (and a little reference data) say, in memory.

`View.apply(topic, event)` folds one CloudEvent (as decoded JSON) into the view; `View.state()`
is the JSON the page renders. No Kafka and no clock here: the feed (dashboard/feed.py) reads
the topics from the beginning and applies every record, so the view is a pure function of what
the topics hold, and a test can build one from a list of events.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from schemas.policy import PolicyProfile

# Topics the view reads (unprefixed contract names).
TOPICS = ("vbp.ref.institutions", "vbp.ref.products", "vbp.ref.agreements", "vbp.clock",
          "vbp.payments", "vbp.quota.progress", "vbp.warnings", "vbp.escalations",
          "vbp.decisions", "vbp.notifications", "vbp.alliance.inbound")
PARTNERS = "vbp.alliance.inbound"  # partners' events (CloudEvent `province` = the partner)
COVER_EXTENSIONS = ("covermonth", "coverinventory", "covermonths")
RECENT = 400  # newest warnings / notifications kept in full

# Supply rules whose escalations carry no policy_ref field: the profile clause behind each.
ESCALATION_CLAUSE = {"supply.production_stop": "production_stop_min_level",
                     "supply.low_inventory": "critical_cover_months",
                     "supply.unfilled_orders": "delivery_window_days"}
SUSPENDS = {"suspend_monthly_settlement": ("monthly_settlement", True),
            "resume_monthly_settlement": ("monthly_settlement", False),
            "suspend_fund_disbursement": ("fund_disbursement", True),
            "resume_fund_disbursement": ("fund_disbursement", False),
            "suspend_trading": ("trading", True), "restore_trading": ("trading", False)}


class View:
    def __init__(self, policy: PolicyProfile, cities: list[dict[str, Any]] | None = None,
                 regions: dict[str, str] | None = None) -> None:
        self.policy = policy
        self.cities = cities or []
        self.regions = regions or {}
        """GB/T 2260 code -> name, for the regions escalations name."""
        self.as_of: str | None = None
        self.records: Counter[str] = Counter()
        self.institutions: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.agreements: dict[str, dict[str, Any]] = {}
        self.progress: dict[tuple[str, str], dict[str, Any]] = {}
        self.warnings: dict[str, dict[str, Any]] = {}
        self.escalations: dict[str, dict[str, Any]] = {}
        self.decisions: dict[str, dict[str, Any]] = {}
        self.alerts: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.attempts: Counter[str] = Counter()
        self.paid: dict[str, str] = {}
        """delivery_id -> paid_on, for the deliveries the overdue warnings name."""
        self.partners: dict[str, dict[str, Any]] = {}
        """partner province -> what it shared on vbp.alliance.inbound (see _apply_partner)."""

    # -- folding events -------------------------------------------------------------------------

    def apply(self, topic: str, event: dict[str, Any]) -> None:
        self.records[topic] += 1
        data = event.get("data") or {}
        kind = event.get("type")
        if topic == PARTNERS:
            self._apply_partner(event)
        elif kind == "vbp.clock.tick":
            if self.as_of is None or data["as_of"] > self.as_of:
                self.as_of = data["as_of"]
        elif kind == "vbp.institution.registered":
            self.institutions[data["institution_id"]] = data
        elif kind == "vbp.product.listed" and topic == "vbp.ref.products":
            self.products[data["product_code"]] = data
        elif kind == "vbp.agreement.signed":
            self.agreements[data["agreement_id"]] = data
        elif kind == "vbp.payment.made":
            for delivery in data["delivery_ids"]:
                self.paid[delivery] = data["paid_on"]
        elif kind == "vbp.quota.progress":
            self.progress[(data["agreement_id"], data["period"])] = data
        elif kind == "vbp.warning.raised":
            self.warnings.setdefault(data["warning_id"], {**data, "time": event["time"]})
        elif kind == "vbp.shortage.escalated":
            self.escalations.setdefault(data["escalation_id"], {**data, "time": event["time"]})
        elif kind == "vbp.decision.issued":
            self.decisions.setdefault(data["decision_id"], {**data, "time": event["time"]})
        elif kind == "vbp.notification.logged":
            self.attempts[data["outcome"]] += 1
            alert = self.alerts.setdefault(data["alert_id"], {"alert_id": data["alert_id"],
                                                              "attempts": 0, "receivers": {}})
            alert["attempts"] = max(alert["attempts"], data.get("attempt") or 0)
            alert["receivers"][data["receiver"]] = data["outcome"]
            alert["at"] = data["at"]
            self.notifications.append(data)
            del self.notifications[:-RECENT]

    def _apply_partner(self, event: dict[str, Any]) -> None:
        """A partner's event: kept apart from the home province's own, latest version by key
        (a re-sent event with the same id changes nothing)."""
        province = event.get("province") or str(event.get("source", "")).rsplit("/", 1)[-1]
        if not province:
            raise KeyError("province")
        data = event.get("data") or {}
        kind = event.get("type")
        partner = self.partners.setdefault(province, {
            "events": 0, "last_event_time": None, "summaries": {}, "shortages": {},
            "trading": {}, "available": {}})
        if kind == "vbp.quota.monthly_summary":
            key = (data["generic_name"], data["city_code"])
            old = partner["summaries"].get(key)
            if old is None or data["month"] >= old["month"]:
                partner["summaries"][key] = data
        elif kind == "vbp.shortage.escalated":
            partner["shortages"][data["escalation_id"]] = {**data, "time": event["time"]}
        elif kind == "vbp.decision.issued":
            what = SUSPENDS.get(data["action"])
            if what and what[0] == "trading":
                old = partner["trading"].get(data["subject_id"])
                if old is None or (data["effective_from"], event["time"]) >= (
                        old["effective_from"], old["time"]):
                    partner["trading"][data["subject_id"]] = {**data, "time": event["time"],
                                                              "suspended": what[1]}
        elif kind == "vbp.product.listed":
            if data["winning"]:
                cover = {k: event[k] for k in COVER_EXTENSIONS if k in event}
                partner["available"][data["product_code"]] = {**data, "cover": cover}
            else:
                partner["available"].pop(data["product_code"], None)
        partner["events"] += 1
        time = event.get("time")
        if time and (partner["last_event_time"] is None or time > partner["last_event_time"]):
            partner["last_event_time"] = time

    # -- the page's JSON --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        quarters = sorted({period for _, period in self.progress if "-Q" in period})
        phases = self._phases(quarters)
        return {
            "province": {"code": self.policy.region_code, "name": self.policy.jurisdiction},
            "policy": {"name": self.policy.name, "document": self.policy.document,
                       "warn_below": _num(self.policy.quota.quarterly_warn_below.value),
                       "suspend_below": _num(self.policy.quota.quarterly_suspend_below.value),
                       "quota_ref": self.policy.quota.quarterly_warn_below.ref},
            "as_of": self.as_of,
            "regions": self.regions,
            "records": dict(self.records),
            "totals": {
                "institutions": len(self.institutions), "agreements": len(self.agreements),
                "warnings": len(self.warnings), "escalations": len(self.escalations),
                "decisions": len(self.decisions), "alerts": len(self.alerts),
                "notifications": sum(self.attempts.values()),
            },
            "quarters": quarters,
            "phases": phases,
            "cities": self._cities(quarters, phases),
            "institutions": self._institutions(quarters, phases),
            "warnings_by_rule": _by(self.warnings.values(), "rule", "severity"),
            "decisions_by_rule": _by(self.decisions.values(), "rule", "action"),
            "escalations_by_rule": _by(self.escalations.values(), "rule", "level"),
            "warnings": [self._warning(w) for w in _newest(self.warnings.values(), RECENT)],
            # for the operators, above everything: e.g. next year's holiday arrangement missing
            "jurisdiction_warnings": [w for w in _newest(self.warnings.values(), RECENT)
                                      if w["subject_kind"] == "jurisdiction"],
            "decisions": [self._decision(d) for d in _newest(self.decisions.values(), RECENT)],
            "escalations": [self._escalation(e)
                            for e in _newest(self.escalations.values(), RECENT)],
            "overdue": self._overdue(),
            "alliance": self._alliance(),
            "notifications": {
                "by_outcome": dict(self.attempts),
                "by_receiver": _receivers(self.alerts.values()),
                "alerts": len(self.alerts),
                "final": dict(Counter(_final(a) for a in self.alerts.values())),
                "recent": list(reversed(self.notifications[-100:])),
            },
        }

    def _phases(self, quarters: list[str]) -> dict[str, dict[str, Any]]:
        """Per quarter label: its days, and whether it is closed (evaluated), current or still
        to come on the latest tick. Quarters are agreement-relative (contract); the view takes
        the bounds from the agreements' most common period_start."""
        starts = Counter(a["period_start"] for a in self.agreements.values())
        if not starts:
            return {}
        first = date.fromisoformat(starts.most_common(1)[0][0])
        as_of = date.fromisoformat(self.as_of) if self.as_of else first
        out = {}
        for q in quarters:
            n = int(q.rsplit("Q", 1)[1])
            start = _add_months(first, 3 * (n - 1))
            end = _add_months(first, 3 * n) - timedelta(days=1)
            phase = "closed" if as_of > end else "current" if as_of >= start else "future"
            elapsed = min(max((as_of - start).days, 0), (end - start).days + 1)
            out[q] = {"start": start.isoformat(), "end": end.isoformat(), "phase": phase,
                      "pace": round(elapsed / ((end - start).days + 1), 4)}
        return out

    def _rate_rows(self) -> dict[str, dict[str, list[Decimal]]]:
        """institution_id -> period -> [counted, target] over its agreements."""
        rows: dict[str, dict[str, list[Decimal]]] = defaultdict(dict)
        for (_, period), p in self.progress.items():
            if "-Q" not in period:
                continue
            target = Decimal(p["target_quantity"])
            counted = Decimal(p["completion_rate"]) * target
            cell = rows[p["institution_id"]].setdefault(period, [Decimal(0), Decimal(0)])
            cell[0] += counted
            cell[1] += target
        return rows

    def _cities(self, quarters: list[str],
                phases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        rows = self._rate_rows()
        suspended = self._suspended()
        out = []
        for city in self.cities:
            members = [i for i, inst in self.institutions.items()
                       if inst["city_code"] == city["code"]]
            cells = {}
            for q in quarters:
                counted = sum((rows[i][q][0] for i in members if q in rows.get(i, {})), Decimal(0))
                target = sum((rows[i][q][1] for i in members if q in rows.get(i, {})), Decimal(0))
                cells[q] = None if _future(phases, q) else _rate(counted, target)
            out.append({**city, "institutions": len(members), "rates": cells,
                        "warnings": sum(1 for w in self.warnings.values()
                                        if self._institution_of(w) in members),
                        "suspended": sum(1 for i in members
                                         if suspended.get(i, {}).get("monthly_settlement"))})
        return out

    def _institutions(self, quarters: list[str],
                      phases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        rows = self._rate_rows()
        suspended = self._suspended()
        warned = Counter(self._institution_of(w) for w in self.warnings.values())
        out = []
        for inst_id, periods in rows.items():
            inst = self.institutions.get(inst_id, {})
            rates = {q: _rate(*periods[q]) if q in periods and not _future(phases, q) else None
                     for q in quarters}
            out.append({"institution_id": inst_id, "name": inst.get("name", inst_id),
                        "city_code": inst.get("city_code"), "kind": inst.get("kind"),
                        "rates": rates, "warnings": warned.get(inst_id, 0),
                        "status": suspended.get(inst_id, {})})
        low = self.policy.quota.quarterly_warn_below.value or 0.8

        def badness(row: dict[str, Any]) -> tuple:
            rates = [r for q, r in row["rates"].items()
                     if r is not None and phases.get(q, {}).get("phase") == "closed"]
            flagged = any(row["status"].values())
            return (not flagged, -row["warnings"], min(rates, default=1.0) >= low,
                    min(rates, default=1.0), row["institution_id"])

        return sorted(out, key=badness)

    def _institution_of(self, w: dict[str, Any]) -> str | None:
        if w["subject_kind"] == "institution":
            return w["subject_id"]
        metrics = w.get("metrics") or {}
        if metrics.get("institution_id"):
            return metrics["institution_id"]
        agreement = self.agreements.get(w["subject_id"])
        return agreement["institution_id"] if agreement else None

    def _suspended(self) -> dict[str, dict[str, bool]]:
        """institution_id -> {monthly_settlement: bool, fund_disbursement: bool} from the
        decisions, in effective order."""
        status: dict[str, dict[str, bool]] = defaultdict(dict)
        for d in sorted(self.decisions.values(), key=lambda d: (d["effective_from"], d["time"])):
            what = SUSPENDS.get(d["action"])
            if what and d["subject_kind"] == "institution":
                status[d["subject_id"]][what[0]] = what[1]
        return status

    def _warning(self, w: dict[str, Any]) -> dict[str, Any]:
        inst = self.institutions.get(self._institution_of(w) or "", {})
        return {**w, "subject_name": inst.get("name") or self._product_name(w["subject_id"])}

    def _decision(self, d: dict[str, Any]) -> dict[str, Any]:
        inst = self.institutions.get(d["subject_id"], {})
        return {**d, "subject_name": inst.get("name") or self._product_name(d["subject_id"])}

    def _product_name(self, code: str) -> str | None:
        p = self.products.get(code)
        return f"{p['generic_name']} {p['specification']}" if p else None

    def _escalation(self, e: dict[str, Any]) -> dict[str, Any]:
        rule = e["escalation_id"].split(":", 1)[0]
        evidence = e.get("evidence") or {}
        clause = evidence.get("policy_ref")
        if not clause and rule in ESCALATION_CLAUSE:
            param = getattr(self.policy.supply, ESCALATION_CLAUSE[rule], None)
            clause = getattr(param, "ref", None) or (
                "局设定" if getattr(param, "value", None) is not None else None)
        alternatives = [{**a, "name": self._product_name(a["product_code"])}
                        for a in e.get("alternatives") or []]
        return {**e, "rule": rule, "policy_ref": clause, "alternatives": alternatives}

    def _alliance(self) -> list[dict[str, Any]]:
        """Per partner: completion per generic name over the cities of its latest summarised
        month (ordered / target, like the partner's own summary), its shortages (newest first,
        with level), products whose trading it suspended, and its winning products."""
        out = []
        for province, p in sorted(self.partners.items()):
            month = max((s["month"] for s in p["summaries"].values()), default=None)
            sums: dict[str, dict[str, Any]] = {}
            for s in p["summaries"].values():
                if s["month"] != month:
                    continue
                row = sums.setdefault(s["generic_name"], {
                    "generic_name": s["generic_name"], "ordered_quantity": 0,
                    "target_quantity": 0, "cities": 0, "institutions": 0, "agreements": 0})
                row["ordered_quantity"] += s["ordered_quantity"]
                row["target_quantity"] += s["target_quantity"]
                row["cities"] += 1
                row["institutions"] += s.get("institutions") or 0
                row["agreements"] += s.get("agreements") or 0
            completion = [{**row, "completion_rate": _rate(Decimal(row["ordered_quantity"]),
                                                           Decimal(row["target_quantity"]))}
                          for _, row in sorted(sums.items())]
            available = sorted(p["available"].values(), key=lambda a: a["product_code"])
            out.append({
                "province": province, "name": self.regions.get(province),
                "events": p["events"], "last_event_time": p["last_event_time"],
                "month": month, "completion": completion,
                "shortages": [{**e, "rule": e["escalation_id"].split(":", 1)[0]}
                              for e in _newest(p["shortages"].values(), RECENT)],
                "trading_suspended": sorted(
                    ({"product_code": code, "effective_from": d["effective_from"],
                      "policy_ref": d.get("policy_ref"), "name": self._product_name(code)}
                     for code, d in p["trading"].items() if d["suspended"]),
                    key=lambda d: d["product_code"]),
                "winning_products": len(available),
                "available": [{"product_code": a["product_code"],
                               "generic_name": a["generic_name"],
                               "specification": a.get("specification"),
                               "manufacturer_id": a["manufacturer_id"], "price": a.get("price"),
                               "cover": a["cover"]} for a in available],
            })
        return out

    def _overdue(self) -> list[dict[str, Any]]:
        out = []
        for w in self.warnings.values():
            if w["rule"] != "settlement.payment_overdue":
                continue
            m = w.get("metrics") or {}
            delivery = m.get("delivery_id")
            inst = self.institutions.get(w["subject_id"], {})
            out.append({"warning_id": w["warning_id"], "institution_id": w["subject_id"],
                        "name": inst.get("name"), "delivery_id": delivery,
                        "amount": m.get("outstanding") or m.get("amount"),
                        "accepted_on": m.get("accepted_on"), "due_date": m.get("due_date"),
                        "warned": w["time"][:10], "paid_on": self.paid.get(delivery or ""),
                        "policy_ref": w["policy_ref"]})
        return sorted(out, key=lambda o: (o["paid_on"] is not None, o["due_date"] or "",
                                          o["delivery_id"] or ""))


def _future(phases: dict[str, dict[str, Any]], quarter: str) -> bool:
    return phases.get(quarter, {}).get("phase") == "future"


def _add_months(d: date, months: int) -> date:
    month = d.month - 1 + months
    year, month = d.year + month // 12, month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][month - 1]
    return date(year, month, min(d.day, days))


def _num(x: Any) -> float | None:
    return None if x is None else float(x)


def _rate(counted: Decimal, target: Decimal) -> float | None:
    return None if not target else round(float(counted / target), 4)


def _by(items: Any, first: str, second: str) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        key = item.get(first) or item.get("escalation_id", "").split(":", 1)[0]
        out[key][item.get(second) or "-"] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def _newest(items: Any, n: int) -> list[dict[str, Any]]:
    return sorted(items, key=lambda x: x["time"], reverse=True)[:n]


def _final(alert: dict[str, Any]) -> str:
    outcomes = set(alert["receivers"].values())
    for outcome in ("sent", "suppressed", "given_up", "failed", "retrying"):
        if outcome in outcomes:
            return outcome
    return "unknown"


def _receivers(alerts: Any) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for alert in alerts:
        for receiver, outcome in alert["receivers"].items():
            out[receiver][outcome] += 1
    return {k: dict(v) for k, v in sorted(out.items())}
