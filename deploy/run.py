"""`make run` (`python -m deploy.run`): the whole system and a simulated year in one command.

Starts the broker (deploy/kafka.sh), creates the topics, starts the four services and the
dashboard, waits until each answers /health, prints the dashboard's address, plays the
simulator (python -m sim) with a progress line, waits until the services have processed
everything, and prints a summary read from the output topics: events processed, warnings,
escalations and decisions by rule, notifications by outcome. Then it stops what it started, or,
with --stay, keeps everything up until Ctrl-C.

Every run uses a fresh topic prefix (VBP_TOPIC_PREFIX=run<timestamp>.) and a fresh state
directory, so a second run never counts the first one's data; the old topics stay in the
broker's data directory until `deploy/kafka.sh wipe --port N`. Logs: .cache/run/<name>.log.

    python -m deploy.run                         # Guizhou 2020, seed 1, ~2 minutes of play
    python -m deploy.run --stay                  # keep the dashboard up afterwards
    python -m deploy.run --days-per-second 20 --without production_stop
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.broker import kafka
from runtime.settings import DEFAULT_WEB_PORTS
from runtime.topics import ensure_topics
from schemas.topics import TOPICS
from sim.__main__ import add_arguments, config_from
from sim.player import Progress, play
from sim.scenario import Scenario

REPO = Path(__file__).resolve().parent.parent
RUN_DIR = REPO / ".cache" / "run"
SERVICES = ("quota", "supply", "settlement", "alerts")
OUTPUTS = ("vbp.warnings", "vbp.escalations", "vbp.decisions", "vbp.notifications")


class RunFailed(RuntimeError):
    pass


class Interrupted(RuntimeError):
    """Ctrl-C or SIGTERM: stop what was started and exit."""


_signalled = False


def _check_signal() -> None:
    # A library may swallow the cancellation a signal causes; the loops check this as well.
    if _signalled:
        raise Interrupted()


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    health: dict[str, Any] = field(default_factory=dict)
    log_offset: int = 0

    @property
    def log_path(self) -> Path:
        return RUN_DIR / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def check_alive(self) -> None:
        """Fail when the process has exited, or when one of its faust agents crashed (faust
        keeps the worker up, but that agent processes nothing more)."""
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RunFailed(f"{self.name} exited with code {self.process.returncode}; "
                            f"last lines of {self.log_path}:\n{tail}")
        with open(self.log_path, "rb") as log:
            log.seek(self.log_offset)
            new = log.read()
        self.log_offset += len(new)
        crash = new.find(b"Crashed reason=")
        if crash >= 0:
            start = new.rfind(b"\n", 0, crash) + 1
            excerpt = new[start:start + 2500].decode(errors="replace")
            raise RunFailed(f"an agent of {self.name} crashed (see {self.log_path}):\n{excerpt}")

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def log(message: str) -> None:
    print(message, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--stay", action="store_true",
                        help="after the summary keep everything running until Ctrl-C")
    parser.add_argument("--keep-broker", action="store_true",
                        help="leave the broker running at exit")
    parser.add_argument("--port", type=int, default=int(os.environ.get("VBP_KAFKA_PORT", 9092)),
                        help="broker port (default VBP_KAFKA_PORT or 9092)")
    parser.add_argument("--dashboard-port", type=int,
                        default=int(os.environ.get("VBP_DASHBOARD_PORT", 8100)))
    parser.add_argument("--prefix", default=None,
                        help="topic prefix (default: run<timestamp>., fresh every run)")
    parser.add_argument("--screenshot", type=Path, default=None,
                        help="after the summary, save a full-page PNG of the dashboard here "
                        "(needs the playwright package and Debian's chromium)")
    parser.add_argument("--drain-timeout", type=float, default=900,
                        help="seconds to wait for the services to finish after the play")
    return parser.parse_args(argv)


def service_processes(args: argparse.Namespace, bootstrap: str, prefix: str) -> list[Process]:
    state = RUN_DIR / "state" / prefix.rstrip(".")
    base = {**os.environ, "VBP_KAFKA_BOOTSTRAP": bootstrap, "VBP_TOPIC_PREFIX": prefix,
            "VBP_POLICY": args.policy, "VBP_DATA_DIR": str(state), "PYTHONUNBUFFERED": "1"}
    out = []
    for name in SERVICES:
        var = f"VBP_{name.upper()}_WEB_PORT"
        port = int(os.environ.get(var) or DEFAULT_WEB_PORTS[name])
        env = {**base, var: str(port)}
        if name == "alerts" and not os.environ.get("VBP_ALERTS_ROUTES"):
            env["VBP_ALERTS_ROUTES"] = str(write_routes(args.dashboard_port))
        out.append(Process(name, [sys.executable, "-m", f"services.{name}"], env, port))
    board_env = {**base, "VBP_DASHBOARD_PORT": str(args.dashboard_port)}
    out.append(Process("dashboard", [sys.executable, "-m", "dashboard"], board_env,
                       args.dashboard_port))
    return out


def write_routes(dashboard_port: int) -> Path:
    """A routing file for the alerts service whose receivers are the dashboard's local inboxes
    (POST /receiver/<name>), standing in for the regulators' webhooks in a local run."""
    inbox = f"http://127.0.0.1:{dashboard_port}/receiver"
    path = RUN_DIR / "alerts-routes.toml"
    path.write_text(f'''# Written by deploy/run.py: dashboard inboxes stand in for regulators.
[[receivers]]
name = "guizhou-healthcare-security"
kind = "webhook"
title = "贵州省医疗保障局"
url = "{inbox}/guizhou-healthcare-security"
secret = "local-run-only"

[[receivers]]
name = "guizhou-health-commission"
kind = "webhook"
title = "贵州省卫生健康委员会"
url = "{inbox}/guizhou-health-commission"
secret = "local-run-only"

# A simulated day lasts a fraction of a second: batch for seconds, not the production minutes.
[route]
receivers = ["guizhou-healthcare-security"]
group_wait = "0s"
group_interval = "5s"

[[route.routes]]
match = {{ kind = "escalation" }}
receivers = ["guizhou-health-commission"]
continue = true
''', encoding="utf-8")
    return path


async def wait_ready(processes: list[Process], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    pending = {p.name: p for p in processes}
    async with httpx.AsyncClient(timeout=2) as client:
        while pending:
            for name, p in list(pending.items()):
                p.check_alive()
                if name != "dashboard" and "Ready" not in p.log_path.read_text(errors="replace"):
                    continue
                try:
                    response = await client.get(p.url + "/health")
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    p.health = response.json()
                    log(f"  {name:<10} ready on {p.url}")
                    del pending[name]
            if time.monotonic() > deadline:
                raise RunFailed(f"not ready after {timeout:.0f} s: {', '.join(pending)} "
                                f"(logs in {RUN_DIR})")
            await asyncio.sleep(0.5)


async def watch(processes: list[Process], stop: asyncio.Event) -> None:
    """Poll /health every 2 s and fail loudly when a process has exited."""
    async with httpx.AsyncClient(timeout=3) as client:
        while not stop.is_set():
            _check_signal()
            for p in processes:
                p.check_alive()
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    p.health = (await client.get(p.url + "/health")).json()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)


def processed(processes: list[Process]) -> dict[str, int]:
    return {p.name: int((p.health.get("counts") or {}).get("processed", 0))
            for p in processes if p.name != "dashboard"}


def status_line(progress: Progress, processes: list[Process]) -> str:
    counts = processed(processes)
    board = next((p.health for p in processes if p.name == "dashboard"), {})
    records = board.get("records") or {}
    outputs = " · ".join(f"{base.split('.')[-1]} {records.get(base, 0):,}" for base in OUTPUTS)
    return (f"  {progress.day} | sent {progress.sent:,} | processed "
            + " ".join(f"{n} {c:,}" for n, c in counts.items())
            + f" | {outputs} | {progress.elapsed:4.0f} s")


def shared_behind(processes: list[Process]) -> int:
    """What the services' tasks have not handled of the inputs they read whole (their /health's
    `shared_behind`; -1, not known yet, counts as 1)."""
    return sum(max(1, v) if v < 0 else v
               for v in (int(p.health.get("shared_behind", 0)) for p in processes))


async def lag(bootstrap: str, prefix: str) -> int:
    """Messages the services' consumer groups have not yet committed, over the contract topics.
    A service's internal topics (the alerts' ledger, which its delivery loop writes all the
    time) are its own business and would never read 0."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        total = 0
        for name in SERVICES:
            offsets = await admin.list_consumer_group_offsets(f"{prefix}vbp-{name}")
            parts = [tp for tp in offsets if tp.topic[len(prefix):] in TOPICS]
            if not parts:
                continue
            ends = await consumer.end_offsets(parts)
            total += sum(max(0, ends[tp] - offsets[tp].offset) for tp in parts)
        return total
    finally:
        await consumer.stop()
        await admin.close()


async def end_offsets(bootstrap: str, prefix: str) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(prefix + base, p) for base in ("vbp.quota.progress", *OUTPUTS)
                 for p in range(TOPICS[base].partitions)]
        ends = await consumer.end_offsets(parts)
        out: dict[str, int] = defaultdict(int)
        for tp, end in ends.items():
            out[tp.topic] += end
        return dict(out)
    finally:
        await consumer.stop()


async def drain(bootstrap: str, prefix: str, processes: list[Process], timeout: float) -> bool:
    """Wait until no service has anything left to read and the outputs stopped growing
    (alerts' deliveries and retries included) for a few seconds."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    last: dict[str, int] | None = None
    printed = 0.0
    while time.monotonic() < deadline:
        _check_signal()
        for p in processes:
            p.check_alive()
        behind = await lag(bootstrap, prefix) + shared_behind(processes)
        ends = await end_offsets(bootstrap, prefix)
        if behind == 0 and ends == last:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 8:
                return True
        else:
            quiet_since = None
        last = ends
        line = f"  waiting for the services: {behind:,} messages not yet processed"
        if sys.stdout.isatty():
            print("\r" + line.ljust(70), end="", flush=True)
        elif time.monotonic() - printed >= 15:
            print(line, flush=True)
            printed = time.monotonic()
        await asyncio.sleep(2)
    return False


async def read_outputs(bootstrap: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    import json
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        parts = [TopicPartition(prefix + base, p) for base in OUTPUTS
                 for p in range(TOPICS[base].partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: dict[str, list[dict[str, Any]]] = {base: [] for base in OUTPUTS}
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batch.items():
                out[tp.topic[len(prefix):]] += [json.loads(m.value)["data"] for m in messages]
            # by position, not by the last record: the services write in transactions, and a
            # marker after the last record takes an offset no reader is handed
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return out
    finally:
        await consumer.stop()


async def screenshot(url: str, path: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=os.environ.get("VBP_CHROMIUM", "/usr/bin/chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        await page.goto(url)
        await page.wait_for_function("() => document.getElementById('as-of').textContent !== '—'")
        await page.wait_for_timeout(2500)
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(path), full_page=True)
        await browser.close()


def summary(outputs: dict[str, list[dict[str, Any]]], progress: Progress,
            processes: list[Process], dashboard: str, wall: float) -> str:
    def unique(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        return list({item[key]: item for item in items}.values())

    warnings = unique(outputs["vbp.warnings"], "warning_id")
    escalations = unique(outputs["vbp.escalations"], "escalation_id")
    decisions = unique(outputs["vbp.decisions"], "decision_id")
    notes = outputs["vbp.notifications"]
    lines = ["", "== Summary ==",
             f"simulated {progress.day} · {progress.sent:,} input events sent in "
             f"{progress.elapsed:.0f} s; {wall:.0f} s from start to summary"]
    counts = processed(processes)
    dead = {p.name: int((p.health.get("counts") or {}).get("deadlettered", 0))
            for p in processes if p.name != "dashboard"}
    lines.append("events processed: " + ", ".join(f"{n} {c:,}" for n, c in counts.items())
                 + f" (total {sum(counts.values()):,}; dead-lettered {sum(dead.values())})")

    def table(title: str, items: list[dict[str, Any]], first: str, second: str) -> None:
        grouped: dict[str, Counter[str]] = defaultdict(Counter)
        for item in items:
            rule = item.get(first) or str(item.get("escalation_id", "")).split(":", 1)[0]
            grouped[rule][str(item.get(second))] += 1
        lines.append(f"{title}: {len(items)}")
        for rule, by in sorted(grouped.items()):
            detail = ", ".join(f"{k} {n}" for k, n in sorted(by.items()))
            lines.append(f"  {rule:<36} {sum(by.values()):>5}  ({detail})")

    table("warnings by rule", warnings, "rule", "severity")
    table("escalations by rule", escalations, "rule", "level")
    table("decisions by rule", decisions, "rule", "action")
    outcomes = Counter(n["outcome"] for n in notes)
    alerts = {n["alert_id"] for n in notes}
    lines.append(f"notifications: {len(notes)} logged for {len(alerts)} alerts ("
                 + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + ")")
    lines.append(f"dashboard: {dashboard}")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    main_task = asyncio.current_task()
    assert main_task is not None

    def on_signal() -> None:
        global _signalled
        _signalled = True
        main_task.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    t0 = time.monotonic()
    config = config_from(args)
    scenario = Scenario(config)  # fail on a bad profile before starting anything
    port = str(args.port)
    was_running = kafka("status", "--port", port).returncode == 0
    log(f"broker: {'using the running' if was_running else 'starting a'} Kafka on 127.0.0.1:{port}")
    started = kafka("start", "--port", port)
    if started.returncode != 0:
        raise RunFailed(f"broker did not start:\n{started.stderr[-3000:]}")
    bootstrap = started.stdout.strip().splitlines()[-1]
    prefix = args.prefix or time.strftime("run%Y%m%d-%H%M%S.")
    processes: list[Process] = []
    stop = asyncio.Event()
    try:
        created = await ensure_topics(bootstrap, prefix)
        log(f"topics: {len(created)} created with prefix {prefix!r}")
        processes = service_processes(args, bootstrap, prefix)
        for p in processes:
            p.start()
        log("starting " + ", ".join(p.name for p in processes) + f" (logs in {RUN_DIR})")
        await wait_ready(processes)
        dashboard = f"http://127.0.0.1:{args.dashboard_port}/"
        log(f"\ndashboard: {dashboard}\n")
        log(f"playing {config.policy} {config.year} (seed {config.seed}, "
            f"{config.institutions} institutions, {args.days_per_second:g} days/s, "
            f"faults: {', '.join(sorted(config.faults)) or 'none'})")
        watcher = asyncio.create_task(watch(processes, stop))
        last_print = [0.0]
        tty = sys.stdout.isatty()

        def show(progress: Progress) -> None:
            line = status_line(progress, processes)
            if tty:
                print("\r" + line[:200].ljust(120), end="", flush=True)
            elif time.monotonic() - last_print[0] > 10:
                print(line, flush=True)
                last_print[0] = time.monotonic()

        player = asyncio.create_task(play(scenario.events(), bootstrap, prefix,
                                          days_per_second=args.days_per_second, on_day=show))
        done, _ = await asyncio.wait({player, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher in done:
            player.cancel()
            watcher.result()  # raises RunFailed
        progress = player.result()
        print()
        log(status_line(progress, processes))
        if not await drain(bootstrap, prefix, processes, args.drain_timeout):
            log(f"\nwarning: the services were still busy after {args.drain_timeout:.0f} s; "
                "the summary counts what they had written by then")
        print()
        stop.set()
        await watcher
        for p in processes:  # final counts
            with contextlib.suppress(httpx.HTTPError, ValueError):
                p.health = httpx.get(p.url + "/health", timeout=5).json()
        log(summary(await read_outputs(bootstrap, prefix), progress, processes, dashboard,
                    time.monotonic() - t0))
        if args.screenshot:
            await screenshot(dashboard, args.screenshot)
            log(f"screenshot: {args.screenshot}")
        if args.stay:
            log("\nstaying up (--stay): press Ctrl-C to stop")
            stop.clear()
            await watch(processes, stop)
        return 0
    finally:
        stop.set()
        for p in processes:
            p.stop()
        if not (args.keep_broker or was_running):
            kafka("stop", "--port", port)
            log("broker stopped")
        elif processes:
            log(f"broker left running on {bootstrap}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return asyncio.run(run(args))
    except RunFailed as error:
        print(f"\nrun failed: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError, Interrupted):
        print("\ninterrupted: stopped what this run started", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
