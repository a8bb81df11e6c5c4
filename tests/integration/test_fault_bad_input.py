"""Fault scenario "bad input" on a small scale: hostile messages among a simulated January."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from faults.bad_input import readers, run
from faults.hostile import generate

HOSTILE = 300
SEED = 1


def test_hostile_messages_are_dead_lettered_and_valid_ones_processed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    outcome, dead_letters = asyncio.run(
        run(kafka_bootstrap, tmp_path, HOSTILE, seed=SEED, institutions=20,
            until=date(2020, 1, 20))
    )
    assert outcome.differences == []
    assert outcome.injected == HOSTILE
    # One dead letter per hostile message and service reading its topic, nothing else.
    assert dead_letters == sum(readers(m.topic) for m in generate(HOSTILE, SEED))
