"""deploy/kafka.sh from Python: how the tests, the demo, the benchmark and the fault suite start,
stop and wipe the project's Kafka broker (and its 3-node cluster)."""
from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "deploy" / "kafka.sh"


def kafka(*args: str) -> subprocess.CompletedProcess[str]:
    """`deploy/kafka.sh args...`, its output captured."""
    return subprocess.run([str(KAFKA_SH), *args], capture_output=True, text=True, cwd=REPO)


def must(*args: str) -> str:
    """`deploy/kafka.sh args...`; its output, or RuntimeError with it when it fails."""
    done = kafka(*args)
    if done.returncode != 0:
        raise RuntimeError(f"deploy/kafka.sh {' '.join(args)} failed:\n{done.stdout}\n"
                           f"{done.stderr}")
    return done.stdout.strip()


def single(command: str, port: int) -> str:
    """start, stop, wipe or status of the single-node broker on `port`."""
    return must(command, "--port", str(port))


def cluster(*command: str) -> str:
    """The 3-node loopback cluster: start, stop, wipe, bootstrap, kill-node N, start-node N."""
    return must("cluster", *command)
