"""How a notification travels to a receiver over HTTP, and how a receiver checks it came from us.

- webhook: JSON with every alert; headers `X-VBP-Notification-Id` (the idempotency key: the
  same on every attempt of one notification), `X-VBP-Timestamp` (unix seconds) and
  `X-VBP-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`. A receiver drops a
  repeated notification id and a timestamp older than its tolerance (a replay).
- wecom (企业微信 group robot): `{"msgtype": "markdown"|"text", ...}`; success is errcode 0.
- dingtalk (钉钉 custom robot): same shape plus, with a secret, `&timestamp=<ms>&sign=<urlencoded
  base64 HMAC-SHA256(secret, "<timestamp>\\n<secret>")>` on the URL; success is errcode 0.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx

from services.alerts.config import Receiver

NOTIFICATION_HEADER = "X-VBP-Notification-Id"
TIMESTAMP_HEADER = "X-VBP-Timestamp"
SIGNATURE_HEADER = "X-VBP-Signature"
WECOM_LIMITS = {"markdown": 4096, "text": 2048}  # bytes, per WeCom's robot documentation
DINGTALK_LIMIT = 4096


@dataclass(frozen=True)
class Message:
    """A rendered notification, ready for any receiver kind."""

    notification_id: str
    title: str
    text: str
    markdown: str
    payload: dict[str, Any]  # the generic webhook's JSON body


@dataclass(frozen=True)
class Result:
    ok: bool
    retryable: bool
    status_code: int | None = None
    error: str | None = None


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(secret: str, headers: Any, body: bytes, *, now: float | None = None,
                   tolerance: float = 300.0) -> bool:
    """What a receiver does: check the signature, and refuse a stale timestamp (a replay)."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
    except (KeyError, TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign_webhook(secret, timestamp, body)
    return hmac.compare_digest(expected, str(headers.get(SIGNATURE_HEADER, "")))


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: base64(HMAC-SHA256(key=secret, timestamp + '\\n' + secret)), not yet
    url-encoded."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    if not secret:
        return url
    joiner = "&" if "?" in url else "?"
    sign = quote_plus(dingtalk_sign(secret, timestamp_ms))
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"


def request_for(receiver: Receiver, message: Message, attempt: int,
                now: float) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of one attempt; signatures are fresh on every attempt."""
    from services.alerts.render import clip

    headers = {"Content-Type": "application/json; charset=utf-8",
               NOTIFICATION_HEADER: message.notification_id}
    footer = f"\n\n通知编号：{message.notification_id}"
    url = receiver.url
    if receiver.kind == "webhook":
        payload: dict[str, Any] = {**message.payload, "attempt": attempt}
    elif receiver.kind == "wecom":
        limit = WECOM_LIMITS[receiver.msgtype]
        body = message.markdown if receiver.msgtype == "markdown" else message.text
        payload = {"msgtype": receiver.msgtype,
                   receiver.msgtype: {"content": clip(body, limit, footer)}}
    else:
        if receiver.msgtype == "markdown":
            payload = {"msgtype": "markdown", "markdown": {
                "title": message.title, "text": clip(message.markdown, DINGTALK_LIMIT, footer)}}
        else:
            content = clip(message.text, DINGTALK_LIMIT, footer)
            payload = {"msgtype": "text", "text": {"content": content}}
        url = dingtalk_url(url, receiver.secret, int(now * 1000))
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if receiver.kind == "webhook":
        assert receiver.secret is not None
        timestamp = int(now)
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = sign_webhook(receiver.secret, timestamp, body)
    return url, headers, body


async def deliver(client: httpx.AsyncClient, receiver: Receiver, message: Message,
                  attempt: int) -> Result:
    url, headers, body = request_for(receiver, message, attempt, time.time())
    try:
        response = await client.post(url, content=body, headers=headers, timeout=receiver.timeout)
    except httpx.TimeoutException:
        return Result(False, True, None, f"no answer within {receiver.timeout:g}s")
    except httpx.HTTPError as error:
        return Result(False, True, None, f"{type(error).__name__}: {error}"[:500])
    return classify(receiver, response.status_code, response.content)


def classify(receiver: Receiver, status: int, content: bytes) -> Result:
    """2xx is delivered (for the robots only with errcode 0). 408, 429 and 5xx are retried;
    another 4xx means the request itself is refused (bad URL, signature): retrying cannot help."""
    if 200 <= status < 300:
        if receiver.kind == "webhook":
            return Result(True, False, status)
        try:
            answer = json.loads(content)
            code, text = answer.get("errcode"), answer.get("errmsg")
        except (ValueError, AttributeError):
            return Result(False, True, status, "robot answered without errcode")
        if code == 0:
            return Result(True, False, status)
        return Result(False, True, status, f"errcode {code}: {text}"[:500])
    error = f"HTTP {status}: {content[:200].decode('utf-8', errors='replace')}"
    return Result(False, status in (408, 429) or status >= 500, status, error)
