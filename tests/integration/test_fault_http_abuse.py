"""The HTTP abuse scenario of the fault suite (faults/http_abuse.py) at a small budget."""
from __future__ import annotations

from pathlib import Path

import pytest

from faults import http_abuse

pytestmark = pytest.mark.integration


async def test_generated_and_hostile_requests_get_no_5xx_and_write_only_what_was_accepted(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    [outcome] = await http_abuse.scenario(kafka_bootstrap, tmp_path, examples=5)
    assert outcome.differences == []
    # 5 generated requests per operation and mode over ~37 operations, and ~100 hostile ones.
    assert outcome.events_checked >= 250, outcome.faults
