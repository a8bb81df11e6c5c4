"""HTTP abuse (issue 10): every service's HTTP API fuzzed from the OpenAPI document it publishes,
and the hostile requests the contract names: missing, unknown, revoked and malformed tokens,
another manufacturer's data, oversized and broken bodies, resent report ids; forged, altered,
misdirected, stale and replayed alliance batches.

The system is right when no answer is a 5xx or undocumented, every hostile request is refused
with its status, and the topics the endpoints write (vbp.supply.reports, vbp.supply.incidents,
vbp.alliance.inbound) hold exactly the submissions that were accepted, each once.

    VBP_KAFKA_BOOTSTRAP=127.0.0.1:9092 .venv/bin/python -m faults.http_abuse [--examples N]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from faults.report import Outcome
from runtime.topics import ensure_topics
from schemas.envelope import new_event
from schemas.events import example_data
from schemas.topics import TOPICS
from services.alliance import batch, keys
from services.supply import tokens
from tests.events import event
from tests.harness import ServiceProcess, eventually, read, send

log = logging.getLogger(__name__)

SERVICES = ("supply", "quota", "settlement", "alerts", "alliance")
WRITTEN = ("vbp.supply.reports", "vbp.supply.incidents", "vbp.alliance.inbound")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 25  # generated requests per operation and generation mode (positive, negative)

OWN, PARTNER, STRANGER = "520000", "530000", "110000"  # Guizhou admits batches from Yunnan
MAKER, OTHER_MAKER = "M11000000328", "M12000000783"
OTHERS_PRODUCT = "XC08CAA017A001010100783"  # listed for OTHER_MAKER
REPORT, STOPPED = "vbp.supply.monthly_reported", "vbp.supply.production_stopped"
OVER_64_KIB = 70 * 1024
Request = dict[str, Any]  # requests.request keyword arguments


@dataclass
class Findings:
    """What the scenario sent and found; `accepted`: the event ids the endpoints acknowledged,
    by the topic they were written to."""

    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # "<service> <status>" -> requests
    differences: list[str] = field(default_factory=list)
    accepted: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in WRITTEN})

    def differ(self, text: str) -> None:
        if text not in self.differences:  # a generated failure tends to repeat
            self.differences.append(text)

    def expect(self, what: str, response: httpx.Response, *statuses: int,
               error: str | None = None) -> httpx.Response:
        self.requests += 1
        if response.status_code not in statuses:
            self.differ(f"{what}: answered {response.status_code}, expected "
                        f"{' or '.join(map(str, statuses))}: {response.text[:200]}")
        elif error is not None and _json(response).get("error") != error:
            self.differ(f"{what}: error {_json(response).get('error')!r}, expected {error!r}")
        return response

    def supply_answer(self, what: str, response: httpx.Response | requests.Response) -> None:
        """Remember a submission the intake accepted; a 200 must name one accepted before."""
        body = _json(response)
        if response.status_code == 202:
            self.accepted[body["topic"]].append(body["event_id"])
        elif response.status_code == 200 and not any(
                body.get("event_id") in ids for ids in self.accepted.values()):
            self.differ(f"{what}: 200 names {body.get('event_id')}, never accepted")


def _json(response: httpx.Response | requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# -- the explicit abuse cases -------------------------------------------------------------------

def supply_abuse(url: str, token: str, others_token: str, revoked: str, f: Findings) -> None:
    reports, incidents = f"{url}/v1/supply/reports", f"{url}/v1/supply/incidents"
    report = example_data(REPORT, report_id="abuse-rpt-1", manufacturer_id=MAKER)
    good = json.dumps(report).encode()

    with httpx.Client(timeout=30) as http:
        def post(target: str, body: bytes | Iterator[bytes], authorization: str | bytes | None
                 = f"Bearer {token}") -> httpx.Response:
            headers = {"Content-Type": "application/json"}
            if authorization is not None:
                headers["Authorization"] = authorization  # type: ignore[assignment]
            return http.post(target, content=body, headers=headers)

        for what, authorization in (
                ("no Authorization header", None),
                ("an unknown token", "Bearer vbps_" + secrets.token_urlsafe(32)),
                ("a revoked token", f"Bearer {revoked}"),
                ("Basic credentials", "Basic " + base64.b64encode(b"M11000000328:x").decode()),
                ("Bearer without a token", "Bearer"),
                ("the token without its scheme", token),
                ("the token and more", f"Bearer {token} {token}"),
                ("a non-ASCII token", "Bearer 令牌".encode()),
                ("a token that is not UTF-8", b"Bearer \xff\xfe\x80")):
            f.expect(f"supply report with {what}", post(reports, good, authorization), 401)

        f.expect("a report naming another manufacturer", post(reports, json.dumps(
            {**report, "manufacturer_id": OTHER_MAKER}).encode()), 403)
        f.expect("a report on another manufacturer's product", post(reports, json.dumps(
            {**report, "product_code": OTHERS_PRODUCT}).encode()), 403)
        stop = example_data(STOPPED, incident_id="abuse-inc-1")  # OTHER_MAKER's own
        f.expect("another manufacturer's production stop", post(incidents,
                 json.dumps(stop).encode()), 403)

        padded = json.dumps({**report, "padding": "x" * OVER_64_KIB}).encode()
        f.expect("an oversized report", post(reports, padded), 413)
        f.expect("an oversized report, chunked",
                 post(reports, iter([padded[:1000], padded[1000:]])), 413)
        for what, body in (
                ("not JSON", b'{"report_id": '), ("not UTF-8", b'{"report_id": "\xff"}'),
                ("a JSON array", b"[]"), ("a JSON string", b'"report"'), ("empty", b""),
                ("a negative quantity", json.dumps({**report, "supplied_quantity": -1}).encode()),
                ("a month of year 1", json.dumps({**report, "month": "0001-01"}).encode()),
                ("a month to come", json.dumps({**report, "month": "9999-12"}).encode()),
                ("no report id", json.dumps(
                    {k: v for k, v in report.items() if k != "report_id"}).encode())):
            f.expect(f"a report with {what}", post(reports, body), 422)
        for what, body in (("with two incident kinds", {**stop, "manufacturer_id": MAKER,
                                                         "resumed_on": "2020-04-18"}),
                           ("of an unknown type and no kind", {
                               **{k: v for k, v in stop.items() if k != "stopped_on"},
                               "manufacturer_id": MAKER, "type": "vbp.order.placed"})):
            f.expect(f"an incident {what}", post(incidents, json.dumps(body).encode()), 422)

        first = f.expect("a valid report", post(reports, good), 202)
        f.supply_answer("a valid report", first)
        for what, body in (("the same report again", good),
                           ("the same report id with other figures", json.dumps(
                               {**report, "supplied_quantity": 1}).encode())):
            again = f.expect(what, post(reports, body), 200)
            f.supply_answer(what, again)
            if _json(again).get("event_id") != _json(first).get("event_id"):
                f.differ(f"{what}: event id {_json(again).get('event_id')}, "
                         f"not the original {_json(first).get('event_id')}")

        # Two identical new submissions at once: one 202, one 200, one event.
        twin = json.dumps({**report, "report_id": "abuse-rpt-twin"}).encode()
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: post(reports, twin), range(2)))
        for answer in sorted(answers, key=lambda a: a.status_code != 202):  # accepted first
            f.requests += 1
            f.supply_answer("a report sent twice at once", answer)
        if sorted(a.status_code for a in answers) != [200, 202]:
            f.differ(f"a report sent twice at once: {[a.status_code for a in answers]}, "
                     f"expected one 202 and one 200")

        theirs = f.expect("another manufacturer's stop with its own token",
                          post(incidents, json.dumps(stop).encode(), f"Bearer {others_token}"),
                          202)
        f.supply_answer("a valid incident", theirs)
        f.supply_answer("the incident again", f.expect("the same incident again", post(
            incidents, json.dumps(stop).encode(), f"Bearer {others_token}"), 200))


def partner_event(n: int, province: str = PARTNER, type_: str = "vbp.decision.issued",
                  id_: str | None = None) -> dict[str, Any]:
    if type_ == "vbp.decision.issued":
        data = example_data(type_, decision_id=f"abuse-{n}", caused_by=[])
    else:
        data = example_data(type_)
    return json.loads(new_event(type_, data, id=id_ or f"{province}-abuse-{n}",
                                source=f"/alliance/{province}", time="2020-04-02T10:00:00+08:00",
                                subject="abuse", province=province).to_json_bytes())


def alliance_abuse(url: str, partner_key: Ed25519PrivateKey, partner_kid: str,
                   f: Findings) -> None:
    inbound = f"{url}{batch.PATH}"
    stranger = Ed25519PrivateKey.generate()

    def body(batch_id: str, events: list[dict[str, Any]], sender: str = PARTNER,
             sent_at: datetime | None = None) -> bytes:
        return batch.encode(batch_id, sender, sent_at or datetime.now(UTC), events)

    with httpx.Client(timeout=30) as http:
        def post(content: bytes, *, key: Ed25519PrivateKey = partner_key, sender: str = PARTNER,
                 signed: bytes | None = None, **headers: str | bytes | None) -> httpx.Response:
            sent = batch.signed_headers(sender, key, partner_kid,
                                        content if signed is None else signed)
            sent.update(headers)  # type: ignore[arg-type]
            return http.post(inbound, content=content,
                             headers={k: v for k, v in sent.items() if v is not None})

        def admitted(what: str, content: bytes) -> None:
            if f.expect(what, post(content), 202).status_code == 202:
                events = json.loads(content)["events"]
                f.accepted["vbp.alliance.inbound"] += [e["id"] for e in events]

        good = body("abuse-batch-1", [partner_event(1), partner_event(2)])
        admitted("a partner's signed batch", good)
        f.expect("the same batch again", post(good), 409, error="replayed_batch")
        f.expect("the batch id again, signed anew", post(
            body("abuse-batch-1", [partner_event(1), partner_event(2)])), 409)
        f.expect("the batch id again, other events", post(
            body("abuse-batch-1", [partner_event(3)])), 409)

        now = datetime.now(UTC)
        fresh = body("abuse-batch-x", [partner_event(4)])
        refusals: list[tuple[str, httpx.Response, int, str]] = [
            ("signed with a stranger's key", post(fresh, key=stranger), 401, "bad_signature"),
            ("a stranger's signature, no key id", post(fresh, key=stranger,
                                                       **{batch.KEY_ID_HEADER: None}),
             401, "bad_signature"),
            ("an unknown key id", post(fresh, **{batch.KEY_ID_HEADER: f"{PARTNER}-deadbeef"}),
             401, "unknown_key"),
            ("altered after signing", post(fresh.replace(b"abuse-4", b"abuse-5"), signed=fresh),
             401, "bad_signature"),
            ("no signature", post(fresh, **{batch.SIGNATURE_HEADER: None}), 401,
             "missing_signature"),
            ("a signature that is not base64", post(fresh, **{batch.SIGNATURE_HEADER: "%%%%"}),
             401, "bad_signature"),
            ("a signature that is not UTF-8", post(fresh, **{batch.SIGNATURE_HEADER: b"\xff\xfe"}),
             401, "bad_signature"),
            ("an unknown province", post(body("abuse-p", [partner_event(4, STRANGER)],
                                              STRANGER), key=stranger, sender=STRANGER),
             403, "unknown_sender"),
            ("no province header", post(fresh, **{batch.PROVINCE_HEADER: None}), 403,
             "unknown_sender"),
            ("a batch speaking for another province", post(
                body("abuse-m", [partner_event(4)], sender=OWN)), 403, "sender_mismatch"),
            ("an event of another province", post(body("abuse-e", [partner_event(4, OWN)])),
             403, "foreign_event"),
            ("a type not accepted from the partner", post(body("abuse-t", [partner_event(
                4, type_="vbp.product.listed")])), 403, "type_not_accepted"),
            ("a stale batch", post(body("abuse-s", [partner_event(4)],
                                        sent_at=now - timedelta(minutes=6))), 422, "stale_batch"),
            ("a batch from the future", post(body("abuse-f", [partner_event(4)],
                                                  sent_at=now + timedelta(minutes=6))),
             422, "stale_batch"),
            ("a repeated event id", post(body("abuse-r", [partner_event(4), partner_event(4)])),
             422, "invalid_event"),
            ("an event id without the sender", post(body("abuse-i", [partner_event(
                4, id_="abuse-4")])), 422, "invalid_event"),
            ("no events", post(body("abuse-n", [])), 422, "malformed_batch"),
            ("not JSON", post(b'{"batch_id": "abuse-j", "events": [}'), 422, "malformed_batch"),
            ("not UTF-8", post(b'{"batch_id": "\xff"}'), 422, "malformed_batch"),
            ("a JSON array", post(b"[]"), 422, "malformed_batch"),
            ("a time without offset", post(fresh.replace(b"+00:00", b"")), 422,
             "malformed_batch"),
            ("too large", post(body("abuse-l", [partner_event(n) for n in range(10, 200)])),
             413, "too_large"),
        ]
        for what, response, status, error in refusals:
            f.expect(f"alliance batch: {what}", response, status, error=error)
        admitted("another signed batch after the refusals", body("abuse-batch-2",
                                                                 [partner_event(100)]))


def alerts_abuse(url: str, token: str, f: Findings) -> None:
    silence = {"matchers": {"rule": "quota.*"}, "duration": "1h", "created_by": "abuse"}
    with httpx.Client(timeout=30) as http:
        def call(method: str, path: str, authorization: str | bytes | None = f"Bearer {token}",
                 content: bytes = b"") -> httpx.Response:
            headers = {} if authorization is None else {"Authorization": authorization}
            return http.request(method, f"{url}{path}", headers=headers,  # type: ignore[arg-type]
                                content=content or None)

        routes = (("GET", "/v1/alerts"), ("GET", "/v1/alerts/x"), ("POST", "/v1/alerts/x/ack"),
                  ("GET", "/v1/silences"), ("POST", "/v1/silences"),
                  ("DELETE", "/v1/silences/x"), ("GET", "/v1/routes"))
        for method, path in routes:
            for what, authorization in (("no token", None), ("a wrong token", "Bearer wrong"),
                                        ("the token and more", f"Bearer {token}x"),
                                        ("a token that is not UTF-8", b"Bearer \xff\xfe")):
                f.expect(f"alerts {method} {path} with {what}",
                         call(method, path, authorization, json.dumps(silence).encode()), 401)

        for what, content in (("not JSON", b'{"matchers": '), ("not UTF-8", b'{"by": "\xff"}'),
                              ("a JSON array", b"[]"), ("null", b"null"),
                              ("an unknown label", json.dumps(
                                  {**silence, "matchers": {"colour": "red"}}).encode()),
                              ("an end in the past", json.dumps(
                                  {**{k: v for k, v in silence.items() if k != "duration"},
                                   "ends_at": "2000-01-01T00:00:00+00:00"}).encode())):
            f.expect(f"a silence {what}", call("POST", "/v1/silences", content=content), 422)
            f.expect(f"an acknowledgement {what}", call("POST", "/v1/alerts/x/ack",
                                                        content=content), 422)
        f.expect("an oversized silence", call("POST", "/v1/silences", content=json.dumps(
            {**silence, "comment": "x" * 2_000_000}).encode()), 413)
        created = f.expect("a valid silence", call("POST", "/v1/silences",
                                                   content=json.dumps(silence).encode()), 201)
        silence_id = _json(created).get("id", "none")
        f.expect("expiring it", call("DELETE", f"/v1/silences/{silence_id}"), 200)


# -- generated requests -------------------------------------------------------------------------

@dataclass
class Fuzzer:
    """Requests generated from a service's OpenAPI document, each checked: no 5xx, a documented
    status, content type and body schema. `prepare` adjusts a request before it is sent (e.g.
    credentials), `answered` sees each answer."""

    service: ServiceProcess
    f: Findings
    prepare: Callable[[Request], None] = lambda request: None
    answered: Callable[[Request, requests.Response], None] = lambda request, response: None
    session: requests.Session = field(default_factory=requests.Session)

    def run(self, examples: int) -> None:
        """`examples` requests per operation and generation mode (positive, negative)."""
        schema = schemathesis.openapi.from_url(f"{self.service.url}/openapi.json")
        for result in schema.get_all_operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                with contextlib.suppress(Unsatisfiable):  # nothing to negate without parameters
                    self.operation(result.ok(), mode, examples)

    def operation(self, operation: schemathesis.APIOperation, mode: GenerationMode,
                  examples: int) -> None:
        where = f"fuzz {self.service.name} {operation.label} ({mode.value})"

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            self.send(case, where)

        run()

    def send(self, case: schemathesis.Case, where: str) -> None:
        request = case.as_transport_kwargs(base_url=self.service.url)
        self.prepare(request)
        try:
            response = self.session.request(**request, timeout=30)
        except requests.ConnectionError as error:
            self.f.differ(f"{where}: no answer: {type(error).__name__}")
            return
        except (requests.RequestException, ValueError):
            return  # a request the client library will not send (e.g. a bad header)
        self.f.requests += 1
        self.f.statuses[f"{self.service.name} {response.status_code}"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                self.f.differ(f"{where}: {failure.title}, answered {response.status_code}")
        self.answered(request, response)


def signing(key: Ed25519PrivateKey, kid: str, rng: random.Random) -> Callable[[Request], None]:
    """Sign most generated batches with the partner's key, half of them also made to name the
    partner as sender, now as time and partner events, to reach the checks behind the
    signature."""
    def prepare(request: Request) -> None:
        if "json" not in request:
            return
        content = request.pop("json")
        if isinstance(content, dict) and rng.random() < 0.5:
            content.update(sender=PARTNER, sent_at=datetime.now(UTC).isoformat())
            for item in content.get("events") or []:
                if isinstance(item, dict):
                    item.update(province=PARTNER, source=f"/alliance/{PARTNER}",
                                id=f"{PARTNER}-{item.get('id')}")
        request["data"] = json.dumps(content).encode()
        if rng.random() < 0.8:
            request["headers"].update(batch.signed_headers(PARTNER, key, kid, request["data"]))
    return prepare


def alliance_answered(f: Findings) -> Callable[[Request, requests.Response], None]:
    def answered(request: Request, response: requests.Response) -> None:
        if response.status_code == 202:
            f.accepted["vbp.alliance.inbound"] += [
                e["id"] for e in json.loads(request["data"])["events"]]
    return answered


def bearer(token: str, rng: random.Random, maker: str | None = None) -> Callable[[Request], None]:
    """Most generated requests carry the token; with `maker`, half the bodies name it."""
    def prepare(request: Request) -> None:
        if rng.random() < 0.8:
            request["headers"]["Authorization"] = f"Bearer {token}"
        content = request.get("json")
        if maker and isinstance(content, dict) and rng.random() < 0.5:
            content["manufacturer_id"] = maker
    return prepare


# -- what was written ---------------------------------------------------------------------------

async def message_count(bootstrap: str, prefix: str, base: str) -> int:
    """How many messages a topic holds: the sum of its end offsets (no transactions, nothing
    compacted or expired here)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(prefix + base, p)
                                           for p in range(TOPICS[base].partitions)])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def check_written(bootstrap: str, prefix: str, f: Findings) -> int:
    """The endpoints' topics hold exactly the accepted submissions, each once; how many events
    were read. Every write was acknowledged before its answer, so the topics are complete."""
    counts = [await message_count(bootstrap, prefix, base) for base in WRITTEN]
    reads = await asyncio.gather(*(
        read(bootstrap, prefix + base, until=lambda r, n=count: len(r) >= n)
        for base, count in zip(WRITTEN, counts, strict=True)))
    for base, records in zip(WRITTEN, reads, strict=True):
        on_topic = Counter(r.json()["id"] for r in records)
        accepted = Counter(f.accepted[base])
        for event_id, times in accepted.items():
            if times > 1:
                f.differ(f"{base}: {event_id} accepted {times} times")
            if event_id not in on_topic:
                f.differ(f"{base}: accepted {event_id} is missing")
        for event_id, times in on_topic.items():
            if event_id not in accepted:
                f.differ(f"{base}: {event_id} written, never accepted")
            elif times > 1:
                f.differ(f"{base}: {event_id} written {times} times")
    return sum(len(records) for records in reads)


# -- the scenario -------------------------------------------------------------------------------

def alliance_config(workdir: Path, keydir: Path) -> Path:
    path = workdir / "alliance.toml"
    path.write_text(f"""
private_key = "{keydir / f'{OWN}.key'}"
timestamp_window_seconds = 300
max_body_bytes = 65536
[[partners]]
province = "{PARTNER}"
inbound_url = "http://127.0.0.1:9/unused"
public_key_files = ["{keydir / f'{PARTNER}.pub'}"]
share = []
accept = ["decisions", "escalations"]
""", encoding="utf-8")
    return path


async def scenario(bootstrap: str, workdir: Path, examples: int = EXAMPLES) -> list[Outcome]:
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = f"abuse{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, prefix)

    token_file = workdir / "supply-tokens.json"
    token, others_token = tokens.issue(token_file, MAKER), tokens.issue(token_file, OTHER_MAKER)
    revoked = tokens.issue(token_file, MAKER)
    tokens.revoke(token_file, MAKER, tokens.digest(revoked))
    alerts_token = secrets.token_urlsafe(24)
    keydir = workdir / "keys"
    keys.new_pair(OWN, keydir)
    keys.new_pair(PARTNER, keydir)
    partner_key = keys.load_private(keydir / f"{PARTNER}.key")
    partner_kid = keys.key_id(PARTNER, partner_key.public_key())

    env = {"VBP_POLICY": "guizhou", "VBP_SUPPLY_TOKENS": str(token_file),
           "VBP_ALERTS_TOKEN": alerts_token,
           "VBP_ALLIANCE_CONFIG": str(alliance_config(workdir, keydir))}
    services = {name: ServiceProcess(name, bootstrap, prefix, workdir, **env)
                for name in SERVICES}
    f = Findings()
    rng = random.Random(10)
    try:
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in services.values()))
        supply = services["supply"]
        await send(bootstrap, prefix + "vbp.ref.products", [event(
            "vbp.product.listed", "abuse-listing", "2020-01-02", product_code=OTHERS_PRODUCT,
            manufacturer_id=OTHER_MAKER)])
        await eventually(lambda: httpx.get(f"{supply.url}/v1/supply/products/{OTHERS_PRODUCT}"
                                           "/cover", timeout=5).status_code == 200,
                         "the supply service knows the other manufacturer's product")

        await asyncio.to_thread(supply_abuse, supply.url, token, others_token, revoked, f)
        await asyncio.to_thread(alliance_abuse, services["alliance"].url, partner_key,
                                partner_kid, f)
        await asyncio.to_thread(alerts_abuse, services["alerts"].url, alerts_token, f)
        explicit = f.requests

        def supply_answered(request: Request, response: requests.Response) -> None:
            if request["method"] == "POST":
                f.supply_answer(f"fuzz supply {request['url']}", response)

        fuzzers = [
            Fuzzer(supply, f, bearer(token, rng, MAKER), supply_answered),
            Fuzzer(services["alliance"], f, signing(partner_key, partner_kid, rng),
                   alliance_answered(f)),
            Fuzzer(services["alerts"], f, bearer(alerts_token, rng)),
            Fuzzer(services["quota"], f), Fuzzer(services["settlement"], f)]
        for fuzzer in fuzzers:
            await asyncio.to_thread(fuzzer.run, examples)
        generated = f.requests - explicit
        log.info("generated requests by service and answer: %s",
                 ", ".join(f"{k}: {n}" for k, n in sorted(f.statuses.items())))

        events = await check_written(bootstrap, prefix, f)
    finally:
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in services.values()
                               if s.process is not None and s.process.poll() is None),
                             return_exceptions=True)
    for service in services.values():
        if "Error handling request" in service.log():  # aiohttp: a handler raised
            f.differ(f"{service.name} logged a failed request (see {service.log_path})")
    return [Outcome(
        scenario="HTTP abuse",
        faults=f"{generated} generated requests ({examples} per operation and mode), "
               f"{explicit} hostile ones; {events} events on the intake topics checked",
        injected=f.requests, events_checked=f.requests, differences=f.differences,
        seconds=time.monotonic() - started)]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="python -m faults.http_abuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=EXAMPLES,
                        help="generated requests per operation and mode")
    parser.add_argument("--workdir", type=Path, default=Path(".cache/faults/http-abuse"))
    args = parser.parse_args()
    bootstrap = os.environ.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    workdir = args.workdir / uuid.uuid4().hex[:8]
    [outcome] = asyncio.run(scenario(bootstrap, workdir, args.examples))
    print(f"{outcome.faults}\n{outcome.injected} requests in {outcome.seconds:.0f} s, "
          f"{len(outcome.differences)} differences")

    for difference in outcome.differences:
        print(" -", difference)


if __name__ == "__main__":
    main()
