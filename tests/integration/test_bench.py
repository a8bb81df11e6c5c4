"""The bench runs end to end on a tiny load (issue 9). No timing is asserted: figures only have
to exist and be positive."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from bench.run import REPO, main


def test_bench_runs_on_a_tiny_load(kafka_bootstrap: str, tmp_path: Path) -> None:
    path = main(["--orders", "2000", "--bootstrap", kafka_bootstrap,
                 "--results", str(tmp_path), "--timeout", "300", "--profile",
                 "--variant", "worker 2:VBP_WORKER_ID=2", "--before", "HEAD",
                 "--rates", "50", "--rate-seconds", "2", "--workers", "1,2",
                 "--agreements", "200,400", "--years", "0.1", "--institutions", "20",
                 # the quix-streams peer installs from PyPI: measured by the bench, not in CI
                 "--ceilings", "bare_faust", "noop", "txn_copy", "total"])

    assert path.parent == tmp_path and path.exists()
    text = path.read_text(encoding="utf-8")
    assert "| bare aiokafka + decode |" in text and "| service quota |" in text
    assert sorted(p.name for p in tmp_path.glob("*.folded")) == sorted(
        f"{path.stem}-{service}{variant}.folded" for service in ("quota", "supply", "settlement")
        for variant in ("", "-worker-2", "-before--HEAD"))
    assert "## Machine" in text and "- nproc:" in text and "- kafka (broker):" in text
    profile = text.split("## Profile: service quota", 1)[1].split("## Machine")[0]
    frames = re.findall(r"^\| `(.+)` \| ([\d.]+) \| ([\d.]+) \|$", profile, re.M)
    assert frames and any("services/quota" in frame for frame, _, _ in frames)
    assert all(0 <= float(own) <= float(inclusive) <= 100 for _, inclusive, own in frames)
    figures = json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))
    rows = {row["name"]: row for row in figures["rows"]}
    # each service that writes gets a copy ceiling writing as many messages per input as it did
    copies = {row["copies_of"]: row for row in figures["rows"] if row["copies_of"]}
    assert set(copies) == {"service quota", "service supply", "service settlement"}
    for service, copy in copies.items():
        written = rows[service]["written"]
        # outputs and changelog records: supply's few, coalesced per batch, may be far fewer than
        # its inputs
        assert written > 0
        assert copy["name"] == ("bare aiokafka + decode, writing in transactions "
                                f"({written / rows[service]['events']:.2f} messages per input, "
                                f"as {service})")
    assert set(rows) - {copy["name"] for copy in copies.values()} == {
                         "bare aiokafka + decode", "Kafka ConsumerPerformance",
                         "Kafka ProducerPerformance (acks=all)", "bare faust agent + decode",
                         "runtime, no-op handler",
                         "bare aiokafka + decode, writing in transactions (1 message per input)",
                         "runtime core: running total, state, exactly-once",
                         "service quota", "service quota (worker 2)",
                         "service quota (2 workers)", "service supply", "service supply (worker 2)",
                         "service settlement", "service settlement (worker 2)",
                         "service settlement (2 workers)", "service quota (before: HEAD)",
                         "service supply (before: HEAD)", "service settlement (before: HEAD)"}
    # supply runs in one worker only. The core's and quota's end-to-end runs add 100 orders
    # each for the rows after them.
    first = {"bare aiokafka + decode", "Kafka ConsumerPerformance",
             "Kafka ProducerPerformance (acks=all)", "bare faust agent + decode",
             "runtime, no-op handler",
             "bare aiokafka + decode, writing in transactions (1 message per input)",
             "runtime core: running total, state, exactly-once"}
    for name, row in rows.items():
        if name.startswith("service settlement"):  # and the quota rows' progress records
            assert row["events"] > 2200 + 200, name
        else:
            assert row["events"] == (2000 if name in first else 2100 if name == "service quota"
                                     else 2200), name
        assert row["events_per_s"] > 0
        assert row["cpu_s_per_1000"] > 0
        assert row["peak_rss_kb"] > 0
    assert rows["service quota (2 workers)"]["latency"] == []  # only the first run's
    assert rows["service supply"]["latency"] == []  # latency is timed on progress updates
    core = rows["runtime core: running total, state, exactly-once"]["latency"]
    assert [r["rate"] for r in core] == [50] and core[0]["answered"] == 100
    memory = figures["memory"]
    assert [m["agreements"] for m in memory] == [200, 400]
    assert all(m["peak_rss_kb"] > 0 and m["seconds"] > 0 for m in memory)
    assert "## Memory against agreements" in text
    end_to_end = rows["service quota"]["latency"]
    assert [r["rate"] for r in end_to_end] == [50] and rows["service quota (worker 2)"][
        "latency"] == []
    assert end_to_end[0]["sent"] == 100 and end_to_end[0]["answered"] == 100
    assert 0 < end_to_end[0]["p50_ms"] <= end_to_end[0]["p95_ms"] <= end_to_end[0]["p99_ms"]
    assert "## End to end: service quota" in text
    tick = rows["service quota"]["tick"]
    assert tick["warnings"] > 0  # 2,000 orders leave most agreements' first quarter short
    assert 0 < tick["first_ms"] <= tick["p50_ms"] <= tick["last_ms"]
    assert rows["service quota (worker 2)"]["tick"] is None
    assert "## A quarter's end to its warnings: service quota" in text
    [year] = figures["years"]
    assert year["scale"] == 0.1 and year["institutions"] == 20 and year["decisions"] > 0
    assert 0 < year["orders"] < year["events"] - 367  # payments, deliveries, a tick a day
    assert 0 < year["startup_s"] < year["seconds"] and year["cpu_s"] > 0
    assert set(year["by_service"]) == {"quota", "supply", "settlement", "alerts"}
    assert year["cpu_s"] == pytest.approx(sum(s["cpu_s"] for s in year["by_service"].values()),
                                          abs=0.05)
    assert "## Province-years replayed" in text
    assert rows["service quota (before: HEAD)"]["tick"] is None
    worktrees = subprocess.run(["git", "-C", str(REPO), "worktree", "list"], check=True,
                               capture_output=True, text=True).stdout
    assert "vbp-bench-" not in worktrees  # --before's checkout is gone
