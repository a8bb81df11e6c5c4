"""Alerts and their labels, and the route tree walked as Alertmanager walks it."""
from __future__ import annotations

from schemas.envelope import example_event
from services.alerts.alert import from_event, labels
from services.alerts.config import parse
from services.alerts.routing import group_key, match, owed

RECEIVERS = "".join(f"""
[[receivers]]
name = "{name}"
kind = "webhook"
url = "http://127.0.0.1:9/{name}"
secret = "s"
""" for name in ("bureau", "guiyang", "zunyi", "health", "director", "industry"))

TREE = RECEIVERS + """
[route]
receivers = ["bureau"]
group_wait = "30s"
[[route.routes]]
match = { rule = "quota.*", region = "5201" }
receivers = ["guiyang"]
group_by = ["rule", "city", "period"]
continue = true
[[route.routes]]
match = { rule = "quota.*", region = "520300" }
receivers = ["zunyi"]
[[route.routes]]
match = { severity = "critical" }
receivers = ["health"]
group_wait = "0s"
[route.routes.escalation]
ack_within = "2h"
chain = ["director", "health"]
[[route.routes]]
match = { kind = "escalation" }
receivers = ["industry"]
"""


def warning(institution: str = "H52010200001", **changes: object) -> dict:
    event = example_event("vbp.warning.raised", subject_kind="institution",
                          subject_id=institution, **changes)
    return from_event(event)


def test_an_institutions_region_is_the_area_code_inside_its_id() -> None:
    alert = warning("H52010200001")
    assert (alert["region"], alert["institution_id"]) == ("520102", "H52010200001")
    seen = labels(alert)
    assert (seen["province"], seen["city"], seen["county"]) == ("520000", "520100", "520102")


def test_an_agreement_warning_takes_its_institution_from_the_metrics() -> None:
    event = example_event("vbp.warning.raised", metrics={
        "institution_id": "P52030200009", "product_code": "XC10AAA081A001010100328"})
    alert = from_event(event)
    assert alert["subject_kind"] == "agreement"
    assert (alert["institution_id"], alert["region"]) == ("P52030200009", "520302")
    assert alert["product_code"] == "XC10AAA081A001010100328"


def test_a_city_code_in_the_metrics_names_the_region() -> None:
    event = example_event("vbp.warning.raised", subject_kind="manufacturer",
                          subject_id="M11000000328", metrics={"city_code": "520300"})
    alert = from_event(event)
    assert alert["region"] == "520300" and alert["institution_id"] is None
    assert labels(alert)["city"] == "520300" and labels(alert)["county"] is None


def test_escalations_and_decisions() -> None:
    escalation = from_event(example_event("vbp.shortage.escalated"))
    assert escalation["id"] == "supply.production_stop:XC08CAA017A001010100783:520000:province"
    assert (escalation["rule"], escalation["region"], escalation["severity"]) == (
        "supply.production_stop", "520000", "critical")
    assert labels(escalation)["city"] is None  # a province-wide shortage
    city = from_event(example_event("vbp.shortage.escalated", level="city", region_code="520100"))
    assert city["severity"] == "warning"
    suspend = from_event(example_event("vbp.decision.issued"))
    assert (suspend["kind"], suspend["severity"], suspend["action"]) == (
        "decision", "critical", "suspend_monthly_settlement")
    assert suspend["caused_by"] == ["quota.quarterly_completion:AGR-520000-2020-000001:2020-Q1"]
    resume = from_event(example_event("vbp.decision.issued", action="resume_monthly_settlement"))
    assert resume["severity"] == "info"


def test_first_matching_child_takes_the_alert_unless_it_continues() -> None:
    config = parse(TREE)
    guiyang = labels(warning("H52010200001", severity="critical"))
    assert [(m.route, m.receivers) for m in match(config, guiyang)] == [
        ("root.0", ("guiyang",)), ("root.2", ("health",))]
    zunyi = labels(warning("H52030200001", severity="critical"))
    assert [m.receivers for m in match(config, zunyi)] == [("zunyi",)]  # no continue: stops
    other = labels(warning("H52060200001", rule="settlement.payment_overdue", severity="warning"))
    assert [(m.route, m.receivers) for m in match(config, other)] == [("root", ("bureau",))]


def test_children_inherit_group_settings_and_receivers() -> None:
    config = parse(RECEIVERS + """
[route]
receivers = ["bureau"]
group_by = ["city"]
group_wait = "1m"
[[route.routes]]
name = "quota"
match = { rule = "quota.*" }
group_interval = "2h"
[[route.routes.routes]]
match = { severity = "critical" }
receivers = ["health"]
group_by = []
""")
    critical, = match(config, labels(warning(severity="critical")))
    assert (critical.route, critical.receivers, critical.group_by) == ("quota.0", ("health",), ())
    assert (critical.group_wait, critical.group_interval) == (60.0, 7200.0)
    plain, = match(config, labels(warning(severity="warning")))
    assert (plain.route, plain.receivers, plain.group_by) == ("quota", ("bureau",), ("city",))


def test_rows_owed_group_keys_and_escalation() -> None:
    config = parse(TREE)
    alert = warning("H52010200001", severity="critical", period="2020-Q2")
    found = owed(config, alert, now=1000.0)
    rows = found["rows"]
    assert set(rows) == {"guiyang", "health"}
    assert rows["guiyang"]["group"] == (
        "root.0|rule=quota.quarterly_completion,city=520100,period=2020-Q2")
    assert rows["guiyang"]["wait"] == 30.0 and rows["health"]["wait"] == 0.0
    assert rows["health"]["group"] == f"root.2|alert={alert['id']}"
    assert all(r["status"] == "owed" and r["created_at"] == 1000.0 for r in rows.values())
    assert found["escalation"] == {"route": "root.2", "ack_within": 7200.0,
                                   "chain": ["director", "health"], "step": 0}
    other = warning("H52010200002", severity="critical", period="2020-Q2")
    matched = match(config, labels(other))[0]
    assert group_key(matched, other, labels(other)) == rows["guiyang"]["group"]  # same message


def test_a_receiver_named_by_two_routes_is_owed_once() -> None:
    config = parse(RECEIVERS + """
[route]
receivers = ["bureau"]
[[route.routes]]
receivers = ["bureau"]
continue = true
[[route.routes]]
match = { kind = "warning" }
receivers = ["bureau", "health"]
""")
    assert set(owed(config, warning(), 0.0)["rows"]) == {"bureau", "health"}
