"""The shared runtime on the real broker: decode, dead letter, duplicates, the stream flows on."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from schemas.envelope import example_event
from tests.harness import ServiceProcess, read, send

pytestmark = pytest.mark.integration


async def test_valid_malformed_and_duplicate_events(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Valid once, malformed to vbp.deadletter with its reason, duplicate dropped, stream flows."""
    service = ServiceProcess("alerts", kafka_bootstrap, topic_prefix, tmp_path)
    service.start()
    try:
        first = example_event("vbp.warning.raised").model_copy(update={"id": "w-1"})
        second = example_event("vbp.warning.raised").model_copy(update={"id": "w-2"})
        malformed = b'{"specversion": "1.0", "id": "bad-1", "type": "vbp.warning.raised"'
        wrong = first.model_dump(mode="json")
        wrong["id"], wrong["data"]["severity"] = "w-bad", "loud"
        wrong_data = json.dumps(wrong).encode()
        topic = topic_prefix + "vbp.warnings"
        await send(
            kafka_bootstrap,
            topic,
            [
                ("H52010200001", first.to_json_bytes()),
                ("H52010200001", malformed),
                ("H52010200001", first.to_json_bytes()),  # the same id again
                ("H52010200001", wrong_data),
                ("H52010200001", second.to_json_bytes()),
            ],
        )
        dead = await read(
            kafka_bootstrap,
            topic_prefix + "vbp.deadletter",
            until=lambda records: len(records) >= 2,
            timeout=60,
        )
        assert [d.value for d in dead] == [malformed, wrong_data]
        assert dead[0].headers["vbp-source-topic"] == "vbp.warnings"
        assert dead[0].key == b"H52010200001"
        assert "JSON" in dead[0].headers["vbp-error"] or "json" in dead[0].headers["vbp-error"]
        assert "severity" in dead[1].headers["vbp-error"]
        offsets = {int(d.headers["vbp-source-offset"]) for d in dead}
        assert offsets == {1, 3}
        # Same key, same partition count: the dead letter lands in the partition it came from.
        assert all(d.headers["vbp-source-partition"] == str(d.partition) for d in dead)
        # processed: the 2 warnings and the 2 ledger operations they put on the alerts
        # service's internal topic
        counts = await _wait_counts(service, processed=4)
        assert counts == {"processed": 4, "duplicates": 1, "deadlettered": 2}
    finally:
        assert service.stop(signal.SIGTERM) == 0


async def _wait_counts(service: ServiceProcess, **expected: int) -> dict[str, int]:
    import asyncio

    for _ in range(100):
        counts = service.health()["counts"]
        if all(counts.get(k) == v for k, v in expected.items()):
            return counts
        await asyncio.sleep(0.2)
    return service.health()["counts"]
