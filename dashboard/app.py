"""The dashboard's web app: one HTML page, its script, and the view as JSON.

    GET  /               the page (static/index.html; vanilla JS, inline SVG, no CDN)
    GET  /api/state      the view (dashboard/view.py) as JSON; the page polls it every 2 s
    GET  /health         {"status": "ok", "caught_up": ...}
    POST /receiver/{name}  a regulators' inbox for the alerts service in local runs: accepts any
                         JSON, answers 200 and shows how many alerts each receiver got
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from dashboard.feed import Feed
from dashboard.view import View

STATIC = Path(__file__).resolve().parent / "static"
FEED: web.AppKey[Feed] = web.AppKey("feed", Feed)
INBOX: web.AppKey[dict[str, Any]] = web.AppKey("inbox", dict)


def build_app(view: View, feed: Feed | None) -> web.Application:
    app = web.Application()
    if feed is not None:
        app[FEED] = feed

        async def start_feed(app: web.Application) -> None:
            feed.start()

        async def stop_feed(app: web.Application) -> None:
            await feed.stop()

        app.on_startup.append(start_feed)
        app.on_cleanup.append(stop_feed)
    app[INBOX] = {"received": {}, "last": []}
    started = time.time()

    async def index(request: web.Request) -> web.Response:
        return web.FileResponse(STATIC / "index.html")

    async def state(request: web.Request) -> web.Response:
        body = view.state()
        body["inbox"] = app[INBOX]["received"]
        body["caught_up"] = feed.caught_up.is_set() if feed else True
        return web.json_response(body, dumps=lambda x: json.dumps(x, ensure_ascii=False))

    async def health(request: web.Request) -> web.Response:
        return web.json_response({
            "status": "ok", "service": "dashboard", "uptime": round(time.time() - started, 1),
            "caught_up": feed.caught_up.is_set() if feed else True,
            "records": dict(view.records), "errors": feed.errors if feed else 0,
        })

    async def receive(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        inbox = app[INBOX]
        inbox["received"][name] = inbox["received"].get(name, 0) + 1
        inbox["last"] = [*inbox["last"][-49:], {"receiver": name, "body": body}]
        return web.json_response({"status": "received"})

    app.router.add_get("/", index)
    app.router.add_get("/api/state", state)
    app.router.add_get("/health", health)
    app.router.add_post("/receiver/{name}", receive)
    app.router.add_static("/static/", STATIC)
    return app
