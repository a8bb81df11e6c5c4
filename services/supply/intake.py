"""Manufacturer intake over HTTP: POST /v1/supply/reports and /v1/supply/incidents.

A manufacturer posts the ``data`` object of its event with its bearer token (tokens.py). The
answer follows docs/contract.md (HTTP): 202 with the event id once the broker has acknowledged the
event (acks=all, waited for); 200 with the original event id for a report or incident id already
accepted; 401 for a missing, unknown or revoked token; 403 when the body names another
manufacturer or another manufacturer's product; 413 for a body over ``MAX_BODY_BYTES``; 422 with
field errors; 503 when Kafka does not acknowledge (nothing was accepted: send it again).

Event ids are derived from the event type, the manufacturer and its report or incident id, so a
resend, even after a restart, can only ever produce the same event (which the consumers process
once). Which ids were accepted is read back from the two topics when the first submission
arrives, then kept in memory: one intake process per deployment (the service's single worker).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from runtime import openapi
from runtime.codec import CONTENT_TYPE
from runtime.shell import LoopService, Reply
from schemas.base import EventData
from schemas.envelope import new_event
from schemas.events import EVENT_TYPES
from schemas.topics import TOPICS, TYPE_TOPIC
from services.supply.demand import month_of
from services.supply.rules import finding_id
from services.supply.tokens import TokenStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
CHINA = timezone(timedelta(hours=8))  # event time of a submission: when the bureau received it
REPORT = "vbp.supply.monthly_reported"
STOPPED, RESUMED, FORECAST = ("vbp.supply.production_stopped", "vbp.supply.production_resumed",
                              "vbp.supply.shortfall_forecast")
# A report's month: one that has begun, and not so early that the AMC look-back before it
# leaves the calendar (a report for 0001-01 made every cover page answer 500).
EARLIEST_MONTH = "2000-01"
# An incident body is told apart by the field only its type has, or by an explicit "type".
INCIDENT_MARKERS = {"stopped_on": STOPPED, "resumed_on": RESUMED, "expected_capacity": FORECAST}


@dataclass(frozen=True)
class Submission:
    """A valid submission: the event it becomes."""

    type: str
    data: EventData
    manufacturer_id: str
    business_id: str  # report_id or incident_id

    @property
    def event_id(self) -> str:
        return finding_id(self.type, self.manufacturer_id, self.business_id)

    @property
    def topic(self) -> str:
        return TYPE_TOPIC[self.type]


def refuse(status: int, error: str, **extra: Any) -> Reply:
    return Reply(status, {"error": error, **extra})


def event_type(kind: str, body: dict[str, Any]) -> str | None:
    """The event type a body of endpoint `kind` ("reports" or "incidents") is."""
    if kind == "reports":
        return REPORT
    named = body.get("type")
    if named in INCIDENT_MARKERS.values():
        return str(named)
    found = {t for field, t in INCIDENT_MARKERS.items() if field in body}
    return found.pop() if len(found) == 1 else None


def parse(kind: str, body: bytes, manufacturer_id: str,
          owner_of: Callable[[str], str | None] = lambda code: None,
          today: date | None = None) -> Submission | Reply:
    """Validate a body for `manufacturer_id`; the Submission, or the refusal to answer.

    `owner_of`: product_code -> manufacturer_id of the product's listing, None if unknown.
    `today`: the day it is received (default: today in China)."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return refuse(422, "body is not JSON", errors=[{"loc": [], "msg": str(error)}])
    if not isinstance(raw, dict):
        return refuse(422, "body must be a JSON object: the event's data",
                      errors=[{"loc": [], "msg": "not an object"}])
    type_ = event_type(kind, raw)
    if type_ is None:
        return refuse(422, "cannot tell the incident type", errors=[{
            "loc": ["type"], "msg": "give exactly one of stopped_on, resumed_on, "
            "expected_capacity, or type = one of " + ", ".join(INCIDENT_MARKERS.values())}])
    try:
        data = EVENT_TYPES[type_].model_validate(raw)
    except ValidationError as error:
        return refuse(422, f"invalid {type_} data", errors=[
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in error.errors(include_url=False, include_input=False)])
    if type_ == REPORT:
        latest = month_of(today or datetime.now(CHINA).date())
        if not EARLIEST_MONTH <= data.month <= latest:  # type: ignore[attr-defined]
            return refuse(422, f"invalid {type_} data", errors=[{
                "loc": ["month"], "msg": f"a month from {EARLIEST_MONTH} to {latest}",
                "type": "value_error"}])
    named = data.manufacturer_id  # type: ignore[attr-defined]
    if named != manufacturer_id:
        return refuse(403, f"the token is {manufacturer_id}'s; the body names {named}")
    product = data.product_code  # type: ignore[attr-defined]
    owner = owner_of(product)
    if owner is not None and owner != manufacturer_id:
        return refuse(403, f"product {product} is listed for another manufacturer")
    fields = data.model_dump()
    business_id = fields["report_id"] if type_ == REPORT else fields["incident_id"]
    return Submission(type_, data, manufacturer_id, business_id)


def bearer(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Intake:
    """The two POST routes, on the supply service's web server."""

    def __init__(self, service: LoopService, tokens: TokenStore,
                 owner_of: Callable[[str], str | None]) -> None:
        self.service = service
        self.tokens = tokens
        self.owner_of = owner_of
        self._producer: AIOKafkaProducer | None = None
        self._accepted: set[str] | None = None
        self._start = asyncio.Lock()
        self._inflight: dict[str, asyncio.Future[None]] = {}
        service.app.on_before_shutdown.connect(self._close)
        answers = {202: "Accepted: the event id and its topic",
                   200: "This report or incident id was accepted before: the original event id",
                   403: "The body names another manufacturer or another manufacturer's product",
                   413: f"Body over {MAX_BODY_BYTES} bytes",
                   503: "Kafka did not acknowledge: nothing was accepted, send it again"}
        service.route("/v1/supply/reports", "POST", body=EVENT_TYPES[REPORT], auth=openapi.BEARER,
                      responses=answers)(self.reports)
        service.route("/v1/supply/incidents", "POST",
                      body=tuple(EVENT_TYPES[t] for t in INCIDENT_MARKERS.values()),
                      auth=openapi.BEARER, responses=answers)(self.incidents)

    async def reports(self, request: web.Request) -> Reply:
        """A monthly report: the data of vbp.supply.monthly_reported."""
        return await self.submit("reports", request)

    async def incidents(self, request: web.Request) -> Reply:
        """A production stop, resumption or shortfall forecast: the data of that event."""
        return await self.submit("incidents", request)

    async def submit(self, kind: str, request: web.Request) -> Reply:
        token = bearer(request.headers.get("Authorization", ""))
        manufacturer = self.tokens.manufacturer_of(token) if token else None
        if manufacturer is None:
            return Reply(401, {"error": "missing, unknown or revoked bearer token"},
                         headers={"WWW-Authenticate": 'Bearer realm="vbp-supply"'})
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return refuse(413, f"body over {MAX_BODY_BYTES} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return refuse(413, f"body over {MAX_BODY_BYTES} bytes")
        if len(body) > MAX_BODY_BYTES:
            return refuse(413, f"body over {MAX_BODY_BYTES} bytes")
        parsed = parse(kind, body, manufacturer, self.owner_of)
        if isinstance(parsed, Reply):
            return parsed
        return await self.accept(parsed)

    async def accept(self, sub: Submission) -> Reply:
        event_id = sub.event_id
        try:
            accepted = await self._accepted_ids()
            if event_id in accepted:
                return Reply(200, {"event_id": event_id, "duplicate": True})
            pending = self._inflight.get(event_id)
            if pending is not None:  # the same id sent twice at once: one event, one 202
                await asyncio.shield(pending)
                return Reply(200, {"event_id": event_id, "duplicate": True})
            sending = self._inflight[event_id] = asyncio.get_running_loop().create_future()
            try:
                await self._send(sub)
            except Exception as error:
                sending.set_exception(error)
                sending.exception()  # retrieved: no "never retrieved" warning without waiters
                raise
            except BaseException:
                sending.cancel()
                raise
            else:
                accepted.add(event_id)
                sending.set_result(None)
            finally:
                self._inflight.pop(event_id, None)
        except (TimeoutError, KafkaError, OSError) as error:
            log.warning("intake: Kafka did not acknowledge %s: %r", event_id, error)
            await self._reset()
            return Reply(503, {"error": "Kafka did not acknowledge the event; send it again",
                               "event_id": event_id}, headers={"Retry-After": "5"})
        return Reply(202, {"event_id": event_id, "topic": sub.topic})

    async def _send(self, sub: Submission) -> None:
        producer = await self._producer_started()
        province = self.service.policy.region_code
        event = new_event(sub.type, sub.data, id=sub.event_id,
                          source=f"/manufacturer/{sub.manufacturer_id}",
                          time=datetime.now(CHINA).isoformat(timespec="seconds"),
                          subject=sub.manufacturer_id, province=province)
        await producer.send_and_wait(
            self.service.settings.topic(sub.topic), value=event.to_json_bytes(),
            key=sub.manufacturer_id.encode(), headers=[("content-type", CONTENT_TYPE.encode())])

    async def _producer_started(self) -> AIOKafkaProducer:
        async with self._start:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.service.settings.bootstrap, acks="all",
                    enable_idempotence=True, request_timeout_ms=15000,
                    client_id=f"{self.service.settings.app_id}-intake")
                await producer.start()
                self._producer = producer
            return self._producer

    async def _accepted_ids(self) -> set[str]:
        """Event ids already on the supply topics, read back once, then kept up to date."""
        async with self._start:
            if self._accepted is None:
                self._accepted = await asyncio.wait_for(self._read_back(), timeout=60)
            return self._accepted

    async def _read_back(self) -> set[str]:
        settings = self.service.settings
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        ids: set[str] = set()
        try:
            tps = [TopicPartition(settings.topic(base), p)
                   for base in ("vbp.supply.reports", "vbp.supply.incidents")
                   for p in range(TOPICS[base].partitions)]
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for m in messages:
                        try:
                            ids.add(json.loads(m.value)["id"])
                        except (TypeError, ValueError, KeyError):
                            pass
        finally:
            await consumer.stop()
        log.info("intake: %d accepted event ids read back", len(ids))
        return ids

    async def _reset(self) -> None:
        async with self._start:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _close(self, app: Any, **kwargs: Any) -> None:
        await self._reset()

