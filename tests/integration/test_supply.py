"""Supply service end to end on the real broker: intake, stops, unfilled orders, gates.

Guizhou 000 §五(一)-(二), Yunnan 002 §四(五)-(六), Shanxi 004 §四(一)1.
"""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.envelope import new_event
from schemas.events import EVENT_TYPES, EXAMPLES
from services.supply import tokens
from tests.events import event, tick
from tests.harness import REPO, ServiceProcess, read, send

pytestmark = pytest.mark.integration

AMLODIPINE = "苯磺酸氨氯地平片"
STOPPED = ("XC08CAA017A001010100783", "M12000000783")
OTHER = ("XC08CAA017A001010100412", "M33000000412")
PARTNER = ("XC08CAA017A001010100555", "M50000000555")
GUIYANG_1, GUIYANG_2, ZUNYI_1 = "H52010200001", "H52010200002", "H52030200001"


def listed(code: str, manufacturer: str, *, winning: bool = True,
           passed: bool = True) -> tuple[str, bytes]:
    return event("vbp.product.listed", f"lst-{code}", "2019-12-20", product_code=code,
                 generic_name=AMLODIPINE, specification="5mg", manufacturer_id=manufacturer,
                 winning=winning, consistency_passed=passed, reference_units="1")


def institution(institution_id: str, city: str) -> tuple[str, bytes]:
    return event("vbp.institution.registered", f"inst-{institution_id}", "2019-12-01",
                 institution_id=institution_id, city_code=city, county_code=institution_id[1:7])


def order(n: int, institution_id: str, day: str, quantity: int = 100,
          product: str = STOPPED[0]) -> tuple[str, bytes]:
    return event("vbp.order.placed", f"ord-{n}", day, order_id=f"ord-{n}",
                 institution_id=institution_id, product_code=product, quantity=quantity)


def delivered(n: int, institution_id: str, day: str, product: str,
              quantity: int = 100) -> tuple[str, bytes]:
    return event("vbp.delivery.accepted", f"dlv-{n}", day, delivery_id=f"dlv-{n}",
                 order_id=f"ord-{n}", institution_id=institution_id, product_code=product,
                 quantity=quantity, accepted_on=day)


def from_manufacturer(type_: str, id_: str, day: str, **changes: Any) -> tuple[str, bytes]:
    """A supply event as a manufacturer's own system would put it on Kafka."""
    data = EVENT_TYPES[type_].model_validate({**EXAMPLES[type_], **changes})
    m = data.manufacturer_id  # type: ignore[attr-defined]
    ce = new_event(type_, data, id=id_, source=f"/manufacturer/{m}", time=f"{day}T10:00:00+08:00",
                   subject=m, province="520000")
    return m, ce.to_json_bytes()


def from_partner(province: str, code: str, manufacturer: str) -> tuple[str, bytes]:
    """vbp.product.listed as an alliance partner shares it (source /alliance/<province>)."""
    data = {**EXAMPLES["vbp.product.listed"], "product_code": code, "generic_name": AMLODIPINE,
            "manufacturer_id": manufacturer, "winning": True}
    ce = new_event("vbp.product.listed", data, id=f"ally-{code}", source=f"/alliance/{province}",
                   time="2020-03-01T10:00:00+08:00", subject=province, province=province)
    return province, ce.to_json_bytes()


def supply_service(bootstrap: str, prefix: str, workdir: Path, policy: str = "guizhou",
                   **env: str) -> ServiceProcess:
    return ServiceProcess("supply", bootstrap, prefix, workdir, VBP_POLICY=policy,
                          VBP_SUPPLY_TOKENS=str(workdir / "tokens.json"), **env)


async def until_listed(service: ServiceProcess, product_code: str) -> None:
    """The service has read the product's listing (its cover answers 200, not 404)."""
    for _ in range(100):
        if httpx.get(f"{service.url}/v1/supply/products/{product_code}/cover").status_code == 200:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{product_code} never listed")


async def committed(bootstrap: str, group: str, topic: str, offsets: list[int],
                    timeout: float = 30) -> None:
    """Wait until `group` has committed `offsets` on the partitions of `topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(int(timeout / 0.2)):
            found = await admin.list_consumer_group_offsets(group)
            got = [found[tp].offset if tp in found else -1
                   for tp in (TopicPartition(topic, p) for p in range(len(offsets)))]
            if got == offsets:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{group} committed {got} on {topic}, not {offsets}")
    finally:
        await admin.close()


async def records(bootstrap: str, topic: str, n: int, timeout: float = 45) -> list[dict]:
    found = await read(bootstrap, topic, until=lambda r: len(r) >= n, timeout=timeout)
    return [r.json() for r in found]


async def test_production_stop_escalates_beyond_the_province_with_alternatives(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """000 §五(二) 停产报告制度: a winner's stop, submitted over HTTP with the client CLI,
    escalates at once to at least the province; the other Guizhou winner holds 150 against
    (100 + 100) a month, so the province cannot cover and it goes to the alliance, listing
    Guizhou's other winner and Chongqing's (002 §四(六) 优先采购其他省份中选药品)."""
    t = topic_prefix
    await send(kafka_bootstrap, t + "vbp.ref.products", [listed(*STOPPED), listed(*OTHER)])
    await send(kafka_bootstrap, t + "vbp.alliance.inbound", [from_partner("500000", *PARTNER)])
    months = [(m, code) for m in (1, 2, 3) for code in (STOPPED[0], OTHER[0])]
    history = [(n, f"2020-{m:02d}-10", code) for n, (m, code) in enumerate(months)]
    await send(kafka_bootstrap, t + "vbp.orders",
               [order(n, GUIYANG_1, day, product=code) for n, day, code in history])
    await send(kafka_bootstrap, t + "vbp.deliveries", [delivered(n, GUIYANG_1, day, code)
                                                      for n, day, code in history])
    await send(kafka_bootstrap, t + "vbp.supply.reports", [from_manufacturer(
        "vbp.supply.monthly_reported", "rpt-412-2020-03", "2020-04-01", report_id="rpt-412-03",
        manufacturer_id=OTHER[1], product_code=OTHER[0], month="2020-03",
        inventory_quantity=150, reserve_quantity=0)])
    token = tokens.issue(tmp_path / "tokens.json", STOPPED[1])
    stop = {**EXAMPLES["vbp.supply.production_stopped"], "stopped_on": "2020-04-02"}
    (tmp_path / "stop.json").write_text(json.dumps(stop, ensure_ascii=False))
    service = supply_service(kafka_bootstrap, t, tmp_path)
    service.start()
    try:
        submit = [sys.executable, "-m", "services.supply.client", "submit", "--url",
                  service.url, "--token", token, str(tmp_path / "stop.json")]
        first = subprocess.run(submit, cwd=REPO, capture_output=True, text=True, timeout=30)
        again = subprocess.run(submit, cwd=REPO, capture_output=True, text=True, timeout=30)
        assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
        accepted, repeated = json.loads(first.stdout), json.loads(again.stdout)
        assert accepted["status"] == 202 and repeated["status"] == 200
        assert repeated["event_id"] == accepted["event_id"]

        await send(kafka_bootstrap, t + "vbp.clock", [tick("2020-04-03")])
        [escalation] = await records(kafka_bootstrap, t + "vbp.escalations", 1)
        data = escalation["data"]
        assert (data["level"], data["region_code"], data["product_code"]) == (
            "alliance", "520000", STOPPED[0])
        assert data["alternatives"] == [
            {"province": "520000", "product_code": OTHER[0], "manufacturer_id": OTHER[1]},
            {"province": "500000", "product_code": PARTNER[0], "manufacturer_id": PARTNER[1]}]
        evidence = data["evidence"]
        assert (evidence["rule"], evidence["policy_ref"]) == ("supply.production_stop", "000 §五(二)")
        assert evidence["incident_id"] == stop["incident_id"]
        assert (evidence["other_winners_inventory"], evidence["needed_for_cover"]) == (
            150, "200.0000")
        assert evidence["own_supply_covers"] is False

        shortages = httpx.get(f"{service.url}/v1/supply/shortages", timeout=5).json()
        [open_stop] = shortages["production_stops"]
        assert open_stop["escalations"][0]["escalation_id"] == data["escalation_id"]
        cover = httpx.get(f"{service.url}/v1/supply/products/{OTHER[0]}/cover", timeout=5).json()
        assert (cover["amc"], cover["months_of_stock"], cover["status"]) == (
            "100.0000", "1.5000", "ok")
    finally:
        service.stop(signal.SIGTERM)
    incidents = await records(kafka_bootstrap, t + "vbp.supply.incidents", 2, timeout=3)
    assert [i["id"] for i in incidents] == [accepted["event_id"]]  # the resend added nothing
    assert incidents[0]["source"] == f"/manufacturer/{STOPPED[1]}"
    assert "Traceback" not in service.log(), service.log()[-3000:]


async def test_unfilled_orders_climb_from_institution_to_city_to_province(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """002 §四(五): a shortage is coordinated locally and, unresolved, goes to the province.
    Window 3 days (bureau setting): an order of 04-01 is overdue on the tick of 04-05. One
    hospital late -> institution; a second in Guiyang -> city; one in Zunyi -> province."""
    t = topic_prefix
    await send(kafka_bootstrap, t + "vbp.ref.products", [listed(*STOPPED)])
    await send(kafka_bootstrap, t + "vbp.ref.institutions", [
        institution(GUIYANG_1, "520100"), institution(GUIYANG_2, "520100"),
        institution(ZUNYI_1, "520300")])
    await send(kafka_bootstrap, t + "vbp.orders", [
        order(1, GUIYANG_1, "2020-04-01"), order(2, GUIYANG_2, "2020-04-02"),
        order(3, ZUNYI_1, "2020-04-03"), order(4, ZUNYI_1, "2020-04-01")])
    await send(kafka_bootstrap, t + "vbp.deliveries",
               [delivered(4, ZUNYI_1, "2020-04-02", STOPPED[0])])
    await send(kafka_bootstrap, t + "vbp.clock",
               [tick("2020-04-05"), tick("2020-04-06"), tick("2020-04-07"), tick("2020-04-08")])
    service = supply_service(kafka_bootstrap, t, tmp_path)
    service.start()
    try:
        found = await records(kafka_bootstrap, t + "vbp.escalations", 3)
        ladder = [(e["data"]["level"], e["data"]["region_code"]) for e in found]
        assert ladder == [("institution", "520102"), ("city", "520100"), ("province", "520000")]
        assert found[2]["data"]["evidence"]["cities"] == {
            "520100": [GUIYANG_1, GUIYANG_2], "520300": [ZUNYI_1]}  # ord-4 was delivered
        assert all(e["data"]["evidence"]["policy_ref"] == "bureau setting" for e in found)
        for _ in range(50):  # the read API shows the episode once the last tick is evaluated
            shortages = httpx.get(f"{service.url}/v1/supply/shortages", timeout=5).json()
            if shortages["as_of"] == "2020-04-08":
                break
            await asyncio.sleep(0.2)
        [episode] = shortages["unfilled_orders"]
        assert (episode["level"], episode["escalation"]["escalation_id"]) == (
            "province", found[2]["data"]["escalation_id"])
    finally:
        service.stop(signal.SIGTERM)
    again = await records(kafka_bootstrap, t + "vbp.escalations", 4, timeout=3)
    assert len(again) == 3  # the 04-08 tick keeps the province level: nothing new to say


async def test_a_worker_reading_a_backlog_judges_each_tick_by_what_came_before_it(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """A worker started after the whole backlog is on Kafka (a restart, a replay) reads the
    delivery before it evaluates the ticks sent ahead of it; the order it closes was still
    undelivered on the tick of 04-05 (window 3), so that tick escalates as a live worker's did,
    and the next one, after the delivery, ends the episode."""
    t = topic_prefix
    await send(kafka_bootstrap, t + "vbp.ref.products", [listed(*STOPPED)])
    await send(kafka_bootstrap, t + "vbp.ref.institutions", [institution(GUIYANG_1, "520100")])
    await send(kafka_bootstrap, t + "vbp.orders", [order(1, GUIYANG_1, "2020-04-01")])
    await send(kafka_bootstrap, t + "vbp.clock", [tick(f"2020-04-0{d}") for d in (2, 3, 4, 5)])
    await send(kafka_bootstrap, t + "vbp.deliveries",
               [delivered(1, GUIYANG_1, "2020-04-05", STOPPED[0])])
    await send(kafka_bootstrap, t + "vbp.clock", [tick("2020-04-06")])
    service = supply_service(kafka_bootstrap, t, tmp_path)
    service.start()
    try:
        [escalation] = await records(kafka_bootstrap, t + "vbp.escalations", 1)
        assert (escalation["data"]["level"], escalation["time"][:10]) == (
            "institution", "2020-04-05")
        for _ in range(50):
            shortages = httpx.get(f"{service.url}/v1/supply/shortages", timeout=5).json()
            if shortages["as_of"] == "2020-04-06":
                break
            await asyncio.sleep(0.2)
        assert shortages["as_of"] == "2020-04-06" and shortages["unfilled_orders"] == []
    finally:
        service.stop(signal.SIGTERM)


async def test_consistency_gate_suspends_in_guizhou_with_three_passed_but_not_in_shanxi(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """000 §五(一) 达到3家以上 (>= 3 manufacturers) suspends a non-passed generic's trading;
    004 §四(一)1 超过3个 (> 3 passed products) does not hold with 3. Same inputs, two provinces."""
    t = topic_prefix
    passed = [listed(f"XC08CAA017A00101010000{n}", f"M1100000000{n}", winning=n == 1)
              for n in (1, 2, 3)]
    failing = listed("XC08CAA017A001010100009", "M11000000009", winning=False, passed=False)
    await send(kafka_bootstrap, t + "vbp.ref.products", [*passed, failing])
    await send(kafka_bootstrap, t + "vbp.clock", [tick("2020-04-01")])
    guizhou = supply_service(kafka_bootstrap, t, tmp_path / "guizhou")
    shanxi = supply_service(kafka_bootstrap, t, tmp_path / "shanxi", "shanxi",
                            VBP_APP_ID=t + "shanxi")
    try:
        await asyncio.gather(asyncio.to_thread(guizhou.start), asyncio.to_thread(shanxi.start))
        [decision] = await records(kafka_bootstrap, t + "vbp.decisions", 1)
        data = decision["data"]
        assert decision["province"] == "520000"
        assert (data["action"], data["subject_kind"], data["subject_id"]) == (
            "suspend_trading", "product", "XC08CAA017A001010100009")
        assert (data["effective_from"], data["rule"], data["policy_ref"]) == (
            "2020-04-02", "supply.consistency_gate", "000 §五(一)")
        assert data["metrics"]["passed"] == 3
        for _ in range(100):
            gates = httpx.get(f"{shanxi.url}/v1/supply/gates", timeout=5).json()
            if gates["as_of"] == "2020-04-01":
                break
            await asyncio.sleep(0.2)
        [gate] = gates["gates"]
        assert (gate["holds"], gate["passed"], gate["condition"]) == (False, 3, "> 3")
        # Shanxi has evaluated the tick; a decision of its own would follow within seconds.
        decisions = await records(kafka_bootstrap, t + "vbp.decisions", 2, timeout=5)
        warnings = await records(kafka_bootstrap, t + "vbp.warnings", 1, timeout=2)
        assert [d["province"] for d in decisions] == ["520000"]
        assert [w for w in warnings if w["province"] == "140000"] == []
    finally:
        for service in (guizhou, shanxi):
            if service.process is not None and service.process.poll() is None:
                service.stop(signal.SIGTERM)


async def test_forged_cross_manufacturer_and_malformed_submissions_leave_nothing_on_kafka(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """Contract, HTTP: 401 unknown token, 403 another manufacturer's data, 422 with field
    errors, 413 oversized; only the one valid report reaches vbp.supply.reports. A revoked
    token is refused and its rotated successor accepted without a restart."""
    t = topic_prefix
    store = tmp_path / "tokens.json"
    own = tokens.issue(store, "M11000000328")
    tokens.issue(store, "M12000000783")
    await send(kafka_bootstrap, t + "vbp.ref.products", [listed(*STOPPED)])
    report = dict(EXAMPLES["vbp.supply.monthly_reported"])
    service = supply_service(kafka_bootstrap, t, tmp_path)
    service.start()
    try:
        await until_listed(service, STOPPED[0])

        def post(path: str, body: Any, token: str | None = own) -> httpx.Response:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx.post(f"{service.url}{path}", content=content, headers=headers, timeout=30)

        assert post("/v1/supply/reports", report, token="vbps_forged").status_code == 401
        assert post("/v1/supply/reports", report, token=None).status_code == 401
        cross = post("/v1/supply/reports", {**report, "manufacturer_id": "M12000000783"})
        assert cross.status_code == 403
        foreign_product = post("/v1/supply/incidents", {
            **EXAMPLES["vbp.supply.production_stopped"], "manufacturer_id": "M11000000328"})
        assert foreign_product.status_code == 403  # the amlodipine winner is M12000000783's
        assert post("/v1/supply/reports", b'{"report_id": ').status_code == 422
        bad = post("/v1/supply/reports", {**report, "inventory_quantity": -5, "month": "2020-13"})
        assert bad.status_code == 422
        assert {tuple(e["loc"]) for e in bad.json()["errors"]} == {("inventory_quantity",),
                                                                   ("month",)}
        unknown_kind = post("/v1/supply/incidents", {"incident_id": "inc-1"})
        assert unknown_kind.status_code == 422
        huge = post("/v1/supply/reports", {**report, "padding": "x" * 70_000})
        assert huge.status_code == 413

        accepted = post("/v1/supply/reports", report)
        assert accepted.status_code == 202, accepted.text
        tokens.revoke(store, "M11000000328")
        assert post("/v1/supply/reports", report).status_code == 401
        rotated = tokens.issue(store, "M11000000328", revoke_others=True)
        resent = post("/v1/supply/reports", report, token=rotated)
        assert (resent.status_code, resent.json()["event_id"]) == (200, accepted.json()["event_id"])
    finally:
        service.stop(signal.SIGTERM)
    reports = await records(kafka_bootstrap, t + "vbp.supply.reports", 2, timeout=3)
    incidents = await records(kafka_bootstrap, t + "vbp.supply.incidents", 1, timeout=2)
    assert [r["id"] for r in reports] == [accepted.json()["event_id"]] and incidents == []
    assert reports[0]["data"] == report


async def test_yunnan_monthly_reports_cover_timeliness_forecasts_and_distributors(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """Yunnan 002 §四(六): winners report every month (day 10 is the bureau's due day), report a
    capacity shortfall in advance, and use at most 3 distributors. January's report, on time,
    shows 400 in stock against an AMC of 1,000: under the critical half month, so a critical
    warning and a provincial escalation; February's is missing on the tick of 03-11."""
    t = topic_prefix
    atorvastatin, maker = "XC10AAA081A001010100328", "M11000000328"
    distributors = [f"D5301000000{n}" for n in range(1, 5)]
    await send(kafka_bootstrap, t + "vbp.ref.products", [event(
        "vbp.product.listed", "lst-328", "2019-12-20")])
    await send(kafka_bootstrap, t + "vbp.ref.agreements", [event(
        "vbp.agreement.signed", "agr-1", "2019-12-20", agreement_id="AGR-530000-2020-1",
        cycle_year=2020, distributor_ids=distributors)])
    await send(kafka_bootstrap, t + "vbp.orders",
               [order(1, GUIYANG_1, "2020-01-10", 1000, product=atorvastatin)])
    await send(kafka_bootstrap, t + "vbp.deliveries",
               [delivered(1, GUIYANG_1, "2020-01-11", atorvastatin, 1000)])
    await send(kafka_bootstrap, t + "vbp.supply.reports", [from_manufacturer(
        "vbp.supply.monthly_reported", "rpt-328-01", "2020-02-08", report_id="rpt-328-01",
        month="2020-01", inventory_quantity=400, reserve_quantity=300)])
    token = tokens.issue(tmp_path / "tokens.json", maker)
    service = supply_service(kafka_bootstrap, t, tmp_path, "yunnan")
    service.start()
    try:
        from services.supply.client import SupplyClient

        with SupplyClient(service.url, token) as client:
            forecast = client.submit(dict(EXAMPLES["vbp.supply.shortfall_forecast"],
                                          manufacturer_id=maker, product_code=atorvastatin))
        assert forecast.status == 202, forecast.body
        await send(kafka_bootstrap, t + "vbp.clock", [tick("2020-03-11")])
        warnings = await records(kafka_bootstrap, t + "vbp.warnings", 5)
        by_rule = {(w["data"]["rule"], w["data"]["subject_kind"]): w["data"] for w in warnings}
        assert sorted(by_rule) == [
            ("supply.distributor_limit", "agreement"), ("supply.distributor_limit", "manufacturer"),
            ("supply.low_inventory", "manufacturer"),
            ("supply.missing_monthly_report", "manufacturer"),
            ("supply.shortfall_forecast", "manufacturer")]
        assert all(w["policy_ref"] == "002 §四(六)" for rule, w in by_rule.items()
                   if rule[0] != "supply.low_inventory")  # low cover is the bureau's setting
        low = by_rule[("supply.low_inventory", "manufacturer")]
        assert (low["severity"], low["metrics"]["cover_months"], low["period"]) == (
            "critical", "0.4000", "2020-01")
        assert by_rule[("supply.missing_monthly_report", "manufacturer")]["period"] == "2020-02"
        assert by_rule[("supply.shortfall_forecast", "manufacturer")]["metrics"]["gap"] == 600000
        [escalation] = await records(kafka_bootstrap, t + "vbp.escalations", 1)
        assert (escalation["data"]["level"], escalation["data"]["region_code"]) == (
            "province", "530000")

        history = httpx.get(f"{service.url}/v1/supply/manufacturers/{maker}/reports",
                            timeout=5).json()
        [january] = history["reports"]
        assert (january["month"], january["due_by"], january["on_time"]) == (
            "2020-01", "2020-02-10", True)
        assert [m["period"] for m in history["missing"]] == ["2020-02"]
        url = f"{service.url}/v1/supply/products/{atorvastatin}/cover"
        cover = httpx.get(url, timeout=5).json()
        assert (cover["months_of_stock"], cover["months_of_stock_with_reserve"],
                cover["status"]) == ("0.4000", "0.7000", "critical")
        assert httpx.get(f"{service.url}/v1/supply/manufacturers/M99999999999/reports",
                         timeout=5).status_code == 404
    finally:
        service.stop(signal.SIGTERM)


async def test_a_killed_worker_resumes_the_ladder_from_its_tables(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """SIGKILL after the institution and city escalations; the restarted worker recovers the
    orders and the episode from the changelogs: the next tick climbs to the province, and no
    escalation comes out under a new id or with other content."""
    t = topic_prefix
    await send(kafka_bootstrap, t + "vbp.ref.products", [listed(*STOPPED)])
    await send(kafka_bootstrap, t + "vbp.ref.institutions", [
        institution(GUIYANG_1, "520100"), institution(GUIYANG_2, "520100"),
        institution(ZUNYI_1, "520300")])
    await send(kafka_bootstrap, t + "vbp.orders", [
        order(1, GUIYANG_1, "2020-04-01"), order(2, GUIYANG_2, "2020-04-02"),
        order(3, ZUNYI_1, "2020-04-03")])
    await send(kafka_bootstrap, t + "vbp.clock", [tick("2020-04-05"), tick("2020-04-06")])
    service = supply_service(kafka_bootstrap, t, tmp_path)
    service.start()
    await records(kafka_bootstrap, t + "vbp.escalations", 2)
    # Kill once both ticks are committed (the service's one task reads the clock through its
    # group): what the restarted worker knows must come from the changelogs, not from
    # reprocessing the ticks.
    await committed(kafka_bootstrap, t + "vbp-supply", t + "vbp.clock", [2])
    service.stop(signal.SIGKILL)
    service.start()
    try:
        await send(kafka_bootstrap, t + "vbp.clock", [tick("2020-04-07"), tick("2020-04-08")])
        found = await records(kafka_bootstrap, t + "vbp.escalations", 3)
        for _ in range(50):
            if httpx.get(f"{service.url}/v1/supply/shortages").json()["as_of"] == "2020-04-08":
                break
            await asyncio.sleep(0.2)
        found = await records(kafka_bootstrap, t + "vbp.escalations", 99, timeout=3)
    finally:
        service.stop(signal.SIGTERM)
    by_id: dict[str, list[dict]] = {}
    for e in found:
        by_id.setdefault(e["id"], []).append(e)
    assert [copies[0]["data"]["level"] for copies in by_id.values()] == [
        "institution", "city", "province"]
    assert all(c == copies[0] for copies in by_id.values() for c in copies)
