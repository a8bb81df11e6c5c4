"""The dashboard in headless Chromium while a simulation plays: its figures and alerts match the
topics. Needs Debian's chromium and the playwright package (never `playwright install`)."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from schemas.envelope import new_event
from schemas.events import example_data
from sim.config import SimConfig
from sim.player import play
from sim.scenario import Scenario
from tests.harness import REPO, ServiceProcess, free_port, read, send

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("VBP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
UNTIL = date(2020, 4, 5)  # Q1 evaluated on the tick of 04-01; a few days of Q2


def _browser_available() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements.txt)"
    if not shutil.which(CHROMIUM):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return None


class Dashboard:
    def __init__(self, bootstrap: str, prefix: str, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / "dashboard.log"
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "VBP_KAFKA_BOOTSTRAP": bootstrap, "VBP_TOPIC_PREFIX": prefix,
               "VBP_DASHBOARD_PORT": str(self.port), "VBP_POLICY": "guizhou"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "dashboard"], cwd=REPO, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/"

    async def ready(self, timeout: float = 30) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(int(timeout * 4)):
                assert self.process.poll() is None, self.log_path.read_text()
                try:
                    if (await client.get(self.url + "health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        raise TimeoutError(self.log_path.read_text())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(20)


async def topic(bootstrap: str, name: str, *, until=lambda records: False, timeout: float = 5):
    return [r.json() for r in await read(bootstrap, name, until=until, timeout=timeout)]


def pct(text: str) -> float:
    return float(text.strip().rstrip("%"))


async def test_dashboard_shows_what_the_topics_say_during_a_simulation(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """Guizhou Q1 (000 §五(三)): the page shows the simulated date moving while the year plays,
    then the city completion rates, the warnings and the suspensions that vbp.quota.progress,
    vbp.warnings and vbp.decisions hold, each suspension with its clause."""
    reason = _browser_available()
    if reason:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    quota = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path, VBP_POLICY="guizhou")
    quota.start()
    board = Dashboard(kafka_bootstrap, topic_prefix, tmp_path)
    scenario = Scenario(SimConfig(seed=1, institutions=40, until=UNTIL,
                                  faults=frozenset({"under_buying", "over_buying"})))
    slow = {i for i, b in scenario.plan.behaviours.items() if b in ("slow_starter", "chronic")}
    assert slow
    try:
        await board.ready()
        player = asyncio.create_task(play(scenario.events(), kafka_bootstrap, topic_prefix,
                                          days_per_second=25))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(board.url)
            # While the year plays, the simulated date moves on.
            await page.wait_for_function(
                "() => /^2020-0[1-3]/.test(document.getElementById('as-of').textContent)",
                timeout=60_000)
            first = await page.text_content("#as-of")
            await player
            # ... until the closing tick, once quota has evaluated Q1 and suspended.
            await page.wait_for_function(
                "() => document.getElementById('as-of').textContent === "
                f"'{UNTIL.replace(day=UNTIL.day + 1)}' && document.querySelectorAll("
                "'#dec-table tr[data-action=suspend_monthly_settlement]').length"
                f" >= {len(slow)}", timeout=120_000)
            assert first is not None and first < UNTIL.isoformat()

            warnings = {w["data"]["warning_id"]: w["data"] for w in await topic(
                kafka_bootstrap, topic_prefix + "vbp.warnings", timeout=5)}
            decisions = {d["data"]["decision_id"]: d["data"] for d in await topic(
                kafka_bootstrap, topic_prefix + "vbp.decisions", timeout=5)}
            await asyncio.sleep(2.5)  # one more poll of /api/state after the reads
            assert await page.text_content("#kpi-warnings") == str(len(warnings))
            assert await page.text_content("#kpi-decisions") == str(len(decisions))
            suspended = {d["subject_id"] for d in decisions.values()
                         if d["action"] == "suspend_monthly_settlement"}
            assert suspended == slow
            rows = page.locator("#dec-table tr[data-action=suspend_monthly_settlement]")
            assert await rows.count() == len(suspended)
            for i in range(await rows.count()):
                row = rows.nth(i)
                decision = decisions[await row.get_attribute("data-decision")]
                text = await row.inner_text()
                assert decision["policy_ref"] == "000 §五(三)" and "000 §五(三)" in text
                assert "暂停医保月结算" in text and decision["effective_from"] == "2020-05-01"
                assert decision["effective_from"] in text
            shown = await page.locator("#warn-table tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.warning)")
            assert set(shown) == set(warnings)  # fewer than the 60 the table shows
            for warning_id in shown:
                row = page.locator(f'#warn-table tr[data-warning="{warning_id}"]')
                text = await row.inner_text()
                assert warnings[warning_id]["policy_ref"] in text

            # City completion of Q1: the page's figure is the topic's, counted / target.
            institutions = {r["data"]["institution_id"]: r["data"] for r in await topic(
                kafka_bootstrap, topic_prefix + "vbp.ref.institutions", timeout=5)}
            latest = {}
            for r in await topic(kafka_bootstrap, topic_prefix + "vbp.quota.progress", timeout=5):
                latest[(r["data"]["agreement_id"], r["data"]["period"])] = r["data"]
            sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
            for (_, period), p in latest.items():
                if period == "2020-Q1":
                    city = institutions[p["institution_id"]]["city_code"]
                    sums[city][0] += Decimal(p["completion_rate"]) * p["target_quantity"]
                    sums[city][1] += p["target_quantity"]
            assert sums
            for city, (counted, target) in sums.items():
                cell = page.locator(f'#city-table tr[data-city="{city}"] td[data-q="2020-Q1"]')
                assert abs(pct(await cell.inner_text()) - float(counted / target * 100)) <= 0.051
            # Each suspended institution is flagged in the institutions' table.
            for inst in suspended:
                row = await page.locator(f'#inst-table tr[data-institution="{inst}"]').inner_text()
                assert "暂停月结算" in row
            shot = Path(os.environ.get("VBP_DASHBOARD_SCREENSHOT", tmp_path / "dashboard.png"))
            await page.screenshot(path=str(shot), full_page=True)
            await browser.close()
        state = httpx.get(board.url + "api/state", timeout=5).json()
        assert state["as_of"] == "2020-04-06" and state["caught_up"]
        assert json.dumps(state, ensure_ascii=False).count("000 §五(三)") >= len(suspended)
    finally:
        board.stop()
        quota.stop()
    assert "Traceback" not in board.log_path.read_text()


def partner_event(type_: str, n: int, **data: object) -> tuple[str, bytes]:
    event = new_event(type_, example_data(type_, **data), id=f"530000-test-{n}",
                      source="/alliance/530000", time="2020-04-02T02:00:00+08:00",
                      province="530000")
    return "530000", event.model_dump_json(exclude_none=True).encode()


async def test_dashboard_shows_alliance_partners_from_the_inbound_topic(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """A partner's (Yunnan's) monthly summaries, escalation and winning products, as the alliance
    service writes them to vbp.alliance.inbound, appear per partner in /api/state and the page."""
    board = Dashboard(kafka_bootstrap, topic_prefix, tmp_path)
    try:
        await board.ready()
        await send(kafka_bootstrap, topic_prefix + "vbp.alliance.inbound", [
            partner_event("vbp.quota.monthly_summary", 1, summary_id="2020-03:530100:a",
                          month="2020-03", city_code="530100", generic_name="阿托伐他汀钙片",
                          ordered_quantity=300, target_quantity=1000, completion_rate="0.3000"),
            partner_event("vbp.quota.monthly_summary", 2, summary_id="2020-03:530300:a",
                          month="2020-03", city_code="530300", generic_name="阿托伐他汀钙片",
                          ordered_quantity=700, target_quantity=1000, completion_rate="0.7000"),
            partner_event("vbp.shortage.escalated", 3, level="alliance", region_code="530000",
                          escalation_id="supply.production_stop:XC08CAA017A001010109999:"
                          "530000:alliance", product_code="XC08CAA017A001010109999"),
            partner_event("vbp.product.listed", 4, product_code="XC10AAA081A001010109001"),
        ])
        async with httpx.AsyncClient() as client:
            for _ in range(120):
                state = (await client.get(board.url + "api/state", timeout=5)).json()
                if state["alliance"] and state["alliance"][0]["events"] == 4:
                    break
                await asyncio.sleep(0.25)
        [yunnan] = state["alliance"]
        assert yunnan["province"] == "530000" and yunnan["month"] == "2020-03"
        assert yunnan["completion"][0]["generic_name"] == "阿托伐他汀钙片"
        assert yunnan["completion"][0]["completion_rate"] == 0.5
        assert [e["level"] for e in yunnan["shortages"]] == ["alliance"]
        assert yunnan["winning_products"] == 1
        assert state["totals"]["escalations"] == 0  # a partner's shortage is not ours
        if _browser_available() is None:
            from playwright.async_api import async_playwright

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                await page.goto(board.url)
                card = page.locator('#partners [data-partner="530000"]')
                await card.wait_for(timeout=20_000)
                text = await card.inner_text()
                assert "云南省" in text and "阿托伐他汀钙片" in text and "50.0%" in text
                assert "联盟" in text and await card.locator("[data-winning]").inner_text() == "1"
                await browser.close()
    finally:
        board.stop()
    assert "Traceback" not in board.log_path.read_text()
