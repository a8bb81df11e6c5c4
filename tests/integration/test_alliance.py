"""Alliance exchange between two deployments on one broker (000 §六(一), 002 §四(六)).

Province A is Guizhou (520000), province B Yunnan (530000): two topic prefixes, two alliance
services on loopback, each with its own Ed25519 key and the other's public key.
"""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.topics import ensure_topics
from schemas.envelope import new_event
from schemas.events import example_data
from services.alliance import batch, keys
from services.alliance.push import CRASH_AFTER_ACK
from tests.events import event, tick
from tests.harness import REPO, Record, ServiceProcess, eventually, read, send

pytestmark = pytest.mark.integration

A, B = "520000", "530000"
STOPPED = "XC08CAA017A001010100783"       # A's winner whose production stops
B_WINNER = "XC08CAA017A001010100412"      # B's winner of the same generic name
B_OTHER = "XC08CAA017A001010100999"       # B's non-winning product: never shared
AMLODIPINE = "苯磺酸氨氯地平片"
HOSPITAL = "H52010200001"
AGREEMENT = "AGR-520000-2020-000001"
SIX_MINUTES = timedelta(minutes=6)  # beyond the 5-minute window


@pytest.fixture
def partner_prefix(kafka_bootstrap: str) -> str:
    """Province B's topics, beside province A's `topic_prefix` on the same broker."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    asyncio.run(ensure_topics(kafka_bootstrap, prefix))
    return prefix


def alliance(bootstrap: str, prefix: str, workdir: Path, policy: str, **env: str) -> ServiceProcess:
    return ServiceProcess("alliance", bootstrap, prefix, workdir, VBP_POLICY=policy,
                          VBP_ALLIANCE_CONFIG=str(workdir / "alliance.toml"), **env)


def configure(service: ServiceProcess, workdir: Path, own: str, partner: str,
              partner_service: ServiceProcess, keydir: Path) -> None:
    (workdir / "alliance.toml").write_text(f"""
province = "{own}"
private_key = "{keydir / f'{own}.key'}"
[push]
linger_seconds = 0.2
retry_initial_seconds = 0.2
retry_max_seconds = 1.0
request_timeout_seconds = 5.0
[[partners]]
province = "{partner}"
inbound_url = "{partner_service.url}{batch.PATH}"
public_key_files = ["{keydir / f'{partner}.pub'}"]
""", encoding="utf-8")


def launch(*services: ServiceProcess) -> None:
    """Start several services at once, then wait for each (ServiceProcess.start, in parallel)."""
    for service in services:
        with open(service.log_path, "ab") as log:
            service.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{service.name}"], cwd=REPO, env=service.env,
                stdout=log, stderr=subprocess.STDOUT)
    for service in services:
        service.wait_ready(90)


def stop_all(*services: ServiceProcess) -> None:
    """SIGTERM to every running service at once, then wait for each (ServiceProcess.stop)."""
    running = [s for s in services if s.process is not None and s.process.poll() is None]
    for service in running:
        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)
    for service in running:
        assert service.process is not None
        try:
            service.process.wait(60)
        except subprocess.TimeoutExpired:
            service.process.kill()
            raise



def partner_status(service: ServiceProcess) -> dict[str, Any]:
    return httpx.get(f"{service.url}/v1/alliance/partners", timeout=5).json()["partners"][0]


def drained(service: ServiceProcess, events: int) -> bool:
    """The pusher has delivered `events` and its cursor is at the end of the outbound topic."""
    s = partner_status(service)
    return (s["events_delivered"] >= events and s["pending"] is None
            and s["cursor"] is not None and s["cursor"] == s["end_offset"])


async def inbound(bootstrap: str, prefix: str, n: int, timeout: float = 40) -> list[Record]:
    return await read(bootstrap, prefix + "vbp.alliance.inbound", until=lambda r: len(r) >= n,
                      timeout=timeout)


def keypair(keydir: Path, province: str) -> tuple[Ed25519PrivateKey, str]:
    keys.new_pair(province, keydir)
    key = keys.load_private(keydir / f"{province}.key")
    return key, keys.key_id(province, key.public_key())


# -- two deployments ---------------------------------------------------------------------------

async def test_production_stop_in_a_reaches_b_with_alternatives_and_b_availability_reaches_a(
        kafka_bootstrap: str, topic_prefix: str, partner_prefix: str, tmp_path: Path) -> None:
    """B's winning product (with its cover) reaches A as availability; A's alliance-level
    escalation of a production stop, naming B's product as alternative, its trading decision and
    its monthly progress reach B, signed and verified, with the sender recorded; what is not
    shared (a province-level escalation, a settlement suspension, a non-winning product) does
    not."""
    keydir = tmp_path / "keys"
    keypair(keydir, A), keypair(keydir, B)
    a = alliance(kafka_bootstrap, topic_prefix, tmp_path / "a", "guizhou")
    b = alliance(kafka_bootstrap, partner_prefix, tmp_path / "b", "yunnan")
    configure(a, tmp_path / "a", A, B, b, keydir)
    configure(b, tmp_path / "b", B, A, a, keydir)
    launch(a, b)
    try:
        # B lists its winner and a non-winning product; only the winner is availability.
        await send(kafka_bootstrap, partner_prefix + "vbp.ref.products", [
            event("vbp.product.listed", "b-prod-412", "2020-01-02", product_code=B_WINNER,
                  generic_name=AMLODIPINE, manufacturer_id="M53000000412", winning=True),
            event("vbp.product.listed", "b-prod-999", "2020-01-02", product_code=B_OTHER,
                  generic_name=AMLODIPINE, manufacturer_id="M53000000999", winning=False,
                  price="0.1000")])
        first = await inbound(kafka_bootstrap, topic_prefix, 1)
        await send(kafka_bootstrap, partner_prefix + "vbp.supply.reports", [
            event("vbp.supply.monthly_reported", "b-rpt-412-03", "2020-04-02",
                  report_id="rpt-412-2020-03", manufacturer_id="M53000000412",
                  product_code=B_WINNER, month="2020-03", supplied_quantity=400000,
                  inventory_quantity=1000000)])
        at_a = await inbound(kafka_bootstrap, topic_prefix, 2)
        assert [r.json()["data"]["product_code"] for r in at_a] == [B_WINNER, B_WINNER]
        assert first[0].json()["data"]["winning"] is True and "covermonths" not in first[0].json()
        with_cover = at_a[1].json()
        assert (with_cover["covermonth"], with_cover["coverinventory"], with_cover["covermonths"]) \
            == ("2020-03", 1000000, "2.50")
        assert all(r.headers["vbp-alliance-sender"] == B and r.key == B.encode() for r in at_a)
        assert {r.json()["source"] for r in at_a} == {f"/alliance/{B}"}

        # A: its winner stops; its supply service escalated to alliance level with B's product.
        escalation = example_data(
            "vbp.shortage.escalated", product_code=STOPPED, generic_name=AMLODIPINE,
            escalation_id=f"supply.production_stop:{STOPPED}:{A}:alliance:2020-04-02",
            level="alliance", region_code=A,
            alternatives=[{"province": B, "product_code": B_WINNER,
                           "manufacturer_id": "M53000000412"}])
        local = {**escalation, "level": "province",
                 "escalation_id": f"supply.production_stop:{STOPPED}:{A}:province:2020-04-02"}
        await send(kafka_bootstrap, topic_prefix + "vbp.escalations", [
            _output("vbp.shortage.escalated", local, "esc-local", STOPPED),
            _output("vbp.shortage.escalated", escalation, "esc-alliance", STOPPED)])
        suspend = example_data("vbp.decision.issued",
                               decision_id=f"supply.consistency_gate:{STOPPED}",
                               action="suspend_trading", subject_kind="product",
                               subject_id=STOPPED, rule="supply.consistency_gate",
                               policy_ref="000 §五(一)", caused_by=[])
        await send(kafka_bootstrap, topic_prefix + "vbp.decisions", [
            _output("vbp.decision.issued", example_data("vbp.decision.issued"), "dec-settle",
                    HOSPITAL),
            _output("vbp.decision.issued", suspend, "dec-trading", STOPPED)])
        # A's March progress: one agreement at 200 of 300 in Q1.
        await send(kafka_bootstrap, topic_prefix + "vbp.ref.products", [
            event("vbp.product.listed", "a-prod-783", "2020-01-02", product_code=STOPPED,
                  generic_name=AMLODIPINE, manufacturer_id="M12000000783", winning=True)])
        await send(kafka_bootstrap, topic_prefix + "vbp.ref.institutions", [
            event("vbp.institution.registered", "a-inst", "2020-01-02", institution_id=HOSPITAL)])
        await send(kafka_bootstrap, topic_prefix + "vbp.ref.agreements", [
            event("vbp.agreement.signed", "a-agr", "2019-12-20", agreement_id=AGREEMENT,
                  institution_id=HOSPITAL, product_code=STOPPED, generic_name=AMLODIPINE,
                  cycle_year=2020, period_start="2020-01-01", period_end="2020-12-31",
                  agreed_quantity=1200)])
        await send(kafka_bootstrap, topic_prefix + "vbp.quota.progress", [
            _progress("2020-Q1", 200, 300), _progress("2020-Q2", 200, 600)])
        await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-04-01")])

        # escalation, decision, A's own winner as availability, the March summary
        await eventually(lambda: drained(a, 4), "A's pusher to deliver 4 events")
        at_b = [r.json() for r in await inbound(kafka_bootstrap, partner_prefix, 4)]
        assert len(at_b) == 4
        by_type = {e["type"]: e for e in at_b}
        assert set(by_type) == {"vbp.shortage.escalated", "vbp.decision.issued",
                                "vbp.product.listed", "vbp.quota.monthly_summary"}
        shared = by_type["vbp.shortage.escalated"]
        assert (shared["source"], shared["province"]) == (f"/alliance/{A}", A)
        assert shared["data"]["level"] == "alliance"
        assert shared["data"]["alternatives"] == [
            {"province": B, "product_code": B_WINNER, "manufacturer_id": "M53000000412"}]
        assert by_type["vbp.decision.issued"]["data"]["action"] == "suspend_trading"
        assert by_type["vbp.product.listed"]["data"]["product_code"] == STOPPED
        summary = by_type["vbp.quota.monthly_summary"]["data"]
        assert (summary["month"], summary["city_code"], summary["ordered_quantity"],
                summary["target_quantity"], summary["completion_rate"]) == (
            "2020-03", "520100", 200, 300, "0.6667")

        # B's alliance view aggregates what A shared; A's shows B's winner with its cover.
        view = await eventually(lambda: _view_with_shortage(b), "B's view of A's shortage")
        (partner,) = view["partners"]
        assert partner["province"] == A
        assert partner["progress"]["month"] == "2020-03"
        assert view["by_generic_name"][AMLODIPINE]["short_in"][0]["product_code"] == STOPPED
        a_view = httpx.get(f"{a.url}/v1/alliance/view").json()
        supplied = a_view["by_generic_name"][AMLODIPINE]["supplied_by"]
        assert supplied == [{"province": B, "product_code": B_WINNER,
                             "manufacturer_id": "M53000000412",
                             "cover": {"covermonth": "2020-03", "coverinventory": 1000000,
                                       "covermonths": "2.50"}}]
    finally:
        stop_all(a, b)
    for service in (a, b):
        assert "Traceback" not in service.log(), service.log()[-3000:]


def _view_with_shortage(service: ServiceProcess) -> dict[str, Any] | None:
    view = httpx.get(f"{service.url}/v1/alliance/view", timeout=5).json()
    partners = view["partners"]
    ready = partners and partners[0]["shortages"] and partners[0]["progress"]["month"]
    return view if ready else None


def _output(type_: str, data: dict[str, Any], id_: str, key: str) -> tuple[str, bytes]:
    cloud_event = new_event(type_, data, id=id_, source="/service/supply",
                            time="2020-04-02T10:00:00+08:00", subject=key, province=A)
    return key, cloud_event.to_json_bytes()


def _progress(period: str, cumulative: int, target: int) -> tuple[str, bytes]:
    data = example_data("vbp.quota.progress", agreement_id=AGREEMENT, institution_id=HOSPITAL,
                        product_code=STOPPED, period=period, cumulative_quantity=cumulative,
                        cumulative_target=target)
    cloud_event = new_event("vbp.quota.progress", data, id=f"progress-{period}",
                            source="/service/quota", time="2020-03-20T10:00:00+08:00",
                            subject=AGREEMENT, province=A)
    return f"{AGREEMENT}:{period}", cloud_event.to_json_bytes()


async def test_a_production_stop_escalated_by_a_supply_service_reaches_b_with_b_winner(
        kafka_bootstrap: str, topic_prefix: str, partner_prefix: str, tmp_path: Path) -> None:
    """The whole chain with A's real supply service (002 §四(六)): B's winner reaches A's
    vbp.alliance.inbound; A's winner stops with no other winner at home to cover its demand, so
    A's supply service escalates to alliance level naming B's winner; A shares it and B receives
    it signed, from /alliance/520000."""
    if not (REPO / "services" / "supply" / "evaluate.py").exists():
        pytest.skip("the supply service's rules are not wired in this tree")
    keydir = tmp_path / "keys"
    keypair(keydir, A), keypair(keydir, B)
    a = alliance(kafka_bootstrap, topic_prefix, tmp_path / "a", "guizhou")
    b = alliance(kafka_bootstrap, partner_prefix, tmp_path / "b", "yunnan")
    supply = ServiceProcess("supply", kafka_bootstrap, topic_prefix, tmp_path / "s",
                            VBP_POLICY="guizhou")
    configure(a, tmp_path / "a", A, B, b, keydir)
    configure(b, tmp_path / "b", B, A, a, keydir)
    launch(a, b, supply)
    maker = "M11000000328"  # tests.events sends supply events from /manufacturer/M11000000328
    try:
        await send(kafka_bootstrap, partner_prefix + "vbp.ref.products", [
            event("vbp.product.listed", "b-prod-412", "2020-01-02", product_code=B_WINNER,
                  generic_name=AMLODIPINE, manufacturer_id="M53000000412", winning=True)])
        await inbound(kafka_bootstrap, topic_prefix, 1)  # B's winner is known at A
        await send(kafka_bootstrap, topic_prefix + "vbp.ref.products", [
            event("vbp.product.listed", "a-prod-783", "2020-01-02", product_code=STOPPED,
                  generic_name=AMLODIPINE, manufacturer_id=maker, winning=True)])
        await send(kafka_bootstrap, topic_prefix + "vbp.ref.institutions", [
            event("vbp.institution.registered", "a-inst", "2020-01-02", institution_id=HOSPITAL)])
        await send(kafka_bootstrap, topic_prefix + "vbp.orders", [
            event("vbp.order.placed", f"o-{m}", f"2020-0{m}-10", order_id=f"o-{m}",
                  institution_id=HOSPITAL, product_code=STOPPED, quantity=1000)
            for m in (1, 2, 3)])
        await send(kafka_bootstrap, topic_prefix + "vbp.supply.incidents", [
            event("vbp.supply.production_stopped", "inc-1", "2020-04-02", incident_id="inc-1",
                  manufacturer_id=maker, product_code=STOPPED, stopped_on="2020-04-02",
                  expected_resume_on=None)])
        await send(kafka_bootstrap, topic_prefix + "vbp.clock", [tick("2020-04-03")])

        def escalations(records: list[Record]) -> list[dict[str, Any]]:
            return [r.json() for r in records if r.json()["type"] == "vbp.shortage.escalated"]

        records = await read(kafka_bootstrap, partner_prefix + "vbp.alliance.inbound",
                             until=lambda r: bool(escalations(r)), timeout=50)
        (shared,) = escalations(records)
        assert (shared["source"], shared["province"]) == (f"/alliance/{A}", A)
        data = shared["data"]
        assert (data["product_code"], data["level"], data["region_code"]) == (
            STOPPED, "alliance", A)
        assert data["evidence"]["own_supply_covers"] is False
        assert data["alternatives"] == [
            {"province": B, "product_code": B_WINNER, "manufacturer_id": "M53000000412"}]
        assert {r.headers["vbp-alliance-sender"] for r in records} == {A}
    finally:
        stop_all(a, b, supply)


# -- refusals ----------------------------------------------------------------------------------

def _batch(sender: str, bid: str, events: list[dict[str, Any]],
           sent_at: datetime | None = None) -> bytes:
    return batch.encode(bid, sender, sent_at or datetime.now(UTC), events)


def _decision(n: int, province: str = A) -> dict[str, Any]:
    data = example_data("vbp.decision.issued", decision_id=f"gate-{n}", action="suspend_trading",
                        subject_kind="product", subject_id=STOPPED,
                        rule="supply.consistency_gate", policy_ref="000 §五(一)", caused_by=[])
    return json.loads(new_event("vbp.decision.issued", data, id=f"{province}-decision-gate-{n}",
                                source=f"/alliance/{province}", time="2020-04-02T10:00:00+08:00",
                                subject=STOPPED, province=province).to_json_bytes())


async def test_forged_altered_replayed_or_stale_batches_are_refused_and_write_nothing(
        kafka_bootstrap: str, partner_prefix: str, tmp_path: Path) -> None:
    """B admits A's signed batch once (202, then 409 even after a restart); a forged, altered,
    stale, oversized or malformed batch, a batch from an unknown province or speaking for another
    is refused with its status, and vbp.alliance.inbound holds only what was admitted."""
    keydir = tmp_path / "keys"
    a_key, a_kid = keypair(keydir, A)
    keypair(keydir, B)
    stranger = Ed25519PrivateKey.generate()
    workdir = tmp_path / "b"
    b = alliance(kafka_bootstrap, partner_prefix, workdir, "yunnan")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alliance.toml").write_text(f"""
private_key = "{keydir / f'{B}.key'}"
timestamp_window_seconds = 300
max_body_bytes = 65536
[[partners]]
province = "{A}"
inbound_url = "http://127.0.0.1:9/unused"
public_keys = ["{keys.encode_public(a_key.public_key())}"]
""", encoding="utf-8")
    b.start()
    url = f"{b.url}{batch.PATH}"

    def post(body: bytes, *, key: Ed25519PrivateKey = a_key, sender: str = A,
             signed: bytes | None = None, **headers: str) -> httpx.Response:
        h = batch.signed_headers(sender, key, a_kid, body if signed is None else signed)
        h.update(headers)
        return httpx.post(url, content=body, headers={k: v for k, v in h.items() if v}, timeout=10)

    try:
        good = _batch(A, "A-B-0-1", [_decision(1), _decision(2)])
        accepted = post(good)
        assert (accepted.status_code, accepted.json()["events"]) == (202, 2)
        assert post(good).json()["error"] == "replayed_batch"
        resigned = _batch(A, "A-B-0-1", [_decision(1), _decision(2)])  # a sender's retry
        assert post(resigned).status_code == 409

        refusals = {
            "forged": (post(_batch(A, "f-1", [_decision(3)]), key=stranger), 401, "bad_signature"),
            "altered": (post(good.replace(b"gate-1", b"gate-9"), signed=good), 401,
                        "bad_signature"),
            "unsigned": (post(_batch(A, "u-1", [_decision(3)]), **{batch.SIGNATURE_HEADER: ""}),
                         401, "missing_signature"),
            "stale": (post(_batch(A, "s-1", [_decision(3)], datetime.now(UTC) - SIX_MINUTES)), 422,
                      "stale_batch"),
            "unknown province": (post(_batch("110000", "p-1", [_decision(3, "110000")]),
                                      sender="110000"), 403, "unknown_sender"),
            "speaks for B": (post(_batch(B, "m-1", [_decision(3)])), 403, "sender_mismatch"),
            "foreign event": (post(_batch(A, "e-1", [_decision(3, B)])), 403, "foreign_event"),
            "malformed": (post(b'{"batch_id": "x-1", "events": [}'), 422, "malformed_batch"),
            "too large": (post(_batch(A, "l-1", [_decision(n) for n in range(3, 200)])), 413,
                          "too_large"),
        }
        outcomes = {name: (r.status_code, r.json()["error"]) for name, (r, *_) in refusals.items()}
        assert outcomes == {name: (status, code) for name, (_, status, code) in refusals.items()}

        # The memory of accepted batches survives a restart.
        b.stop(signal.SIGTERM)
        b.start()
        assert post(_batch(A, "A-B-0-1", [_decision(1), _decision(2)])).status_code == 409
        sentinel = post(_batch(A, "A-B-2-2", [_decision(100)]))
        assert sentinel.status_code == 202

        records = await read(kafka_bootstrap, partner_prefix + "vbp.alliance.inbound",
                             until=lambda r: any(x.json()["id"].endswith("gate-100") for x in r))
        assert [r.json()["id"] for r in records] == [
            f"{A}-decision-gate-1", f"{A}-decision-gate-2", f"{A}-decision-gate-100"]
        assert records[0].json() == _decision(1)  # unchanged
        batches = [r.headers["vbp-alliance-batch"] for r in records]
        assert batches == ["A-B-0-1", "A-B-0-1", "A-B-2-2"]
        senders = {(r.headers["vbp-alliance-sender"], r.headers["vbp-alliance-key-id"])
                   for r in records}
        assert senders == {(A, a_kid)}
    finally:
        b.stop(signal.SIGTERM)
    assert "Traceback" not in b.log(), b.log()[-3000:]


# -- a partner down, a sender crash ------------------------------------------------------------

async def test_partner_down_gets_everything_once_back_even_across_a_sender_crash(
        kafka_bootstrap: str, topic_prefix: str, partner_prefix: str, tmp_path: Path) -> None:
    """A shares while B is down: A keeps retrying. A is set to crash right after B's first
    acknowledgement, before its cursor moves; restarted, it re-sends that batch, B answers 409,
    and A goes on. B ends with every event exactly once; later events flow normally."""
    keydir = tmp_path / "keys"
    keypair(keydir, A), keypair(keydir, B)
    a = alliance(kafka_bootstrap, topic_prefix, tmp_path / "a", "guizhou", **{CRASH_AFTER_ACK: "1"})
    b = alliance(kafka_bootstrap, partner_prefix, tmp_path / "b", "yunnan")
    configure(a, tmp_path / "a", A, B, b, keydir)
    configure(b, tmp_path / "b", B, A, a, keydir)
    decisions = [_output("vbp.decision.issued", _decision(n)["data"], f"dec-{n}", STOPPED)
                 for n in range(5)]
    await send(kafka_bootstrap, topic_prefix + "vbp.decisions", decisions)
    a.start()
    try:
        await eventually(lambda: partner_status(a)["failed_attempts"] >= 2,
                         "A to retry while B is down")
        assert partner_status(a)["last_status"] is None  # connection refused: no answer at all
        b.start()
        assert a.process is not None
        assert a.process.wait(40) == 70  # crashed after B's acknowledgement, cursor not moved
        a.env.pop(CRASH_AFTER_ACK)
        a.start()
        await eventually(lambda: drained(a, 0) and partner_status(a)["replays_acknowledged"] == 1,
                    "A to re-send its pending batch and B to answer 409")
        await send(kafka_bootstrap, topic_prefix + "vbp.decisions",
                   [_output("vbp.decision.issued", _decision(n)["data"], f"dec-{n}", STOPPED)
                    for n in range(5, 8)])
        await eventually(lambda: drained(a, 3), "A to deliver the later events")
        records = await inbound(kafka_bootstrap, partner_prefix, 8)
        ids = Counter(r.json()["id"] for r in records)
        assert ids == Counter({f"{A}-decision-gate-{n}": 1 for n in range(8)})
        accepted = {r.headers["vbp-alliance-batch"] for r in records}
        assert all(bid.startswith(f"{A}-{B}-") for bid in accepted)
    finally:
        stop_all(a, b)
