"""A province-year replayed: the simulator's year loaded under a topic prefix of its own (not
timed), then every service that decides (quota, supply, settlement, and alerts notifying a
webhook) started on it from offset zero, timed from their spawn until every group has committed
everything it reads, the services' own outputs included (faults.pipeline.Deployment, as the fault
suite's reference run)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.procfs import cpu_seconds, peak_rss_kb
from faults.pipeline import DECISIONS, Deployment, simulated_year
from schemas.topics import topic_name
from tests.harness import read_to_end

POLL_SECONDS = 1.0  # how often the groups' lag is read: the resolution of the time measured


@dataclass
class Year:
    scale: float
    institutions: int
    events: int
    orders: int  # vbp.order.placed among the events
    seconds: float  # spawn until caught up
    startup_seconds: float  # spawn until every worker answers /health
    decisions: int  # records on vbp.warnings, vbp.escalations and vbp.decisions
    cpu_seconds: float  # summed over the workers
    peak_rss_kb: int  # summed over the workers
    by_service: dict[str, tuple[float, int]]  # service -> (CPU seconds, peak RSS KiB)


async def replay(bootstrap: str, scale: float, workdir: Path, timeout: float,
                 institutions: int = 150) -> Year:
    events = simulated_year(scale, institutions)
    orders = sum(e.event.type == "vbp.order.placed" for e in events)
    d = Deployment(bootstrap, workdir / f"year-{institutions}-{scale:g}")
    await d.create_topics()
    await d.load(events)
    started = time.monotonic()
    try:
        d.start()
        ready = time.monotonic() - started
        seconds = await d.caught_up(timeout, settle=POLL_SECONDS) - started
        by_service = {name: (cpu_seconds(w.process.pid), peak_rss_kb(w.process.pid))
                      for name, w in d.workers.items() if w.process is not None}
    finally:
        d.stop()
    decisions = sum([len(await read_to_end(bootstrap, topic_name(base, d.prefix)))
                     for base in DECISIONS])
    return Year(scale, institutions, len(events), orders, seconds, ready, decisions,
                sum(cpu for cpu, _ in by_service.values()),
                sum(peak for _, peak in by_service.values()), by_service)


def year_table(rows: list[Year]) -> str:
    lines = ["| institutions | year's scale | events | orders | warnings, escalations, decisions "
             "| startup s | seconds to caught up | events/s | CPU s | peak RSS MiB (4 services) "
             "| CPU s (peak RSS MiB) by service |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r.institutions:,} | {r.scale:g} | {r.events:,} | {r.orders:,} | "
                     f"{r.decisions:,} | {r.startup_seconds:.1f} | "
                     f"{r.seconds:.1f} | {r.events / r.seconds:,.0f} | {r.cpu_seconds:.0f} | "
                     f"{r.peak_rss_kb / 1024:,.0f} | "
                     + ", ".join(f"{name} {cpu:.0f} ({peak / 1024:,.0f})"
                                 for name, (cpu, peak) in r.by_service.items()) + " |")
    return "\n".join(lines)
