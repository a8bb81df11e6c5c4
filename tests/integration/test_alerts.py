"""Alerts service end to end: real broker, real HTTP receivers started here (no httpx mocks).

The receivers run in threads (stdlib ThreadingHTTPServer), so they answer while the test's event
loop is blocked, e.g. while the harness waits for a restarted service.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from services.alerts.receivers import NOTIFICATION_HEADER
from tests.events import event
from tests.harness import ServiceProcess, eventually, read, send
from tests.receiver import Receiver

pytestmark = pytest.mark.integration

TOKEN = "test-token-7f3a"
GUIYANG_HOSPITAL = "H52010200001"  # 520102: Guiyang, Nanming district
ZUNYI_HOSPITAL = "H52030200001"  # 520302: Zunyi, Honghuagang district
WINNER = "XC10AAA081A001010100328"
AGREEMENT = "AGR-520000-2020-000001"


# -- receivers -------------------------------------------------------------------------------

@pytest.fixture
def receivers() -> Any:
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


# -- service and events ----------------------------------------------------------------------

def write_routes(path: Path, text: str) -> None:
    """Replace the routing file atomically, as an operator's deploy would."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(textwrap.dedent(text), encoding="utf-8")
    os.replace(tmp, path)


def start(bootstrap: str, prefix: str, workdir: Path, routes: Path) -> ServiceProcess:
    service = ServiceProcess("alerts", bootstrap, prefix, workdir, VBP_ALERTS_ROUTES=str(routes),
                             VBP_ALERTS_TOKEN=TOKEN, VBP_ALERTS_TICK_SECONDS="0.1")
    service.start()
    return service


def api(service: ServiceProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.request(method, service.url + path, headers=headers, timeout=15, **kwargs)


def warning(warning_id: str, institution: str, *, rule: str = "quota.quarterly_completion",
            severity: str = "warning", period: str | None = "2020-Q1",
            **metrics: Any) -> tuple[str, bytes]:
    return event("vbp.warning.raised", warning_id, "2020-04-01", warning_id=warning_id, rule=rule,
                 severity=severity, subject_kind="institution", subject_id=institution,
                 period=period, policy_ref="000 §五(三)",
                 metrics={"quantity": 200, "target": 300, "completion_rate": "0.6667",
                          "product_code": WINNER, **metrics},
                 message="quarterly completion 66.67 % (200/300) is below 80 %")


def decision(decision_id: str, institution: str, caused_by: list[str]) -> tuple[str, bytes]:
    return event("vbp.decision.issued", decision_id, "2020-04-01", decision_id=decision_id,
                 action="suspend_monthly_settlement", subject_kind="institution",
                 subject_id=institution, effective_from="2020-05-01",
                 rule="quota.quarterly_completion", policy_ref="000 §五(三)", caused_by=caused_by,
                 metrics={"completion_rate": "0.6667"}, amount=None)



def settled(service: ServiceProcess, alert_ids: set[str]) -> bool:
    """Every delivery of these alerts has reached a final outcome: nothing is left to send."""
    reply = api(service, "GET", "/v1/alerts", params={"state": "all"}).json()
    found = {a["alert_id"]: a for a in reply["alerts"]}
    return alert_ids <= set(found) and all(
        d["status"] in ("sent", "failed", "given_up", "suppressed")
        for alert_id in alert_ids for d in found[alert_id]["deliveries"].values())


async def notifications(bootstrap: str, prefix: str,
                        until: Callable[[list[dict]], bool]) -> list[dict]:
    records = await read(bootstrap, prefix + "vbp.notifications",
                         until=lambda r: until([x.json() for x in r]), timeout=30)
    logged = [r.json() for r in records]
    assert until(logged), f"vbp.notifications never got there: {len(logged)} records"
    return logged


# -- tests -----------------------------------------------------------------------------------

async def test_routes_by_region_and_rule_with_signed_chinese_messages(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, receivers: Any) -> None:
    """The bureau's webhook gets everything, signed; Guiyang's WeCom robot only Guiyang's quota
    warnings, Zunyi's DingTalk robot (加签) only Zunyi's; the health commission the shortage
    escalation. Each message names the institution, the product, the figures and the clause."""
    bureau = receivers(kind="webhook", secret="bureau-secret")
    guiyang = receivers(kind="wecom")
    zunyi = receivers(kind="dingtalk", secret="SECzunyi")
    health = receivers(kind="webhook", secret="health-secret")
    routes = tmp_path / "routes.toml"
    write_routes(routes, f"""
        [[receivers]]
        name = "bureau"
        kind = "webhook"
        url = "{bureau.url}"
        secret = "bureau-secret"
        [[receivers]]
        name = "guiyang-office"
        kind = "wecom"
        url = "{guiyang.url}?key=wecom-key"
        [[receivers]]
        name = "zunyi-office"
        kind = "dingtalk"
        url = "{zunyi.url}?access_token=ding-token"
        secret = "SECzunyi"
        [[receivers]]
        name = "health-commission"
        kind = "webhook"
        url = "{health.url}"
        secret = "health-secret"

        [route]
        receivers = ["bureau"]
        [[route.routes]]
        receivers = ["bureau"]
        continue = true
        [[route.routes]]
        match = {{ rule = "quota.*", region = "520100" }}
        receivers = ["guiyang-office"]
        continue = true
        [[route.routes]]
        match = {{ rule = "quota.*", region = "5203" }}
        receivers = ["zunyi-office"]
        continue = true
        [[route.routes]]
        match = {{ kind = "escalation" }}
        receivers = ["health-commission"]
        """)
    await send(kafka_bootstrap, topic_prefix + "vbp.ref.institutions", [
        event("vbp.institution.registered", "inst-1", "2019-12-01", institution_id=GUIYANG_HOSPITAL,
              name="贵阳市第一人民医院", county_code="520102", city_code="520100")])
    await send(kafka_bootstrap, topic_prefix + "vbp.ref.products", [
        event("vbp.product.listed", "prod-1", "2019-12-01", product_code=WINNER)])
    service = start(kafka_bootstrap, topic_prefix, tmp_path, routes)
    try:
        guiyang_q1 = "quota.quarterly_completion:H52010200001:2020-Q1:warning"
        zunyi_q1 = "quota.quarterly_completion:H52030200001:2020-Q1:warning"
        overdue = "settlement.payment_overdue:H52010200001:DLV-1:warning"
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [
            warning(guiyang_q1, GUIYANG_HOSPITAL), warning(zunyi_q1, ZUNYI_HOSPITAL),
            warning(overdue, GUIYANG_HOSPITAL, rule="settlement.payment_overdue", period=None)])
        shortage = event("vbp.shortage.escalated", "supply.production_stop:XC08:520000:province",
                         "2020-04-02")
        shortage_id = json.loads(shortage[1])["data"]["escalation_id"]
        await send(kafka_bootstrap, topic_prefix + "vbp.escalations", [shortage])
        everything = {guiyang_q1, zunyi_q1, overdue, shortage_id}
        await eventually(lambda: settled(service, everything), what="all four delivered")

        assert sorted(bureau.alert_ids()) == sorted(everything)
        assert guiyang.alert_ids() == [guiyang_q1]
        assert zunyi.alert_ids() == [zunyi_q1]
        assert health.alert_ids() == [shortage_id]
        # Signatures: every request verified (an unverified one is answered 401 and not counted).
        for receiver in (bureau, guiyang, zunyi, health):
            assert all(r["verified"] for r in receiver.requests), receiver.kind
            assert len(receiver.requests) == len(receiver.delivered())  # no retries, no repeats
        assert "sign=" in zunyi.requests[0]["path"] and "timestamp=" in zunyi.requests[0]["path"]

        wecom = guiyang.requests[0]["body"]
        assert wecom["msgtype"] == "markdown"
        content = wecom["markdown"]["content"]
        for expected in ("贵阳市第一人民医院", GUIYANG_HOSPITAL, "阿托伐他汀钙片", WINNER,
                         "完成率 66.67%", "采购量 200", "任务量 300",
                         "黔医保发〔2019〕69号 §五(三)"):
            assert expected in content, (expected, content)
        assert len(content.encode()) <= 4096
        ding = zunyi.requests[0]["body"]
        assert ding["msgtype"] == "markdown" and "季度约定采购量完成率" in ding["markdown"]["title"]
        assert "H52030200001" in ding["markdown"]["text"]

        bureau_ids = {r["headers"][NOTIFICATION_HEADER] for r in bureau.requests}
        assert len(bureau_ids) == 4  # one notification per alert: this route does not group
        shortage_text = health.delivered()[0]["body"]["text"]
        assert "短缺上报·省级" in shortage_text and "苯磺酸氨氯地平片" in shortage_text

        logged = await notifications(kafka_bootstrap, topic_prefix, lambda n: len(n) >= 7)
        sent = sorted((n["data"]["alert_id"], n["data"]["receiver"]) for n in logged
                      if n["data"]["outcome"] == "sent")
        assert len(sent) == len(set(sent)) == 7
        assert {n["data"]["attempt"] for n in logged} == {1}
    finally:
        assert service.stop(signal.SIGTERM) == 0
    assert "Traceback" not in service.log(), service.log()[-3000:]


def receiver_toml(name: str, receiver: Receiver, **extra: str) -> str:
    lines = [f'[[receivers]]\nname = "{name}"\nkind = "{receiver.kind}"\nurl = "{receiver.url}"']
    if receiver.secret:
        lines.append(f'secret = "{receiver.secret}"')
    lines.extend(f"{key} = {value}" for key, value in extra.items())
    return "\n".join(lines) + "\n"


FAST_RETRIES = """
[delivery]
max_attempts = 5
backoff_initial = "200ms"
backoff_max = "400ms"
jitter = 0.5
circuit_failures = 3
circuit_open = "700ms"
"""


def outcomes(logged: list[dict], receiver: str) -> dict[str, list[tuple[int, str]]]:
    by_alert: dict[str, list[tuple[int, str]]] = {}
    for n in logged:
        if n["data"]["receiver"] == receiver:
            seen = by_alert.setdefault(n["data"]["alert_id"], [])
            seen.append((n["data"]["attempt"], n["data"]["outcome"]))
    return by_alert


async def test_failing_receivers_retry_back_off_and_get_each_alert_once(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, receivers: Any) -> None:
    """A receiver failing 3 times then recovering gets each alert once; one too slow for its
    timeout gets the retry under the same notification id and drops it; a dead one trips the
    circuit (no request for circuit_open after 3 failures in a row) and is given up on after
    max_attempts, each attempt logged in vbp.notifications."""
    recovering = receivers(kind="webhook", secret="s1", answers=[503, 503, 503])
    slow = receivers(kind="webhook", secret="s2", slow_first=2.5)
    dead = receivers(kind="webhook", secret="s3", answers=[503] * 100)
    routes = tmp_path / "routes.toml"
    write_routes(routes, receiver_toml("recovering", recovering)
                 + receiver_toml("slow", slow, timeout='"1s"') + receiver_toml("dead", dead)
                 + '[route]\nreceivers = ["recovering", "slow", "dead"]\n' + FAST_RETRIES)
    service = start(kafka_bootstrap, topic_prefix, tmp_path, routes)
    try:
        ids = ["quota.quarterly_completion:H52010200001:2020-Q1:warning",
               "quota.quarterly_completion:H52010200002:2020-Q1:warning"]
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings",
                   [warning(ids[0], GUIYANG_HOSPITAL), warning(ids[1], "H52010200002")])
        await eventually(lambda: settled(service, set(ids)), timeout=40, what="all settled")

        assert sorted(recovering.alert_ids()) == sorted(ids)
        assert sorted(recovering.alert_ids(recovering.accepted())) == sorted(ids)
        assert sorted(slow.alert_ids()) == sorted(ids)
        timed_out = slow.requests[0]
        repeats = [r for r in slow.accepted() if r["headers"][NOTIFICATION_HEADER]
                   == timed_out["headers"][NOTIFICATION_HEADER]]
        assert len(repeats) == 2  # it arrived twice; the idempotency key makes it one delivery
        assert dead.delivered() == [] and len(dead.requests) == 2 * 5

        times = [r["at"] for r in dead.requests]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert max(gaps[:2]) < 0.7 and gaps[2] >= 0.65, gaps  # the circuit opened after 3

        logged = await notifications(kafka_bootstrap, topic_prefix, lambda n: sum(
            x["data"]["outcome"] == "given_up" for x in n) >= 2)
        for alert_id, seen in outcomes(logged, "dead").items():
            assert seen == [(1, "retrying"), (2, "retrying"), (3, "retrying"), (4, "retrying"),
                            (5, "given_up")], (alert_id, seen)
        for seen in outcomes(logged, "recovering").values():
            assert [o for _, o in seen][-1] == "sent" and [a for a, _ in seen] == list(
                range(1, len(seen) + 1)), seen
        assert all(n["data"]["error"] for n in logged if n["data"]["outcome"] != "sent")
        assert any("503" in n["data"]["error"] for n in logged if n["data"]["receiver"] == "dead")
        assert any("within 1s" in (n["data"]["error"] or "") for n in logged
                   if n["data"]["receiver"] == "slow")
    finally:
        assert service.stop(signal.SIGTERM) == 0
    assert "Traceback" not in service.log(), service.log()[-3000:]


async def test_restart_mid_retry_loses_and_duplicates_nothing(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, receivers: Any) -> None:
    """The worker is SIGKILLed while a receiver is down and three notifications are being
    retried, while a fourth alert still waits out its group_wait, and at the worst moment for a
    fifth: its receiver has the request but the worker dies before recording the answer.

    After the restart: the retries go on under the same notification ids, attempt numbers carry
    on, the waiting alert goes out, the healthy receiver gets nothing again; every receiver
    accepts each alert once. The fifth is the one duplicate the design allows (send and record
    cannot be atomic): it arrives again under the same X-VBP-Notification-Id, so the receiver
    drops it."""
    down = receivers(kind="webhook", secret="s1", down=True)
    healthy = receivers(kind="webhook", secret="s2")
    fatal = receivers(kind="webhook", secret="s3")
    routes = tmp_path / "routes.toml"
    write_routes(routes, receiver_toml("down", down) + receiver_toml("healthy", healthy)
                 + receiver_toml("fatal", fatal) + """
        [route]
        receivers = ["down", "healthy"]
        [[route.routes]]
        match = { rule = "settlement.*" }
        receivers = ["healthy"]
        group_by = ["rule"]
        group_wait = "8s"
        [[route.routes]]
        match = { rule = "supply.*" }
        receivers = ["fatal"]
        [delivery]
        max_attempts = 1000
        backoff_initial = "300ms"
        backoff_max = "1s"
        circuit_failures = 1000
        """)
    service = start(kafka_bootstrap, topic_prefix, tmp_path, routes)
    retried = [f"quota.quarterly_completion:H5201020000{i}:2020-Q1:warning" for i in (1, 2, 3)]
    waiting = "settlement.payment_overdue:H52010200001:DLV-1:warning"
    fifth = "supply.shortfall_forecast:M11000000328:2020-05:warning"
    try:
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings",
                   [warning(alert_id, alert_id.split(":")[1]) for alert_id in retried])
        await eventually(lambda: sorted(healthy.alert_ids()) == sorted(retried),
                         what="healthy got 3")
        await eventually(lambda: len(down.requests) >= 6, what="down retried")
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [
            warning(waiting, GUIYANG_HOSPITAL, rule="settlement.payment_overdue", period=None)])
        await eventually(lambda: api(service, "GET", f"/v1/alerts/{quote(waiting, safe='')}")
                         .status_code == 200, what="waiting alert recorded")
        assert service.process is not None
        fatal.on_request = lambda: os.kill(service.process.pid, signal.SIGKILL)
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [
            warning(fifth, GUIYANG_HOSPITAL, rule="supply.shortfall_forecast", period="2020-05")])
        assert await asyncio.to_thread(service.process.wait, 30) == -signal.SIGKILL
        before = {r["headers"][NOTIFICATION_HEADER] for r in down.requests}
    finally:
        service.stop(signal.SIGKILL)
    attempts_before = len(down.requests)
    down.down, fatal.on_request = False, None
    service.start()
    try:
        everything = set(retried) | {waiting, fifth}
        await eventually(lambda: settled(service, everything), timeout=45, what="all settled")
        assert sorted(down.alert_ids(down.accepted())) == sorted(retried)  # once each, no dups
        assert sorted(healthy.alert_ids(healthy.accepted())) == sorted(retried + [waiting])
        after = down.requests[attempts_before:]
        # Same notification ids after the restart: the plan was durable.
        assert {r["headers"][NOTIFICATION_HEADER] for r in after} == before
        assert fatal.alert_ids() == [fifth]  # delivered once, as the receiver counts
        assert fatal.alert_ids(fatal.accepted()) == [fifth, fifth]  # the allowed duplicate ...
        assert len({r["headers"][NOTIFICATION_HEADER] for r in fatal.requests}) == 1  # ... same id
        logged = await notifications(kafka_bootstrap, topic_prefix, lambda n: sum(
            x["data"]["outcome"] == "sent" for x in n) >= 8)
        for alert_id in retried:
            seen = [(n["data"]["attempt"], n["data"]["outcome"]) for n in logged
                    if n["data"]["alert_id"] == alert_id and n["data"]["receiver"] == "down"]
            distinct = sorted(set(seen))
            assert [a for a, _ in distinct] == list(range(1, len(distinct) + 1)), distinct
            assert distinct[-1][1] == "sent" and len(distinct) >= 3, distinct
        fatal_log = [(n["data"]["attempt"], n["data"]["outcome"]) for n in logged
                     if n["data"]["receiver"] == "fatal"]
        assert fatal_log == [(1, "sent")]  # the attempt cut short by the crash left no record
    finally:
        assert service.stop(signal.SIGTERM) == 0


def ids_of(entry: dict[str, Any]) -> list[str]:
    return sorted(a["id"] for a in entry["body"]["alerts"])


async def test_grouping_and_inhibition(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
                                       receivers: Any) -> None:
    """One message for all of a city's quarterly warnings of a quarter (group_by rule, city,
    period); a later one waits out group_interval. A suspension silences the warnings in its
    caused_by, whether it arrives before or after them (logged `suppressed`, attempt 0)."""
    bureau = receivers(kind="webhook", secret="s1")
    routes = tmp_path / "routes.toml"
    write_routes(routes, receiver_toml("bureau", bureau) + """
        [route]
        receivers = ["bureau"]
        [[route.routes]]
        match = { kind = "warning", rule = "quota.*" }
        group_by = ["rule", "city", "period"]
        group_wait = "2s"
        group_interval = "3s"

        [[inhibit]]
        source = { kind = "decision", action = "suspend_*" }
        """)
    service = start(kafka_bootstrap, topic_prefix, tmp_path, routes)

    def q1(hospital: str, severity: str = "warning") -> str:
        return f"quota.quarterly_completion:{hospital}:2020-Q1:{severity}"

    guiyang = [q1(f"H5201020000{i}") for i in (1, 2, 3)]
    zunyi = q1(ZUNYI_HOSPITAL)
    critical = q1("H52010200004", "critical")
    suspension = f"{critical}:suspend_monthly_settlement"
    try:
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings",
                   [warning(a, a.split(":")[1]) for a in guiyang + [zunyi]]
                   + [warning(critical, "H52010200004", severity="critical")])
        await send(kafka_bootstrap, topic_prefix + "vbp.decisions",
                   [decision(suspension, "H52010200004", [critical])])
        await eventually(lambda: len(bureau.delivered()) >= 3, what="three messages")
        messages = {tuple(ids_of(e)) for e in bureau.delivered()}
        assert messages == {tuple(sorted(guiyang)), (zunyi,), (suspension,)}

        # Decision first, warning after: the warning is inhibited on arrival.
        zunyi_2 = q1("H52030200002", "critical")
        early = f"{zunyi_2}:suspend_monthly_settlement"
        await send(kafka_bootstrap, topic_prefix + "vbp.decisions",
                   [decision(early, "H52030200002", [zunyi_2])])
        await eventually(lambda: len(bureau.delivered()) >= 4, what="early decision sent")
        late_guiyang = q1("H52010200005")
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [
            warning(zunyi_2, "H52030200002", severity="critical"),
            warning(late_guiyang, "H52010200005")])
        everything = set(guiyang) | {zunyi, critical, suspension, early, zunyi_2, late_guiyang}
        await eventually(lambda: settled(service, everything), what="all settled")
        delivered = bureau.delivered()
        assert [ids_of(e) for e in delivered[4:]] == [[late_guiyang]]
        first_guiyang = next(e for e in delivered if ids_of(e) == sorted(guiyang))
        assert delivered[4]["at"] - first_guiyang["at"] >= 2.5  # group_interval 3s
        assert len(bureau.requests) == 5  # nothing twice, nothing for the inhibited
        assert "等3条" in first_guiyang["body"]["title"]

        logged = await notifications(kafka_bootstrap, topic_prefix, lambda n: len(n) >= 9)
        assert len(logged) == 9  # 7 alerts sent (3 in one message), 2 suppressed
        suppressed = {n["data"]["alert_id"]: n["data"] for n in logged
                      if n["data"]["outcome"] == "suppressed"}
        assert set(suppressed) == {critical, zunyi_2}
        assert suppressed[critical]["error"] == f"inhibited by {suspension}"
        assert suppressed[zunyi_2]["attempt"] == 0
        listed = api(service, "GET", "/v1/alerts", params={"state": "all"}).json()["alerts"]
        states = {a["alert_id"]: a["state"] for a in listed}
        assert states[critical] == states[zunyi_2] == "inhibited"
        open_ids = {a["alert_id"] for a in api(service, "GET", "/v1/alerts").json()["alerts"]}
        assert open_ids == everything - {critical, zunyi_2}
    finally:
        assert service.stop(signal.SIGTERM) == 0


async def test_api_token_silences_acknowledgement_and_escalation(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, receivers: Any) -> None:
    """The API needs the token. A silence suppresses what it matches until it expires. A
    critical alert nobody acknowledges goes to the director after ack_within, then to the health
    commission; one acknowledged in time goes no further; the history shows every delivery."""
    bureau = receivers(kind="webhook", secret="s1")
    director = receivers(kind="webhook", secret="s2")
    health = receivers(kind="webhook", secret="s3")
    routes = tmp_path / "routes.toml"
    write_routes(routes, receiver_toml("bureau", bureau) + receiver_toml("director", director)
                 + receiver_toml("health-commission", health) + """
        [route]
        receivers = ["bureau"]
        [[route.routes]]
        match = { severity = "critical" }
        [route.routes.escalation]
        ack_within = "3s"
        chain = ["director", "health-commission"]
        """)
    service = start(kafka_bootstrap, topic_prefix, tmp_path, routes)
    try:
        assert httpx.get(service.url + "/v1/alerts").status_code == 401
        assert httpx.get(service.url + "/v1/alerts",
                         headers={"Authorization": "Bearer wrong"}).status_code == 401
        bad = api(service, "POST", "/v1/silences", json={"matchers": {"colour": "red"},
                                                         "duration": "1h", "created_by": "x"})
        assert bad.status_code == 422 and "colour" in bad.text

        silence = api(service, "POST", "/v1/silences", json={
            "matchers": {"rule": "supply.*"}, "duration": "1h", "created_by": "王科长",
            "comment": "产能核查期间"})
        assert silence.status_code == 201, silence.text
        short = api(service, "POST", "/v1/silences", json={
            "matchers": {"rule": "settlement.*"}, "duration": "1s", "created_by": "王科长"})
        assert short.status_code == 201
        silenced = "supply.shortfall_forecast:M11000000328:2020-05:warning"
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [
            warning(silenced, GUIYANG_HOSPITAL, rule="supply.shortfall_forecast",
                    period="2020-05")])
        await eventually(lambda: settled(service, {silenced}), what="silenced settled")
        assert bureau.requests == []
        # The short silence expires by itself; the long one is expired over the API.
        await eventually(lambda: not next(s for s in api(service, "GET", "/v1/silences").json()[
            "silences"] if s["id"] == short.json()["id"])["active"], what="silence expiry")
        expired = api(service, "DELETE", f"/v1/silences/{silence.json()['id']}")
        assert expired.status_code == 200
        after_expiry = ["settlement.payment_overdue:H52010200001:DLV-9:warning",
                        "supply.shortfall_forecast:M11000000328:2020-06:warning"]
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [
            warning(after_expiry[0], GUIYANG_HOSPITAL, rule="settlement.payment_overdue",
                    period=None),
            warning(after_expiry[1], GUIYANG_HOSPITAL, rule="supply.shortfall_forecast",
                    period="2020-06")])
        await eventually(lambda: sorted(bureau.alert_ids()) == sorted(after_expiry),
                         what="delivered after the silences ended")

        ignored = "quota.quarterly_completion:H52010200007:2020-Q1:critical"
        handled = "quota.quarterly_completion:H52010200008:2020-Q1:critical"
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [
            warning(ignored, "H52010200007", severity="critical"),
            warning(handled, "H52010200008", severity="critical")])
        path = f"/v1/alerts/{quote(handled, safe='')}"
        await eventually(lambda: api(service, "GET", path).status_code == 200,
                         what="handled listed")
        ack = api(service, "POST", path + "/ack", json={"by": "李处长", "comment": "已约谈"})
        assert ack.status_code == 200 and ack.json()["state"] == "acknowledged", ack.text
        assert ack.json()["acknowledged"]["by"] == "李处长"

        await eventually(lambda: health.alert_ids() == [ignored], timeout=20, what="2nd step")
        assert director.alert_ids() == [ignored]
        assert "未确认·升级" in director.delivered()[0]["body"]["title"]
        first, second = director.delivered()[0]["at"], health.delivered()[0]["at"]
        assert second - first >= 2.5  # one ack_within between the steps
        shown = api(service, "GET", path).json()
        assert shown["escalation_step"] == 0 and shown["state"] == "acknowledged"
        open_ids = {a["alert_id"] for a in api(service, "GET", "/v1/alerts").json()["alerts"]}
        assert ignored in open_ids and handled not in open_ids

        history = api(service, "GET", f"/v1/alerts/{quote(ignored, safe='')}/history").json()
        steps = [(h["receiver"], h["kind"], h["outcome"]) for h in history["history"]]
        assert steps == [("bureau", "notify", "sent"), ("director", "escalation", "sent"),
                         ("health-commission", "escalation", "sent")]
        assert api(service, "GET", f"/v1/alerts/{quote(silenced, safe='')}/history").json()[
            "history"][0]["error"] == f"silenced by {silence.json()['id']}"
        assert api(service, "GET", "/v1/alerts/nope/history").status_code == 404
    finally:
        assert service.stop(signal.SIGTERM) == 0
    assert "Traceback" not in service.log(), service.log()[-3000:]


async def test_routing_file_reloads_without_restart_and_a_bad_one_is_refused(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, receivers: Any) -> None:
    """A new routing file takes effect without a restart; a bad one is refused with the reason
    and the previous one stays in force."""
    first, second = receivers(kind="webhook", secret="s1"), receivers(kind="webhook", secret="s2")
    routes = tmp_path / "routes.toml"
    both = receiver_toml("first", first) + receiver_toml("second", second)
    write_routes(routes, both + '[route]\nreceivers = ["first"]\n')
    service = start(kafka_bootstrap, topic_prefix, tmp_path, routes)
    try:
        digest = api(service, "GET", "/v1/routes").json()["digest"]
        ids = [f"settlement.payment_overdue:H52010200001:DLV-{i}:warning" for i in (1, 2, 3)]

        def overdue(i: int) -> tuple[str, bytes]:
            return warning(ids[i], GUIYANG_HOSPITAL, rule="settlement.payment_overdue", period=None)

        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [overdue(0)])
        await eventually(lambda: first.alert_ids() == [ids[0]], what="first routing")

        write_routes(routes, both + '[route]\nreceivers = ["second"]\n')
        status = await eventually(lambda: (s := api(service, "GET", "/v1/routes").json())[
            "digest"] != digest and s, what="reload")
        assert status["error"] is None
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [overdue(1)])
        await eventually(lambda: second.alert_ids() == [ids[1]], what="second routing")

        write_routes(routes, both + '[route]\nreceivers = ["second", "third"]\n')
        refused = await eventually(lambda: api(service, "GET", "/v1/routes").json()["error"],
                                   what="refusal")
        assert "unknown receiver 'third'" in refused
        assert api(service, "GET", "/v1/routes").json()["digest"] == status["digest"]
        await send(kafka_bootstrap, topic_prefix + "vbp.warnings", [overdue(2)])
        await eventually(lambda: settled(service, set(ids)), what="settled")
        assert second.alert_ids() == ids[1:] and first.alert_ids() == ids[:1]
    finally:
        assert service.stop(signal.SIGTERM) == 0
