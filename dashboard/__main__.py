"""`python -m dashboard`: the regulator dashboard on VBP_DASHBOARD_PORT (default 8100).

Reads VBP_KAFKA_BOOTSTRAP, VBP_TOPIC_PREFIX and VBP_POLICY like the services.
"""
from __future__ import annotations

import logging
import os

from aiohttp import web

from dashboard.app import build_app
from dashboard.feed import Feed
from dashboard.view import View
from policies import load_profile
from sim import geo

DEFAULT_PORT = 8100


def cities() -> list[dict[str, object]]:
    return [{"code": c.code, "name": c.name, "short": c.short, "grid": list(c.grid)}
            for c in geo.CITIES]


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ
    policy = load_profile(env.get("VBP_POLICY", "guizhou"))
    home = policy.region_code == geo.PROVINCE_CODE
    regions = {geo.PROVINCE_CODE: geo.PROVINCE_NAME, **{c.code: c.name for c in geo.CITIES},
               **geo.COUNTY_NAMES} if home else {}
    view = View(policy, cities() if home else [], regions)
    feed = Feed(view, env.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                env.get("VBP_TOPIC_PREFIX", ""))
    port = int(env.get("VBP_DASHBOARD_PORT", DEFAULT_PORT))
    host = env.get("VBP_WEB_HOST", "127.0.0.1")
    web.run_app(build_app(view, feed), host=host, port=port, print=lambda *a: None)


if __name__ == "__main__":
    main()
