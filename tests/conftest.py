"""Test harness: a real Kafka broker for the session, and one topic prefix per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy import broker
from runtime.topics import ensure_topics

REPO = Path(__file__).resolve().parent.parent
# Not the demo's 9092, and below the ephemeral port range (32768+) so no client socket holds it.
TEST_BROKER_PORT = int(os.environ.get("VBP_TEST_KAFKA_PORT", "29192"))


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    return subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """VBP_KAFKA_BOOTSTRAP if set, else a testcontainers Kafka, else the project's local broker,
    wiped first and stopped after (VBP_TEST_KEEP_BROKER=1: reused as it is, and left running)."""
    if os.environ.get("VBP_KAFKA_BOOTSTRAP"):
        yield os.environ["VBP_KAFKA_BOOTSTRAP"]
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    keep = os.environ.get("VBP_TEST_KEEP_BROKER")
    if not keep:
        # a fresh broker per session: every test leaves topics, groups and transactional ids
        # behind, and a broker kept over many sessions ran out of heap loading them (seen:
        # OutOfMemoryError in its transaction state manager at start)
        broker.single("wipe", TEST_BROKER_PORT)
    broker.single("start", TEST_BROKER_PORT)
    try:
        yield f"127.0.0.1:{TEST_BROKER_PORT}"
    finally:
        if not keep:
            broker.kafka("stop", "--port", str(TEST_BROKER_PORT))


@pytest.fixture
def topic_prefix(kafka_bootstrap: str) -> str:
    """A prefix of its own for each test's topics and consumer groups (VBP_TOPIC_PREFIX); the
    contract's topics exist under it before the test sends anything."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    asyncio.run(ensure_topics(kafka_bootstrap, prefix))
    return prefix
