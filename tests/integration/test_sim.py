"""The simulator on the real broker: contract keys, and the quota rules saying what the
scenario meant (Guizhou 000 §五(三)); a second play of the same seed changes nothing."""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from policies import load_profile
from schemas.topics import TOPICS
from sim.config import SimConfig
from sim.expect import expect
from sim.player import play
from sim.scenario import Scenario
from tests.harness import ServiceProcess, read

pytestmark = pytest.mark.integration

CONFIG = SimConfig(seed=3, institutions=40, until=date(2020, 4, 2),
                   faults=frozenset({"under_buying", "over_buying", "cancellations"}))


async def records(bootstrap: str, name: str, n: int, timeout: float = 120) -> list:
    return await read(bootstrap, name, until=lambda r: len(r) >= n, timeout=timeout)


async def test_simulated_quarter_lands_on_the_contract_topics_and_quota_suspends_the_slow(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    scenario = Scenario(CONFIG)
    events = list(scenario.events())
    oracle = expect(events, load_profile("guizhou"))
    warned = {a for a, q in oracle.warn | oracle.suspend if q == 1}
    suspended = oracle.suspended_in(1)
    assert suspended and warned

    quota = ServiceProcess("quota", kafka_bootstrap, topic_prefix, tmp_path, VBP_POLICY="guizhou")
    quota.start()
    try:
        progress = await play(events, kafka_bootstrap, topic_prefix, days_per_second=0)
        assert progress.sent == len(events) and progress.day == date(2020, 4, 2)

        # Every event is on its home topic under the contract's key, in the order sent.
        by_topic = Counter(e.topic for e in events)
        for base, n in by_topic.items():
            got = await records(kafka_bootstrap, topic_prefix + base, n, timeout=30)
            assert len(got) == n
            sent = [(e.key, e.event.to_json_bytes()) for e in events if e.topic == base]
            if TOPICS[base].partitions == 1:
                assert [(r.key.decode(), r.value) for r in got] == sent
            else:
                assert sorted((r.key.decode(), r.value) for r in got) == sorted(sent)

        warnings = [r.json()["data"] for r in await records(
            kafka_bootstrap, topic_prefix + "vbp.warnings", len(warned))]
        decisions = [r.json()["data"] for r in await records(
            kafka_bootstrap, topic_prefix + "vbp.decisions", len(suspended))]
        q1 = [w for w in warnings if w["rule"] == "quota.quarterly_completion"]
        assert {w["subject_id"] for w in q1} == warned
        assert {w["subject_id"] for w in q1 if w["severity"] == "critical"} == \
            {a for a, q in oracle.suspend if q == 1}
        assert {d["subject_id"] for d in decisions
                if d["action"] == "suspend_monthly_settlement"} == suspended
        assert all(d["effective_from"] == "2020-05-01" for d in decisions)

        # The same seed played again: the same ids, so the quota service changes nothing.
        await asyncio.sleep(5)
        progress_before = await read(kafka_bootstrap, topic_prefix + "vbp.quota.progress",
                                     until=lambda r: False, timeout=5)
        again = await play(Scenario(CONFIG).events(), kafka_bootstrap, topic_prefix,
                           days_per_second=0)
        assert again.sent == len(events)
        await asyncio.sleep(10)
        warnings_after = await read(kafka_bootstrap, topic_prefix + "vbp.warnings",
                                    until=lambda r: False, timeout=5)
        decisions_after = await read(kafka_bootstrap, topic_prefix + "vbp.decisions",
                                     until=lambda r: False, timeout=5)
        assert len(warnings_after) == len(warnings)
        assert len(decisions_after) == len(decisions)
        progress_after = await read(kafka_bootstrap, topic_prefix + "vbp.quota.progress",
                                    until=lambda r: False, timeout=5)
        assert len(progress_after) == len(progress_before)
        assert quota.health()["counts"]["duplicates"] > 0
    finally:
        quota.stop()
    assert "Traceback" not in quota.log()
