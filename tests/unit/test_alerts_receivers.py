"""What goes over the wire: signatures, robot formats, answers, and the Chinese text."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest

from schemas.envelope import example_event
from schemas.events import EXAMPLES
from services.alerts import render
from services.alerts.alert import from_event
from services.alerts.config import Receiver
from services.alerts.receivers import (
    NOTIFICATION_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Message,
    classify,
    dingtalk_sign,
    request_for,
    verify_webhook,
)

NOW = 1_585_700_000.0  # 2020-04-01 08:13:20 +08:00
MESSAGE = Message("ntf-abc", "【预警】标题", "正文", "### 正文",
                  {"notification_id": "ntf-abc", "alerts": [{"id": "w-1"}]})


def receiver(kind: str, **more: object) -> Receiver:
    return Receiver.model_validate({"name": kind, "kind": kind, "url": "http://h/x?key=k",
                                    **more})


def test_webhook_requests_are_signed_and_carry_the_idempotency_key() -> None:
    url, headers, body = request_for(receiver("webhook", secret="k1"), MESSAGE, 3, NOW)
    assert url == "http://h/x?key=k"
    assert headers[NOTIFICATION_HEADER] == "ntf-abc"
    assert json.loads(body)["attempt"] == 3
    expected = hmac.new(b"k1", f"{int(NOW)}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert verify_webhook("k1", headers, body, now=NOW + 10)


def test_a_receiver_rejects_tampering_wrong_keys_and_replays() -> None:
    _, headers, body = request_for(receiver("webhook", secret="k1"), MESSAGE, 1, NOW)
    assert not verify_webhook("k1", headers, body.replace(b"w-1", b"w-2"), now=NOW)
    assert not verify_webhook("other", headers, body, now=NOW)
    assert not verify_webhook("k1", headers, body, now=NOW + 301)  # a replay, five minutes on
    assert not verify_webhook("k1", {**headers, TIMESTAMP_HEADER: "x"}, body, now=NOW)
    forged = {**headers, TIMESTAMP_HEADER: str(int(NOW) + 100)}  # a fresh stamp, old signature
    assert not verify_webhook("k1", forged, body, now=NOW + 100)


def test_dingtalk_signing_follows_its_documented_scheme() -> None:
    timestamp, secret = 1_585_700_000_000, "SECtest"
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert dingtalk_sign(secret, timestamp) == base64.b64encode(mac).decode()

    ding = receiver("dingtalk", secret=secret,
                    url="https://oapi.dingtalk.com/robot/send?access_token=T")
    url, _, body = request_for(ding, MESSAGE, 1, timestamp / 1000)
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["T"] and query["timestamp"] == [str(timestamp)]
    assert query["sign"] == [base64.b64encode(mac).decode()]
    assert url.endswith("&sign=" + quote_plus(base64.b64encode(mac).decode()))  # url-encoded
    sent = json.loads(body)
    assert sent == {"msgtype": "markdown", "markdown": {
        "title": "【预警】标题", "text": "### 正文\n\n通知编号：ntf-abc"}}
    plain = receiver("dingtalk", msgtype="text", url="https://oapi.dingtalk.com/robot/send?a=1")
    url, _, body = request_for(plain, MESSAGE, 1, NOW)
    assert "sign=" not in url and json.loads(body)["text"]["content"].startswith("正文")


def test_wecom_formats_and_byte_limits() -> None:
    _, _, body = request_for(receiver("wecom"), MESSAGE, 1, NOW)
    assert json.loads(body) == {"msgtype": "markdown",
                                "markdown": {"content": "### 正文\n\n通知编号：ntf-abc"}}
    long = Message("ntf-long", "t", "很长" * 2000, "长" * 3000, {})
    for msgtype, limit in (("text", 2048), ("markdown", 4096)):
        _, _, body = request_for(receiver("wecom", msgtype=msgtype), long, 1, NOW)
        content = json.loads(body)[msgtype]["content"]
        assert len(content.encode()) <= limit and content.endswith("通知编号：ntf-long")
        assert "内容过长" in content


@pytest.mark.parametrize(("kind", "status", "content", "ok", "retryable"), [
    ("webhook", 200, b"", True, False),
    ("webhook", 204, b"", True, False),
    ("webhook", 503, b"busy", False, True),
    ("webhook", 429, b"", False, True),
    ("webhook", 408, b"", False, True),
    ("webhook", 401, b"bad signature", False, False),
    ("webhook", 404, b"", False, False),
    ("wecom", 200, b'{"errcode":0,"errmsg":"ok"}', True, False),
    ("wecom", 200, b'{"errcode":45009,"errmsg":"api freq out of limit"}', False, True),
    ("dingtalk", 200, b"<html>", False, True),
])
def test_answers(kind: str, status: int, content: bytes, ok: bool, retryable: bool) -> None:
    secret = {"secret": "s"} if kind == "webhook" else {}
    result = classify(receiver(kind, **secret), status, content)
    assert (result.ok, result.retryable, result.status_code) == (ok, retryable, status)
    assert (result.error is None) == ok


def test_chinese_text_names_the_institution_product_figures_and_clause() -> None:
    alert = from_event(example_event(
        "vbp.warning.raised", metrics={**EXAMPLES["vbp.warning.raised"]["metrics"],
                                       "institution_id": "H52010200001",
                                       "product_code": "XC10AAA081A001010100328"}))
    institutions = {"H52010200001": EXAMPLES["vbp.institution.registered"]}.get
    products = {"XC10AAA081A001010100328": EXAMPLES["vbp.product.listed"]}.get
    lines = render.lines(alert, institutions, products)
    assert lines[:4] == ["机构：贵阳市第一人民医院（H52010200001）",
                         "药品：阿托伐他汀钙片 20mg（XC10AAA081A001010100328）",
                         "地区：520102", "周期：2020-Q1"]
    figures = "指标：完成率 66.67%，采购量 20,000，任务量 30,000，预警线 80.00%，暂停线 70.00%"
    assert figures in lines
    assert "依据：黔医保发〔2019〕69号 §五(三)" in lines
    assert render.title(alert) == "【严重预警】季度约定采购量完成率不足"
    assert render.title(alert, "escalation").startswith("【未确认·升级】")


def test_decisions_and_escalations_in_chinese() -> None:
    budget = from_event(example_event(
        "vbp.decision.issued", action="reduce_next_year_budget", amount="808.4000",
        policy_ref="001 §二(八)", metrics={"shortfall": 860, "price": "0.9400"}))
    text = render.text([budget], "notify", {}.get, {}.get)
    assert text.startswith("【处理决定】核减下一年度医保总额")
    assert "金额：808.4000元" in text and "依据：渝府办发〔2019〕29号 §二(八)" in text
    assert "差额 860，中选价格 0.9400元" in text
    shortage = from_event(example_event("vbp.shortage.escalated"))
    text = render.text([shortage], "notify", {}.get, {}.get)
    assert "【短缺上报·省级】中选药品停产" in text and "可替代药品：500000" in text
    assert render.clause("bureau setting") == "医保局工作设定（文件未作规定）"
    assert render.summary([budget, shortage], "notify").endswith("等2条")
