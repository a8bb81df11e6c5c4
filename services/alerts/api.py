"""The alerts API. Every endpoint needs `Authorization: Bearer <VBP_ALERTS_TOKEN>` (401 otherwise;
with the variable unset the API is closed).

GET    /v1/alerts?state=open|all        open = not acknowledged and not inhibited
GET    /v1/alerts/{alert_id}            the alert, its deliveries and their history
GET    /v1/alerts/{alert_id}/history    every attempt and outcome, per receiver
POST   /v1/alerts/{alert_id}/ack        {"by": "...", "comment": "..."}: stops escalation
GET    /v1/silences                     with `active`
POST   /v1/silences                     {"matchers": {...}, "duration": "2h" | "ends_at": RFC 3339,
                                         "created_by": "...", "comment": "..."} -> 201
DELETE /v1/silences/{silence_id}        expire it now
GET    /v1/routes                       the routing file in force, why a new one was refused,
                                        and each receiver's circuit

Writes go through the ledger like everything else; a write answers once the ledger's handler has
applied it, so a read right after it sees it. Ids in paths are percent-encoded.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
import uuid
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime import openapi
from runtime.shell import LoopService, Reply
from services.alerts import ledger, render
from services.alerts.config import Duration, Matchers
from services.alerts.delivery import Deliverer
from services.alerts.store import Store, stamp

APPLY_WAIT = 10.0


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100)
    comment: str | None = Field(default=None, max_length=1000)


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: Matchers
    duration: Duration | None = None
    ends_at: AwareDatetime | None = None
    created_by: str = Field(min_length=1, max_length=100)
    comment: str = Field(default="", max_length=1000)

    @model_validator(mode="after")
    def _one_end(self) -> SilenceIn:
        if not self.matchers.values:
            raise ValueError("a silence needs at least one matcher")
        if (self.duration is None) == (self.ends_at is None):
            raise ValueError("give either duration or ends_at")
        return self

    def end(self, now: float) -> float:
        return now + self.duration if self.duration is not None else self.ends_at.timestamp()  # type: ignore[union-attr]


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else stamp(epoch).isoformat()


def summary(record: dict[str, Any]) -> dict[str, Any]:
    alert = record["alert"]
    state = ("acknowledged" if record["acked"] else "inhibited" if record["inhibited_by"]
             else "open")
    return {
        "alert_id": record["id"], "kind": alert["kind"], "rule": alert["rule"],
        "severity": alert["severity"], "action": alert.get("action"), "level": alert.get("level"),
        "subject_kind": alert["subject_kind"], "subject_id": alert["subject_id"],
        "region": alert.get("region"), "period": alert.get("period"),
        "title": render.title(alert), "state": state, "received_at": _iso(record["received_at"]),
        "acknowledged": record["acked"] and {**record["acked"], "at": _iso(record["acked"]["at"])},
        "inhibited_by": record["inhibited_by"],
        "escalation_step": (record["escalation"] or {}).get("step", 0),
        "deliveries": {key: {"receiver": row["receiver"], "kind": row["kind"],
                             "status": row["status"], "attempts": row["attempts"],
                             "notification_id": row["notification_id"],
                             "sent_at": _iso(row["sent_at"])}
                       for key, row in record["rows"].items()},
    }


def history(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**entry, "at": _iso(entry["at"])} for entry in record["history"]]


def _errors(error: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"] if p != "values") or "body",
             "error": e["msg"]} for e in error.errors(include_url=False)]


def install(service: LoopService, store: Store, deliverer: Deliverer, token: str | None) -> None:
    def refused(request: Any) -> Reply | None:
        if not token:
            return Reply(401, {"error": "API disabled: VBP_ALERTS_TOKEN is not set"})
        # Header bytes that are not UTF-8 reach us as surrogates (aiohttp): compare them as sent.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            return Reply(401, {"error": "missing or wrong bearer token"},
                         headers={"WWW-Authenticate": "Bearer"})
        return None

    async def body(request: Any, model: type[BaseModel]) -> BaseModel | Reply:
        try:
            raw = json.loads(await request.read() or b"{}")
            return model.model_validate(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return Reply(422, {"errors": [{"field": "body", "error": f"not JSON: {error}"}]})
        except ValidationError as error:
            return Reply(422, {"errors": _errors(error)})

    def known(alert_id: str) -> dict[str, Any] | None:
        record = store.alerts.get(alert_id)
        return record if record is not None and record["alert"] is not None else None

    auth = openapi.BEARER

    @service.route("/v1/alerts", auth=auth, query=("state",),
                   responses={422: "state is neither open nor all"})
    async def list_alerts(request: Any) -> Any:
        if (no := refused(request)) is not None:
            return no
        state = request.query.get("state", "open")
        records = [r for r in store.alerts.values() if r["alert"] is not None]
        if state == "open":
            records = [r for r in records if ledger.is_open(r)]
        elif state != "all":
            return Reply(422, {"errors": [{"field": "state", "error": "open or all"}]})
        records.sort(key=lambda r: (r["received_at"], r["id"]), reverse=True)
        return {"count": len(records), "alerts": [summary(r) for r in records[:1000]]}

    @service.route("/v1/alerts/{alert_id}", auth=auth)
    async def show_alert(request: Any, alert_id: str) -> Any:
        if (no := refused(request)) is not None:
            return no
        record = known(alert_id)
        if record is None:
            return Reply(404, {"error": f"no alert {alert_id}"})
        return {**summary(record), "alert": record["alert"], "history": history(record)}

    @service.route("/v1/alerts/{alert_id}/history", auth=auth)
    async def alert_history(request: Any, alert_id: str) -> Any:
        if (no := refused(request)) is not None:
            return no
        record = known(alert_id)
        if record is None:
            return Reply(404, {"error": f"no alert {alert_id}"})
        return {"alert_id": alert_id, "history": history(record)}

    @service.route("/v1/alerts/{alert_id}/ack", "POST", auth=auth, body=AckIn)
    async def acknowledge(request: Any, alert_id: str) -> Any:
        if (no := refused(request)) is not None:
            return no
        ack = await body(request, AckIn)
        if isinstance(ack, Reply):
            return ack
        record = known(alert_id)
        if record is None:
            return Reply(404, {"error": f"no alert {alert_id}"})
        if record["acked"]:
            return summary(record)
        op = {"op": "ack", "alert_id": alert_id, "by": ack.by, "comment": ack.comment,  # type: ignore[attr-defined]
              "at": time.time()}
        await _wait(await store.write(op))
        return summary(store.alerts[alert_id])

    @service.route("/v1/silences", auth=auth)
    async def list_silences(request: Any) -> Any:
        if (no := refused(request)) is not None:
            return no
        now = time.time()
        silences = sorted(store.silences.values(), key=lambda s: s["starts_at"])
        return {"silences": [{**s, "active": s["starts_at"] <= now < s["ends_at"],
                              "starts_at": _iso(s["starts_at"]), "ends_at": _iso(s["ends_at"])}
                             for s in silences]}

    @service.route("/v1/silences", "POST", auth=auth, body=SilenceIn,
                   responses={201: "The silence, in force from now"})
    async def create_silence(request: Any) -> Any:
        if (no := refused(request)) is not None:
            return no
        given = await body(request, SilenceIn)
        if isinstance(given, Reply):
            return given
        now = time.time()
        ends_at = given.end(now)  # type: ignore[attr-defined]
        if ends_at <= now:
            return Reply(422, {"errors": [{"field": "ends_at", "error": "already past"}]})
        silence = {"id": f"sil-{uuid.uuid4().hex[:16]}", "matchers": dict(given.matchers.values),  # type: ignore[attr-defined]
                   "starts_at": now, "ends_at": ends_at, "created_by": given.created_by,  # type: ignore[attr-defined]
                   "comment": given.comment}  # type: ignore[attr-defined]
        op = {"op": "silence", "id": silence["id"], "silence": silence}
        await _wait(await store.write_silence(op))
        return Reply(201, {**silence, "starts_at": _iso(now), "ends_at": _iso(ends_at)})

    @service.route("/v1/silences/{silence_id}", "DELETE", auth=auth)
    async def expire_silence(request: Any, silence_id: str) -> Any:
        if (no := refused(request)) is not None:
            return no
        if store.silences.get(silence_id) is None:
            return Reply(404, {"error": f"no silence {silence_id}"})
        op = {"op": "expire", "id": silence_id, "at": time.time()}
        await _wait(await store.write_silence(op))
        return {"id": silence_id, "expired": True}

    @service.route("/v1/routes", auth=auth)
    async def routes_status(request: Any) -> Any:
        if (no := refused(request)) is not None:
            return no
        return {**deliverer.routes.status(), "circuits": deliverer.status()}


async def _wait(applied: asyncio.Future[None]) -> None:
    with contextlib.suppress(TimeoutError):  # on the ledger all the same; applied later
        await asyncio.wait_for(applied, APPLY_WAIT)

