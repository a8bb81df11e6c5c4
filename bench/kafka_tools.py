"""The broker's own limit on this machine: Kafka's producer and consumer perf tools
(org.apache.kafka.tools.ProducerPerformance, ConsumerPerformance) from the jars the project's
broker runs on, through `deploy/kafka.sh run-class`. Each returns the bench's figures: events,
seconds (as the tool times itself: the consumer's fetch time, without joining its group; the
producer's from first send to last acknowledgement), and the process's CPU seconds and peak RSS
(os.wait4 of the tool's process: JVM start and JIT included)."""
from __future__ import annotations

import os
import re
import subprocess
import tempfile

from deploy.broker import KAFKA_SH, REPO


def _run(*args: str) -> tuple[str, float, int]:
    """The tool's stdout, its CPU seconds and peak RSS (kB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([str(KAFKA_SH), "run-class", *args], cwd=REPO, stdout=out,
                                   stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"{args[0]} exited {process.returncode}:\n{stdout}\n"
                               f"{err.read().decode(errors='replace')[-4000:]}")
    return stdout, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def consumer_perf(bootstrap: str, topic: str, count: int, group: str) -> dict[str, float]:
    stdout, cpu, peak = _run("org.apache.kafka.tools.ConsumerPerformance",
                             "--bootstrap-server", bootstrap, "--topic", topic,
                             "--num-records", str(count), "--group", group, "--hide-header")
    # start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, ...
    fields = [f.strip() for f in stdout.strip().splitlines()[-1].split(",")]
    events, fetch_ms = int(fields[4]), float(fields[7])
    return {"events": events, "seconds": fetch_ms / 1000, "cpu_seconds": cpu,
            "peak_rss_kb": peak}


def producer_perf(bootstrap: str, topic: str, count: int,
                  payloads: list[bytes]) -> dict[str, float]:
    """`count` records drawn from `payloads` (the load's own order messages), acks=all."""
    with tempfile.NamedTemporaryFile(suffix=".payloads") as file:
        file.write(b"\n".join(payloads))
        file.flush()
        stdout, cpu, peak = _run("org.apache.kafka.tools.ProducerPerformance",
                                 "--topic", topic, "--num-records", str(count),
                                 "--throughput", "-1", "--payload-file", file.name,
                                 "--producer-props", f"bootstrap.servers={bootstrap}",
                                 "acks=all")
    # "N records sent, R records/sec (M MB/sec), ..." on the last line
    match = re.search(r"(\d+) records sent, ([\d.]+) records/sec", stdout.strip().splitlines()[-1])
    if not match:
        raise RuntimeError(f"ProducerPerformance printed no summary:\n{stdout}")
    events, rate = int(match.group(1)), float(match.group(2))
    return {"events": events, "seconds": events / rate, "cpu_seconds": cpu,
            "peak_rss_kb": peak}
