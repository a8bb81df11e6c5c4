"""What integration tests need around a real broker: send events, read topics, run a service."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.topics import TOPICS

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    partition: int
    offset: int

    def json(self) -> Any:
        assert self.value is not None
        return json.loads(self.value)


async def send(bootstrap: str, topic: str, items: Iterable[tuple[str | None, bytes]]) -> None:
    """Produce (key, value) pairs and wait until the broker has them all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic,
                value=value,
                key=key.encode() if key else None,
                headers=[("content-type", b"application/cloudevents+json")],
            )
            for key, value in items
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def read(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Record]], bool],
    timeout: float = 60.0,
    committed_only: bool = True,
) -> list[Record]:
    """Read `topic` from the beginning until `until(records)` holds or `timeout` passes."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed" if committed_only else "read_uncommitted",
    )
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout
        consumer.assign([TopicPartition(topic, p) for p in range(_partitions(topic))])
        await consumer.seek_to_beginning()
        while not until(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for messages in batch.values():
                records.extend(
                    Record(
                        m.key, m.value, {k: v.decode() for k, v in m.headers}, m.partition, m.offset
                    )
                    for m in messages
                )
        return records
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], Any], what: str = "", timeout: float = 40.0) -> Any:
    """Poll `check` until it returns something truthy and return that; fail naming `what`.
    A check that returns an awaitable (an async function) is awaited: a coroutine object is
    always truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def _partitions(topic: str) -> int:
    """Partition count of a (prefixed) contract or internal topic, from the registry."""
    return next(t.partitions for name, t in TOPICS.items() if topic.endswith(name))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """`python -m services.<name>` in a subprocess, configured only through the environment."""

    def __init__(self, name: str, bootstrap: str, prefix: str, workdir: Path, **env: str) -> None:
        self.name = name
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            "VBP_KAFKA_BOOTSTRAP": bootstrap,
            "VBP_TOPIC_PREFIX": prefix,
            f"VBP_{name.upper()}_WEB_PORT": str(self.port),
            "VBP_DATA_DIR": str(workdir / "state"),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log_mark = 0  # log size when the current process started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start the process without waiting for it (a crash test may kill it mid-start)."""
        self._log_mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float) -> None:
        """Ready = this process (not an earlier one writing the same log) has joined its group
        and its web server answers /health."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.process.returncode}:\n{self.log()}")
            if b"Ready" in self.log_path.read_bytes()[self._log_mark :]:
                try:
                    if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/health", timeout=5).json()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Stop with `sig` (SIGKILL to crash it) and return the exit code."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


async def read_to_end(bootstrap: str, topic: str, timeout: float = 120.0) -> list[Record]:
    """Every record of `topic` up to its end offsets when called (committed records only)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # else a reset to the end can race the seek below
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        partitions = [TopicPartition(topic, p) for p in range(_partitions(topic))]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end within {timeout}s")
            batch = await consumer.getmany(timeout_ms=300, max_records=10_000)
            for messages in batch.values():
                records.extend(
                    Record(m.key, m.value, {k: v.decode() for k, v in m.headers}, m.partition,
                           m.offset)
                    for m in messages
                )
        return records
    finally:
        await consumer.stop()

