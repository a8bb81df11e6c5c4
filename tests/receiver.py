"""An HTTP endpoint standing in for a regulator's webhook, WeCom or DingTalk robot: it records
every request, checks signatures like the real one, and answers as told. It runs in a thread
(stdlib ThreadingHTTPServer), so it answers while the caller's event loop is blocked."""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from services.alerts.receivers import NOTIFICATION_HEADER, verify_webhook
from tests.harness import free_port


class Receiver:
    """An HTTP endpoint that records every request and answers as told.

    `answers`: status codes for the first requests, then 200; while `down`, 503. `slow_first`:
    seconds the first
    request waits before its answer (longer than the sender's timeout: it times out, although
    the request arrived). `kind`: how it checks and answers, like the real webhook, WeCom or
    DingTalk endpoint. A webhook receiver drops a repeated X-VBP-Notification-Id, as the
    contract asks receivers to.
    """

    def __init__(self, kind: str = "webhook", secret: str | None = None,
                 answers: list[int] | None = None, slow_first: float = 0.0,
                 down: bool = False) -> None:
        self.kind, self.secret, self.down = kind, secret, down
        self.on_request: Callable[[], Any] | None = None
        self.answers = list(answers or [])
        self.slow_first = slow_first
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.port = free_port()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, reply = receiver.handle(self.path, dict(self.headers), body)
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                # The sender timed out and hung up: that is the point of `slow_first`.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        with self.lock:
            number = len(self.requests)
            entry = {"path": path, "headers": headers, "body": json.loads(body), "raw": body,
                     "at": time.time()}
            self.requests.append(entry)
            status = self.answers[number] if number < len(self.answers) else 200
            if self.down:
                status = 503
        if number == 0 and self.slow_first:
            time.sleep(self.slow_first)
        if self.on_request is not None:
            self.on_request()
        entry["verified"] = self.verify(path, headers, body)
        if status == 200 and not entry["verified"]:
            status = 401
        entry["status"] = status
        if self.kind == "webhook":
            return status, {"ok": status == 200}
        if status != 200:
            return status, {"errcode": -1, "errmsg": "system busy"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    def verify(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        if self.kind == "webhook":
            return verify_webhook(self.secret or "", headers, body, tolerance=60)
        if self.kind == "dingtalk":  # 钉钉 加签: timestamp + "\n" + secret, HMAC-SHA256, base64
            query = parse_qs(urlsplit(path).query)
            timestamp = query["timestamp"][0]
            if abs(time.time() * 1000 - int(timestamp)) > 3_600_000:
                return False
            secret = (self.secret or "").encode()
            mac = hmac.new(secret, f"{timestamp}\n".encode() + secret, hashlib.sha256)
            return hmac.compare_digest(query["sign"][0], base64.b64encode(mac.digest()).decode())
        return "key=" in path

    def delivered(self) -> list[dict[str, Any]]:
        """Requests it accepted, each notification id once (a receiver's own dedup)."""
        seen, out = set(), []
        for entry in list(self.requests):
            nid = entry["headers"].get(NOTIFICATION_HEADER)
            if entry.get("status") == 200 and nid not in seen:
                seen.add(nid)
                out.append(entry)
        return out

    def accepted(self) -> list[dict[str, Any]]:
        """Every request answered 200, repeats included."""
        return [e for e in list(self.requests) if e.get("status") == 200]

    def alert_ids(self, entries: list[dict[str, Any]] | None = None) -> list[str]:
        ids = []
        for entry in self.delivered() if entries is None else entries:
            body = entry["body"]
            if self.kind == "webhook":
                ids.extend(a["id"] for a in body["alerts"])
            else:
                content = body[body["msgtype"]].get("content") or body[body["msgtype"]].get("text")
                ids.extend(re.findall(r"告警编号：(\S+)", content))
        return ids

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
